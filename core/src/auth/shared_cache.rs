//! The OAuth2 token cache shared by every worker and flusher of the machine,
//! through the outbox database ([`crate::store`]): tokens sealed with the outbox
//! key ring ([`crate::keys`]; ChaCha20-Poly1305, the cache key as associated
//! data, never in plaintext on disk), and single flight — while one process
//! fetches a token, the others wait for it instead of each asking the token
//! endpoint; a failed fetch is held (typed columns) so that a failing endpoint
//! sees one request per hold, not one per checkout.
use crate::config::OutboxConfig;
use crate::error::{Error, RejectedReason, Result, TransportReason};
use crate::keys::RingCache;
use crate::secret::Secret;
use crate::store::{self, FailKind, FetchFailure, FetchRow, TokenRow};

use super::Token;

/// What the workers of this machine know about fetching a token.
#[derive(Debug)]
pub enum FetchState {
    /// Nobody is fetching it: whoever needs it may claim the fetch.
    Idle,
    /// Another process holds an unexpired claim: wait for its token.
    Pending,
    /// The last fetch failed moments ago: this is its error; do not ask the
    /// token endpoint again before the hold ends.
    Failed(Error),
}

fn token_aad(cache_key: &str) -> Vec<u8> {
    let mut aad = b"oauth2 access token\0".to_vec();
    aad.extend_from_slice(cache_key.as_bytes());
    aad
}

/// The shared token under `cache_key`, decrypted, if there is one and it has not expired.
pub fn token_load(keys: &RingCache, cfg: &OutboxConfig, cache_key: &str) -> Result<Option<Token>> {
    let ring = keys.outbox_ring(cfg)?;
    let Some(row) = store::with_store(cfg, |db| db.token_get(cache_key))? else { return Ok(None) };
    if row.expires_at_ms <= store::now_ms() {
        return Ok(None);
    }
    // A row sealed with a key no longer in the ring is simply not used.
    let Some(mut plain) = ring.open(&row.key_id, &token_aad(cache_key), &row.blob) else { return Ok(None) };
    let bare = Secret::new(std::mem::take(&mut *plain));
    if bare.fingerprint() != row.token_fp {
        return Ok(None);
    }
    let mut value = Vec::with_capacity(7 + bare.len());
    value.extend_from_slice(b"Bearer ");
    value.extend_from_slice(bare.expose());
    Ok(Some(Token {
        header_value: std::sync::Arc::new(Secret::new(value)),
        fp: row.token_fp,
        refresh_at_ms: row.refresh_at_ms,
        expires_at_ms: row.expires_at_ms,
    }))
}

/// Stores `bare` (encrypted) as the shared token under `cache_key`.
pub fn token_save(keys: &RingCache, cfg: &OutboxConfig, cache_key: &str, bare: &Secret, t: &Token) -> Result<()> {
    let ring = keys.outbox_ring(cfg)?;
    let (key_id, blob) = ring.seal(&token_aad(cache_key), bare.expose())?;
    let row = TokenRow { key_id, blob, token_fp: t.fp.clone(), refresh_at_ms: t.refresh_at_ms, expires_at_ms: t.expires_at_ms };
    store::with_store(cfg, |db| db.token_put(cache_key, &row))
}

/// Drops the shared token under `cache_key` if it is still the one with
/// fingerprint `fp` (a token another worker already refreshed is kept).
pub fn token_forget(cfg: &OutboxConfig, cache_key: &str, fp: &str) -> Result<()> {
    store::with_store(cfg, |db| db.token_forget(cache_key, fp))
}

/// Claims the right to fetch the token under `cache_key` for `lease_ms`.
/// `false` when another process holds an unexpired claim (wait for its token).
pub fn token_fetch_begin(cfg: &OutboxConfig, cache_key: &str, lease_ms: i64) -> Result<bool> {
    let now = store::now_ms();
    store::with_store(cfg, |db| db.fetch_hold(cache_key, &store::process_owner(), now.saturating_add(lease_ms), now))
}

/// [`FetchState`] of the token under `cache_key`.
pub fn token_fetch_state(cfg: &OutboxConfig, cache_key: &str) -> Result<FetchState> {
    let row = store::with_store(cfg, |db| db.fetch_row(cache_key, store::now_ms()))?;
    Ok(match row {
        FetchRow::Idle => FetchState::Idle,
        FetchRow::Pending => FetchState::Pending,
        FetchRow::Failed(f) => failure(f).map_or(FetchState::Pending, FetchState::Failed),
    })
}

/// The error of a failed fetch's hold.
fn failure(f: FetchFailure) -> Option<Error> {
    let reason = format!("{} (the token endpoint failed moments ago; asked again shortly)", f.reason);
    match f.kind {
        FailKind::Rejected => Some(Error::Rejected { host: f.host, status: f.status?, reason: RejectedReason::Other(reason) }),
        FailKind::Transport => Some(Error::Transport { host: f.host, status: f.status, reason: TransportReason::Other(reason) }),
    }
}

/// Records that fetching the token under `cache_key` failed with `error` (a
/// redacted error naming the token host and the OAuth error code, never a
/// secret): for `hold_ms` every worker gets this error at once instead of
/// asking the token endpoint again.
pub fn token_fetch_failed(cfg: &OutboxConfig, cache_key: &str, hold_ms: i64, error: &Error) -> Result<()> {
    let f = match error {
        Error::Rejected { host, status, reason } => {
            FetchFailure { kind: FailKind::Rejected, status: Some(*status), host: host.clone(), reason: reason.to_string() }
        }
        Error::Transport { host, status, reason } => {
            FetchFailure { kind: FailKind::Transport, status: *status, host: host.clone(), reason: reason.to_string() }
        }
        _ => return token_fetch_end(cfg, cache_key),
    };
    store::with_store(cfg, |db| db.fetch_fail(cache_key, store::now_ms().saturating_add(hold_ms), &f))
}

/// Releases this process's claim on fetching the token under `cache_key`.
pub fn token_fetch_end(cfg: &OutboxConfig, cache_key: &str) -> Result<()> {
    store::with_store(cfg, |db| db.fetch_release(cache_key, &store::process_owner()))
}
