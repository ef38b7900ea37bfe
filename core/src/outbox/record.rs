//! Recording an attempt's outcome: the event's new state, its destination's
//! circuit, last success/error and `attempts` list, and the audit line.
//!
//! A result takes effect only while its writer still holds the event's lease
//! (each inline attempt and each flush is an owner of its own): a stalled writer
//! whose lease was taken over cannot overwrite its successor's result.
use std::collections::BTreeMap;
use std::time::Instant;

use super::circuit::Circuit;
use super::schedule::{jitter_unit, retry_delay};
use super::shared;
use crate::audit;
use crate::error::{Error, Result};
use crate::forward::{Outcome, Receipt, ReceiptStatus};
use crate::store::{EventState, EventSummary, Store, Tx};

/// How an attempt was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    Delivered,
    Retried,
    Dead,
    /// The row was no longer queued under this writer's lease (purged, delivered
    /// by another process, or its lease taken over): nothing was written.
    Gone,
}

/// What a batch of recorded attempts changes about one destination, written once
/// per batch (circuit, last success/error, the trimmed `attempts` list).
#[derive(Default)]
pub(super) struct DestBook {
    /// The circuit and `last_success_ms` as stored before this batch.
    stored: Option<(Circuit, Option<i64>)>,
    /// The destination has a `circuits` row.
    exists: bool,
    circuit: Option<Circuit>,
    last_success_ms: Option<i64>,
    last_error: Option<(String, i64)>,
    /// `attempts` rows of this batch (at_ms, outcome, http_status, latency_ms), in order.
    attempts: Vec<(i64, &'static str, Option<u16>, i64)>,
}

/// A receipt from what the store knows of an event.
pub(super) fn receipt_of(id: &str, s: EventSummary) -> Receipt {
    let status = match s.state {
        EventState::Delivered => ReceiptStatus::Delivered,
        EventState::Dead => ReceiptStatus::Dead,
        // `undecryptable` rows are kept and can be requeued once the key is back.
        EventState::Queued | EventState::Undecryptable => ReceiptStatus::Queued,
    };
    Receipt { event_id: id.to_owned(), status, http_status: s.http_status, attempts: s.attempts, reason: s.reason }
}

pub(super) fn outcome_status(o: &Outcome) -> Option<u16> {
    match o {
        Outcome::Delivered { status, .. } => Some(*status),
        Outcome::Retry { status, .. } | Outcome::Dead { status, .. } => *status,
    }
}

/// Records one attempt's outcome on event `id` leased to `owner`, in `tx`; the
/// destination-wide changes go to `book` (see [`finish_book`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn record_in(
    tx: &Tx<'_>,
    schedule: &[u64],
    book: &mut BTreeMap<String, DestBook>,
    owner: &str,
    id: &str,
    destination: &str,
    outcome: &Outcome,
    latency_ms: u64,
    now: i64,
) -> Result<(Receipt, Recorded)> {
    shared::note_outcome(tx, destination, outcome, now)?;
    // A delivery is one statement (the row is updated and its new count read back);
    // other outcomes need the count first (it picks the retry delay).
    let attempts = match outcome {
        Outcome::Delivered { status, .. } => tx.mark_delivered(id, owner, *status, now)?,
        _ => tx.leased_attempts(id, owner)?,
    };
    let Some(attempts) = attempts.map(|a| a.saturating_add(1)) else {
        let receipt = tx.event_summary(id)?.map(|s| receipt_of(id, s)).unwrap_or(Receipt {
            event_id: id.to_owned(),
            status: ReceiptStatus::Dead,
            http_status: outcome_status(outcome),
            attempts: 1,
            reason: Some("purged".to_owned()),
        });
        return Ok((receipt, Recorded::Gone));
    };
    let entry = book.entry(destination.to_owned()).or_default();
    let mut circuit = match (entry.circuit, entry.stored) {
        (Some(c), _) | (None, Some((c, _))) => c,
        (None, None) => {
            let stored = tx.circuit(destination)?;
            entry.exists = stored.is_some();
            let stored = stored.map(|(c, s)| (Circuit::from(c), s)).unwrap_or_default();
            entry.stored = Some(stored);
            stored.0
        }
    };
    let (state, status, reason, recorded) = match outcome {
        Outcome::Delivered { status, .. } => {
            // Already updated above.
            circuit.on_success();
            entry.last_success_ms = Some(now);
            (ReceiptStatus::Delivered, Some(*status), None, Recorded::Delivered)
        }
        Outcome::Retry { status, error, .. } | Outcome::Dead { status, error: error @ Error::Config { .. } } => {
            let retry_after = match outcome {
                Outcome::Retry { retry_after, .. } => *retry_after,
                _ => None,
            };
            // A local configuration problem (API key file, ca_file) is not the
            // endpoint's failure: the event stays queued, the circuit is untouched.
            if !matches!(error, Error::Config { .. }) {
                circuit.on_failure(now);
            }
            let reason = error.to_string();
            match retry_delay(schedule, attempts, retry_after, jitter_unit()) {
                Some(delay) => {
                    let next = now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                    tx.reschedule(id, attempts, *status, &reason, next, now)?;
                    (ReceiptStatus::Queued, *status, Some(reason), Recorded::Retried)
                }
                None => {
                    let reason = format!("retries exhausted: {reason}");
                    tx.mark_dead(id, attempts, *status, &reason, now)?;
                    (ReceiptStatus::Dead, *status, Some(reason), Recorded::Dead)
                }
            }
        }
        Outcome::Dead { status, error } => {
            let reason = error.to_string();
            tx.mark_dead(id, attempts, *status, &reason, now)?;
            (ReceiptStatus::Dead, *status, Some(reason), Recorded::Dead)
        }
    };
    entry.circuit = Some(circuit);
    if let Some(r) = &reason {
        entry.last_error = Some((r.clone(), now));
    }
    let attempt_outcome = match recorded {
        Recorded::Delivered => "delivered",
        Recorded::Dead => "dead",
        _ => "retry",
    };
    entry.attempts.push((now, attempt_outcome, status, i64::try_from(latency_ms).unwrap_or(i64::MAX)));
    Ok((Receipt { event_id: id.to_owned(), status: state, http_status: status, attempts, reason }, recorded))
}

/// Writes what [`record_in`] gathered per destination: circuit, last success and
/// error, and the `attempts` list trimmed to the last `ATTEMPTS_KEPT`.
pub(super) fn finish_book(tx: &Tx<'_>, book: &BTreeMap<String, DestBook>) -> Result<()> {
    for (destination, b) in book {
        let (stored, stored_success) = b.stored.unwrap_or_default();
        let known = b.stored.is_some() && b.exists;
        // Rows that would not change are not written (no page dirtied for nothing).
        if let Some(c) = b.circuit.filter(|c| !known || *c != stored) {
            tx.upsert_circuit(destination, &c.into())?;
        }
        if !b.attempts.is_empty() {
            tx.add_attempts(destination, &b.attempts)?;
        }
        // `status` shows it in whole seconds: a newer success within the same
        // second need not be written again.
        if let Some(t) = b.last_success_ms.filter(|t| !known || stored_success.is_none_or(|s| t / 1000 != s / 1000)) {
            tx.set_last_success(destination, t)?;
        }
        if let Some((r, t)) = &b.last_error {
            tx.set_last_error(destination, r, *t)?;
        }
    }
    Ok(())
}

/// Records one attempt's outcome on event `id` leased to `owner`, and its
/// destination's circuit.
pub(super) fn record(
    db: &mut Store,
    schedule: &[u64],
    owner: &str,
    id: &str,
    destination: &str,
    outcome: &Outcome,
    latency_ms: u64,
) -> Result<(Receipt, Recorded)> {
    let tx = db.immediate()?;
    let mut book = BTreeMap::new();
    let recorded = record_in(&tx, schedule, &mut book, owner, id, destination, outcome, latency_ms, crate::store::now_ms())?;
    finish_book(&tx, &book)?;
    tx.commit()?;
    Ok(recorded)
}

pub(super) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The audit record of one recorded attempt (none when the event was gone).
pub(super) fn attempt_record<'a>(
    destination: &'a str,
    order_id: &'a str,
    r: &'a Receipt,
    how: Recorded,
    latency: u64,
    key_fp: Option<String>,
) -> Option<audit::Record<'a>> {
    let outcome = match how {
        Recorded::Delivered => audit::Outcome::Delivered,
        Recorded::Retried => audit::Outcome::Retry,
        Recorded::Dead => audit::Outcome::Dead,
        Recorded::Gone => return None,
    };
    Some(audit::Record {
        event_id: Some(&r.event_id),
        destination,
        order_id: Some(order_id),
        attempt: r.attempts,
        outcome,
        http_status: r.http_status,
        latency_ms: Some(latency),
        error: r.reason.as_deref(),
        key_fp,
    })
}
