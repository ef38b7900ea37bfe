//! The durable outbox: never lose an order.
//!
//! [`submit`] first writes the minimised payload, encrypted (see [`keys`]), to a
//! SQLite database in WAL mode and commits it, and only then tries to send it.
//! Whatever the endpoint does afterwards, the order is not lost: a failed attempt
//! leaves the event `queued` for [`flush`] (cron / CLI), which retries it on the
//! schedule until it is `delivered` or `dead`.
//!
//! # Durability
//! The enqueue commit (a `queued` receipt) and [`requeue`] run with
//! `PRAGMA synchronous` = `[outbox] synchronous` (`"normal"` by default, or
//! `"full"`); [`purge`] (an erasure must not come back) always runs with FULL
//! ([`PURGE_SYNC`]). In WAL mode NORMAL writes the commit to the WAL without an
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
//! at once; its metadata (ids, attempts, status, times) is kept for status and
//! audit, and pruned after [`DELIVERED_RETENTION_MS`].
//!
//! # Schema (`user_version` 3; 3 replaced the indexes on `(state, …)` by the partial
//! indexes `events_queue` (what claims walk) and `events_delivered_at` (pruning), so an
//! attempt's commit rewrites fewer index pages;
//! 2 added `attempts` and `webhook_seen`, and `limits`, `tokens` and
//! `token_fetches` (see [`shared`]))
//! `events(id PK = event id = Idempotency-Key, destination, order_id, event,
//! state ∈ queued|delivered|dead|undecryptable, key_id, payload (NULL once
//! delivered), attempts, created_at_ms, next_at_ms, updated_at_ms, lease_owner,
//! lease_until_ms, http_status, reason, delivered_at_ms)`;
//! `circuits(destination PK, failures, opened_at_ms, probe_until_ms,
//! last_success_ms, last_error, last_error_ms)`; since version 2 also
//! `attempts(id PK, destination, at_ms, outcome, http_status, latency_ms)` (the
//! last [`ATTEMPTS_KEPT`] per destination, for [`status`]) and
//! `webhook_seen(id PK, seen_at)` (inbound webhook replay store, see
//! [`record_webhook_once`]).
//!
//! # Concurrency
//! A leased event's `next_at_ms` is its lease's end (when it is due again if its
//! claimer died), so claims walking `events_queue` never visit events in flight.
//! Each process has one cached connection (re-opened after `fork` or when the path
//! changes); claims run in `BEGIN IMMEDIATE` transactions with a busy timeout, and
//! a claimed event is leased for the destination's timeout plus
//! [`LEASE_MARGIN_MS`], so no two processes send it at once and a crashed
//! claimer's event becomes claimable again when the lease expires. No lock is
//! held while a request is in flight.
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
//! reason; dead letters keep their (encrypted) payload until [`requeue`] or
//! [`purge`]. A configuration problem found at send time (API key file, `ca_file`)
//! keeps the event queued on the schedule without touching the circuit, since
//! the operator can fix it.
pub mod keys;
pub mod shared;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ring::rand::SecureRandom as _;
use rusqlite::{params, Connection, OptionalExtension as _, Transaction, TransactionBehavior};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::audit;
use crate::config::{Config, Delivery, Destination, OutboxConfig};
use crate::error::{Error, Result};
use crate::forward::{self, Outcome, Receipt};
use crate::policy::Prepared;
use crate::secret::{io_reason, Secret};

pub use keys::KeyRing;

/// Consecutive retryable failures that open a destination's circuit.
pub const CIRCUIT_THRESHOLD: u32 = 5;
/// How long an open circuit stays open before one inline probe is allowed.
pub const CIRCUIT_COOLDOWN_MS: i64 = 30_000;
/// Lease = destination timeout + this margin.
pub const LEASE_MARGIN_MS: i64 = 30_000;
/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);
/// Delivered events' metadata is pruned after this long (by `flush`).
pub const DELIVERED_RETENTION_MS: i64 = 30 * 86_400_000;
/// How long a writer waits for another process's lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// `synchronous` of a purge (right to erasure), whatever `[outbox] synchronous` says.
pub const PURGE_SYNC: &str = "FULL";
/// `synchronous` of bookkeeping writes (claims, attempt results, circuit).
pub const BOOKKEEPING_SYNC: &str = "NORMAL";
/// An event whose destination is no longer configured is looked at again after this.
const NO_DESTINATION_DELAY_MS: i64 = 3_600_000;
/// The "recent" window of `delivered` in [`status`].
const RECENT_MS: i64 = 86_400_000;

/// A commit that finds the WAL this long (pages) checkpoints it (SQLite's default
/// is 1000). The checkout path seldom pays for a checkpoint: every [`flush`] ends
/// with a passive one.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Page size of a new database: every commit writes whole pages to the WAL, so
/// smaller pages mean fewer bytes written (and checksummed) per order. An outbox
/// row (the encrypted minimised order plus metadata) is typically 0.8-1.3 KB: it
/// still fits in a 2 KiB page, while 1 KiB pages would push most rows into
/// overflow pages (measured: cheaper inline, slower drain).
const PAGE_SIZE: i64 = 2048;

/// The WAL may grow to this many pages during a flush before a commit checkpoints
/// it (a bound, not a target: a flush checkpoints once at its end).
const FLUSH_AUTOCHECKPOINT_PAGES: i64 = 100_000;

/// Prepared statements kept per connection (every hot statement fits).
const STATEMENT_CACHE: usize = 64;

/// `PRAGMA user_version` of the schema below.
const SCHEMA_VERSION: i64 = 3;
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id              TEXT PRIMARY KEY,
    destination     TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    event           TEXT NOT NULL,
    state           TEXT NOT NULL,
    key_id          TEXT,
    payload         BLOB,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    next_at_ms      INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  INTEGER,
    http_status     INTEGER,
    reason          TEXT,
    delivered_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS events_order ON events(order_id);
DROP INDEX IF EXISTS events_due;
DROP INDEX IF EXISTS events_delivered;
CREATE INDEX IF NOT EXISTS events_queue ON events(next_at_ms, created_at_ms) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS events_delivered_at ON events(delivered_at_ms) WHERE state = 'delivered';
CREATE TABLE IF NOT EXISTS circuits (
    destination     TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL DEFAULT 0,
    opened_at_ms    INTEGER,
    probe_until_ms  INTEGER,
    last_success_ms INTEGER,
    last_error      TEXT,
    last_error_ms   INTEGER
);
CREATE TABLE IF NOT EXISTS attempts (
    id              INTEGER PRIMARY KEY,
    destination     TEXT NOT NULL,
    at_ms           INTEGER NOT NULL,
    outcome         TEXT NOT NULL,
    http_status     INTEGER,
    latency_ms      INTEGER
);
CREATE INDEX IF NOT EXISTS attempts_destination ON attempts(destination, id);
CREATE TABLE IF NOT EXISTS webhook_seen (
    id              TEXT PRIMARY KEY,
    seen_at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_seen_at ON webhook_seen(seen_at);
CREATE TABLE IF NOT EXISTS limits (
    destination     TEXT PRIMARY KEY,
    tokens          REAL,
    updated_ms      INTEGER,
    paused_until_ms INTEGER
);
CREATE TABLE IF NOT EXISTS tokens (
    cache_key       TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL,
    blob            BLOB NOT NULL,
    token_fp        TEXT NOT NULL,
    refresh_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS token_fetches (
    cache_key       TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    until_ms        INTEGER NOT NULL
);
PRAGMA user_version = 3;
";
/// Attempts kept per destination in the `attempts` table (for [`status`]).
pub const ATTEMPTS_KEPT: i64 = 10;
// The trim statement in `finish_book` spells the number out (OFFSET 10).
const _: () = assert!(ATTEMPTS_KEPT == 10);

// ---------------------------------------------------------------------------
// Schedule

/// Delay before the next attempt after `failures` failed attempts (1-based), or
/// `None` when the schedule is exhausted (the event goes dead).
///
/// The schedule's delay gets ±20 % jitter (`jitter` in 0..=1, 0.5 = none); a
/// `Retry-After` is honoured, clamped to [jittered delay, [`MAX_RETRY_AFTER`]].
pub fn retry_delay(schedule: &[u64], failures: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(failures).ok()?.checked_sub(1)?;
    let base = Duration::from_secs(*schedule.get(index)?);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.5 };
    let jittered = base.mul_f64(0.8 + 0.4 * jitter);
    Some(match retry_after {
        Some(ra) => ra.min(MAX_RETRY_AFTER).max(jittered),
        None => jittered,
    })
}

fn jitter_unit() -> f64 {
    let mut b = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

// ---------------------------------------------------------------------------
// Circuit breaker

/// What a destination's circuit says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CircuitState {
    /// Inline attempts allowed.
    Closed,
    /// Cool-down over: one inline probe allowed.
    HalfOpen,
    /// Enqueue only.
    Open,
}

impl CircuitState {
    /// `closed`, `half-open` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half-open",
            CircuitState::Open => "open",
        }
    }
}

/// A destination's circuit, as stored in the `circuits` table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circuit {
    /// Consecutive retryable failures.
    pub failures: u32,
    /// When it (re)opened.
    pub opened_at_ms: Option<i64>,
    /// A half-open probe is in flight until then.
    pub probe_until_ms: Option<i64>,
}

impl Circuit {
    /// The state at `now`.
    pub fn state(&self, now_ms: i64) -> CircuitState {
        match self.opened_at_ms {
            None => CircuitState::Closed,
            Some(t) if now_ms < t.saturating_add(CIRCUIT_COOLDOWN_MS) => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Whether `submit` may attempt inline now. Half-open admits one probe at a
    /// time (marked in flight until `now + lease_ms`).
    pub fn admit(&mut self, now_ms: i64, lease_ms: i64) -> bool {
        match self.state(now_ms) {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => {
                if self.probe_until_ms.is_some_and(|p| p > now_ms) {
                    false
                } else {
                    self.probe_until_ms = Some(now_ms.saturating_add(lease_ms));
                    true
                }
            }
        }
    }

    /// A delivery closes the circuit.
    pub fn on_success(&mut self) {
        *self = Circuit::default();
    }

    /// A retryable failure; the threshold-th (and any failed probe) (re)opens it.
    pub fn on_failure(&mut self, now_ms: i64) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= CIRCUIT_THRESHOLD {
            self.opened_at_ms = Some(now_ms);
            self.probe_until_ms = None;
        }
    }
}

// ---------------------------------------------------------------------------
// Connection

struct Db {
    pid: u32,
    path: PathBuf,
    conn: Connection,
    keys: Option<(PathBuf, Arc<Secret>, Arc<KeyRing>)>,
}

fn slot() -> &'static Mutex<Option<Db>> {
    static SLOT: OnceLock<Mutex<Option<Db>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        let reason = match &e {
            rusqlite::Error::SqliteFailure(f, _) => format!("outbox database error ({:?}, {})", f.code, f.extended_code),
            _ => "outbox database error (unexpected data)".to_owned(),
        };
        Error::config(path.display().to_string(), None, reason)
    }
}

/// Runs `f` on this process's connection to `cfg.path` (opened lazily, re-opened
/// after a fork or a path change). Never call it around network I/O.
fn with_db<T>(cfg: &OutboxConfig, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
    let mut guard = slot().lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    let stale = guard.as_ref().is_none_or(|db| db.pid != pid || db.path != cfg.path);
    if stale {
        if let Some(old) = guard.take() {
            if old.pid != pid {
                // A connection inherited over fork must not be closed by the child
                // (closing may checkpoint or unlink the parent's WAL): leak it.
                std::mem::forget(old);
            }
        }
        *guard = Some(Db::open(&cfg.path)?);
    }
    match guard.as_mut() {
        Some(db) => f(db),
        None => Err(Error::config(cfg.path.display().to_string(), None, "outbox database is not open")),
    }
}

/// Journal mode, pragmas and schema of a fresh connection; `false` if WAL is refused.
fn setup(conn: &Connection) -> rusqlite::Result<bool> {
    // Only takes effect on a new, empty database (before WAL mode and the schema).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Ok(false);
        }
    }
    conn.pragma_update(None, "synchronous", BOOKKEEPING_SYNC)?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    // After a checkpoint, a WAL file grown past this is truncated back.
    let _: i64 = conn.query_row("PRAGMA journal_size_limit = 67108864", [], |r| r.get(0))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        let created = conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;"));
        if created.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        created?;
    }
    Ok(true)
}

/// Retries `f` while SQLite answers SQLITE_BUSY, for at most [`BUSY_TIMEOUT`].
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = Instant::now();
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// [`with_db`], with the writes of `f` committed under `synchronous` = `sync`
/// (`NORMAL`, the connection's default, costs nothing extra).
fn with_durable_db<T>(cfg: &OutboxConfig, sync: &str, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
    if sync == BOOKKEEPING_SYNC {
        return with_db(cfg, f);
    }
    with_db(cfg, |db| {
        let err = sql_error(&cfg.path);
        db.conn.pragma_update(None, "synchronous", sync).map_err(&err)?;
        let result = f(db);
        let reset = db.conn.pragma_update(None, "synchronous", BOOKKEEPING_SYNC).map_err(&err);
        let value = result?;
        reset?;
        Ok(value)
    })
}

impl Db {
    fn open(path: &Path) -> Result<Db> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::config(&shown, None, format!("cannot create the outbox directory ({})", io_reason(&e))))?;
        }
        // Create (or tighten) the file 0600 before SQLite opens it.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map(|f| {
                // An existing file that is group/world accessible is tightened
                // (best effort: it only ever holds ciphertext and metadata).
                if f.metadata().is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                    let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
                }
            })
            .map_err(|e| Error::config(&shown, None, format!("cannot open the outbox database ({})", io_reason(&e))))?;
        let err = sql_error(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Some of these statements (journal mode, schema) can meet SQLITE_BUSY
        // without the busy handler being called while another process opens or
        // writes the database: retry them, within the busy timeout.
        let wal = retry_busy(|| setup(&conn)).map_err(&err)?;
        if !wal {
            return Err(Error::config(&shown, None, "the outbox database cannot use WAL mode"));
        }
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_os_string();
            side.push(suffix);
            let _ = std::fs::set_permissions(PathBuf::from(side), std::fs::Permissions::from_mode(0o600));
        }
        Ok(Db { pid: std::process::id(), path: path.to_path_buf(), conn, keys: None })
    }

    fn keyring(&mut self, key_file: &Path) -> Result<Arc<KeyRing>> {
        let secret = match crate::secret::load_file_cached(key_file) {
            Ok(s) => s,
            Err(e) => {
                if std::fs::symlink_metadata(key_file).is_ok() {
                    return Err(e);
                }
                keys::ensure_key_file(key_file)?;
                crate::secret::load_file_cached(key_file)?
            }
        };
        if let Some((p, s, ring)) = &self.keys {
            if p == key_file && Arc::ptr_eq(s, &secret) {
                return Ok(Arc::clone(ring));
            }
        }
        let ring = Arc::new(KeyRing::parse(key_file, &secret)?);
        self.keys = Some((key_file.to_path_buf(), secret, Arc::clone(&ring)));
        Ok(ring)
    }

    fn immediate(&mut self) -> Result<Transaction<'_>> {
        let path = self.path.clone();
        self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| sql_error(&path)(e))
    }
}

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

fn lease_owner() -> String {
    static OWNER: OnceLock<String> = OnceLock::new();
    let tag = OWNER.get_or_init(|| {
        let mut b = [0u8; 6];
        let _ = ring::rand::SystemRandom::new().fill(&mut b);
        crate::secret::hex(&b)
    });
    format!("{}:{tag}", std::process::id())
}

fn load_circuit(tx: &Transaction<'_>, path: &Path, destination: &str) -> Result<Circuit> {
    Ok(tx
        .prepare_cached("SELECT failures, opened_at_ms, probe_until_ms FROM circuits WHERE destination = ?1")
        .and_then(|mut s| {
            s.query_row([destination], |r| {
                Ok(Circuit { failures: r.get(0)?, opened_at_ms: r.get(1)?, probe_until_ms: r.get(2)? })
            })
            .optional()
        })
        .map_err(sql_error(path))?
        .unwrap_or_default())
}

fn store_circuit(tx: &Transaction<'_>, path: &Path, destination: &str, c: &Circuit) -> Result<()> {
    exec(
        tx,
        "INSERT INTO circuits (destination, failures, opened_at_ms, probe_until_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(destination) DO UPDATE SET failures = ?2, opened_at_ms = ?3, probe_until_ms = ?4",
        params![destination, c.failures, c.opened_at_ms, c.probe_until_ms],
    )
    .map_err(sql_error(path))?;
    Ok(())
}

fn existing_receipt(tx: &Transaction<'_>, path: &Path, id: &str) -> Result<Option<Receipt>> {
    tx.prepare_cached("SELECT state, http_status, attempts, reason FROM events WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row([id], |r| {
                let state: String = r.get(0)?;
                Ok(Receipt {
                    event_id: id.to_owned(),
                    status: receipt_status(&state),
                    http_status: r.get(1)?,
                    attempts: r.get(2)?,
                    reason: r.get(3)?,
                })
            })
            .optional()
        })
        .map_err(sql_error(path))
}

fn receipt_status(state: &str) -> &'static str {
    match state {
        "delivered" => "delivered",
        "dead" => "dead",
        // `undecryptable` rows are kept and can be requeued once the key is back.
        _ => "queued",
    }
}

// ---------------------------------------------------------------------------
// Submit

/// Enqueues `prepared` for `dest` (durably, encrypted), then tries to send it once
/// unless delivery is deferred or the destination's circuit is open.
///
/// The event id is `forward::event_id(dest.name, order_id, event, body)`: the same
/// order state submitted twice is enqueued once, and the second call returns the
/// existing event's receipt (a dead event stays dead). Only configuration and
/// validation problems are errors; once enqueued, a remote failure is a `queued`
/// or `dead` receipt.
pub fn submit(config: &Config, dest: &Arc<Destination>, prepared: &Prepared, event: &str) -> Result<Receipt> {
    forward::check_event(event)?;
    let outbox = &config.outbox;
    let id = forward::event_id(&dest.name, &prepared.order_id, event, &prepared.body);
    let lease = lease_ms(dest);
    let owner = lease_owner();
    let decision = with_durable_db(outbox, outbox.synchronous.pragma(), |db| {
        let ring = db.keyring(&outbox.key_file)?;
        let (key_id, blob) = ring.seal(&aad(&id, &dest.name, event, &prepared.order_id), &prepared.body)?;
        let path = db.path.clone();
        let err = sql_error(&path);
        let tx = db.immediate()?;
        if let Some(existing) = existing_receipt(&tx, &path, &id)? {
            tx.commit().map_err(&err)?;
            return Ok(Err(existing));
        }
        let now = now_ms();
        let (inline, why) = if outbox.delivery == Delivery::Deferred {
            (false, "deferred delivery")
        } else {
            let mut circuit = load_circuit(&tx, &path, &dest.name)?;
            let before = circuit;
            if !circuit.admit(now, lease) {
                (false, "circuit open")
            } else {
                // Checkout never waits: no token (or a paused destination) means
                // the event stays queued for flush, which paces itself.
                match shared::admit(&tx, &path, dest, now)? {
                    shared::Admission::Go => {
                        if circuit != before {
                            store_circuit(&tx, &path, &dest.name, &circuit)?;
                        }
                        (true, "")
                    }
                    shared::Admission::Wait { paused: false, .. } => (false, "rate limited"),
                    shared::Admission::Wait { paused: true, .. } => {
                        (false, "destination paused (Retry-After or rate-limit headers)")
                    }
                }
            }
        };
        let (lease_owner, lease_until) =
            if inline { (Some(owner.as_str()), Some(now.saturating_add(lease))) } else { (None, None) };
        exec(
            &tx,
            "INSERT INTO events (id, destination, order_id, event, state, key_id, payload, attempts,
                                 created_at_ms, next_at_ms, updated_at_ms, lease_owner, lease_until_ms, reason)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, 0, ?7, COALESCE(?9, ?7), ?7, ?8, ?9, ?10)",
            params![
                id,
                dest.name,
                prepared.order_id,
                event,
                key_id,
                blob,
                now,
                lease_owner,
                lease_until,
                (!inline).then_some(why)
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Ok((inline, why)))
    })?;
    let (inline, why) = match decision {
        Err(existing) => return Ok(existing),
        Ok(d) => d,
    };
    let key_fp = audit::key_fp(dest);
    audit::emit(
        config,
        &audit::Record {
            event_id: Some(&id),
            destination: &dest.name,
            order_id: Some(&prepared.order_id),
            attempt: 0,
            outcome: audit::Outcome::Queued,
            http_status: None,
            latency_ms: None,
            error: (!inline).then_some(why),
            key_fp: key_fp.clone(),
        },
    );
    if !inline {
        return Ok(Receipt { event_id: id, status: "queued", http_status: None, attempts: 0, reason: Some(why.to_owned()) });
    }
    let started = Instant::now();
    let outcome = forward::attempt_with(dest, Some(outbox), &id, event, &prepared.body, &[]);
    let latency = elapsed_ms(started);
    let recorded = with_db(outbox, |db| record(db, &outbox.retry_schedule, &id, &dest.name, &outcome, latency));
    match recorded {
        Ok((receipt, how)) => {
            audit_attempt(config, &dest.name, &prepared.order_id, &receipt, how, latency, key_fp);
            Ok(receipt)
        }
        // The event is durably queued; failing to record the attempt only means it
        // will be retried (same Idempotency-Key) once its lease expires.
        Err(e) => Ok(Receipt {
            event_id: id,
            status: "queued",
            http_status: outcome_status(&outcome),
            attempts: 1,
            reason: Some(e.to_string()),
        }),
    }
}

/// What `secure_forward_order()` does:
/// checks the event name, looks up the destination, minimises `order` with its
/// policy and [`submit`]s the result.
pub fn submit_order<N: crate::node::Node>(config: &Config, destination: &str, order: &N, event: &str) -> Result<Receipt> {
    forward::check_event(event)?;
    let dest = config.destination(destination)?;
    let checked = forward::prepare(dest, order).and_then(|prepared| {
        // An unusable key or client secret (missing, loose permissions) is the
        // operator's to fix: refuse before storing, so the caller sees a
        // ConfigException now, not a queue later.
        if let Some(key) = &dest.key {
            key.check()?;
        }
        if let crate::auth::AuthMode::OAuth2(o) = &dest.auth {
            crate::secret::load_file_cached(&o.client_secret_file)?;
        }
        Ok(prepared)
    });
    let prepared = match checked {
        Ok(p) => p,
        Err(e) => {
            audit_refusal(config, dest, order, &e);
            return Err(e);
        }
    };
    submit(config, dest, &prepared, event)
}

/// The order id of an order that was refused, when it has a plain one.
fn refused_order_id<N: crate::node::Node>(order: &N) -> Option<String> {
    use crate::node::Scalar;
    match order.get("id").map(crate::node::Node::scalar) {
        Some(Scalar::Int(i)) if i > 0 => Some(i.to_string()),
        Some(Scalar::Str(s)) if !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(s).ok().map(str::to_owned)
        }
        _ => None,
    }
}

fn audit_refusal<N: crate::node::Node>(config: &Config, dest: &Destination, order: &N, e: &Error) {
    let order_id = refused_order_id(order);
    let error = e.to_string();
    audit::emit(
        config,
        &audit::Record {
            event_id: None,
            destination: &dest.name,
            order_id: order_id.as_deref(),
            attempt: 0,
            outcome: audit::Outcome::Refused,
            http_status: None,
            latency_ms: None,
            error: Some(&error),
            key_fp: audit::key_fp(dest),
        },
    );
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The audit line of one recorded attempt (none when the event was gone).
fn audit_attempt(
    config: &Config,
    destination: &str,
    order_id: &str,
    r: &Receipt,
    how: Recorded,
    latency: u64,
    key_fp: Option<String>,
) {
    if let Some(rec) = attempt_record(destination, order_id, r, how, latency, key_fp) {
        audit::emit(config, &rec);
    }
}

/// The audit record of one recorded attempt (none when the event was gone).
fn attempt_record<'a>(
    destination: &'a str,
    order_id: &'a str,
    r: &'a Receipt,
    how: Recorded,
    latency: u64,
    key_fp: Option<String>,
) -> Option<audit::Record<'a>> {
    let outcome = match how {
        Recorded::Delivered => audit::Outcome::Delivered,
        Recorded::Retried => audit::Outcome::Retry,
        Recorded::Dead => audit::Outcome::Dead,
        Recorded::Gone => return None,
    };
    Some(audit::Record {
        event_id: Some(&r.event_id),
        destination,
        order_id: Some(order_id),
        attempt: r.attempts,
        outcome,
        http_status: r.http_status,
        latency_ms: Some(latency),
        error: r.reason.as_deref(),
        key_fp,
    })
}

fn outcome_status(o: &Outcome) -> Option<u16> {
    match o {
        Outcome::Delivered { status, .. } => Some(*status),
        Outcome::Retry { status, .. } | Outcome::Dead { status, .. } => *status,
    }
}

/// How an attempt was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Delivered,
    Retried,
    Dead,
    /// The row was no longer queued (purged, or delivered by another process).
    Gone,
}

/// `execute` through the connection's prepared-statement cache.
fn exec<P: rusqlite::Params>(conn: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// What a batch of recorded attempts changes about one destination, written once
/// per batch (circuit, last success/error, the trimmed `attempts` list).
#[derive(Default)]
struct DestBook {
    /// The circuit and `last_success_ms` as stored before this batch.
    stored: Option<(Circuit, Option<i64>)>,
    /// The destination has a `circuits` row.
    exists: bool,
    circuit: Option<Circuit>,
    last_success_ms: Option<i64>,
    last_error: Option<(String, i64)>,
    /// `attempts` rows of this batch (at_ms, outcome, http_status, latency_ms), in order.
    attempts: Vec<(i64, &'static str, Option<u16>, i64)>,
}

/// Records one attempt's outcome on a queued event and its destination's circuit
/// (in `tx`; the destination-wide changes go to `book`, see [`finish_book`]).
#[allow(clippy::too_many_arguments)]
fn record_in(
    tx: &Transaction<'_>,
    path: &Path,
    schedule: &[u64],
    book: &mut BTreeMap<String, DestBook>,
    id: &str,
    destination: &str,
    outcome: &Outcome,
    latency_ms: u64,
    now: i64,
) -> Result<(Receipt, Recorded)> {
    let err = sql_error(path);
    shared::note_outcome(tx, path, destination, outcome, now)?;
    // A delivery is one statement (the row is updated and its new count read back);
    // other outcomes need the count first (it picks the retry delay).
    let attempts: Option<u32> = match outcome {
        Outcome::Delivered { status, .. } => tx
            .prepare_cached(
                "UPDATE events SET state = 'delivered', payload = NULL, attempts = attempts + 1, http_status = ?2, reason = NULL,
                        delivered_at_ms = ?3, updated_at_ms = ?3, lease_owner = NULL, lease_until_ms = NULL
                 WHERE id = ?1 AND state = 'queued' RETURNING attempts - 1",
            )
            .and_then(|mut s| s.query_row(params![id, status, now], |r| r.get(0)).optional())
            .map_err(&err)?,
        _ => tx
            .prepare_cached("SELECT attempts FROM events WHERE id = ?1 AND state = 'queued'")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(&err)?,
    };
    let Some(attempts) = attempts.map(|a| a.saturating_add(1)) else {
        let receipt = existing_receipt(tx, path, id)?.unwrap_or(Receipt {
            event_id: id.to_owned(),
            status: "dead",
            http_status: outcome_status(outcome),
            attempts: 1,
            reason: Some("purged".to_owned()),
        });
        return Ok((receipt, Recorded::Gone));
    };
    let entry = book.entry(destination.to_owned()).or_default();
    let mut circuit = match (entry.circuit, entry.stored) {
        (Some(c), _) | (None, Some((c, _))) => c,
        (None, None) => {
            let stored = tx
                .prepare_cached(
                    "SELECT failures, opened_at_ms, probe_until_ms, last_success_ms FROM circuits WHERE destination = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([destination], |r| {
                        Ok((Circuit { failures: r.get(0)?, opened_at_ms: r.get(1)?, probe_until_ms: r.get(2)? }, r.get(3)?))
                    })
                    .optional()
                })
                .map_err(&err)?;
            entry.exists = stored.is_some();
            let stored = stored.unwrap_or_default();
            entry.stored = Some(stored);
            stored.0
        }
    };
    let (state, status, reason, recorded) = match outcome {
        Outcome::Delivered { status, .. } => {
            // Already updated above.
            circuit.on_success();
            entry.last_success_ms = Some(now);
            ("delivered", Some(*status), None, Recorded::Delivered)
        }
        Outcome::Retry { status, error, .. } | Outcome::Dead { status, error: error @ Error::Config { .. } } => {
            let retry_after = match outcome {
                Outcome::Retry { retry_after, .. } => *retry_after,
                _ => None,
            };
            // A local configuration problem (API key file, ca_file) is not the
            // endpoint's failure: the event stays queued, the circuit is untouched.
            if !matches!(error, Error::Config { .. }) {
                circuit.on_failure(now);
            }
            let reason = error.to_string();
            match retry_delay(schedule, attempts, retry_after, jitter_unit()) {
                Some(delay) => {
                    let next = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                    exec(
                        tx,
                        "UPDATE events SET attempts = ?2, http_status = ?3, reason = ?4, next_at_ms = ?5,
                                updated_at_ms = ?6, lease_owner = NULL, lease_until_ms = NULL WHERE id = ?1",
                        params![id, attempts, status, reason, next, now],
                    )
                    .map_err(&err)?;
                    ("queued", *status, Some(reason), Recorded::Retried)
                }
                None => {
                    let reason = format!("retries exhausted: {reason}");
                    dead(tx, path, id, attempts, *status, &reason, now)?;
                    ("dead", *status, Some(reason), Recorded::Dead)
                }
            }
        }
        Outcome::Dead { status, error } => {
            let reason = error.to_string();
            dead(tx, path, id, attempts, *status, &reason, now)?;
            ("dead", *status, Some(reason), Recorded::Dead)
        }
    };
    entry.circuit = Some(circuit);
    if let Some(r) = &reason {
        entry.last_error = Some((r.clone(), now));
    }
    let attempt_outcome = match recorded {
        Recorded::Delivered => "delivered",
        Recorded::Dead => "dead",
        _ => "retry",
    };
    entry.attempts.push((now, attempt_outcome, status, i64::try_from(latency_ms).unwrap_or(i64::MAX)));
    Ok((Receipt { event_id: id.to_owned(), status: state, http_status: status, attempts, reason }, recorded))
}

/// Writes what [`record_in`] gathered per destination: circuit, last success and
/// error, and the `attempts` list trimmed to the last [`ATTEMPTS_KEPT`].
fn finish_book(tx: &Transaction<'_>, path: &Path, book: &BTreeMap<String, DestBook>) -> Result<()> {
    let err = sql_error(path);
    for (destination, b) in book {
        let (stored, stored_success) = b.stored.unwrap_or_default();
        let known = b.stored.is_some() && b.exists;
        // Rows that would not change are not written (no page dirtied for nothing).
        if let Some(c) = b.circuit.filter(|c| !known || *c != stored) {
            store_circuit(tx, path, destination, &c)?;
        }
        if !b.attempts.is_empty() {
            // Only the newest ATTEMPTS_KEPT of the batch could survive the trim below.
            let keep = usize::try_from(ATTEMPTS_KEPT).unwrap_or(10);
            for (at, outcome, status, latency) in b.attempts.iter().skip(b.attempts.len().saturating_sub(keep)) {
                exec(
                    tx,
                    "INSERT INTO attempts (destination, at_ms, outcome, http_status, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![destination, at, outcome, status, latency],
                )
                .map_err(&err)?;
            }
            // The 11th newest and older go (ATTEMPTS_KEPT = 10, asserted below).
            exec(
                tx,
                "DELETE FROM attempts WHERE destination = ?1 AND id <=
                    (SELECT id FROM attempts WHERE destination = ?1 ORDER BY id DESC LIMIT 1 OFFSET 10)",
                [destination],
            )
            .map_err(&err)?;
        }
        // `status` shows it in whole seconds: a newer success within the same
        // second need not be written again.
        if let Some(t) = b.last_success_ms.filter(|t| !known || stored_success.is_none_or(|s| t / 1000 != s / 1000)) {
            exec(tx, "UPDATE circuits SET last_success_ms = ?2 WHERE destination = ?1", params![destination, t]).map_err(&err)?;
        }
        if let Some((r, t)) = &b.last_error {
            exec(
                tx,
                "UPDATE circuits SET last_error = ?2, last_error_ms = ?3 WHERE destination = ?1",
                params![destination, r, t],
            )
            .map_err(&err)?;
        }
    }
    Ok(())
}

/// Records one attempt's outcome on a queued event and its destination's circuit.
fn record(
    db: &mut Db,
    schedule: &[u64],
    id: &str,
    destination: &str,
    outcome: &Outcome,
    latency_ms: u64,
) -> Result<(Receipt, Recorded)> {
    let path = db.path.clone();
    let tx = db.immediate()?;
    let mut book = BTreeMap::new();
    let recorded = record_in(&tx, &path, schedule, &mut book, id, destination, outcome, latency_ms, now_ms())?;
    finish_book(&tx, &path, &book)?;
    tx.commit().map_err(sql_error(&path))?;
    Ok(recorded)
}

fn dead(tx: &Transaction<'_>, path: &Path, id: &str, attempts: u32, status: Option<u16>, reason: &str, now: i64) -> Result<()> {
    // The payload is kept (encrypted) so that `requeue` can send it again.
    exec(
        tx,
        "UPDATE events SET state = 'dead', attempts = ?2, http_status = ?3, reason = ?4, updated_at_ms = ?5,
                lease_owner = NULL, lease_until_ms = NULL WHERE id = ?1",
        params![id, attempts, status, reason, now],
    )
    .map_err(sql_error(path))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Flush

/// Sender threads of one [`flush`] (each with its own keep-alive connection).
pub const FLUSH_SENDERS: usize = 4;
/// Events in flight per sender thread (claimed ahead, in one transaction).
const FLUSH_DEPTH: usize = 8;
/// A claimed event is sent within this long of its claim or handed back: its
/// lease (timeout + [`LEASE_MARGIN_MS`]) then outlasts the attempt.
const LEASE_SEND_WITHIN_MS: u64 = 15_000;
const _: () = assert!(LEASE_SEND_WITHIN_MS < LEASE_MARGIN_MS.unsigned_abs());

/// What a [`flush`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushCounts {
    /// Events delivered.
    pub delivered: u64,
    /// Events that failed and were rescheduled.
    pub retried: u64,
    /// Events dead-lettered (4xx/3xx, or past the schedule).
    pub dead: u64,
    /// Events that could not be attempted: undecryptable (marked, kept) or whose
    /// destination is no longer configured (looked at again in an hour).
    pub skipped: u64,
    /// Queued events left (due or not).
    pub remaining: u64,
}

impl FlushCounts {
    /// As a JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "delivered": self.delivered, "retried": self.retried, "dead": self.dead,
            "skipped": self.skipped, "remaining": self.remaining,
        })
    }
}

/// A claimed (leased, decrypted) event for a sender thread.
struct Job {
    /// When it was claimed (its lease runs from then).
    claimed: Instant,
    rowid: i64,
    id: String,
    dest: Arc<Destination>,
    event: String,
    order_id: String,
    body: Zeroizing<Vec<u8>>,
}

/// A sender thread's result: `outcome` is `None` when the job was not attempted
/// because its destination asked for a pause meanwhile.
struct Done {
    rowid: i64,
    id: String,
    dest: Arc<Destination>,
    order_id: String,
    outcome: Option<Outcome>,
    latency: u64,
}

impl Done {
    /// A job handed back without an attempt (its lease is released).
    fn unattempted(j: Job) -> Done {
        Done { rowid: j.rowid, id: j.id, dest: j.dest, order_id: j.order_id, outcome: None, latency: 0 }
    }
}

/// How many of a destination's events one flush may have in flight: one at
/// first, doubled by each plain success (up to the whole window), halved by a
/// failure, and back to one when the destination asks for a pause (so a
/// `Retry-After` or rate-limit header is seen before the next request goes).
#[derive(Default)]
struct Lane {
    allowed: usize,
    in_flight: usize,
}

/// What one claim transaction found.
struct Claimed {
    jobs: Vec<Job>,
    skipped: u64,
    /// Anything happened (a job, a skip, a newly blocked destination): worth claiming again.
    progress: bool,
}

/// Claims up to `want` due events in one transaction, skipping destinations in
/// `blocked` (rate-limited or paused for the rest of this pass) and adding to it
/// the destinations whose bucket runs dry. Each claimed event took one token of
/// its destination's bucket and is leased to `owner`.
fn claim_batch(
    db: &mut Db,
    config: &Config,
    tried: &HashSet<i64>,
    owner: &str,
    blocked: &mut BTreeMap<String, i64>,
    want: usize,
) -> Result<Claimed> {
    let ring = db.keyring(&config.outbox.key_file)?;
    let path = db.path.clone();
    let err = sql_error(&path);
    let tx = db.immediate()?;
    let now = now_ms();
    // Read leniently: a row with damaged columns is set aside, not an error
    // that would stop the whole queue.
    type Row = (i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<Vec<u8>>);
    let rows: Vec<Row> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT rowid, id, destination, order_id, event, key_id, payload FROM events
                 WHERE state = 'queued' AND next_at_ms <= ?1 AND (lease_until_ms IS NULL OR lease_until_ms <= ?1)
                   AND destination NOT IN (SELECT value FROM json_each(?3))
                 ORDER BY next_at_ms, created_at_ms LIMIT ?2",
            )
            .map_err(&err)?;
        let limit = i64::try_from(want.saturating_add(tried.len())).unwrap_or(i64::MAX);
        let skip = Value::from(blocked.keys().cloned().collect::<Vec<String>>()).to_string();
        let rows = stmt
            .query_map(params![now, limit, skip], |r| {
                let text = |i: usize| r.get::<_, Option<String>>(i).ok().flatten();
                Ok((r.get(0)?, text(1), text(2), text(3), text(4), text(5), r.get::<_, Option<Vec<u8>>>(6).ok().flatten()))
            })
            .map_err(&err)?;
        let mut found = Vec::new();
        for r in rows {
            let r: Row = r.map_err(&err)?;
            if !tried.contains(&r.0) {
                found.push(r);
                if found.len() >= want {
                    break;
                }
            }
        }
        found
    };
    let mut out = Claimed { jobs: Vec::with_capacity(rows.len()), skipped: 0, progress: false };
    // Destinations without a rate limit found unpaused in this transaction: their
    // admission cannot change before it commits.
    let mut open: HashSet<String> = HashSet::new();
    for (rowid, id, destination, order_id, event, key_id, payload) in rows {
        let (Some(id), Some(destination), Some(order_id), Some(event)) = (id, destination, order_id, event) else {
            exec(
                &tx,
                "UPDATE events SET state = 'undecryptable', reason = 'corrupt row', updated_at_ms = ?2 WHERE rowid = ?1",
                params![rowid, now],
            )
            .map_err(&err)?;
            out.skipped = out.skipped.saturating_add(1);
            out.progress = true;
            continue;
        };
        if blocked.contains_key(&destination) {
            continue;
        }
        let Some(dest) = config.destinations.get(&destination) else {
            exec(
                &tx,
                "UPDATE events SET reason = 'destination not configured', next_at_ms = ?2, updated_at_ms = ?3 WHERE id = ?1",
                params![id, now.saturating_add(NO_DESTINATION_DELAY_MS), now],
            )
            .map_err(&err)?;
            out.skipped = out.skipped.saturating_add(1);
            out.progress = true;
            continue;
        };
        let body = match (key_id, payload) {
            (Some(k), Some(p)) => ring.open(&k, &aad(&id, &destination, &event, &order_id), &p),
            _ => None,
        };
        let Some(body) = body else {
            exec(
                &tx,
                "UPDATE events SET state = 'undecryptable', reason = 'payload cannot be decrypted with the outbox keys',
                        updated_at_ms = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(&err)?;
            out.skipped = out.skipped.saturating_add(1);
            out.progress = true;
            continue;
        };
        if !open.contains(&destination) {
            if let shared::Admission::Wait { until_ms, .. } = shared::admit(&tx, &path, dest, now)? {
                blocked.insert(destination, until_ms);
                out.progress = true;
                continue;
            }
            if dest.rate_limit.is_none() {
                open.insert(destination.clone());
            }
        }
        exec(
            &tx,
            "UPDATE events SET lease_owner = ?2, lease_until_ms = ?3, next_at_ms = ?3 WHERE id = ?1",
            params![id, owner, now.saturating_add(lease_ms(dest))],
        )
        .map_err(&err)?;
        out.progress = true;
        out.jobs.push(Job { claimed: Instant::now(), rowid, id, dest: Arc::clone(dest), event, order_id, body });
    }
    tx.commit().map_err(&err)?;
    Ok(out)
}

/// Records a batch of sender results in one transaction; `None` for a job that was
/// not attempted (its lease is released: it is due again at once).
fn record_batch(db: &mut Db, schedule: &[u64], owner: &str, done: &[Done]) -> Result<Vec<Option<(Receipt, Recorded)>>> {
    let path = db.path.clone();
    let err = sql_error(&path);
    let tx = db.immediate()?;
    let now = now_ms();
    let mut book = BTreeMap::new();
    let mut out = Vec::with_capacity(done.len());
    for d in done {
        match &d.outcome {
            Some(outcome) => {
                out.push(Some(record_in(&tx, &path, schedule, &mut book, &d.id, &d.dest.name, outcome, d.latency, now)?));
            }
            None => {
                exec(
                    &tx,
                    "UPDATE events SET lease_owner = NULL, lease_until_ms = NULL, next_at_ms = ?3 WHERE id = ?1 AND lease_owner = ?2",
                    params![d.id, owner, now],
                )
                .map_err(&err)?;
                out.push(None);
            }
        }
    }
    finish_book(&tx, &path, &book)?;
    tx.commit().map_err(&err)?;
    Ok(out)
}

/// A sender thread: attempts jobs until the queue closes. A destination that asks
/// for a pause (Retry-After, rate-limit headers) gets no further attempt from this
/// flush until the pause is over: its remaining jobs come back unattempted.
fn sender(
    config: &Config,
    jobs: &Mutex<std::sync::mpsc::Receiver<Job>>,
    done: &std::sync::mpsc::Sender<Done>,
    paused: &Mutex<BTreeMap<String, Instant>>,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        let Job { claimed, rowid, id, dest, event, order_id, body } = job;
        // A job that waited too long for its lane might outlive its lease while in
        // flight (another process could then claim it): hand it back instead.
        let stale = claimed.elapsed() > Duration::from_millis(LEASE_SEND_WITHIN_MS);
        let hold =
            stale || paused.lock().unwrap_or_else(PoisonError::into_inner).get(&dest.name).is_some_and(|t| *t > Instant::now());
        let (outcome, latency) = if hold {
            (None, 0)
        } else {
            let started = Instant::now();
            // A panic below must not lose the job: the flusher waits for every
            // job it handed out, so a vanished one would hang it. It counts as a
            // failed attempt (recorded, audited, retried on the schedule).
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                forward::attempt_with(&dest, Some(&config.outbox), &id, &event, &body, &[])
            }))
            .unwrap_or_else(|_| forward::Outcome::Retry {
                status: None,
                retry_after: None,
                error: crate::Error::transport(&dest.host, "internal error during the attempt (retried)"),
            });
            let latency = elapsed_ms(started);
            if let Some(d) = forward::pause_hint(&outcome).filter(|d| !d.is_zero()) {
                let until = Instant::now().checked_add(d.min(MAX_RETRY_AFTER)).unwrap_or_else(Instant::now);
                paused.lock().unwrap_or_else(PoisonError::into_inner).insert(dest.name.clone(), until);
            }
            (Some(outcome), latency)
        };
        drop(body);
        if done.send(Done { rowid, id, dest, order_id, outcome, latency }).is_err() {
            return;
        }
    }
}

/// Sends due queued events, at most `max` of them and for at most about `seconds`
/// (an attempt in flight is not interrupted), whatever the circuits say. Each event
/// is attempted at most once per call.
///
/// Events are claimed in batches (one transaction each) and sent by up to
/// [`FLUSH_SENDERS`] threads, each reusing keep-alive connections; results are
/// recorded in batches (one transaction each). Every attempt still takes a token
/// of its destination's bucket when claimed, is leased, timed, written to the
/// `attempts` list and gets its audit line (written by the calling thread).
pub fn flush(config: &Config, max: u32, seconds: f64) -> Result<FlushCounts> {
    let started = Instant::now();
    let budget = if seconds.is_finite() && seconds > 0.0 { Duration::from_secs_f64(seconds.min(1e9)) } else { Duration::ZERO };
    let owner = lease_owner();
    let senders = FLUSH_SENDERS.min(usize::try_from(max).unwrap_or(usize::MAX)).max(1);
    let window = senders.saturating_mul(FLUSH_DEPTH);
    let mut tried = HashSet::new();
    let mut counts = FlushCounts::default();
    let mut handled: u32 = 0;
    // Destinations without a token (or paused) → when to look at them again.
    let mut blocked: BTreeMap<String, i64> = BTreeMap::new();
    let paused: Mutex<BTreeMap<String, Instant>> = Mutex::new(BTreeMap::new());
    let (job_tx, job_rx) = std::sync::mpsc::channel::<Job>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
    let mut in_flight: usize = 0;
    // Claimed, not yet handed to a sender (a destination's lane is full).
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    // No checkpoint (two fsyncs each) in the middle of a flush: one at its end
    // copies each page once, however often the flush rewrote it.
    with_db(&config.outbox, |db| {
        db.conn.pragma_update(None, "wal_autocheckpoint", FLUSH_AUTOCHECKPOINT_PAGES).map_err(sql_error(&db.path))
    })?;
    let result = std::thread::scope(|scope| {
        let mut spawned = 0;
        for n in 1..=senders {
            let (jobs, done, paused) = (&job_rx, done_tx.clone(), &paused);
            let ok = std::thread::Builder::new()
                .name("sf-flush".to_owned())
                .spawn_scoped(scope, move || {
                    crate::transport::use_pool(n);
                    sender(config, jobs, &done, paused);
                })
                .is_ok();
            spawned += usize::from(ok);
        }
        drop(done_tx);
        if spawned == 0 {
            return Err(Error::config(config.outbox.path.display().to_string(), None, "cannot start a flush thread"));
        }
        let mut run = || -> Result<()> {
            loop {
                // Keep the senders busy: claim more once half the window is free.
                let mut idle = false;
                while in_flight.saturating_add(pending.len()) <= window / 2 && handled < max && started.elapsed() < budget {
                    let now = now_ms();
                    blocked.retain(|_, until| *until > now);
                    let room = usize::try_from(max.saturating_sub(handled)).unwrap_or(usize::MAX);
                    let want = window.saturating_sub(in_flight.saturating_add(pending.len())).min(room).max(1);
                    let claimed = with_db(&config.outbox, |db| claim_batch(db, config, &tried, &owner, &mut blocked, want))?;
                    counts.skipped = counts.skipped.saturating_add(claimed.skipped);
                    let n = u32::try_from(claimed.jobs.len()).unwrap_or(u32::MAX);
                    handled = handled.saturating_add(n).saturating_add(u32::try_from(claimed.skipped).unwrap_or(u32::MAX));
                    if !claimed.progress {
                        idle = true;
                        break;
                    }
                    pending.extend(claimed.jobs);
                }
                // Hand jobs to the senders, within each destination's lane.
                let mut held = VecDeque::with_capacity(pending.len());
                while let Some(job) = pending.pop_front() {
                    let lane = lanes.entry(job.dest.name.clone()).or_default();
                    if lane.in_flight < lane.allowed.max(1) {
                        lane.in_flight = lane.in_flight.saturating_add(1);
                        if let Err(back) = job_tx.send(job) {
                            lane.in_flight = lane.in_flight.saturating_sub(1);
                            held.push_back(back.0);
                            continue;
                        }
                        in_flight = in_flight.saturating_add(1);
                    } else {
                        held.push_back(job);
                    }
                }
                pending = held;
                if in_flight == 0 {
                    if !idle || !pending.is_empty() {
                        return Ok(());
                    }
                    // Nothing else to do: pace ourselves until the earliest blocked
                    // destination may go again, within the time budget.
                    let Some(until) = blocked.values().min().copied() else { return Ok(()) };
                    let wait = Duration::from_millis(u64::try_from(until.saturating_sub(now_ms()).max(1)).unwrap_or(1));
                    if started.elapsed().saturating_add(wait) > budget {
                        return Ok(());
                    }
                    std::thread::sleep(wait);
                    continue;
                }
                let Ok(first) = done_rx.recv() else { return Ok(()) };
                let mut batch = vec![first];
                while let Ok(d) = done_rx.try_recv() {
                    batch.push(d);
                }
                in_flight = in_flight.saturating_sub(batch.len());
                let now = now_ms();
                let mut release = Vec::new();
                for d in &batch {
                    let lane = lanes.entry(d.dest.name.clone()).or_default();
                    lane.in_flight = lane.in_flight.saturating_sub(1);
                    let Some(outcome) = &d.outcome else { continue };
                    if let Some(pause) = forward::pause_hint(outcome).filter(|p| !p.is_zero()) {
                        // The destination asked for a pause: one request at a time
                        // again, and what is waiting for it goes back to the queue.
                        lane.allowed = 1;
                        let until = now.saturating_add(i64::try_from(pause.min(MAX_RETRY_AFTER).as_millis()).unwrap_or(i64::MAX));
                        let at = blocked.entry(d.dest.name.clone()).or_insert(until);
                        *at = (*at).max(until);
                        release.push(d.dest.name.clone());
                    } else if matches!(outcome, Outcome::Delivered { .. }) {
                        lane.allowed = lane.allowed.max(1).saturating_mul(2).min(window);
                    } else {
                        lane.allowed = (lane.allowed / 2).max(1);
                    }
                }
                if !release.is_empty() {
                    let (back, keep): (VecDeque<Job>, VecDeque<Job>) =
                        pending.drain(..).partition(|j| release.contains(&j.dest.name));
                    pending = keep;
                    batch.extend(back.into_iter().map(Done::unattempted));
                }
                record_results(config, &owner, &batch, &mut counts, &mut tried, &mut handled)?;
            }
        };
        let result = run();
        // Stop the senders; whatever is still in flight is recorded, and claimed
        // jobs never handed out are released (best effort after an error: an
        // unrecorded attempt is retried when its lease expires).
        drop(job_tx);
        let mut rest: Vec<Done> = done_rx.iter().collect();
        rest.extend(pending.drain(..).map(Done::unattempted));
        if !rest.is_empty() {
            let recorded = record_results(config, &owner, &rest, &mut counts, &mut tried, &mut handled);
            if result.is_ok() {
                recorded?;
            }
        }
        result
    });
    let restored = with_db(&config.outbox, |db| {
        db.conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES).map_err(sql_error(&db.path))
    });
    result?;
    restored?;
    counts.remaining = with_db(&config.outbox, |db| {
        let err = sql_error(&db.path);
        let cutoff = now_ms().saturating_sub(DELIVERED_RETENTION_MS);
        exec(&db.conn, "DELETE FROM events WHERE state = 'delivered' AND delivered_at_ms < ?1", [cutoff]).map_err(&err)?;
        // Checkpoint here rather than in a checkout's commit (best effort: a
        // busy database is checkpointed by a later flush or commit).
        let _ = db.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        db.conn
            .prepare_cached("SELECT COUNT(*) FROM events WHERE state = 'queued'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(&err)
    })?;
    Ok(counts)
}

/// Records sender results, writes their audit lines and counts them.
fn record_results(
    config: &Config,
    owner: &str,
    batch: &[Done],
    counts: &mut FlushCounts,
    tried: &mut HashSet<i64>,
    handled: &mut u32,
) -> Result<()> {
    let recorded = match with_db(&config.outbox, |db| record_batch(db, &config.outbox.retry_schedule, owner, batch)) {
        Ok(r) => r,
        Err(e) => {
            // The batch's transaction rolled back: its events stay leased and are
            // sent again once the lease expires (same Idempotency-Key). The
            // requests were made all the same: each still gets its audit line.
            unrecorded_audit(config, batch, &e);
            return Err(e);
        }
    };
    let mut key_fps: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut lines = Vec::with_capacity(batch.len());
    for (d, r) in batch.iter().zip(&recorded) {
        let Some((receipt, how)) = r else {
            // Not attempted (paused meanwhile): it may be claimed again.
            *handled = handled.saturating_sub(1);
            continue;
        };
        let key_fp = key_fps.entry(&d.dest.name).or_insert_with(|| audit::key_fp(&d.dest)).clone();
        if let Some(rec) = attempt_record(&d.dest.name, &d.order_id, receipt, *how, d.latency, key_fp) {
            lines.push(rec);
        }
        let slot = match how {
            Recorded::Delivered => &mut counts.delivered,
            Recorded::Retried => &mut counts.retried,
            Recorded::Dead => &mut counts.dead,
            Recorded::Gone => &mut counts.skipped,
        };
        *slot = slot.saturating_add(1);
        tried.insert(d.rowid);
    }
    audit::emit_many(config, &lines);
    Ok(())
}

/// Audit lines for attempts whose results could not be recorded (outcome
/// `retry`: the event is attempted again after its lease).
fn unrecorded_audit(config: &Config, batch: &[Done], why: &crate::Error) {
    let reasons: Vec<(usize, String)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let o = d.outcome.as_ref()?;
            let what = match o {
                Outcome::Delivered { .. } => "delivered".to_owned(),
                Outcome::Retry { error, .. } | Outcome::Dead { error, .. } => error.to_string(),
            };
            Some((i, format!("{what}; result not recorded ({why}): sent again after the lease")))
        })
        .collect();
    let lines: Vec<audit::Record<'_>> = reasons
        .iter()
        .filter_map(|(i, reason)| {
            let d = batch.get(*i)?;
            Some(audit::Record {
                event_id: Some(&d.id),
                destination: &d.dest.name,
                order_id: Some(&d.order_id),
                attempt: 0,
                outcome: audit::Outcome::Retry,
                http_status: d.outcome.as_ref().and_then(outcome_status),
                latency_ms: Some(d.latency),
                error: Some(reason),
                key_fp: audit::key_fp(&d.dest),
            })
        })
        .collect();
    audit::emit_many(config, &lines);
}

// ---------------------------------------------------------------------------
// Status, requeue, purge

#[derive(Default)]
struct DestStatus {
    queued: u64,
    dead: u64,
    undecryptable: u64,
    delivered: u64,
    oldest_queued_ms: Option<i64>,
    last_success_ms: Option<i64>,
    last_error: Option<(i64, String)>,
    circuit: Option<CircuitState>,
    paused_until_ms: Option<i64>,
}

impl DestStatus {
    fn to_json(&self, now: i64) -> Value {
        json!({
            "queued": self.queued,
            "dead": self.dead,
            "undecryptable": self.undecryptable,
            "delivered": self.delivered,
            "oldest_queued_age_s": self.oldest_queued_ms.map(|t| now.saturating_sub(t).max(0) / 1000),
            "last_success_at": self.last_success_ms.map(|t| t / 1000),
            "last_error": self.last_error.as_ref().map(|(_, e)| crate::redact::redact(e)),
            "last_error_at": self.last_error.as_ref().map(|(t, _)| t / 1000),
            "circuit": self.circuit.unwrap_or(CircuitState::Closed).as_str(),
            "paused_until": self.paused_until_ms.map(|t| t / 1000),
        })
    }

    fn merge(&mut self, o: &DestStatus) {
        self.queued += o.queued;
        self.dead += o.dead;
        self.undecryptable += o.undecryptable;
        self.delivered += o.delivered;
        self.oldest_queued_ms = min_opt(self.oldest_queued_ms, o.oldest_queued_ms);
        self.last_success_ms = self.last_success_ms.max(o.last_success_ms);
        if o.last_error.as_ref().map(|e| e.0) > self.last_error.as_ref().map(|e| e.0) {
            self.last_error.clone_from(&o.last_error);
        }
        self.circuit = self.circuit.max(o.circuit);
        self.paused_until_ms = self.paused_until_ms.max(o.paused_until_ms);
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The outbox at a glance: totals (`queued`, `dead`, `undecryptable`, `delivered`
/// in the last 24 h, `oldest_queued_age_s`, `last_success_at` in unix seconds,
/// `last_error` (the most recent failure's short reason, kept after a success) and
/// `last_error_at`, worst `circuit`, `paused_until` (unix seconds, while a
/// `Retry-After` or rate-limit headers pause it)) and the same per destination under
/// `destinations`. No payload, key or customer value appears.
pub fn status(config: &Config) -> Result<Value> {
    let now = now_ms();
    let mut per: BTreeMap<String, DestStatus> = config.destinations.keys().map(|k| (k.clone(), DestStatus::default())).collect();
    let mut attempts: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    with_db(&config.outbox, |db| {
        let err = sql_error(&db.path);
        let mut stmt = db
            .conn
            .prepare_cached(
                "SELECT CAST(destination AS TEXT), CAST(state AS TEXT), COUNT(*), MIN(created_at_ms) FROM events
                 WHERE state != 'delivered' OR delivered_at_ms >= ?1 GROUP BY destination, state",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([now.saturating_sub(RECENT_MS)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u64>(2)?, r.get::<_, Option<i64>>(3)?))
            })
            .map_err(&err)?;
        for row in rows {
            let (dest, state, n, oldest) = row.map_err(&err)?;
            let s = per.entry(dest).or_default();
            match state.as_str() {
                "queued" => {
                    s.queued = n;
                    s.oldest_queued_ms = oldest;
                }
                "dead" => s.dead = n,
                "undecryptable" => s.undecryptable = n,
                "delivered" => s.delivered = n,
                _ => {}
            }
        }
        let mut stmt = db
            .conn
            .prepare_cached(
                "SELECT destination, failures, opened_at_ms, probe_until_ms, last_success_ms, last_error, last_error_ms
                 FROM circuits",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                let c = Circuit { failures: r.get(1)?, opened_at_ms: r.get(2)?, probe_until_ms: r.get(3)? };
                let e: Option<String> = r.get(5)?;
                let e_at: Option<i64> = r.get(6)?;
                Ok((r.get::<_, String>(0)?, c, r.get::<_, Option<i64>>(4)?, e.map(|e| (e_at.unwrap_or(0), e))))
            })
            .map_err(&err)?;
        for row in rows {
            let (dest, c, last_success, last_error) = row.map_err(&err)?;
            let s = per.entry(dest).or_default();
            s.circuit = Some(c.state(now));
            s.last_success_ms = last_success;
            s.last_error = last_error;
        }
        let mut stmt = db
            .conn
            .prepare_cached(
                "SELECT CAST(destination AS TEXT), at_ms, CAST(outcome AS TEXT), http_status, latency_ms FROM attempts
                 ORDER BY id DESC",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(&err)?;
        for row in rows {
            let (dest, at, outcome, http_status, latency_ms) = row.map_err(&err)?;
            let list = attempts.entry(dest).or_default();
            if list.len() < usize::try_from(ATTEMPTS_KEPT).unwrap_or(10) {
                list.push(json!({
                    "ts": audit::rfc3339_ms(at),
                    "outcome": outcome,
                    "http_status": http_status,
                    "latency_ms": latency_ms,
                }));
            }
        }
        let mut stmt =
            db.conn.prepare_cached("SELECT destination, paused_until_ms FROM limits WHERE paused_until_ms > ?1").map_err(&err)?;
        let rows = stmt.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(&err)?;
        for row in rows {
            let (dest, until) = row.map_err(&err)?;
            per.entry(dest).or_default().paused_until_ms = Some(until);
        }
        Ok(())
    })?;
    let mut total = DestStatus::default();
    let mut dests = serde_json::Map::new();
    for (name, s) in &per {
        total.merge(s);
        let mut v = s.to_json(now);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("attempts".to_owned(), Value::Array(attempts.remove(name).unwrap_or_default()));
            if let Some(dest) = config.destinations.get(name) {
                for (k, val) in secret_facts(dest) {
                    obj.insert(k.to_owned(), val);
                }
            }
        }
        dests.insert(name.clone(), v);
    }
    let mut out = total.to_json(now);
    if let Some(obj) = out.as_object_mut() {
        obj.insert("destinations".to_owned(), Value::Object(dests));
    }
    Ok(out)
}

/// Facts about a destination's secrets for [`status`]: `key_fp`, `key_source`
/// (`file`/`env`/null), `key_path` (path or variable name) and `signing_fp` (the
/// fingerprints of its signing secrets, `[]` without signing). A secret that
/// cannot be read has a null fingerprint.
fn secret_facts(dest: &Destination) -> [(&'static str, Value); 4] {
    let signing = if dest.signing_secret_file.is_some() {
        crate::signing::signing_fingerprints(dest).map_or(Value::Null, |f| json!(f))
    } else {
        json!([])
    };
    [
        ("key_fp", json!(audit::key_fp(dest))),
        ("key_source", json!(dest.key.as_ref().map(crate::secret::SecretSource::kind))),
        ("key_path", json!(dest.key.as_ref().map(crate::secret::SecretSource::location))),
        ("signing_fp", signing),
    ]
}

/// Records an accepted inbound webhook id (`key`) at `now_s` (unix seconds) in the
/// `webhook_seen` table, atomically across processes; `Ok(false)` when it was
/// already there (a replay). Entries older than `keep_s` seconds are pruned first,
/// so the table stays bounded.
pub fn record_webhook_once(config: &OutboxConfig, key: &str, now_s: u64, keep_s: u64) -> Result<bool> {
    with_db(config, |db| {
        let path = db.path.clone();
        let err = sql_error(&path);
        let now = i64::try_from(now_s).unwrap_or(i64::MAX);
        let cutoff = i64::try_from(now_s.saturating_sub(keep_s)).unwrap_or(i64::MAX);
        let tx = db.immediate()?;
        tx.execute("DELETE FROM webhook_seen WHERE seen_at < ?1", [cutoff]).map_err(&err)?;
        let inserted =
            tx.execute("INSERT OR IGNORE INTO webhook_seen (id, seen_at) VALUES (?1, ?2)", params![key, now]).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(inserted == 1)
    })
}

/// Puts a dead (or undecryptable) event back in the queue, due now, with a fresh
/// retry schedule. `false` when there is no such event or it has no payload.
pub fn requeue(config: &Config, event_id: &str) -> Result<bool> {
    with_durable_db(&config.outbox, config.outbox.synchronous.pragma(), |db| {
        let err = sql_error(&db.path);
        let now = now_ms();
        let n = db
            .conn
            .execute(
                "UPDATE events SET state = 'queued', attempts = 0, next_at_ms = ?2, updated_at_ms = ?2, reason = NULL,
                        lease_owner = NULL, lease_until_ms = NULL
                 WHERE id = ?1 AND state IN ('dead', 'undecryptable') AND payload IS NOT NULL",
                params![event_id, now],
            )
            .map_err(&err)?;
        Ok(n > 0)
    })
}

/// Right to erasure: deletes every queued, dead or undecryptable event of
/// `order_id` entirely (payload and metadata; `secure_delete` zeroes the freed
/// pages). Delivered events hold no payload and keep their metadata. Returns the
/// number of rows removed. An attempt already in flight still completes.
pub fn purge(config: &Config, order_id: &str) -> Result<u64> {
    let removed = with_durable_db(&config.outbox, PURGE_SYNC, |db| {
        let path = db.path.clone();
        let err = sql_error(&path);
        let tx = db.immediate()?;
        let mut removed: Vec<(String, String)> = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT CAST(id AS TEXT), CAST(destination AS TEXT) FROM events WHERE order_id = ?1 AND state != 'delivered'",
                )
                .map_err(&err)?;
            let rows = stmt.query_map([order_id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
            for row in rows {
                removed.push(row.map_err(&err)?);
            }
        }
        tx.execute("DELETE FROM events WHERE order_id = ?1 AND state != 'delivered'", [order_id]).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(removed)
    })?;
    for (id, destination) in &removed {
        audit::emit(
            config,
            &audit::Record {
                event_id: Some(id),
                destination,
                order_id: Some(order_id),
                attempt: 0,
                outcome: audit::Outcome::Purged,
                http_status: None,
                latency_ms: None,
                error: None,
                key_fp: None,
            },
        );
    }
    Ok(removed.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let worst = LEASE_SEND_WITHIN_MS as i64 + 4 * 10_000 + 2 * (10_000 + 1_000);
        assert!(lease_ms(c.destination("oauth").unwrap()) > worst);
    }

    #[test]
    fn schedule_and_exhaustion() {
        let s = crate::config::DEFAULT_RETRY_SCHEDULE;
        assert_eq!(retry_delay(&s, 1, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(&s, 2, None, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(retry_delay(&s, 9, None, 0.5), Some(Duration::from_secs(86_400)));
        assert_eq!(retry_delay(&s, 10, None, 0.5), None);
        assert_eq!(retry_delay(&s, 0, None, 0.5), None);
        assert_eq!(retry_delay(&[], 1, None, 0.5), None);
        assert_eq!(retry_delay(&[0, 0, 0], 3, None, 0.9), Some(Duration::ZERO));
    }

    #[test]
    fn jitter_is_bounded() {
        let s = [100];
        assert_eq!(retry_delay(&s, 1, None, 0.0), Some(Duration::from_secs(80)));
        assert_eq!(retry_delay(&s, 1, None, 1.0), Some(Duration::from_secs(120)));
        assert_eq!(retry_delay(&s, 1, None, f64::NAN), Some(Duration::from_secs(100)));
        for _ in 0..100 {
            let d = retry_delay(&s, 1, None, jitter_unit()).unwrap();
            assert!(d >= Duration::from_secs(80) && d <= Duration::from_secs(120), "{d:?}");
        }
    }

    #[test]
    fn retry_after_is_clamped() {
        let s = [5];
        // Longer than the schedule: honoured.
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(60)), 0.5), Some(Duration::from_secs(60)));
        // Shorter than the schedule: the schedule wins.
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(1)), 0.5), Some(Duration::from_secs(5)));
        // Absurd: capped at 24 h.
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(10_000_000)), 0.5), Some(MAX_RETRY_AFTER));
        // A schedule step longer than 24 h is not shortened.
        assert_eq!(retry_delay(&[200_000], 1, Some(Duration::from_secs(10)), 0.5), Some(Duration::from_secs(200_000)));
    }

    #[test]
    fn circuit_transitions() {
        let lease = 40_000;
        let mut c = Circuit::default();
        assert_eq!(c.state(0), CircuitState::Closed);
        for i in 1..CIRCUIT_THRESHOLD {
            c.on_failure(1000);
            assert_eq!(c.state(1000), CircuitState::Closed, "after {i}");
            assert!(c.admit(1000, lease));
        }
        c.on_failure(1000);
        assert_eq!(c.state(1000), CircuitState::Open);
        assert!(!c.admit(1000, lease));
        assert!(!c.admit(1000 + CIRCUIT_COOLDOWN_MS - 1, lease));
        // Half-open: exactly one probe until its lease runs out.
        let t = 1000 + CIRCUIT_COOLDOWN_MS;
        assert_eq!(c.state(t), CircuitState::HalfOpen);
        assert!(c.admit(t, lease));
        assert!(!c.admit(t + 1, lease));
        assert!(c.admit(t + lease + 1, lease), "a crashed probe does not wedge the circuit");
        // Failed probe: open again for a full cool-down.
        c.on_failure(t + 10);
        assert_eq!(c.state(t + 10), CircuitState::Open);
        assert!(!c.admit(t + 10, lease));
        // Success closes.
        c.on_success();
        assert_eq!(c, Circuit::default());
        assert!(c.admit(t + 11, lease));
        assert!(CircuitState::Open > CircuitState::HalfOpen && CircuitState::HalfOpen > CircuitState::Closed);
    }

    #[test]
    fn durable_writes_use_configured_sync_purge_full_and_bookkeeping_normal() {
        let dir = std::env::temp_dir().join(format!("sf-outbox-sync-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let text = format!("[outbox]\npath = \"{}\"\nsynchronous = \"full\"\n", dir.join("o.sqlite").display());
        let c = Config::parse(Path::new("/c.toml"), &text).unwrap();
        let sync = |db: &mut Db| Ok(db.conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).unwrap());
        assert_eq!(with_durable_db(&c.outbox, c.outbox.synchronous.pragma(), sync).unwrap(), 2, "FULL");
        assert_eq!(with_durable_db(&c.outbox, PURGE_SYNC, sync).unwrap(), 2, "FULL");
        assert_eq!(with_db(&c.outbox, sync).unwrap(), 1, "NORMAL after a FULL write");
        let normal = Config::parse(Path::new("/c.toml"), &text.replace("full", "normal")).unwrap();
        assert_eq!(with_durable_db(&normal.outbox, normal.outbox.synchronous.pragma(), sync).unwrap(), 1, "NORMAL");
        assert_eq!(with_durable_db(&normal.outbox, PURGE_SYNC, sync).unwrap(), 2, "purge is always FULL");
        let wal = with_db(&c.outbox, |db| Ok(db.conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)).unwrap()));
        assert_eq!(wal.unwrap(), "wal");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn aad_separates_fields() {
        assert_ne!(aad("a", "bc", "e", "1"), aad("ab", "c", "e", "1"));
    }
}
