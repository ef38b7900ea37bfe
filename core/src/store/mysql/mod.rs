//! The MariaDB/MySQL backend (`[outbox] url`): the outbox shared by every worker
//! of every node, through the `mysql` crate (rustls on ring, no C crypto).
//!
//! # Connection
//! One connection per process ([`with_store`]), opened lazily, checked with a
//! ping when it sat idle, dropped after a connection-level error (the next call
//! opens a new one) and never reused across `fork`. This is the only place that
//! opens connections: an engine value that owns them replaces the cache below.
//! The password is read from `password_file` (0600, the non-blocking secret
//! opener) when a connection is opened; errors name the host, never it.
//!
//! # Schema
//! On first use a connection brings the schema to [`schema::SCHEMA_VERSION`]
//! under `GET_LOCK` and checks the outbox key: the `{p}version` row holds a
//! key-check value (a digest of the key ids of the key file, computed by the
//! outbox engine and handed down: `store::set_key_check`), and a node whose key
//! file differs is refused with a configuration error.
//!
//! # Transactions
//! Every [`Tx`] runs `READ COMMITTED`; rows read and then written are locked
//! (`FOR UPDATE`), claims skip rows other nodes hold (`SKIP LOCKED`). InnoDB's
//! durability is the server's (`innodb_flush_log_at_trx_commit`): SQLite's
//! `synchronous` setting does not apply.
mod deliveries;
mod events;
mod schema;
mod shared;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable as _;
use mysql::{Conn, OptsBuilder, SslOpts, TxOpts};

use crate::config::{DatabaseConfig, DbTls};
use crate::error::{Error, Result};

pub use schema::SCHEMA_VERSION;

/// A connection idle this long is pinged before use.
const PING_AFTER: Duration = Duration::from_secs(5);
/// Read/write timeout of a statement (lock waits are bounded by the session's
/// `innodb_lock_wait_timeout`, [`LOCK_WAIT_S`]).
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// `innodb_lock_wait_timeout` of the session (seconds).
const LOCK_WAIT_S: u32 = 5;

/// This process's connection to the shared outbox.
pub struct Store {
    pid: u32,
    ident: (DatabaseConfig, PathBuf),
    conn: Conn,
    p: String,
    shown: String,
    last_used: Instant,
    broken: Cell<bool>,
}

/// One transaction (commit with [`Tx::commit`]; dropped = rolled back).
pub struct Tx<'c> {
    tx: RefCell<mysql::Transaction<'c>>,
    /// Leases not yet written: (event id, owner, until ms).
    pending: RefCell<Vec<(String, String, i64)>>,
    p: &'c str,
    shown: &'c str,
    broken: &'c Cell<bool>,
}

fn slot() -> &'static Mutex<Option<Store>> {
    static SLOT: OnceLock<Mutex<Option<Store>>> = OnceLock::new();
    SLOT.get_or_init(|| Mutex::new(None))
}

/// Whether `e` means the connection cannot be used any more.
fn is_connection_error(e: &mysql::Error) -> bool {
    !matches!(e, mysql::Error::MySqlError(_) | mysql::Error::FromValueError(_) | mysql::Error::FromRowError(_))
}

/// A statement's error: names the database (host), the server's error code and
/// SQL state, never a value.
pub(crate) fn db_error<'a>(shown: &'a str, broken: &'a Cell<bool>) -> impl Fn(mysql::Error) -> Error + 'a {
    move |e| {
        if is_connection_error(&e) {
            broken.set(true);
        }
        let reason = match &e {
            mysql::Error::MySqlError(m) => format!("database error {} ({})", m.code, m.state),
            mysql::Error::FromValueError(_) | mysql::Error::FromRowError(_) => "database error (unexpected data)".to_owned(),
            other => format!("database connection lost ({})", connect_reason(other)),
        };
        Error::transport(shown, reason)
    }
}

/// What went wrong opening a connection, in words (server messages name the
/// user and database, never the password).
fn connect_reason(e: &mysql::Error) -> String {
    use mysql::DriverError as D;
    let mut text = match e {
        _ if tls_cause(e).is_some() => format!("TLS refused: {}", tls_cause(e).unwrap_or_default()),
        mysql::Error::MySqlError(m) if m.code == 1045 || m.code == 1044 => {
            format!("the database refused the credentials: {}", m.message)
        }
        mysql::Error::MySqlError(m) if m.code == 1049 => format!("unknown database: {}", m.message),
        mysql::Error::MySqlError(m) => format!("database error {} ({}): {}", m.code, m.state, m.message),
        mysql::Error::DriverError(D::ConnectTimeout) => "connect timeout".to_owned(),
        mysql::Error::DriverError(D::CouldNotConnect(Some((_, _, kind)))) => format!("cannot connect ({kind})"),
        mysql::Error::DriverError(D::CouldNotConnect(None)) => "cannot connect".to_owned(),
        mysql::Error::DriverError(D::TlsNotSupported) => {
            "TLS refused: the server does not offer TLS (tls = \"verify\")".to_owned()
        }
        mysql::Error::TlsError(t) => format!("TLS refused: {t}"),
        mysql::Error::IoError(io) => format!("I/O error ({})", io.kind()),
        mysql::Error::DriverError(d) => format!("driver error ({d})"),
        mysql::Error::CodecError(_) => "protocol error".to_owned(),
        mysql::Error::UrlError(_) => "bad connection options".to_owned(),
        mysql::Error::FromValueError(_) | mysql::Error::FromRowError(_) => "unexpected data".to_owned(),
    };
    text.retain(|c| !c.is_control());
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// The TLS failure behind `e`, if it is one (rustls's reason: no secret in it).
fn tls_cause(e: &mysql::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        if let Some(t) =
            err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(t.to_string());
        }
        cur = err.source();
    }
    match e {
        mysql::Error::CodecError(c) => {
            let text = c.to_string().replace("IO error: ", "").replace(['`', '\''], "");
            text.contains("certificate").then_some(text)
        }
        _ => None,
    }
}

/// Runs `f` on this process's connection to `db` (opened lazily; schema and key
/// check on open, `key_check` computed only then). A connection-level error
/// drops the connection. Never call it around network I/O to a destination.
pub fn with_store<T>(
    db: &DatabaseConfig,
    key_file: &std::path::Path,
    key_check: impl FnOnce() -> Result<String>,
    f: impl FnOnce(&mut Store) -> Result<T>,
) -> Result<T> {
    let mut guard = slot().lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    let cached = match guard.take() {
        Some(old) if old.pid != pid => {
            // Inherited over fork: the socket is the parent's; never touch it.
            std::mem::forget(old);
            None
        }
        Some(old) if old.ident.0 != *db || old.ident.1 != key_file => None,
        Some(mut old) => (old.last_used.elapsed() < PING_AFTER || old.conn.ping().is_ok()).then_some(old),
        None => None,
    };
    let mut store = match cached {
        Some(s) => s,
        None => Store::open(db, key_file, &key_check()?)?,
    };
    let result = f(&mut store);
    store.last_used = Instant::now();
    if !store.broken.get() {
        *guard = Some(store);
    }
    result
}

impl Store {
    fn open(db: &DatabaseConfig, key_file: &std::path::Path, key_check: &str) -> Result<Store> {
        let shown = db.shown();
        let password = match &db.password_file {
            Some(p) => {
                let secret = crate::secret::load_file_cached(p)?;
                let text = std::str::from_utf8(secret.expose().trim_ascii_end())
                    .map_err(|_| Error::config(p.display().to_string(), None, "the password file is not UTF-8"))?;
                Some(text.to_owned())
            }
            None => None,
        };
        let mut opts = OptsBuilder::new()
            .user(Some(db.user.clone()))
            .pass(password)
            .db_name(Some(db.database.clone()))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(db.connect_timeout))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .stmt_cache_size(64)
            .init(vec![
                format!("SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_S}"),
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_owned(),
            ]);
        opts = match &db.socket {
            Some(sock) => opts.socket(Some(sock.display().to_string())),
            None => opts.ip_or_hostname(Some(db.host.clone())).tcp_port(db.port),
        };
        if let DbTls::Verify { ca_file } = &db.tls {
            let mut ssl = SslOpts::default();
            if let Some(ca) = ca_file {
                // The same checks as every ca_file (regular, bounded, not writable by
                // others, trusted owner) before the driver reads it.
                crate::secret::open::read_trusted(ca, "ca_file", crate::secret::open::MAX_CA_FILE)?;
                ssl = ssl.with_root_cert_path(Some(ca.clone()));
            }
            opts = opts.ssl_opts(Some(ssl));
        }
        let conn = Conn::new(opts).map_err(|e| Error::transport(&shown, connect_reason(&e)))?;
        let mut store = Store {
            pid: std::process::id(),
            ident: (db.clone(), key_file.to_path_buf()),
            conn,
            p: db.table_prefix.clone(),
            shown,
            last_used: Instant::now(),
            broken: Cell::new(false),
        };
        store.setup(key_file, key_check)?;
        Ok(store)
    }

    /// Brings the schema up to date (under `GET_LOCK`) and checks the key.
    fn setup(&mut self, key_file: &std::path::Path, key_check: &str) -> Result<()> {
        let stored = match self.version_row() {
            Ok(Some((v, k))) if v >= SCHEMA_VERSION && k.is_some() => k,
            _ => self.migrate(key_check)?.1,
        };
        match stored {
            Some(k) if k == key_check => Ok(()),
            _ => Err(Error::config(
                key_file.display().to_string(),
                None,
                format!(
                    "this outbox key file differs from the one the shared outbox database {} was set up with \
                     (every node needs the same key file; key check in {}version)",
                    self.shown, self.p
                ),
            )),
        }
    }

    fn version_row(&mut self) -> std::result::Result<Option<(i64, Option<String>)>, mysql::Error> {
        let sql = schema::prefixed("SELECT version, key_check FROM {p}version WHERE id = 1", &self.p);
        self.conn.query_first::<(i64, Option<String>), _>(sql)
    }

    /// Migrates under `GET_LOCK`; returns the (version, key check) then stored.
    fn migrate(&mut self, key_check: &str) -> Result<(i64, Option<String>)> {
        let lock = format!("{}schema", self.p);
        let got: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), ?)", (&lock, schema::MIGRATION_LOCK_S))
            .map_err(db_error(&self.shown, &self.broken))?;
        if got.flatten() != Some(1) {
            return Err(Error::transport(&self.shown, "timed out waiting for another node's schema migration"));
        }
        let result = self.migrate_locked(key_check);
        let released = self.conn.exec_drop("DO RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))", (&lock,));
        let err = db_error(&self.shown, &self.broken);
        let row = result.map_err(&err)?;
        released.map_err(&err)?;
        Ok(row.unwrap_or((SCHEMA_VERSION, None)))
    }

    /// The migration steps (the caller holds the lock).
    fn migrate_locked(&mut self, key_check: &str) -> std::result::Result<Option<(i64, Option<String>)>, mysql::Error> {
        self.conn.query_drop(schema::prefixed(schema::VERSION_TABLE, &self.p))?;
        let row = self.version_row()?;
        let from = row.as_ref().map_or(0, |(v, _)| *v);
        for step in schema::MIGRATIONS.iter().skip(usize::try_from(from).unwrap_or(usize::MAX)) {
            for sql in *step {
                self.conn.query_drop(schema::prefixed(sql, &self.p))?;
            }
        }
        let now = crate::store::now_ms();
        self.conn.exec_drop(
            schema::prefixed(
                "INSERT INTO {p}version (id, version, key_check, updated_at_ms) VALUES (1, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE version = GREATEST(version, VALUES(version)),
                    key_check = COALESCE(key_check, VALUES(key_check)), updated_at_ms = VALUES(updated_at_ms)",
                &self.p,
            ),
            (SCHEMA_VERSION, key_check, now),
        )?;
        self.version_row()
    }

    /// Starts a transaction.
    pub fn immediate(&mut self) -> Result<Tx<'_>> {
        let err = db_error(&self.shown, &self.broken);
        let tx = self.conn.start_transaction(TxOpts::default()).map_err(err)?;
        Ok(Tx { tx: RefCell::new(tx), pending: RefCell::new(Vec::new()), p: &self.p, shown: &self.shown, broken: &self.broken })
    }

    fn sql(&self, sql: &str) -> String {
        schema::prefixed(sql, &self.p)
    }

    fn err(&self) -> impl Fn(mysql::Error) -> Error + '_ {
        db_error(&self.shown, &self.broken)
    }
}

impl Tx<'_> {
    /// Commits (after writing pending leases).
    pub fn commit(self) -> Result<()> {
        self.write_leases()?;
        let err = db_error(self.shown, self.broken);
        self.tx.into_inner().commit().map_err(err)
    }

    /// Writes the pending leases: one `UPDATE … WHERE id IN (…)` per (owner, end).
    fn write_leases(&self) -> Result<()> {
        let mut pending = std::mem::take(&mut *self.pending.borrow_mut());
        pending.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
        let mut tx = self.tx.borrow_mut();
        for group in pending.chunk_by(|a, b| a.1 == b.1 && a.2 == b.2) {
            let Some((_, owner, until)) = group.first() else { continue };
            let marks = vec!["?"; group.len()].join(", ");
            let sql = self.sql(&format!(
                "UPDATE {{p}}events SET lease_owner = ?, lease_until_ms = ?, next_at_ms = ? WHERE id IN ({marks})"
            ));
            let mut params = vec![mysql::Value::from(owner.as_str()), mysql::Value::from(*until), mysql::Value::from(*until)];
            params.extend(group.iter().map(|(id, _, _)| mysql::Value::from(id.as_str())));
            tx.exec_drop(sql, mysql::Params::Positional(params)).map_err(self.err())?;
        }
        Ok(())
    }

    fn sql(&self, sql: &str) -> String {
        schema::prefixed(sql, self.p)
    }

    fn err(&self) -> impl Fn(mysql::Error) -> Error + '_ {
        db_error(self.shown, self.broken)
    }

    /// Runs `f` on the transaction, errors mapped.
    fn run<T>(&self, f: impl FnOnce(&mut mysql::Transaction<'_>) -> mysql::Result<T>) -> Result<T> {
        if !self.pending.borrow().is_empty() {
            self.write_leases()?;
        }
        let mut tx = self.tx.borrow_mut();
        f(&mut tx).map_err(self.err())
    }
}
