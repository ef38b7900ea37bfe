//! Schema of the SQLite outbox database and its migrations (`PRAGMA user_version`).
//!
//! Version 6 (current) adds `circuits.since_ms`: since when a circuit that is not
//! closed has been open (`opened_at_ms` moves with each failed probe).
//!
//! Version 5: `events(id PK = event id = Idempotency-Key, destination,
//! order_id (as sent), order_key (normalised, see [`crate::store::order_key`]), event,
//! state ∈ queued|delivered|dead|undecryptable, key_id, payload (NULL once
//! delivered), attempts, created_at_ms, next_at_ms, updated_at_ms, lease_owner,
//! lease_until_ms, http_status, reason, delivered_at_ms, site)` with the partial indexes
//! `events_queue` (what claims walk) and `events_delivered_at` (pruning);
//! `circuits(destination PK, failures, opened_at_ms, probe_until_ms,
//! last_success_ms, last_error, last_error_ms, since_ms (6))`; `attempts(id PK, destination,
//! at_ms, outcome, http_status, latency_ms)`; `webhook_seen(id PK, seen_at)`;
//! `limits(destination PK, tokens, updated_ms, paused_until_ms)`;
//! `tokens(cache_key PK, key_id, blob, token_fp, refresh_at_ms, expires_at_ms)`;
//! `token_fetches(cache_key PK, owner, until_ms, fail_kind, fail_status,
//! fail_host, fail_reason)`; `meta(key PK, value)`.
//! 5 added `events.site`; 3 replaced the `(state, …)` indexes by the partial ones; 2 added `attempts`,
//! `webhook_seen`, `limits`, `tokens` and `token_fetches`.
use rusqlite::{params, Connection};

/// `PRAGMA user_version` of the schema below.
pub const SCHEMA_VERSION: i64 = 6;

/// Versions 1 to 3 (every statement idempotent).
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
";

/// Version 4: `events.order_key` (the normalised order id: "007", "7" and 7 are one
/// order; `order_id` keeps the id as sent, it is part of the payload's associated
/// data), the typed failure columns of `token_fetches` (a failed fetch was text in
/// `owner`), and `meta` (checkpoint and erasure bookkeeping).
const MIGRATE_4: &str = "
ALTER TABLE events ADD COLUMN order_key TEXT;
UPDATE events SET order_key = CASE WHEN order_id <> '' AND order_id NOT GLOB '*[^0-9]*'
    THEN COALESCE(NULLIF(ltrim(order_id, '0'), ''), '0') ELSE order_id END;
DROP INDEX IF EXISTS events_order;
CREATE INDEX IF NOT EXISTS events_order_key ON events(order_key);
ALTER TABLE token_fetches ADD COLUMN fail_kind TEXT CHECK (fail_kind IN ('rejected', 'transport'));
ALTER TABLE token_fetches ADD COLUMN fail_status INTEGER;
ALTER TABLE token_fetches ADD COLUMN fail_host TEXT;
ALTER TABLE token_fetches ADD COLUMN fail_reason TEXT;
CREATE TABLE IF NOT EXISTS meta (
    key             TEXT PRIMARY KEY,
    value           INTEGER
);
";

/// Version 5: `events.site`, the site an event came from (`secure_forward_order()`'s
/// `site` option; NULL without one), which purge and requeue can be limited to.
const MIGRATE_5: &str = "
ALTER TABLE events ADD COLUMN site TEXT;
";

/// Version 6: `circuits.since_ms` (an open circuit keeps it through failed probes).
const MIGRATE_6: &str = "
ALTER TABLE circuits ADD COLUMN since_ms INTEGER;
UPDATE circuits SET since_ms = opened_at_ms;
";

/// Brings the schema to [`SCHEMA_VERSION`] inside the caller's transaction
/// (re-reads `user_version`: another process may have migrated meanwhile).
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 3 {
        conn.execute_batch(SCHEMA)?;
    }
    if version < 4 {
        conn.execute_batch(MIGRATE_4)?;
        migrate_failed_fetches(conn)?;
    }
    if version < 5 {
        conn.execute_batch(MIGRATE_5)?;
    }
    if version < 6 {
        conn.execute_batch(MIGRATE_6)?;
    }
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
}

/// Schema 4 migration: a failed fetch's hold stored as text in `owner`
/// (`!failed\tkind\tstatus\thost\treason`, schema 3) moves to the typed columns.
fn migrate_failed_fetches(conn: &Connection) -> rusqlite::Result<()> {
    let rows: Vec<(String, String)> = {
        let mut stmt = conn.prepare("SELECT cache_key, owner FROM token_fetches WHERE owner LIKE '!failed%'")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (key, owner) in rows {
        let mut parts = owner.strip_prefix("!failed\t").unwrap_or("").splitn(4, '\t');
        let (kind, status, host, reason) = (parts.next(), parts.next(), parts.next(), parts.next());
        let kind = kind.filter(|k| matches!(*k, "rejected" | "transport"));
        let status = status.and_then(|s| s.parse::<u16>().ok()).filter(|s| *s != 0);
        match (kind, host, reason) {
            (Some(kind), Some(host), Some(reason)) => conn.execute(
                "UPDATE token_fetches SET owner = '', fail_kind = ?2, fail_status = ?3, fail_host = ?4, fail_reason = ?5
                 WHERE cache_key = ?1",
                params![key, kind, status, host, reason],
            )?,
            // Unreadable: dropped (the next worker simply asks the endpoint).
            _ => conn.execute("DELETE FROM token_fetches WHERE cache_key = ?1", [&key])?,
        };
    }
    Ok(())
}
