//! State shared by every worker of the machine: rate-limit buckets and pauses
//! (`limits`), sealed OAuth2 tokens (`tokens`), token-fetch single flight and
//! failure holds (`token_fetches`), and the inbound webhook replay cache
//! (`webhook_seen`).
use rusqlite::{params, OptionalExtension as _};

use super::{sql_error, Store, Tx};
use crate::error::Result;
use crate::store::{Admission, Bucket, FailKind, FetchFailure, FetchRow, LimitRow, TokenRow};

impl Tx<'_> {
    fn limit_row(&self, destination: &str) -> Result<Option<LimitRow>> {
        self.tx
            .prepare_cached("SELECT tokens, updated_ms, paused_until_ms FROM limits WHERE destination = ?1")
            .and_then(|mut s| {
                s.query_row([destination], |r| {
                    Ok(LimitRow { tokens: r.get(0)?, updated_ms: r.get(1)?, paused_until_ms: r.get(2)? })
                })
                .optional()
            })
            .map_err(self.err())
    }

    /// Takes one token of `destination`'s bucket at `now` (none needed without a
    /// `bucket`), unless it is paused. The bucket holds `capacity` tokens,
    /// refilled continuously at `per_ms` (`tokens` NULL = full).
    pub fn take_rate_token(&self, destination: &str, bucket: Option<Bucket>, now: i64) -> Result<Admission> {
        let row = self.limit_row(destination)?;
        if let Some(until) = row.and_then(|r| r.paused_until_ms).filter(|u| *u > now) {
            return Ok(Admission::Wait { until_ms: until, paused: true });
        }
        let Some(Bucket { capacity, per_ms }) = bucket else { return Ok(Admission::Go) };
        let have = match row {
            Some(LimitRow { tokens: Some(tokens), updated_ms: Some(updated), .. }) => {
                #[allow(clippy::cast_precision_loss)]
                let elapsed = now.saturating_sub(updated).max(0) as f64;
                (tokens + elapsed * per_ms).min(capacity)
            }
            _ => capacity,
        };
        if have >= 1.0 {
            self.tx
                .prepare_cached(
                    "INSERT INTO limits (destination, tokens, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(destination) DO UPDATE SET tokens = ?2, updated_ms = ?3",
                )
                .and_then(|mut s| s.execute(params![destination, have - 1.0, now]))
                .map_err(self.err())?;
            return Ok(Admission::Go);
        }
        #[allow(clippy::cast_possible_truncation)]
        let wait = ((1.0 - have) / per_ms).ceil().max(1.0) as i64;
        Ok(Admission::Wait { until_ms: now.saturating_add(wait), paused: false })
    }

    /// Pauses `destination` until `until_ms` (a later pause already set wins).
    pub fn pause(&self, destination: &str, until_ms: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO limits (destination, paused_until_ms) VALUES (?1, ?2)
                 ON CONFLICT(destination) DO UPDATE SET paused_until_ms = MAX(COALESCE(paused_until_ms, 0), ?2)",
            )
            .and_then(|mut s| s.execute(params![destination, until_ms]))
            .map_err(self.err())?;
        Ok(())
    }

    /// Records inbound webhook id `key` seen at `now_s`, after dropping entries
    /// older than `cutoff_s`; `false` when it was already there (a replay).
    pub fn replay_seen_once(&self, key: &str, now_s: i64, cutoff_s: i64) -> Result<bool> {
        self.tx.execute("DELETE FROM webhook_seen WHERE seen_at < ?1", [cutoff_s]).map_err(self.err())?;
        let inserted = self
            .tx
            .execute("INSERT OR IGNORE INTO webhook_seen (id, seen_at) VALUES (?1, ?2)", params![key, now_s])
            .map_err(self.err())?;
        Ok(inserted == 1)
    }
}

impl Store {
    /// Until when `destination` is paused at `now`, if it is.
    pub fn paused_until(&mut self, destination: &str, now: i64) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT paused_until_ms FROM limits WHERE destination = ?1", [destination], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .map(|v| v.flatten().filter(|u| *u > now))
            .map_err(sql_error(&self.path))
    }

    /// The sealed token under `cache_key`, if any (expired or not).
    pub fn token_get(&mut self, cache_key: &str) -> Result<Option<TokenRow>> {
        self.conn
            .prepare_cached("SELECT key_id, blob, token_fp, refresh_at_ms, expires_at_ms FROM tokens WHERE cache_key = ?1")
            .and_then(|mut s| {
                s.query_row([cache_key], |r| {
                    Ok(TokenRow {
                        key_id: r.get(0)?,
                        blob: r.get(1)?,
                        token_fp: r.get(2)?,
                        refresh_at_ms: r.get(3)?,
                        expires_at_ms: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(sql_error(&self.path))
    }

    /// Stores the sealed token under `cache_key`.
    pub fn token_put(&mut self, cache_key: &str, t: &TokenRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO tokens (cache_key, key_id, blob, token_fp, refresh_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(cache_key) DO UPDATE SET key_id = ?2, blob = ?3, token_fp = ?4, refresh_at_ms = ?5, expires_at_ms = ?6",
            )
            .and_then(|mut s| s.execute(params![cache_key, t.key_id, t.blob, t.token_fp, t.refresh_at_ms, t.expires_at_ms]))
            .map_err(sql_error(&self.path))?;
        // Expired tokens are of no use; dropping them at each (rare) save also clears
        // rows stored under an older form of the cache key.
        self.conn
            .prepare_cached("DELETE FROM tokens WHERE expires_at_ms <= ?1")
            .and_then(|mut s| s.execute(params![crate::store::now_ms()]))
            .map_err(sql_error(&self.path))?;
        Ok(())
    }

    /// Drops the token under `cache_key` if its fingerprint is still `fp`.
    pub fn token_forget(&mut self, cache_key: &str, fp: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM tokens WHERE cache_key = ?1 AND token_fp = ?2", params![cache_key, fp])
            .map_err(sql_error(&self.path))?;
        Ok(())
    }

    /// Claims the fetch of `cache_key` for `owner` until `until_ms`, unless an
    /// unexpired claim or failure hold is in force at `now`.
    pub fn fetch_hold(&mut self, cache_key: &str, owner: &str, until_ms: i64, now: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT INTO token_fetches (cache_key, owner, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(cache_key) DO UPDATE SET owner = ?2, until_ms = ?3, fail_kind = NULL, fail_status = NULL,
                    fail_host = NULL, fail_reason = NULL WHERE until_ms <= ?4",
                params![cache_key, owner, until_ms, now],
            )
            .map_err(sql_error(&self.path))?;
        Ok(n > 0)
    }

    /// The fetch claim or failure hold of `cache_key` in force at `now`.
    pub fn fetch_row(&mut self, cache_key: &str, now: i64) -> Result<FetchRow> {
        type Row = (Option<String>, Option<u16>, Option<String>, Option<String>);
        let row: Option<Row> = self
            .conn
            .prepare_cached(
                "SELECT fail_kind, fail_status, fail_host, fail_reason FROM token_fetches WHERE cache_key = ?1 AND until_ms > ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![cache_key, now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()
            })
            .map_err(sql_error(&self.path))?;
        Ok(match row {
            None => FetchRow::Idle,
            Some((None, ..)) => FetchRow::Pending,
            Some((Some(kind), status, host, reason)) => {
                let kind = match kind.as_str() {
                    "rejected" => FailKind::Rejected,
                    _ => FailKind::Transport,
                };
                FetchRow::Failed(FetchFailure {
                    kind,
                    status,
                    host: host.unwrap_or_default(),
                    reason: reason.unwrap_or_default(),
                })
            }
        })
    }

    /// Records a failed fetch of `cache_key`, in force until `until_ms`.
    pub fn fetch_fail(&mut self, cache_key: &str, until_ms: i64, f: &FetchFailure) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO token_fetches (cache_key, owner, until_ms, fail_kind, fail_status, fail_host, fail_reason)
                 VALUES (?1, '', ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(cache_key) DO UPDATE SET owner = '', until_ms = ?2, fail_kind = ?3, fail_status = ?4,
                    fail_host = ?5, fail_reason = ?6",
            )
            .and_then(|mut s| s.execute(params![cache_key, until_ms, f.kind.as_str(), f.status, f.host, f.reason]))
            .map_err(sql_error(&self.path))?;
        Ok(())
    }

    /// Releases `owner`'s claim on fetching `cache_key`.
    pub fn fetch_release(&mut self, cache_key: &str, owner: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM token_fetches WHERE cache_key = ?1 AND owner = ?2", params![cache_key, owner])
            .map_err(sql_error(&self.path))?;
        Ok(())
    }
}
