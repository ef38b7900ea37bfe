//! Submit: enqueue durably (encrypted), then one inline attempt unless delivery
//! is deferred, the circuit is open or the destination is paced.
use std::sync::Arc;
use std::time::Instant;

use super::circuit::Circuit;
use super::options::SubmitOptions;
use super::record::{attempt_record, elapsed_ms, outcome_status, receipt_of, record, Recorded};
use super::shared::{self, Admission};
use super::{aad, attempt_owner, lease_ms, spool};
use crate::audit;
use crate::auth::Clients;
use crate::config::{Config, Delivery, Destination, OutboxConfig};
use crate::error::{Error, Result};
use crate::forward::{self, Receipt, ReceiptStatus};
use crate::policy::Prepared;
use crate::store::{self, NewEvent};

/// At most this often (per process, and as recorded in `meta`), a submit that
/// delivered inline truncates the WAL, so delivered payloads' old page copies do
/// not outlive it by much more than a minute.
const SUBMIT_CHECKPOINT_EVERY_MS: i64 = 60_000;

/// After an inline delivery: truncates the WAL if nobody did for
/// [`SUBMIT_CHECKPOINT_EVERY_MS`] (looked at once a minute per process; never
/// waits for readers). Best effort.
fn maybe_erase_wal(cfg: &OutboxConfig) {
    // Process-wide (see ARCHITECTURE.md, "State"): a rate limit on WAL checkpoints of this process's connection (see store).
    static NEXT_LOOK_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let now = store::now_ms();
    if now < NEXT_LOOK_MS.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    NEXT_LOOK_MS.store(now.saturating_add(SUBMIT_CHECKPOINT_EVERY_MS), std::sync::atomic::Ordering::Relaxed);
    let _ = store::with_store(cfg, |db| {
        let (last, pending) = db.wal_state()?;
        if pending || last.is_none_or(|t| now.saturating_sub(t) >= SUBMIT_CHECKPOINT_EVERY_MS) {
            db.erase_wal(std::time::Duration::ZERO)?;
        }
        Ok(())
    });
}

/// Enqueues `prepared` for `dest` (durably, encrypted), then tries to send it once
/// unless delivery is deferred or the destination's circuit is open.
///
/// The event id is `forward::event_id(dest.name, order_id, event, body)`: the same
/// order state submitted twice is enqueued once, and the second call returns the
/// existing event's receipt (a dead event stays dead). Only configuration and
/// validation problems are errors; once enqueued, a remote failure is a `queued`
/// or `dead` receipt.
pub fn submit(clients: &Clients, config: &Config, dest: &Arc<Destination>, prepared: &Prepared, event: &str) -> Result<Receipt> {
    submit_with(clients, config, dest, prepared, None, event, &SubmitOptions::default())
}

/// [`submit`] of an order whose URL was rendered from it (`url` placeholders):
/// the URL is sealed with the body, so every attempt goes to the same URL.
pub fn submit_to(
    clients: &Clients,
    config: &Config,
    dest: &Arc<Destination>,
    prepared: &Prepared,
    url: Option<&str>,
    event: &str,
) -> Result<Receipt> {
    submit_with(clients, config, dest, prepared, url, event, &SubmitOptions::default())
}

/// [`submit_to`] with options: the event id comes from [`SubmitOptions::event_id`]
/// (the occurrence `key` instead of the payload, the `site`, a `resend` nonce), the
/// site is stored with the event, and a resend's audit line says so.
pub fn submit_with(
    clients: &Clients,
    config: &Config,
    dest: &Arc<Destination>,
    prepared: &Prepared,
    url: Option<&str>,
    event: &str,
    opts: &SubmitOptions,
) -> Result<Receipt> {
    forward::check_event(event)?;
    opts.check()?;
    let outbox = &config.outbox;
    let id = opts.event_id(&dest.name, &prepared.order_id, event, &prepared.body)?;
    let lease = lease_ms(dest);
    let owner = attempt_owner(outbox);
    let ring = clients.keys.outbox_ring(outbox)?;
    let plain = super::envelope::seal(url, &prepared.body);
    let (key_id, blob) = ring.seal(&aad(&id, &dest.name, event, &prepared.order_id), &plain)?;
    drop(plain);
    let decision = store::with_durable_store(outbox, outbox.synchronous.pragma(), |db| {
        let tx = db.immediate()?;
        if let Some(existing) = tx.event_summary(&id)? {
            tx.commit()?;
            return Ok(Err(receipt_of(&id, existing)));
        }
        let now = store::now_ms();
        let (inline, why) = if outbox.delivery == Delivery::Deferred {
            (false, "deferred delivery")
        } else {
            let stored = tx.circuit(&dest.name)?.map(|(c, _)| c).unwrap_or_default();
            let mut circuit = Circuit::from(stored);
            let before = circuit;
            if !circuit.admit(now, lease) {
                (false, "circuit open")
            } else {
                // Checkout never waits: no token (or a paused destination) means
                // the event stays queued for flush, which paces itself.
                match shared::admit(&tx, dest, now)? {
                    Admission::Go => {
                        if circuit != before {
                            tx.upsert_circuit(&dest.name, &circuit.into())?;
                        }
                        (true, "")
                    }
                    Admission::Wait { paused: false, .. } => (false, "rate limited"),
                    Admission::Wait { paused: true, .. } => (false, "destination paused (Retry-After or rate-limit headers)"),
                }
            }
        };
        tx.insert_event(&NewEvent {
            id: &id,
            destination: &dest.name,
            order_id: &prepared.order_id,
            event,
            key_id: &key_id,
            payload: &blob,
            now_ms: now,
            lease: inline.then(|| (owner.as_str(), now.saturating_add(lease))),
            reason: (!inline).then_some(why),
            site: opts.site.as_deref(),
        })?;
        tx.commit()?;
        Ok(Ok((inline, why)))
    });
    let decision = match decision {
        Err(e) if spool::spoolable(outbox, &e) => {
            let ev = spool::Sealed {
                id: &id,
                order_id: &prepared.order_id,
                event,
                key_id: &key_id,
                payload: &blob,
                site: opts.site.as_deref(),
            };
            return spool::accept(config, dest, &ev, &e);
        }
        other => other?,
    };
    spool::move_soon(outbox);
    let (inline, why) = match decision {
        Err(existing) => return Ok(existing),
        Ok(d) => d,
    };
    let key_fp = audit::key_fp(dest);
    let emit = if opts.resend { audit::emit_resend } else { audit::emit };
    emit(
        config,
        &audit::Record {
            event_id: Some(&id),
            destination: &dest.name,
            order_id: Some(&prepared.order_id),
            attempt: 0,
            outcome: audit::Outcome::Queued,
            http_status: None,
            latency_ms: None,
            error: (!inline).then_some(why),
            key_fp: key_fp.clone(),
        },
    );
    if !inline {
        return Ok(Receipt {
            event_id: id,
            status: ReceiptStatus::Queued,
            http_status: None,
            attempts: 0,
            reason: Some(why.to_owned()),
        });
    }
    let started = Instant::now();
    let outcome = forward::attempt_to(clients, dest, Some(outbox), url, &id, event, &prepared.body, &[]);
    let latency = elapsed_ms(started);
    let run = || store::with_store(outbox, |db| record(db, &outbox.retry_schedule, &owner, &id, &dest.name, &outcome, latency));
    // A shared database that rolled the transaction back gets one more try.
    let recorded = run().or_else(|e| if spool::spoolable(outbox, &e) { run() } else { Err(e) });
    match recorded {
        Ok((receipt, how)) => {
            if how == Recorded::Delivered {
                maybe_erase_wal(outbox);
            }
            audit_attempt(config, &dest.name, &prepared.order_id, &receipt, how, latency, key_fp);
            Ok(receipt)
        }
        // The event is durably queued; failing to record the attempt only means it
        // will be retried (same Idempotency-Key) once its lease expires.
        Err(e) => Ok(Receipt {
            event_id: id,
            status: ReceiptStatus::Queued,
            http_status: outcome_status(&outcome),
            attempts: 1,
            reason: Some(e.to_string()),
        }),
    }
}

/// What `secure_forward_order()` does without options: [`submit_order_with`].
pub fn submit_order<N: crate::node::Node>(
    clients: &Clients,
    config: &Config,
    destination: &str,
    order: &N,
    event: &str,
) -> Result<Receipt> {
    submit_order_with(clients, config, destination, order, event, &SubmitOptions::default())
}

/// What `secure_forward_order()` does:
/// checks the event name and options, looks up the destination, minimises `order`
/// with its policy and [`submit_with`]s the result.
pub fn submit_order_with<N: crate::node::Node>(
    clients: &Clients,
    config: &Config,
    destination: &str,
    order: &N,
    event: &str,
    opts: &SubmitOptions,
) -> Result<Receipt> {
    forward::check_event(event)?;
    opts.check()?;
    let dest = config.destination(destination)?;
    let checked = forward::prepare_request(dest, order).and_then(|prepared| {
        // An unusable key or client secret (missing, loose permissions) is the
        // operator's to fix: refuse before storing, so the caller sees a
        // ConfigException now, not a queue later.
        if let Some(key) = &dest.key {
            key.check()?;
        }
        if let crate::auth::AuthMode::OAuth2(o) = &dest.auth {
            crate::secret::load_file_cached(&o.client_secret_file)?;
        }
        Ok(prepared)
    });
    let (prepared, url) = match checked {
        Ok(p) => p,
        Err(e) => {
            audit_refusal(config, dest, order, &e);
            return Err(e);
        }
    };
    submit_with(clients, config, dest, &prepared, url.as_deref(), event, opts)
}

/// The order id of an order that was refused, when it has a plain one.
fn refused_order_id<N: crate::node::Node>(order: &N) -> Option<String> {
    use crate::node::Scalar;
    match order.get("id").map(crate::node::Node::scalar) {
        Some(Scalar::Int(i)) if i > 0 => Some(i.to_string()),
        Some(Scalar::Str(s)) if !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(s).ok().map(str::to_owned)
        }
        _ => None,
    }
}

fn audit_refusal<N: crate::node::Node>(config: &Config, dest: &Destination, order: &N, e: &Error) {
    let order_id = refused_order_id(order);
    let error = e.to_string();
    audit::emit(
        config,
        &audit::Record {
            event_id: None,
            destination: &dest.name,
            order_id: order_id.as_deref(),
            attempt: 0,
            outcome: audit::Outcome::Refused,
            http_status: None,
            latency_ms: None,
            error: Some(&error),
            key_fp: audit::key_fp(dest),
        },
    );
}

/// The audit line of one recorded attempt (none when the event was gone).
fn audit_attempt(
    config: &Config,
    destination: &str,
    order_id: &str,
    r: &Receipt,
    how: Recorded,
    latency: u64,
    key_fp: Option<String>,
) {
    if let Some(rec) = attempt_record(destination, order_id, r, how, latency, key_fp) {
        audit::emit(config, &rec);
    }
}
