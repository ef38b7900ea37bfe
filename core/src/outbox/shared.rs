//! State shared by every PHP worker and flusher of the machine through the
//! outbox database: per-destination rate-limit buckets and pauses (`limits`),
//! and OAuth2 access tokens (`tokens`, encrypted with the outbox key).
//!
//! # Rate limits
//! `limits(destination PK, tokens, updated_ms, paused_until_ms)`. A token bucket
//! of `rate_limit.requests` tokens refilled continuously at `requests / per_s`
//! per second (`tokens` NULL = full). Taking a token is one read and one upsert
//! inside an `IMMEDIATE` transaction that the caller already holds (`submit`'s
//! enqueue, `flush`'s claim), so it adds no transaction, lock or fsync of its own.
//! `paused_until_ms` is set by a 429/503 with `Retry-After` and by the
//! destination's rate-limit headers ([`crate::forward::pause_hint`]); while it is
//! in the future no worker sends to the destination.
//!
//! # Tokens
//! `tokens(cache_key PK, key_id, blob, token_fp, refresh_at_ms, expires_at_ms)`:
//! the token sealed like a payload (ChaCha20-Poly1305 with the outbox key, the
//! cache key as associated data). Never in plaintext on disk.
//! `token_fetches(cache_key PK, owner, until_ms)`: single flight — while one
//! process fetches a token, the others wait for it (at most `until_ms`) instead
//! of each asking the token endpoint.
use std::path::Path;

use rusqlite::{params, OptionalExtension as _, Transaction};

use super::{lease_owner, now_ms, sql_error, with_db, Config, Destination, OutboxConfig, Result, MAX_RETRY_AFTER};
use crate::auth::Token;
use crate::secret::Secret;

/// Whether a request to a destination may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A token was taken (or the destination has no limit).
    Go,
    /// Not before `until_ms`: the bucket is empty, or (`paused`) the destination
    /// asked to be left alone.
    Wait {
        /// Unix ms.
        until_ms: i64,
        /// A pause (Retry-After, rate-limit headers) rather than an empty bucket.
        paused: bool,
    },
}

/// Takes one token of `dest`'s bucket at `now` within `tx`, unless it is paused.
pub(super) fn admit(tx: &Transaction<'_>, path: &Path, dest: &Destination, now: i64) -> Result<Admission> {
    let err = sql_error(path);
    let row: Option<(Option<f64>, Option<i64>, Option<i64>)> = tx
        .prepare_cached("SELECT tokens, updated_ms, paused_until_ms FROM limits WHERE destination = ?1")
        .and_then(|mut s| s.query_row([&dest.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
        .map_err(&err)?;
    if let Some(until) = row.and_then(|r| r.2).filter(|u| *u > now) {
        return Ok(Admission::Wait { until_ms: until, paused: true });
    }
    let Some(limit) = dest.rate_limit else { return Ok(Admission::Go) };
    let capacity = f64::from(limit.requests);
    let rate = limit.per_ms();
    let have = match row {
        Some((Some(tokens), Some(updated), _)) => {
            #[allow(clippy::cast_precision_loss)]
            let elapsed = now.saturating_sub(updated).max(0) as f64;
            (tokens + elapsed * rate).min(capacity)
        }
        _ => capacity,
    };
    if have >= 1.0 {
        tx.prepare_cached(
            "INSERT INTO limits (destination, tokens, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(destination) DO UPDATE SET tokens = ?2, updated_ms = ?3",
        )
        .and_then(|mut s| s.execute(params![dest.name, have - 1.0, now]))
        .map_err(&err)?;
        return Ok(Admission::Go);
    }
    #[allow(clippy::cast_possible_truncation)]
    let wait = ((1.0 - have) / rate).ceil().max(1.0) as i64;
    Ok(Admission::Wait { until_ms: now.saturating_add(wait), paused: false })
}

/// Pauses `destination` until `until_ms` (a later pause already set wins).
pub(super) fn pause(tx: &Transaction<'_>, path: &Path, destination: &str, until_ms: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO limits (destination, paused_until_ms) VALUES (?1, ?2)
         ON CONFLICT(destination) DO UPDATE SET paused_until_ms = MAX(COALESCE(paused_until_ms, 0), ?2)",
    )
    .and_then(|mut s| s.execute(params![destination, until_ms]))
    .map_err(sql_error(path))?;
    Ok(())
}

/// Records what an attempt's answer says about the destination's pace.
pub(super) fn note_outcome(
    tx: &Transaction<'_>,
    path: &Path,
    destination: &str,
    outcome: &crate::forward::Outcome,
    now: i64,
) -> Result<()> {
    if let Some(d) = crate::forward::pause_hint(outcome).filter(|d| !d.is_zero()) {
        let ms = i64::try_from(d.min(MAX_RETRY_AFTER).as_millis()).unwrap_or(i64::MAX);
        pause(tx, path, destination, now.saturating_add(ms))?;
    }
    Ok(())
}

/// Until when `destination` is paused, if it is (Unix ms).
pub fn paused_until(config: &Config, destination: &str) -> Result<Option<i64>> {
    with_db(&config.outbox, |db| {
        let now = now_ms();
        db.conn
            .query_row("SELECT paused_until_ms FROM limits WHERE destination = ?1", [destination], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .map(|v| v.flatten().filter(|u| *u > now))
            .map_err(sql_error(&db.path))
    })
}

/// Takes one token of `dest`'s bucket in a transaction of its own (what the
/// bucket costs by itself; `submit` and `flush` take it inside the transaction
/// they already hold). `true` when a request may go now.
pub fn take_token(config: &Config, dest: &Destination) -> Result<bool> {
    take_token_from(&config.outbox, dest)
}

/// [`take_token`] given only the outbox settings (what a send in progress has,
/// e.g. for the resend after a 401).
pub fn take_token_from(outbox: &OutboxConfig, dest: &Destination) -> Result<bool> {
    with_db(outbox, |db| {
        let path = db.path.clone();
        let tx = db.immediate()?;
        let admitted = admit(&tx, &path, dest, now_ms())?;
        tx.commit().map_err(sql_error(&path))?;
        Ok(admitted == Admission::Go)
    })
}

fn token_aad(cache_key: &str) -> Vec<u8> {
    let mut aad = b"oauth2 access token\0".to_vec();
    aad.extend_from_slice(cache_key.as_bytes());
    aad
}

/// The shared token under `cache_key`, decrypted, if there is one and it has not expired.
pub fn token_load(cfg: &OutboxConfig, cache_key: &str) -> Result<Option<Token>> {
    with_db(cfg, |db| {
        let ring = db.keyring(&cfg.key_file)?;
        let now = now_ms();
        let row: Option<(String, Vec<u8>, String, i64, i64)> = db
            .conn
            .prepare_cached("SELECT key_id, blob, token_fp, refresh_at_ms, expires_at_ms FROM tokens WHERE cache_key = ?1")
            .and_then(|mut s| {
                s.query_row([cache_key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).optional()
            })
            .map_err(sql_error(&db.path))?;
        let Some((key_id, blob, fp, refresh_at_ms, expires_at_ms)) = row else { return Ok(None) };
        if expires_at_ms <= now {
            return Ok(None);
        }
        // A row sealed with a key no longer in the ring is simply not used.
        let Some(mut plain) = ring.open(&key_id, &token_aad(cache_key), &blob) else { return Ok(None) };
        let bare = Secret::new(std::mem::take(&mut *plain));
        if bare.fingerprint() != fp {
            return Ok(None);
        }
        let mut value = Vec::with_capacity(7 + bare.len());
        value.extend_from_slice(b"Bearer ");
        value.extend_from_slice(bare.expose());
        Ok(Some(Token { header_value: std::sync::Arc::new(Secret::new(value)), fp, refresh_at_ms, expires_at_ms }))
    })
}

/// Stores `bare` (encrypted) as the shared token under `cache_key`.
pub fn token_save(cfg: &OutboxConfig, cache_key: &str, bare: &Secret, t: &Token) -> Result<()> {
    with_db(cfg, |db| {
        let ring = db.keyring(&cfg.key_file)?;
        let (key_id, blob) = ring.seal(&token_aad(cache_key), bare.expose())?;
        db.conn
            .prepare_cached(
                "INSERT INTO tokens (cache_key, key_id, blob, token_fp, refresh_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(cache_key) DO UPDATE SET key_id = ?2, blob = ?3, token_fp = ?4, refresh_at_ms = ?5, expires_at_ms = ?6",
            )
            .and_then(|mut s| s.execute(params![cache_key, key_id, blob, t.fp, t.refresh_at_ms, t.expires_at_ms]))
            .map_err(sql_error(&db.path))?;
        Ok(())
    })
}

/// Drops the shared token under `cache_key` if it is still the one with
/// fingerprint `fp` (a token another worker already refreshed is kept).
pub fn token_forget(cfg: &OutboxConfig, cache_key: &str, fp: &str) -> Result<()> {
    with_db(cfg, |db| {
        db.conn
            .execute("DELETE FROM tokens WHERE cache_key = ?1 AND token_fp = ?2", params![cache_key, fp])
            .map_err(sql_error(&db.path))?;
        Ok(())
    })
}

/// Claims the right to fetch the token under `cache_key` for `lease_ms`.
/// `false` when another process holds an unexpired claim (wait for its token).
pub fn token_fetch_begin(cfg: &OutboxConfig, cache_key: &str, lease_ms: i64) -> Result<bool> {
    with_db(cfg, |db| {
        let now = now_ms();
        let n = db
            .conn
            .execute(
                "INSERT INTO token_fetches (cache_key, owner, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(cache_key) DO UPDATE SET owner = ?2, until_ms = ?3 WHERE until_ms <= ?4",
                params![cache_key, lease_owner(), now.saturating_add(lease_ms), now],
            )
            .map_err(sql_error(&db.path))?;
        Ok(n > 0)
    })
}

/// Whether another process is still fetching the token under `cache_key`.
pub fn token_fetch_pending(cfg: &OutboxConfig, cache_key: &str) -> Result<bool> {
    Ok(matches!(token_fetch_state(cfg, cache_key)?, FetchState::Pending))
}

/// What the workers of this machine know about fetching a token.
#[derive(Debug)]
pub enum FetchState {
    /// Nobody is fetching it: whoever needs it may claim the fetch.
    Idle,
    /// Another process holds an unexpired claim: wait for its token.
    Pending,
    /// The last fetch failed moments ago: this is its error; do not ask the
    /// token endpoint again before the hold ends.
    Failed(crate::Error),
}

/// Prefix of the `owner` column of a failed fetch's hold (never a process id).
const FAILED: &str = "!failed";

/// [`FetchState`] of the token under `cache_key`.
pub fn token_fetch_state(cfg: &OutboxConfig, cache_key: &str) -> Result<FetchState> {
    with_db(cfg, |db| {
        let owner: Option<String> = db
            .conn
            .query_row(
                "SELECT owner FROM token_fetches WHERE cache_key = ?1 AND until_ms > ?2",
                params![cache_key, now_ms()],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_error(&db.path))?;
        Ok(match owner {
            None => FetchState::Idle,
            Some(o) => o.strip_prefix(FAILED).and_then(decode_failure).map_or(FetchState::Pending, FetchState::Failed),
        })
    })
}

/// Records that fetching the token under `cache_key` failed with `error` (a
/// redacted error naming the token host and the OAuth error code, never a
/// secret): for `hold_ms` every worker gets this error at once instead of
/// asking the token endpoint again — a failing endpoint sees one request per
/// hold, not one per checkout.
pub fn token_fetch_failed(cfg: &OutboxConfig, cache_key: &str, hold_ms: i64, error: &crate::Error) -> Result<()> {
    let (kind, host, status, reason) = match error {
        crate::Error::Rejected { host, status, reason } => ("rejected", host, Some(*status), reason),
        crate::Error::Transport { host, status, reason } => ("transport", host, *status, reason),
        _ => return token_fetch_end(cfg, cache_key),
    };
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let owner = format!("{FAILED}\t{kind}\t{}\t{}\t{}", status.unwrap_or(0), clean(host), clean(reason));
    with_db(cfg, |db| {
        db.conn
            .execute(
                "INSERT INTO token_fetches (cache_key, owner, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(cache_key) DO UPDATE SET owner = ?2, until_ms = ?3",
                params![cache_key, owner, now_ms().saturating_add(hold_ms)],
            )
            .map_err(sql_error(&db.path))?;
        Ok(())
    })
}

fn decode_failure(rest: &str) -> Option<crate::Error> {
    let mut parts = rest.strip_prefix('\t')?.splitn(4, '\t');
    let (kind, status, host, reason) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let status: u16 = status.parse().ok()?;
    let reason = format!("{reason} (the token endpoint failed moments ago; asked again shortly)");
    match kind {
        "rejected" => Some(crate::Error::Rejected { host: host.to_owned(), status, reason }),
        "transport" => Some(crate::Error::Transport { host: host.to_owned(), status: (status != 0).then_some(status), reason }),
        _ => None,
    }
}

/// Releases this process's claim on fetching the token under `cache_key`.
pub fn token_fetch_end(cfg: &OutboxConfig, cache_key: &str) -> Result<()> {
    with_db(cfg, |db| {
        db.conn
            .execute("DELETE FROM token_fetches WHERE cache_key = ?1 AND owner = ?2", params![cache_key, lease_owner()])
            .map_err(sql_error(&db.path))?;
        Ok(())
    })
}
