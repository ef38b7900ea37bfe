//! State shared by every worker of every node on MariaDB/MySQL: rate-limit
//! buckets and pauses, sealed OAuth2 tokens, token-fetch single flight and
//! failure holds, the inbound webhook replay cache (`store::sqlite::shared`'s
//! operations, with row locks).
use mysql::prelude::Queryable as _;

use super::events::args;
use super::{Store, Tx};
use crate::error::Result;
use crate::store::{Admission, Bucket, FailKind, FetchFailure, FetchRow, LimitRow, TokenRow};

impl Tx<'_> {
    /// The `limits` row of `destination`, locked (created first if missing, so
    /// that two nodes cannot both start from a full bucket).
    fn limit_row(&self, destination: &str) -> Result<LimitRow> {
        let select = self.sql("SELECT tokens, updated_ms, paused_until_ms FROM {p}limits WHERE destination = ? FOR UPDATE");
        let create = self.sql("INSERT IGNORE INTO {p}limits (destination) VALUES (?)");
        self.run(|t| {
            let mut row: Option<(Option<f64>, Option<i64>, Option<i64>)> = t.exec_first(&select, (destination,))?;
            if row.is_none() {
                t.exec_drop(&create, (destination,))?;
                row = t.exec_first(&select, (destination,))?;
            }
            Ok(row.map_or_else(LimitRow::default, |(tokens, updated_ms, paused_until_ms)| LimitRow {
                tokens,
                updated_ms,
                paused_until_ms,
            }))
        })
    }

    /// Takes one token of `destination`'s bucket at `now` (see the SQLite backend).
    pub fn take_rate_token(&self, destination: &str, bucket: Option<Bucket>, now: i64) -> Result<Admission> {
        if bucket.is_none() {
            // No bucket: only a pause can hold it back (no lock needed).
            let sql = self.sql("SELECT paused_until_ms FROM {p}limits WHERE destination = ?");
            let until: Option<Option<i64>> = self.run(|t| t.exec_first(sql, (destination,)))?;
            return Ok(match until.flatten().filter(|u| *u > now) {
                Some(until_ms) => Admission::Wait { until_ms, paused: true },
                None => Admission::Go,
            });
        }
        let row = self.limit_row(destination)?;
        if let Some(until) = row.paused_until_ms.filter(|u| *u > now) {
            return Ok(Admission::Wait { until_ms: until, paused: true });
        }
        let Some(Bucket { capacity, per_ms }) = bucket else { return Ok(Admission::Go) };
        let have = match row {
            LimitRow { tokens: Some(tokens), updated_ms: Some(updated), .. } => {
                #[allow(clippy::cast_precision_loss)]
                let elapsed = now.saturating_sub(updated).max(0) as f64;
                (tokens + elapsed * per_ms).min(capacity)
            }
            _ => capacity,
        };
        if have >= 1.0 {
            let sql = self.sql("UPDATE {p}limits SET tokens = ?, updated_ms = ? WHERE destination = ?");
            self.run(|t| t.exec_drop(sql, (have - 1.0, now, destination)))?;
            return Ok(Admission::Go);
        }
        #[allow(clippy::cast_possible_truncation)]
        let wait = ((1.0 - have) / per_ms).ceil().max(1.0) as i64;
        Ok(Admission::Wait { until_ms: now.saturating_add(wait), paused: false })
    }

    /// Pauses `destination` until `until_ms` (a later pause already set wins).
    pub fn pause(&self, destination: &str, until_ms: i64) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO {p}limits (destination, paused_until_ms) VALUES (?, ?)
             ON DUPLICATE KEY UPDATE paused_until_ms = GREATEST(COALESCE(paused_until_ms, 0), VALUES(paused_until_ms))",
        );
        self.run(|t| t.exec_drop(sql, (destination, until_ms)))
    }

    /// Records inbound webhook id `key` seen at `now_s`, after dropping entries
    /// older than `cutoff_s`; `false` when it was already there (a replay).
    pub fn replay_seen_once(&self, key: &str, now_s: i64, cutoff_s: i64) -> Result<bool> {
        let prune = self.sql("DELETE FROM {p}webhook_seen WHERE seen_at < ?");
        let insert = self.sql("INSERT IGNORE INTO {p}webhook_seen (id, seen_at) VALUES (?, ?)");
        self.run(|t| {
            t.exec_drop(prune, (cutoff_s,))?;
            t.exec_drop(insert, (key, now_s))?;
            Ok(t.affected_rows() == 1)
        })
    }
}

impl Store {
    /// Until when `destination` is paused at `now`, if it is.
    pub fn paused_until(&mut self, destination: &str, now: i64) -> Result<Option<i64>> {
        let sql = self.sql("SELECT paused_until_ms FROM {p}limits WHERE destination = ?");
        let row: Option<Option<i64>> = self.conn.exec_first(sql, (destination,)).map_err(self.err())?;
        Ok(row.flatten().filter(|u| *u > now))
    }

    /// The sealed token under `cache_key`, if any (expired or not).
    pub fn token_get(&mut self, cache_key: &str) -> Result<Option<TokenRow>> {
        let sql = self.sql("SELECT key_id, sealed, token_fp, refresh_at_ms, expires_at_ms FROM {p}tokens WHERE cache_key = ?");
        let row: Option<(String, Vec<u8>, String, i64, i64)> = self.conn.exec_first(sql, (cache_key,)).map_err(self.err())?;
        Ok(row.map(|(key_id, blob, token_fp, refresh_at_ms, expires_at_ms)| TokenRow {
            key_id,
            blob,
            token_fp,
            refresh_at_ms,
            expires_at_ms,
        }))
    }

    /// Stores the sealed token under `cache_key`.
    pub fn token_put(&mut self, cache_key: &str, t: &TokenRow) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO {p}tokens (cache_key, key_id, sealed, token_fp, refresh_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE key_id = VALUES(key_id), sealed = VALUES(sealed), token_fp = VALUES(token_fp),
                refresh_at_ms = VALUES(refresh_at_ms), expires_at_ms = VALUES(expires_at_ms)",
        );
        let params =
            args![cache_key, t.key_id.as_str(), t.blob.as_slice(), t.token_fp.as_str(), t.refresh_at_ms, t.expires_at_ms];
        self.conn.exec_drop(sql, params).map_err(self.err())
    }

    /// Drops the token under `cache_key` if its fingerprint is still `fp`.
    pub fn token_forget(&mut self, cache_key: &str, fp: &str) -> Result<()> {
        let sql = self.sql("DELETE FROM {p}tokens WHERE cache_key = ? AND token_fp = ?");
        self.conn.exec_drop(sql, (cache_key, fp)).map_err(self.err())
    }

    /// Claims the fetch of `cache_key` for `owner` until `until_ms`, unless an
    /// unexpired claim or failure hold is in force at `now`.
    pub fn fetch_hold(&mut self, cache_key: &str, owner: &str, until_ms: i64, now: i64) -> Result<bool> {
        let create = self.sql("INSERT IGNORE INTO {p}token_fetches (cache_key, owner, until_ms) VALUES (?, ?, ?)");
        let take = self.sql(
            "UPDATE {p}token_fetches SET owner = ?, until_ms = ?, fail_kind = NULL, fail_status = NULL, fail_host = NULL,
                fail_reason = NULL WHERE cache_key = ? AND until_ms <= ?",
        );
        let err = super::db_error(&self.shown, &self.broken);
        self.conn.exec_drop(create, (cache_key, owner, until_ms)).map_err(&err)?;
        if self.conn.affected_rows() == 1 {
            return Ok(true);
        }
        // One statement: the row's check and its update are atomic.
        self.conn.exec_drop(take, (owner, until_ms, cache_key, now)).map_err(&err)?;
        Ok(self.conn.affected_rows() == 1)
    }

    /// The fetch claim or failure hold of `cache_key` in force at `now`.
    pub fn fetch_row(&mut self, cache_key: &str, now: i64) -> Result<FetchRow> {
        type Row = (Option<String>, Option<u16>, Option<String>, Option<String>);
        let sql = self.sql(
            "SELECT fail_kind, fail_status, fail_host, fail_reason FROM {p}token_fetches WHERE cache_key = ? AND until_ms > ?",
        );
        let row: Option<Row> = self.conn.exec_first(sql, (cache_key, now)).map_err(self.err())?;
        Ok(match row {
            None => FetchRow::Idle,
            Some((None, ..)) => FetchRow::Pending,
            Some((Some(kind), status, host, reason)) => FetchRow::Failed(FetchFailure {
                kind: if kind == "rejected" { FailKind::Rejected } else { FailKind::Transport },
                status,
                host: host.unwrap_or_default(),
                reason: reason.unwrap_or_default(),
            }),
        })
    }

    /// Records a failed fetch of `cache_key`, in force until `until_ms`.
    pub fn fetch_fail(&mut self, cache_key: &str, until_ms: i64, f: &FetchFailure) -> Result<()> {
        let sql = self.sql(
            "INSERT INTO {p}token_fetches (cache_key, owner, until_ms, fail_kind, fail_status, fail_host, fail_reason)
             VALUES (?, '', ?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE owner = '', until_ms = VALUES(until_ms), fail_kind = VALUES(fail_kind),
                fail_status = VALUES(fail_status), fail_host = VALUES(fail_host), fail_reason = VALUES(fail_reason)",
        );
        let params = args![cache_key, until_ms, f.kind.as_str(), f.status, f.host.as_str(), f.reason.as_str()];
        self.conn.exec_drop(sql, params).map_err(self.err())
    }

    /// Releases `owner`'s claim on fetching `cache_key`.
    pub fn fetch_release(&mut self, cache_key: &str, owner: &str) -> Result<()> {
        let sql = self.sql("DELETE FROM {p}token_fetches WHERE cache_key = ? AND owner = ?");
        self.conn.exec_drop(sql, (cache_key, owner)).map_err(self.err())
    }
}
