//! The SQLite backend: one database file in WAL mode, one cached connection per
//! process.
//!
//! # Files
//! The database is created 0600 (in a directory created 0700 if missing); the
//! `-wal` and `-shm` files are tightened to 0600 after open. `secure_delete` is
//! on: deleted rows and erased payloads are zeroed in the pages written. Old page
//! copies in the WAL go when it is truncated ([`Store::erase_wal`]).
//!
//! # Concurrency
//! Each process has one cached connection (re-opened after `fork` or when the
//! path changes); writes run in `BEGIN IMMEDIATE` transactions ([`Tx`]) with a
//! busy timeout.
mod deliveries;
mod events;
mod schema;
mod shared;

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension as _, Transaction, TransactionBehavior};

use super::{now_ms, BOOKKEEPING_SYNC, BUSY_TIMEOUT};
use crate::error::{ConfigReason, Error, Result};

pub use schema::SCHEMA_VERSION;

/// A commit that finds the WAL this long (pages) checkpoints it (SQLite's default
/// is 1000). The checkout path seldom pays for a checkpoint: every flush ends
/// with one.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// The WAL may grow to this many pages during a flush before a commit checkpoints
/// it (a bound, not a target: a flush checkpoints once at its end).
const FLUSH_AUTOCHECKPOINT_PAGES: i64 = 100_000;

/// Page size of a new database: every commit writes whole pages to the WAL, so
/// smaller pages mean fewer bytes written (and checksummed) per order. An outbox
/// row (the encrypted minimised order plus metadata) is typically 0.8-1.3 KB: it
/// still fits in a 2 KiB page, while 1 KiB pages would push most rows into
/// overflow pages (measured: cheaper inline, slower drain).
const PAGE_SIZE: i64 = 2048;

/// Prepared statements kept per connection (every hot statement fits).
const STATEMENT_CACHE: usize = 64;

/// `meta` key: when the WAL was last truncated (unix ms).
const META_LAST_CHECKPOINT: &str = "last_checkpoint_ms";
/// `meta` key: since when a purge's WAL truncation is still to do (unix ms).
const META_ERASURE_PENDING: &str = "erasure_pending_ms";

/// This process's connection to one outbox database.
pub struct Store {
    pid: u32,
    path: PathBuf,
    conn: Connection,
}

/// One `IMMEDIATE` transaction (commit with [`Tx::commit`]; dropped = rolled back).
pub struct Tx<'c> {
    tx: Transaction<'c>,
    path: &'c Path,
}

fn slot() -> &'static Mutex<Option<Store>> {
    // Process-wide (see ARCHITECTURE.md, "State"): one SQLite connection per process (re-opened after fork), used from every layer above.
    static SLOT: OnceLock<Mutex<Option<Store>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

/// The error of a failed statement: names the database file, never a value.
pub(crate) fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        // The SQLite result code only: its message may quote a value.
        let code = match e {
            rusqlite::Error::SqliteFailure(f, _) => Some(f),
            _ => None,
        };
        Error::Config { file: path.display().to_string(), key: None, reason: ConfigReason::Database(code) }
    }
}

/// Runs `f` on this process's connection to `path` (opened lazily, re-opened
/// after a fork or a path change). Never call it around network I/O.
pub fn with_store<T>(path: &Path, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
    let mut guard = slot().lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    let stale = guard.as_ref().is_none_or(|db| db.pid != pid || db.path != path);
    if stale {
        if let Some(old) = guard.take() {
            if old.pid != pid {
                // A connection inherited over fork must not be closed by the child
                // (closing may checkpoint or unlink the parent's WAL): leak it.
                std::mem::forget(old);
            }
        }
        *guard = Some(Store::open(path)?);
    }
    match guard.as_mut() {
        Some(db) => f(db),
        None => Err(Error::config(path.display().to_string(), None, "outbox database is not open")),
    }
}

/// [`with_store`], with the writes of `f` committed under `synchronous` = `sync`
/// (`NORMAL`, the connection's default, costs nothing extra).
pub fn with_durable_store<T>(path: &Path, sync: &str, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
    if sync == BOOKKEEPING_SYNC {
        return with_store(path, f);
    }
    with_store(path, |db| {
        let err = sql_error(path);
        db.conn.pragma_update(None, "synchronous", sync).map_err(&err)?;
        let result = f(db);
        let reset = db.conn.pragma_update(None, "synchronous", BOOKKEEPING_SYNC).map_err(&err);
        let value = result?;
        reset?;
        Ok(value)
    })
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
        let created = conn.execute_batch("BEGIN IMMEDIATE").and_then(|()| schema::migrate(conn));
        let created = created.and_then(|()| conn.execute_batch("COMMIT"));
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

/// `execute` through the connection's prepared-statement cache.
fn exec<P: rusqlite::Params>(conn: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get::<_, Option<i64>>(0)).optional())
        .map(Option::flatten)
}

impl Store {
    fn open(path: &Path) -> Result<Store> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::config_io(&shown, Some("cannot create the outbox directory"), &e))?;
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
            .map_err(|e| Error::config_io(&shown, Some("cannot open the outbox database"), &e))?;
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
        Ok(Store { pid: std::process::id(), path: path.to_path_buf(), conn })
    }

    /// Starts an `IMMEDIATE` transaction (the write lock is taken now).
    pub fn immediate(&mut self) -> Result<Tx<'_>> {
        let path = &self.path;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_error(path))?;
        Ok(Tx { tx, path })
    }

    /// The current `synchronous` setting (0 OFF, 1 NORMAL, 2 FULL) and journal mode.
    #[cfg(test)]
    pub fn durability(&self) -> Result<(i64, String)> {
        let err = sql_error(&self.path);
        let sync = self.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(&err)?;
        let mode = self.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(&err)?;
        Ok((sync, mode))
    }

    /// During a flush, commits do not checkpoint (the flush does once, at its
    /// end); `false` restores the normal threshold.
    pub fn set_flushing(&mut self, flushing: bool) -> Result<()> {
        let pages = if flushing { FLUSH_AUTOCHECKPOINT_PAGES } else { WAL_AUTOCHECKPOINT_PAGES };
        self.conn.pragma_update(None, "wal_autocheckpoint", pages).map_err(sql_error(&self.path))
    }

    /// Checkpoints the whole WAL into the database and truncates it to zero bytes
    /// (`secure_delete` has zeroed erased rows in the pages it copies), retrying
    /// for `wait` while other connections' readers hold it. `true` when done; then
    /// the pending erasure (if any) is cleared and the time noted in `meta`.
    pub fn erase_wal(&mut self, wait: Duration) -> Result<bool> {
        let err = sql_error(&self.path);
        self.conn.busy_timeout(Duration::ZERO).map_err(&err)?;
        let started = Instant::now();
        let done = loop {
            let busy = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
            match busy {
                Ok(0) => break true,
                Ok(_) | Err(rusqlite::Error::SqliteFailure(..)) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(_) | Err(_) => break false,
            }
        };
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
        if done {
            // A few bytes of bookkeeping (no payload) go back into the WAL.
            exec(&self.conn, "DELETE FROM meta WHERE key = ?1", [META_ERASURE_PENDING]).map_err(&err)?;
            exec(
                &self.conn,
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![META_LAST_CHECKPOINT, now_ms()],
            )
            .map_err(&err)?;
        }
        Ok(done)
    }

    /// Notes that an erasure's WAL truncation is still to be done (kept from the
    /// first time until an [`Store::erase_wal`] succeeds).
    pub fn mark_erasure_pending(&mut self) -> Result<()> {
        exec(
            &self.conn,
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
            params![META_ERASURE_PENDING, now_ms()],
        )
        .map_err(sql_error(&self.path))?;
        Ok(())
    }

    /// (When the WAL was last truncated, whether an erasure is pending.)
    pub fn wal_state(&self) -> Result<(Option<i64>, bool)> {
        let err = sql_error(&self.path);
        let last = meta_get(&self.conn, META_LAST_CHECKPOINT).map_err(&err)?;
        let pending = meta_get(&self.conn, META_ERASURE_PENDING).map_err(&err)?.is_some();
        Ok((last, pending))
    }
}

impl Tx<'_> {
    /// Commits.
    pub fn commit(self) -> Result<()> {
        self.tx.commit().map_err(sql_error(self.path))
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        sql_error(self.path)
    }
}
