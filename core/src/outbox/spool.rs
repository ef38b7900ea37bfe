//! The local spool of a node of a shared outbox (`[outbox] url`): when the
//! database is down, unreachable or refuses the credentials, `submit` keeps the
//! event (sealed, as always) in this node's SQLite file (`[outbox] path`) and
//! returns a `queued` receipt; the next flush (or a submit, at most once a
//! second per process) moves the spooled events into the shared outbox, each
//! once: the insert is idempotent by event id, and a spooled row is deleted
//! only after the shared database committed it.
use std::sync::atomic::{AtomicI64, Ordering};

use crate::config::{Config, Destination, OutboxConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::forward::{Receipt, ReceiptStatus};
use crate::store::{self, NewEvent};

/// Spooled events moved per transaction.
const MOVE_BATCH: usize = 200;
/// A submit looks at the spool at most this often (per process).
const SUBMIT_LOOK_EVERY_MS: i64 = 1_000;

/// Whether `e`, from the shared database, means "spool and carry on": the
/// database could not be used (a configuration error, e.g. a key file that
/// differs from the fleet's, is not).
pub fn spoolable(outbox: &OutboxConfig, e: &Error) -> bool {
    outbox.database.is_some() && e.kind() == ErrorKind::Transport
}

/// A sealed event for the spool.
pub struct Sealed<'a> {
    /// Event id.
    pub id: &'a str,
    /// Order id as sent.
    pub order_id: &'a str,
    /// Event name.
    pub event: &'a str,
    /// Sealing key id.
    pub key_id: &'a str,
    /// Sealed payload.
    pub payload: &'a [u8],
    /// The site it came from (`secure_forward_order()`'s `site` option).
    pub site: Option<&'a str>,
}

/// Keeps `ev` in this node's spool because the shared database failed with
/// `why`; the receipt is `queued`, its reason names the database and the problem.
pub fn accept(config: &Config, dest: &Destination, ev: &Sealed<'_>, why: &Error) -> Result<Receipt> {
    let outbox = &config.outbox;
    let reason = format!("spooled on this node: {why}");
    let now = store::now_ms();
    let inserted = store::with_spool(&outbox.path, outbox.synchronous.pragma(), |db| {
        let tx = db.immediate()?;
        let fresh = tx.event_summary(ev.id)?.is_none();
        if fresh {
            tx.insert_event(&NewEvent {
                id: ev.id,
                destination: &dest.name,
                order_id: ev.order_id,
                event: ev.event,
                key_id: ev.key_id,
                payload: ev.payload,
                now_ms: now,
                lease: None,
                reason: Some("spooled: shared outbox database unreachable"),
                site: ev.site,
            })?;
        }
        tx.commit()?;
        Ok(fresh)
    })?;
    if inserted {
        crate::audit::emit(
            config,
            &crate::audit::Record {
                event_id: Some(ev.id),
                destination: &dest.name,
                order_id: Some(ev.order_id),
                attempt: 0,
                outcome: crate::audit::Outcome::Queued,
                http_status: None,
                latency_ms: None,
                error: Some(&reason),
                key_fp: crate::audit::key_fp(dest),
            },
        );
    }
    Ok(Receipt {
        event_id: ev.id.to_owned(),
        status: ReceiptStatus::Queued,
        http_status: None,
        attempts: 0,
        reason: Some(reason),
    })
}

/// Events waiting in this node's spool (0 without a spool file).
pub fn count(outbox: &OutboxConfig) -> Result<u64> {
    if outbox.database.is_none() || !outbox.path.exists() {
        return Ok(0);
    }
    store::with_spool(&outbox.path, "NORMAL", |db| db.count_queued())
}

/// Moves every spooled event into the shared database; returns how many were
/// new there. An error leaves the rest spooled (nothing is lost or doubled).
pub fn move_all(outbox: &OutboxConfig) -> Result<u64> {
    if outbox.database.is_none() || !outbox.path.exists() {
        return Ok(0);
    }
    let mut moved = 0;
    loop {
        let batch = store::with_spool(&outbox.path, "NORMAL", |db| db.spooled(MOVE_BATCH))?;
        if batch.is_empty() {
            return Ok(moved);
        }
        let now = store::now_ms();
        moved += store::with_store(outbox, |db| {
            let tx = db.immediate()?;
            let mut fresh = 0;
            for e in &batch {
                let new = NewEvent {
                    id: &e.id,
                    destination: &e.destination,
                    order_id: &e.order_id,
                    event: &e.event,
                    key_id: &e.key_id,
                    payload: &e.payload,
                    now_ms: now,
                    lease: None,
                    reason: Some("moved from a node's spool"),
                    site: e.site.as_deref(),
                };
                fresh += u64::from(tx.adopt_event(&new, e.created_at_ms)?);
            }
            tx.commit()?;
            Ok(fresh)
        })?;
        let ids: Vec<String> = batch.into_iter().map(|e| e.id).collect();
        store::with_spool(&outbox.path, "NORMAL", |db| {
            db.delete_spooled(&ids)?;
            // The moved ciphertext's old page copies leave the spool's WAL (best effort).
            let _ = db.erase_wal(std::time::Duration::ZERO);
            Ok(())
        })?;
        if ids.len() < MOVE_BATCH {
            return Ok(moved);
        }
    }
}

/// After a submit reached the shared database: moves the spool if this process
/// has not looked for a second (best effort; flush always does).
pub fn move_soon(outbox: &OutboxConfig) {
    static NEXT_LOOK_MS: AtomicI64 = AtomicI64::new(0);
    let now = store::now_ms();
    if outbox.database.is_none() || now < NEXT_LOOK_MS.load(Ordering::Relaxed) {
        return;
    }
    NEXT_LOOK_MS.store(now.saturating_add(SUBMIT_LOOK_EVERY_MS), Ordering::Relaxed);
    let _ = move_all(outbox);
}

/// Right to erasure in this node's spool: deletes the order's spooled events
/// (of `site` and of no site, when a site is given) and truncates the spool's
/// WAL, or notes the erasure pending. Other nodes' spools are theirs to purge.
pub fn purge(
    outbox: &OutboxConfig,
    order_key: &str,
    site: Option<&str>,
    wait: std::time::Duration,
) -> Result<Vec<(String, String)>> {
    if outbox.database.is_none() || !outbox.path.exists() {
        return Ok(Vec::new());
    }
    store::with_spool(&outbox.path, store::PURGE_SYNC, |db| {
        let tx = db.immediate()?;
        let removed = tx.purge_order(order_key, site)?;
        tx.commit()?;
        if !removed.is_empty() && !db.erase_wal(wait)? {
            db.mark_erasure_pending()?;
        }
        Ok(removed)
    })
}

/// Right to erasure of one event in this node's spool (any state): its
/// (destination, order id as sent), or `None` when the spool does not hold it.
pub fn purge_event(outbox: &OutboxConfig, event_id: &str, wait: std::time::Duration) -> Result<Option<(String, String)>> {
    if outbox.database.is_none() || !outbox.path.exists() {
        return Ok(None);
    }
    store::with_spool(&outbox.path, store::PURGE_SYNC, |db| {
        let tx = db.immediate()?;
        let removed = tx.purge_event(event_id)?;
        tx.commit()?;
        if removed.is_some() && !db.erase_wal(wait)? {
            db.mark_erasure_pending()?;
        }
        Ok(removed)
    })
}
