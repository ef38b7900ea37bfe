//! The durable outbox: never lose an order.
//!
//! [`submit`](fn@submit) first writes the minimised payload, encrypted (see [`keys`]), to a
//! SQLite database in WAL mode and commits it, and only then tries to send it.
//! Whatever the endpoint does afterwards, the order is not lost: a failed attempt
//! leaves the event `queued` for [`flush`](fn@flush) (cron / CLI), which retries it on the
//! schedule until it is `delivered` or `dead`.
//!
//! # Durability
//! The enqueue commit (a `queued` receipt) and [`requeue`](fn@requeue) run with
//! `PRAGMA synchronous` = `[outbox] synchronous` (`"normal"` by default, or
//! `"full"`); [`purge`](fn@purge) (an erasure must not come back) always runs with FULL
//! ([`store::PURGE_SYNC`]). In WAL mode NORMAL writes the commit to the WAL without an
//! fsync: it survives a PHP crash and `kill -9` (the OS has the data), but a power
//! loss or kernel crash may lose the last commits (the database stays
//! consistent). FULL fsyncs the WAL at each commit: the order survives a power loss
//! too, at one fsync per order (≈4 ms median, 8-11 ms p99 on this project's
//! virtio disk, against ≈60 µs with NORMAL; see the ignored
//! `enqueue_cost_with_circuit_open` test and `make bench`). Bookkeeping writes
//! (claims, attempt results, circuit) always run with `NORMAL`: the worst a power
//! loss does to them is that a delivered event is sent again, with the same
//! `Idempotency-Key`, or gets one extra retry. A FULL commit also makes every
//! earlier NORMAL commit durable.
//!
//! # Files
//! The database is created 0600 (in a directory created 0700 if missing); the
//! `-wal` and `-shm` files are tightened to 0600 after open. `secure_delete` is on,
//! and payloads are only ever stored encrypted: nothing readable about the
//! customer sits in the database or its WAL. A delivered event's payload is erased
//! at once (its old page copies leave the WAL when it is truncated: at the end of
//! every flush, and from a submit that delivered inline at most once a minute); its
//! metadata (ids, attempts, status, times) is kept for status and audit, and
//! pruned after [`DELIVERED_RETENTION_MS`]. A purge truncates the WAL before it
//! returns.
//!
//! # Storage
//! Everything on disk goes through [`crate::store`] (schema, migrations,
//! connection cache, SQL); this module holds the engine: leases, retries, the
//! circuit breaker, encryption ([`crate::keys`]) and audit.
//!
//! # Modules
//! [`submit`](mod@submit) (enqueue + inline attempt), `record` (an attempt's
//! result), [`flush`](mod@flush) (threaded drain), [`schedule`] (retry delays),
//! [`circuit`] (breaker), [`shared`] (rate limits and pauses),
//! [`status`](mod@status), [`purge`](mod@purge) (requeue, erasure).
//!
//! # Concurrency
//! A leased event's `next_at_ms` is its lease's end (when it is due again if its
//! claimer died), so claims walking `events_queue` never visit events in flight.
//! Each process has one cached connection (re-opened after `fork` or when the path
//! changes); claims run in `BEGIN IMMEDIATE` transactions with a busy timeout, and
//! a claimed event is leased for the destination's timeout plus
//! [`LEASE_MARGIN_MS`], so no two processes send it at once and a crashed
//! claimer's event becomes claimable again when the lease expires. Each inline
//! attempt and each flush is a lease owner of its own, and a result is recorded
//! only while its writer holds the lease. No lock is held while a request is in
//! flight.
//!
//! # Circuit breaker
//! Per destination, shared by all processes through the `circuits` table: after
//! [`CIRCUIT_THRESHOLD`] consecutive retryable failures the circuit opens and
//! `submit` only enqueues; after [`CIRCUIT_COOLDOWN_MS`] it is half-open and one
//! `submit` may probe inline. A delivery closes it. A dead letter (4xx) means the
//! endpoint answered and leaves the circuit unchanged. `flush` always tries due
//! events, whatever the circuit says: it is the probe.
//!
//! # Outcomes
//! 2xx → `delivered` (payload erased). 408, 425, 429, 5xx, timeouts, connection
//! and TLS failures → retried on `retry_schedule` (±20 % jitter, `Retry-After`
//! honoured up to 24 h), then `dead`. Other 4xx and 3xx → `dead` at once, with the
//! reason; dead letters keep their (encrypted) payload until [`requeue`](fn@requeue) or
//! [`purge`](fn@purge). A configuration problem found at send time (API key file, `ca_file`)
//! keeps the event queued on the schedule without touching the circuit, since
//! the operator can fix it.
pub mod circuit;
pub mod deliveries;
mod envelope;
pub mod flush;
pub mod options;
pub mod purge;
mod record;
pub mod schedule;
pub mod shared;
pub mod spool;
pub mod status;
pub mod submit;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Destination;
use crate::store;

pub use crate::keys::KeyRing;
pub use crate::store::{order_key, ATTEMPTS_KEPT, BUSY_TIMEOUT};
pub use circuit::{Circuit, CircuitState, CIRCUIT_COOLDOWN_MS, CIRCUIT_THRESHOLD};
pub use deliveries::{deliveries, DeliveryFilter, FilterValue};
pub use flush::{flush, FlushCounts, FLUSH_SENDERS};
pub use options::SubmitOptions;
pub use purge::{purge, purge_event, purge_site, requeue, requeue_site};
pub use schedule::{retry_delay, MAX_RETRY_AFTER};
pub use status::{status, status_report, DestStatus, DestinationStatus, Status};
pub use submit::{submit, submit_order, submit_order_with, submit_to, submit_with};

/// Lease = destination timeout + this margin.
pub const LEASE_MARGIN_MS: i64 = 30_000;
/// Delivered events' metadata is pruned after this long (by `flush`).
pub const DELIVERED_RETENTION_MS: i64 = 30 * 86_400_000;
/// An event whose destination is no longer configured is looked at again after this.
const NO_DESTINATION_DELAY_MS: i64 = 3_600_000;

/// The associated data of an event's payload: its id, destination, event and
/// order id (as sent), length-prefixed, so a blob cannot be moved to another row.
fn aad(id: &str, destination: &str, event: &str, order_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(id.len() + destination.len() + event.len() + order_id.len() + 32);
    for part in [id, destination, event, order_id] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

fn lease_ms(dest: &Destination) -> i64 {
    let timeout = i64::try_from(dest.timeout.as_millis()).unwrap_or(i64::MAX);
    if matches!(dest.auth, crate::auth::AuthMode::OAuth2(_)) {
        // An OAuth2 attempt may make four requests (token, send, token after a
        // 401, resend), each bounded by the timeout, and twice wait for another
        // worker's token fetch (timeout + 1 s each), with the shared store's
        // database waits on top.
        let busy = i64::try_from(BUSY_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
        timeout.saturating_mul(6).saturating_add(2_000).saturating_add(busy.saturating_mul(2)).saturating_add(LEASE_MARGIN_MS)
    } else {
        timeout.saturating_add(LEASE_MARGIN_MS)
    }
}

/// A lease owner of its own for one inline attempt or one flush: a result is
/// recorded only while its writer still holds the event's lease, so a stalled
/// writer whose lease was taken over cannot overwrite the new holder's result.
fn attempt_owner(outbox: &crate::config::OutboxConfig) -> String {
    if let Some(db) = &outbox.database {
        store::set_node_name(&db.node_id);
    }
    // Process-wide (see ARCHITECTURE.md, "State"): lease owners must be unique within the process, whatever the engine.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}:{n}", store::process_owner())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    #[test]
    fn an_oauth2_lease_outlasts_its_longest_attempt() {
        let text = "[destinations.plain]\nurl = \"https://a.example/\"\nkey_env = \"K\"\ntimeout_ms = 10000\n\
                    [destinations.oauth]\nurl = \"https://a.example/\"\ntimeout_ms = 10000\nauth = \"oauth2\"\n\
                    token_url = \"https://login.example/token\"\nclient_id = \"c\"\nclient_secret_file = \"/etc/sf/c.secret\"\n";
        let c = Config::parse(std::path::Path::new("/etc/sf.toml"), text).unwrap();
        let plain = lease_ms(c.destination("plain").unwrap());
        assert_eq!(plain, 10_000 + LEASE_MARGIN_MS);
        // Worst case: start up to LEASE_SEND_WITHIN_MS after the claim, four
        // requests and two waits for another worker's token fetch (timeout + 1 s).
        let worst = flush::LEASE_SEND_WITHIN_MS as i64 + 4 * 10_000 + 2 * (10_000 + 1_000);
        assert!(lease_ms(c.destination("oauth").unwrap()) > worst);
    }

    #[test]
    fn durable_writes_use_configured_sync_purge_full_and_bookkeeping_normal() {
        let dir = std::env::temp_dir().join(format!("sf-outbox-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let text = format!("[outbox]\npath = \"{}\"\nsynchronous = \"full\"\n", dir.join("o.sqlite").display());
        let c = Config::parse(Path::new("/c.toml"), &text).unwrap();
        let sync = |db: &mut store::Store| Ok(db.durability().unwrap().0);
        let p = &c.outbox;
        assert_eq!(store::with_durable_store(p, c.outbox.synchronous.pragma(), sync).unwrap(), 2, "FULL");
        assert_eq!(store::with_durable_store(p, store::PURGE_SYNC, sync).unwrap(), 2, "FULL");
        assert_eq!(store::with_store(p, sync).unwrap(), 1, "NORMAL after a FULL write");
        let normal = Config::parse(Path::new("/c.toml"), &text.replace("full", "normal")).unwrap();
        assert_eq!(store::with_durable_store(p, normal.outbox.synchronous.pragma(), sync).unwrap(), 1, "NORMAL");
        assert_eq!(store::with_durable_store(p, store::PURGE_SYNC, sync).unwrap(), 2, "purge is always FULL");
        let wal = store::with_store(p, |db| Ok(db.durability().unwrap().1));
        assert_eq!(wal.unwrap(), "wal");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn aad_separates_fields() {
        assert_ne!(aad("a", "bc", "e", "1"), aad("ab", "c", "e", "1"));
    }
}
