//! The storage interface as two-variant enums: every operation of [`Store`]
//! (outside a transaction) and [`Tx`] (inside one) dispatches to the SQLite
//! backend or to the shared MariaDB/MySQL one (`[outbox] url`). The outbox
//! engine sees only these; no SQL here.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use super::{mysql, sqlite};
use super::{
    Admission, Bucket, CircuitRow, DeliveryQuery, DeliveryRow, DueEvent, EventSummary, FetchFailure, FetchRow, NewEvent,
    StatusRows, TokenRow,
};
use crate::config::OutboxConfig;
use crate::error::{Error, Result};

/// This process's connection to the outbox (SQLite file or shared database).
pub enum Store<'a> {
    /// The SQLite outbox (or, with `url` set, this node's local spool).
    Sqlite(&'a mut sqlite::Store),
    /// The shared MariaDB/MySQL outbox.
    Mysql(&'a mut mysql::Store),
}

/// One transaction of either backend.
pub enum Tx<'c> {
    /// SQLite `BEGIN IMMEDIATE`.
    Sqlite(sqlite::Tx<'c>),
    /// InnoDB, `READ COMMITTED`, row locks.
    Mysql(mysql::Tx<'c>),
}

macro_rules! both {
    ($self:expr, $db:ident => $e:expr) => {
        match $self {
            Store::Sqlite($db) => $e,
            Store::Mysql($db) => $e,
        }
    };
}

macro_rules! tx_both {
    ($self:expr, $tx:ident => $e:expr) => {
        match $self {
            Tx::Sqlite($tx) => $e,
            Tx::Mysql($tx) => $e,
        }
    };
}

/// The key-check values of shared outboxes' key files, set by the outbox engine
/// ([`set_key_check`]) before it opens the store: a digest of the key file's key
/// ids (every node of a shared outbox must have the same key file). The store
/// never reads keys itself.
fn key_checks() -> &'static Mutex<HashMap<PathBuf, String>> {
    // Process-wide: a pure function of a key file's key ids, recomputed by every engine call that opens the store.
    static CHECKS: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    CHECKS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Records the key-check value of `key_file` (computed above the store, from the
/// outbox key ring), which a shared outbox database is checked against on open.
pub fn set_key_check(key_file: &Path, value: String) {
    let mut checks = key_checks().lock().unwrap_or_else(PoisonError::into_inner);
    if checks.get(key_file) != Some(&value) {
        checks.insert(key_file.to_path_buf(), value);
    }
}

/// The key-check value recorded for `key_file`.
fn key_check(key_file: &Path) -> Result<String> {
    let checks = key_checks().lock().unwrap_or_else(PoisonError::into_inner);
    checks.get(key_file).cloned().ok_or_else(|| {
        Error::config(
            key_file.display().to_string(),
            None,
            "the key check of the shared outbox was not computed from this key file (the engine opens a shared outbox)",
        )
    })
}

/// Runs `f` on this process's connection to the outbox of `cfg`: the shared
/// database when `url` is set, the SQLite file otherwise. Never call it around
/// network I/O.
pub fn with_store<T>(cfg: &OutboxConfig, f: impl FnOnce(&mut Store<'_>) -> Result<T>) -> Result<T> {
    match &cfg.database {
        Some(db) => mysql::with_store(db, &cfg.key_file, || key_check(&cfg.key_file), |s| f(&mut Store::Mysql(s))),
        None => sqlite::with_store(&cfg.path, |s| f(&mut Store::Sqlite(s))),
    }
}

/// [`with_store`], with the writes of `f` committed under SQLite `synchronous` =
/// `sync` (the shared database's durability is InnoDB's:
/// `innodb_flush_log_at_trx_commit`).
pub fn with_durable_store<T>(cfg: &OutboxConfig, sync: &str, f: impl FnOnce(&mut Store<'_>) -> Result<T>) -> Result<T> {
    match &cfg.database {
        Some(_) => with_store(cfg, f),
        None => sqlite::with_durable_store(&cfg.path, sync, |s| f(&mut Store::Sqlite(s))),
    }
}

/// Runs `f` on this node's local SQLite spool (`[outbox] path`), whatever `url` says.
pub fn with_spool<T>(path: &Path, sync: &str, f: impl FnOnce(&mut sqlite::Store) -> Result<T>) -> Result<T> {
    sqlite::with_durable_store(path, sync, f)
}

impl Store<'_> {
    /// Starts a write transaction.
    pub fn immediate(&mut self) -> Result<Tx<'_>> {
        Ok(match self {
            Store::Sqlite(db) => Tx::Sqlite(db.immediate()?),
            Store::Mysql(db) => Tx::Mysql(db.immediate()?),
        })
    }

    /// SQLite: (`synchronous`, journal mode). Shared database: (2, "innodb").
    #[cfg(test)]
    pub fn durability(&self) -> Result<(i64, String)> {
        match self {
            Store::Sqlite(db) => db.durability(),
            Store::Mysql(_) => Ok((2, "innodb".to_owned())),
        }
    }

    /// SQLite: checkpoint threshold during a flush. Nothing on the shared database.
    pub fn set_flushing(&mut self, flushing: bool) -> Result<()> {
        match self {
            Store::Sqlite(db) => db.set_flushing(flushing),
            Store::Mysql(_) => Ok(()),
        }
    }

    /// SQLite: truncates the WAL. The shared database has no WAL the extension
    /// can reach (`true`; see operations.md on InnoDB's logs).
    pub fn erase_wal(&mut self, wait: Duration) -> Result<bool> {
        match self {
            Store::Sqlite(db) => db.erase_wal(wait),
            Store::Mysql(_) => Ok(true),
        }
    }

    /// SQLite: notes a pending WAL erasure.
    pub fn mark_erasure_pending(&mut self) -> Result<()> {
        match self {
            Store::Sqlite(db) => db.mark_erasure_pending(),
            Store::Mysql(_) => Ok(()),
        }
    }

    /// SQLite: (last WAL truncation, erasure pending). Shared database: (now, false).
    pub fn wal_state(&self) -> Result<(Option<i64>, bool)> {
        match self {
            Store::Sqlite(db) => db.wal_state(),
            Store::Mysql(_) => Ok((Some(super::now_ms()), false)),
        }
    }

    /// See `sqlite::Store::requeue`.
    pub fn requeue(&mut self, id: &str, now: i64, site: Option<&str>) -> Result<bool> {
        both!(self, db => db.requeue(id, now, site))
    }

    /// The number of events matching `q` and the page of them.
    pub fn deliveries(&mut self, q: &DeliveryQuery) -> Result<(u64, Vec<DeliveryRow>)> {
        both!(self, db => db.deliveries(q))
    }

    /// See `sqlite::Store::prune_delivered`.
    pub fn prune_delivered(&mut self, cutoff_ms: i64) -> Result<()> {
        both!(self, db => db.prune_delivered(cutoff_ms))
    }

    /// Queued events (due or not).
    pub fn count_queued(&mut self) -> Result<u64> {
        both!(self, db => db.count_queued())
    }

    /// Everything status shows.
    pub fn status_rows(&mut self, now: i64, delivered_since_ms: i64) -> Result<StatusRows> {
        both!(self, db => db.status_rows(now, delivered_since_ms))
    }

    /// Until when `destination` is paused at `now`, if it is.
    pub fn paused_until(&mut self, destination: &str, now: i64) -> Result<Option<i64>> {
        both!(self, db => db.paused_until(destination, now))
    }

    /// The sealed token under `cache_key`.
    pub fn token_get(&mut self, cache_key: &str) -> Result<Option<TokenRow>> {
        both!(self, db => db.token_get(cache_key))
    }

    /// Stores the sealed token under `cache_key`.
    pub fn token_put(&mut self, cache_key: &str, t: &TokenRow) -> Result<()> {
        both!(self, db => db.token_put(cache_key, t))
    }

    /// Drops the token under `cache_key` if its fingerprint is still `fp`.
    pub fn token_forget(&mut self, cache_key: &str, fp: &str) -> Result<()> {
        both!(self, db => db.token_forget(cache_key, fp))
    }

    /// Claims the fetch of `cache_key`.
    pub fn fetch_hold(&mut self, cache_key: &str, owner: &str, until_ms: i64, now: i64) -> Result<bool> {
        both!(self, db => db.fetch_hold(cache_key, owner, until_ms, now))
    }

    /// The fetch claim or failure hold of `cache_key` in force at `now`.
    pub fn fetch_row(&mut self, cache_key: &str, now: i64) -> Result<FetchRow> {
        both!(self, db => db.fetch_row(cache_key, now))
    }

    /// Records a failed fetch of `cache_key`.
    pub fn fetch_fail(&mut self, cache_key: &str, until_ms: i64, f: &FetchFailure) -> Result<()> {
        both!(self, db => db.fetch_fail(cache_key, until_ms, f))
    }

    /// Releases `owner`'s claim on fetching `cache_key`.
    pub fn fetch_release(&mut self, cache_key: &str, owner: &str) -> Result<()> {
        both!(self, db => db.fetch_release(cache_key, owner))
    }
}

impl Tx<'_> {
    /// Commits.
    pub fn commit(self) -> Result<()> {
        tx_both!(self, tx => tx.commit())
    }

    /// What is known of event `id`.
    pub fn event_summary(&self, id: &str) -> Result<Option<EventSummary>> {
        tx_both!(self, tx => tx.event_summary(id))
    }

    /// Inserts a new queued event.
    pub fn insert_event(&self, e: &NewEvent<'_>) -> Result<()> {
        tx_both!(self, tx => tx.insert_event(e))
    }

    /// Inserts an event moved from a local spool unless its id is there (shared
    /// database only; SQLite inserts as [`Tx::insert_event`] after a lookup).
    pub fn adopt_event(&self, e: &NewEvent<'_>, created_at_ms: i64) -> Result<bool> {
        match self {
            Tx::Mysql(tx) => tx.adopt_event(e, created_at_ms),
            Tx::Sqlite(tx) => {
                if tx.event_summary(e.id)?.is_some() {
                    return Ok(false);
                }
                tx.insert_event(e)?;
                Ok(true)
            }
        }
    }

    /// A destination's circuit and last success.
    pub fn circuit(&self, destination: &str) -> Result<Option<(CircuitRow, Option<i64>)>> {
        tx_both!(self, tx => tx.circuit(destination))
    }

    /// Writes a destination's circuit.
    pub fn upsert_circuit(&self, destination: &str, c: &CircuitRow) -> Result<()> {
        tx_both!(self, tx => tx.upsert_circuit(destination, c))
    }

    /// Notes a destination's last success.
    pub fn set_last_success(&self, destination: &str, at_ms: i64) -> Result<()> {
        tx_both!(self, tx => tx.set_last_success(destination, at_ms))
    }

    /// Notes a destination's last error.
    pub fn set_last_error(&self, destination: &str, reason: &str, at_ms: i64) -> Result<()> {
        tx_both!(self, tx => tx.set_last_error(destination, reason, at_ms))
    }

    /// Appends attempts of a destination.
    pub fn add_attempts(&self, destination: &str, attempts: &[(i64, &str, Option<u16>, i64)]) -> Result<()> {
        tx_both!(self, tx => tx.add_attempts(destination, attempts))
    }

    /// Marks event `id` delivered under `owner`'s lease.
    pub fn mark_delivered(&self, id: &str, owner: &str, status: u16, now: i64) -> Result<Option<u32>> {
        tx_both!(self, tx => tx.mark_delivered(id, owner, status, now))
    }

    /// The attempts so far of event `id` under `owner`'s lease.
    pub fn leased_attempts(&self, id: &str, owner: &str) -> Result<Option<u32>> {
        tx_both!(self, tx => tx.leased_attempts(id, owner))
    }

    /// A failed attempt: due again at `next_ms`.
    pub fn reschedule(&self, id: &str, attempts: u32, status: Option<u16>, reason: &str, next_ms: i64, now: i64) -> Result<()> {
        tx_both!(self, tx => tx.reschedule(id, attempts, status, reason, next_ms, now))
    }

    /// Dead letter.
    pub fn mark_dead(&self, id: &str, attempts: u32, status: Option<u16>, reason: &str, now: i64) -> Result<()> {
        tx_both!(self, tx => tx.mark_dead(id, attempts, status, reason, now))
    }

    /// Due events, not leased (the shared database skips rows other nodes lock).
    pub fn due_events(&self, now: i64, want: usize, skip: &[String], tried: &HashSet<i64>) -> Result<Vec<DueEvent>> {
        tx_both!(self, tx => tx.due_events(now, want, skip, tried))
    }

    /// Sets aside a row whose columns cannot be read.
    pub fn mark_corrupt(&self, rowid: i64, now: i64) -> Result<()> {
        tx_both!(self, tx => tx.mark_corrupt(rowid, now))
    }

    /// Sets aside an event whose payload cannot be opened.
    pub fn mark_undecryptable(&self, id: &str, now: i64) -> Result<()> {
        tx_both!(self, tx => tx.mark_undecryptable(id, now))
    }

    /// Looks at event `id` again at `next_ms`.
    pub fn defer(&self, id: &str, reason: &str, next_ms: i64, now: i64) -> Result<()> {
        tx_both!(self, tx => tx.defer(id, reason, next_ms, now))
    }

    /// Leases event `id` to `owner`.
    pub fn lease(&self, id: &str, owner: &str, until_ms: i64) -> Result<()> {
        tx_both!(self, tx => tx.lease(id, owner, until_ms))
    }

    /// Releases `owner`'s lease on event `id`.
    pub fn release(&self, id: &str, owner: &str, now: i64) -> Result<()> {
        tx_both!(self, tx => tx.release(id, owner, now))
    }

    /// Deletes the order's events that are not delivered (of `site` and of no
    /// site, when a site is given).
    pub fn purge_order(&self, order_key: &str, site: Option<&str>) -> Result<Vec<(String, String)>> {
        tx_both!(self, tx => tx.purge_order(order_key, site))
    }

    /// Whether the order under `order_key` has delivered events.
    pub fn has_delivered(&self, order_key: &str) -> Result<bool> {
        tx_both!(self, tx => tx.has_delivered(order_key))
    }

    /// Deletes one event, whatever its state: its (destination, order id as sent).
    pub fn purge_event(&self, id: &str) -> Result<Option<(String, String)>> {
        tx_both!(self, tx => tx.purge_event(id))
    }

    /// Takes one rate-limit token.
    pub fn take_rate_token(&self, destination: &str, bucket: Option<Bucket>, now: i64) -> Result<Admission> {
        tx_both!(self, tx => tx.take_rate_token(destination, bucket, now))
    }

    /// Pauses `destination` until `until_ms`.
    pub fn pause(&self, destination: &str, until_ms: i64) -> Result<()> {
        tx_both!(self, tx => tx.pause(destination, until_ms))
    }

    /// Records inbound webhook id `key` once.
    pub fn replay_seen_once(&self, key: &str, now_s: i64, cutoff_s: i64) -> Result<bool> {
        tx_both!(self, tx => tx.replay_seen_once(key, now_s, cutoff_s))
    }
}
