//! Pacing shared by every PHP worker and flusher of the machine: per-destination
//! rate-limit buckets and pauses (the store's `limits`).
//!
//! A token bucket of `rate_limit.requests` tokens refilled continuously at
//! `requests / per_s` per second. Taking a token is one read and one upsert
//! inside an `IMMEDIATE` transaction that the caller already holds (`submit`'s
//! enqueue, `flush`'s claim), so it adds no transaction, lock or fsync of its own.
//! A pause is set by a 429/503 with `Retry-After` and by the destination's
//! rate-limit headers ([`crate::forward::pause_hint`]); while it is in the future
//! no worker sends to the destination.
//!
//! (The shared OAuth2 token cache is [`crate::auth::shared_cache`].)
use super::schedule::MAX_RETRY_AFTER;
use crate::config::{Config, Destination};
use crate::error::Result;
use crate::store::{self, Tx};

pub use crate::store::Admission;

/// Takes one token of `dest`'s bucket at `now` within `tx`, unless it is paused.
pub(super) fn admit(tx: &Tx<'_>, dest: &Destination, now: i64) -> Result<Admission> {
    tx.take_rate_token(&dest.name, crate::forward::bucket(dest), now)
}

/// Records what an attempt's answer says about the destination's pace.
pub(super) fn note_outcome(tx: &Tx<'_>, destination: &str, outcome: &crate::forward::Outcome, now: i64) -> Result<()> {
    if let Some(d) = crate::forward::pause_hint(outcome).filter(|d| !d.is_zero()) {
        let ms = i64::try_from(d.min(MAX_RETRY_AFTER).as_millis()).unwrap_or(i64::MAX);
        tx.pause(destination, now.saturating_add(ms))?;
    }
    Ok(())
}

/// Before a shared outbox database (`[outbox] url`) is used: hands the store the
/// key-check value of the outbox key file (a digest of its key ids; the database
/// refuses a node whose key file differs from the fleet's). Nothing without `url`.
pub fn prepare_store(clients: &crate::auth::Clients, outbox: &crate::config::OutboxConfig) -> Result<()> {
    if outbox.database.is_none() {
        return Ok(());
    }
    let ring = clients.keys.outbox_ring(outbox)?;
    store::set_key_check(&outbox.key_file, key_check(&ring));
    Ok(())
}

/// The key-check value of a key ring: SHA-256 over its key ids (never a key).
fn key_check(ring: &crate::keys::KeyRing) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"secure_forward key check v1");
    for id in ring.key_ids() {
        ctx.update(&(id.len() as u64).to_be_bytes());
        ctx.update(id.as_bytes());
    }
    crate::secret::hex(ctx.finish().as_ref())
}

/// Until when `destination` is paused, if it is (Unix ms).
pub fn paused_until(config: &Config, destination: &str) -> Result<Option<i64>> {
    store::with_store(&config.outbox, |db| db.paused_until(destination, store::now_ms()))
}

/// Takes one token of `dest`'s bucket in a transaction of its own. `true` when
/// a request may go now.
pub fn take_token(config: &Config, dest: &Destination) -> Result<bool> {
    crate::forward::take_token_from(&config.outbox, dest)
}
