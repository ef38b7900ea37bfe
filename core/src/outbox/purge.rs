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
    requeue_site(config, event_id, None)
}

/// [`requeue`], of `site`'s events only when a site is given (`false` for another
/// site's event; an event stored without a site, before schema 5, is anyone's).
pub fn requeue_site(config: &Config, event_id: &str, site: Option<&str>) -> Result<bool> {
    store::with_durable_store(&config.outbox, config.outbox.synchronous.pragma(), |db| {
        db.requeue(event_id, store::now_ms(), site)
    })
}

/// Right to erasure: deletes every queued, dead or undecryptable event of
/// `order_id` (normalised: `"007"`, `"7"` and `7` are one order, see
/// [`store::order_key`]) entirely: payload and metadata. `secure_delete` zeroes
/// the freed pages, and the WAL (which still holds the old page copies) is
/// checkpointed and truncated before this returns — waiting up to 2 s for
/// readers; failing that the erasure is pending (`status` shows
/// `erasure_pending`) until a later flush or submit truncates it. Delivered
/// events hold no payload and keep their metadata; the WAL is truncated for
/// them too (their payloads' old page copies may still be in it). Returns the number of rows
/// removed. An attempt already in flight still completes.
pub fn purge(config: &Config, order_id: &str) -> Result<u64> {
    purge_site(config, order_id, None)
}

/// [`purge`], of `site`'s events only when a site is given (shops sharing one
/// outbox, multisite): another site's order with the same id stays. Events stored
/// without a site (before schema 5) are purged too: erasure must not miss them.
pub fn purge_site(config: &Config, order_id: &str, site: Option<&str>) -> Result<u64> {
    let key = store::order_key(order_id);
    let order_id: &str = &key;
    // A shared outbox: this node's spool first (it is purged even when the
    // database cannot be reached; the error then says so).
    let mut removed = super::spool::purge(&config.outbox, order_id, site, PURGE_CHECKPOINT_WAIT)?;
    removed.extend(store::with_durable_store(&config.outbox, PURGE_SYNC, |db| {
        let tx = db.immediate()?;
        let removed = tx.purge_order(order_id, site)?;
        // A delivered event's payload was erased at delivery, but its old page
        // copies stay in the WAL until a truncation: erase them now too.
        let delivered = tx.has_delivered(order_id)?;
        tx.commit()?;
        if (!removed.is_empty() || delivered) && !db.erase_wal(PURGE_CHECKPOINT_WAIT)? {
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

/// Erases one event (any state): its row, payload and metadata, and every copy of
/// its ciphertext on disk, like [`purge`]. `false` when there is no such event.
pub fn purge_event(config: &Config, event_id: &str) -> Result<bool> {
    // A shared outbox: this node's spool first, as in [`purge_site`].
    let spooled = super::spool::purge_event(&config.outbox, event_id, PURGE_CHECKPOINT_WAIT)?;
    let removed = store::with_durable_store(&config.outbox, PURGE_SYNC, |db| {
        let tx = db.immediate()?;
        let removed = tx.purge_event(event_id)?;
        tx.commit()?;
        if removed.is_some() && !db.erase_wal(PURGE_CHECKPOINT_WAIT)? {
            db.mark_erasure_pending()?;
        }
        Ok(removed)
    })?;
    let Some((destination, order_id)) = removed.or(spooled) else {
        return Ok(false);
    };
    audit::emit(
        config,
        &audit::Record {
            event_id: Some(event_id),
            destination: &destination,
            order_id: Some(&order_id),
            attempt: 0,
            outcome: audit::Outcome::Purged,
            http_status: None,
            latency_ms: None,
            error: None,
            key_fp: None,
        },
    );
    Ok(true)
}
