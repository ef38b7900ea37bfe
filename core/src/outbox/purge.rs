//! Requeue (a dead letter back in the queue) and purge (right to erasure: the
//! rows, and every copy of their ciphertext on disk).
use std::time::Duration;

use crate::audit;
use crate::config::Config;
use crate::error::Result;
use crate::store::{self, PURGE_SYNC};

/// How long a purge waits for readers to let the WAL be truncated.
const PURGE_CHECKPOINT_WAIT: Duration = Duration::from_secs(2);

/// Puts a dead (or undecryptable) event back in the queue, due now, with a fresh
/// retry schedule. `false` when there is no such event or it has no payload.
pub fn requeue(config: &Config, event_id: &str) -> Result<bool> {
    store::with_durable_store(&config.outbox, config.outbox.synchronous.pragma(), |db| db.requeue(event_id, store::now_ms()))
}

/// Right to erasure: deletes every queued, dead or undecryptable event of
/// `order_id` (normalised: `"007"`, `"7"` and `7` are one order, see
/// [`store::order_key`]) entirely: payload and metadata. `secure_delete` zeroes
/// the freed pages, and the WAL (which still holds the old page copies) is
/// checkpointed and truncated before this returns — waiting up to 2 s for
/// readers; failing that the erasure is pending (`status` shows
/// `erasure_pending`) until a later flush or submit truncates it. Delivered
/// events hold no payload and keep their metadata. Returns the number of rows
/// removed. An attempt already in flight still completes.
pub fn purge(config: &Config, order_id: &str) -> Result<u64> {
    let key = store::order_key(order_id);
    let order_id: &str = &key;
    // A shared outbox: this node's spool first (it is purged even when the
    // database cannot be reached; the error then says so).
    let mut removed = super::spool::purge(&config.outbox, order_id, PURGE_CHECKPOINT_WAIT)?;
    removed.extend(store::with_durable_store(&config.outbox, PURGE_SYNC, |db| {
        let tx = db.immediate()?;
        let removed = tx.purge_order(order_id)?;
        tx.commit()?;
        if !removed.is_empty() && !db.erase_wal(PURGE_CHECKPOINT_WAIT)? {
            db.mark_erasure_pending()?;
        }
        Ok(removed)
    })?);
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
