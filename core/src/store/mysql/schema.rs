//! Schema of the shared MariaDB/MySQL outbox (every table named `{p}…`, `p` =
//! `[outbox] table_prefix`) and its migrations, under `GET_LOCK` and the
//! `{p}version` table (one row: schema version, the outbox key-check value).
//!
//! Version 1 (current) mirrors the SQLite schema 6 (`store::sqlite::schema`):
//! `events` (plus `seq`, the row key a claim uses; with `site`), `circuits`
//! (with `since_ms`), `attempts`,
//! `webhook_seen`, `limits`, `tokens`, `token_fetches`; no `meta` (no WAL).
//! Columns are `utf8mb4_bin` (exact, case-sensitive comparisons, as in SQLite).
//! A new column (or table) goes here: bump [`SCHEMA_VERSION`], add a step to
//! [`MIGRATIONS`].

/// `{p}version.version` of the schema below.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a process waits for another one's migration (seconds).
pub const MIGRATION_LOCK_S: u32 = 30;

/// The version table (created first, outside the numbered steps).
pub const VERSION_TABLE: &str = "
CREATE TABLE IF NOT EXISTS {p}version (
    id              TINYINT NOT NULL PRIMARY KEY,
    version         INT NOT NULL,
    key_check       VARCHAR(128) NULL,
    updated_at_ms   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// Version 1: every table (each statement idempotent).
const V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS {p}events (
        seq             BIGINT NOT NULL AUTO_INCREMENT,
        id              VARCHAR(64) NOT NULL,
        destination     VARCHAR(191) NOT NULL,
        order_id        VARCHAR(191) NOT NULL,
        order_key       VARCHAR(191) NOT NULL,
        event           VARCHAR(191) NOT NULL,
        state           VARCHAR(16) NOT NULL,
        key_id          VARCHAR(64) NULL,
        payload         LONGBLOB NULL,
        attempts        INT NOT NULL DEFAULT 0,
        created_at_ms   BIGINT NOT NULL,
        next_at_ms      BIGINT NOT NULL,
        updated_at_ms   BIGINT NOT NULL,
        lease_owner     VARCHAR(191) NULL,
        lease_until_ms  BIGINT NULL,
        http_status     INT NULL,
        reason          TEXT NULL,
        delivered_at_ms BIGINT NULL,
        site            VARCHAR(191) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY {p}events_seq (seq),
        KEY {p}events_queue (state, next_at_ms, created_at_ms),
        KEY {p}events_order_key (order_key),
        KEY {p}events_delivered_at (state, delivered_at_ms)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS {p}circuits (
        destination     VARCHAR(191) NOT NULL PRIMARY KEY,
        failures        INT NOT NULL DEFAULT 0,
        opened_at_ms    BIGINT NULL,
        probe_until_ms  BIGINT NULL,
        last_success_ms BIGINT NULL,
        last_error      TEXT NULL,
        last_error_ms   BIGINT NULL,
        since_ms        BIGINT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS {p}attempts (
        id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        destination     VARCHAR(191) NOT NULL,
        at_ms           BIGINT NOT NULL,
        outcome         VARCHAR(16) NOT NULL,
        http_status     INT NULL,
        latency_ms      BIGINT NULL,
        KEY {p}attempts_destination (destination, id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS {p}webhook_seen (
        id              VARCHAR(255) NOT NULL PRIMARY KEY,
        seen_at         BIGINT NOT NULL,
        KEY {p}webhook_seen_at (seen_at)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS {p}limits (
        destination     VARCHAR(191) NOT NULL PRIMARY KEY,
        tokens          DOUBLE NULL,
        updated_ms      BIGINT NULL,
        paused_until_ms BIGINT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS {p}tokens (
        cache_key       VARCHAR(255) NOT NULL PRIMARY KEY,
        key_id          VARCHAR(64) NOT NULL,
        sealed          BLOB NOT NULL,
        token_fp        VARCHAR(128) NOT NULL,
        refresh_at_ms   BIGINT NOT NULL,
        expires_at_ms   BIGINT NOT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    "CREATE TABLE IF NOT EXISTS {p}token_fetches (
        cache_key       VARCHAR(255) NOT NULL PRIMARY KEY,
        owner           VARCHAR(191) NOT NULL,
        until_ms        BIGINT NOT NULL,
        fail_kind       VARCHAR(16) NULL,
        fail_status     INT NULL,
        fail_host       VARCHAR(255) NULL,
        fail_reason     TEXT NULL
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
];

/// The statements that bring version `n - 1` to `n`, for n = 1..=[`SCHEMA_VERSION`].
pub const MIGRATIONS: &[&[&str]] = &[V1];

/// `sql` with `{p}` replaced by the table prefix (checked: `^[A-Za-z0-9_]{1,32}$`).
pub fn prefixed(sql: &str, p: &str) -> String {
    sql.replace("{p}", p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_numbered_and_every_table_prefixed() {
        assert_eq!(MIGRATIONS.len(), usize::try_from(SCHEMA_VERSION).unwrap());
        for sql in MIGRATIONS.iter().flat_map(|s| s.iter()).chain([&VERSION_TABLE]) {
            let s = prefixed(sql, "sfx_");
            assert!(!s.contains("{p}"));
            let table = s.split("EXISTS ").nth(1).unwrap();
            assert!(table.starts_with("sfx_"), "{table}");
        }
    }
}
