//! The threaded flush: due events are claimed in batches (one transaction each),
//! sent by up to [`FLUSH_SENDERS`] threads over keep-alive connections, and their
//! results recorded in batches (one transaction each).
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::record::{attempt_record, elapsed_ms, finish_book, outcome_status, record_in, Recorded};
use super::schedule::MAX_RETRY_AFTER;
use super::shared::{self, Admission};
use super::{aad, attempt_owner, lease_ms, DELIVERED_RETENTION_MS, LEASE_MARGIN_MS, NO_DESTINATION_DELAY_MS};
use crate::audit;
use crate::auth::Clients;
use crate::config::{Config, Destination};
use crate::error::{Error, Result};
use crate::forward::{self, Outcome, Receipt};
use crate::store::{self, DueEvent, Store};

/// How long the end of a flush waits for readers to let the WAL be truncated.
const FLUSH_CHECKPOINT_WAIT: Duration = Duration::from_millis(200);

/// Sender threads of one [`flush`] (each with its own keep-alive connection).
pub const FLUSH_SENDERS: usize = 4;
/// Events in flight per sender thread (claimed ahead, in one transaction).
const FLUSH_DEPTH: usize = 8;
/// A claimed event is sent within this long of its claim or handed back: its
/// lease (timeout + [`LEASE_MARGIN_MS`]) then outlasts the attempt.
pub(super) const LEASE_SEND_WITHIN_MS: u64 = 15_000;
const _: () = assert!(LEASE_SEND_WITHIN_MS < LEASE_MARGIN_MS.unsigned_abs());

/// What a [`flush`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushCounts {
    /// Events delivered.
    pub delivered: u64,
    /// Events that failed and were rescheduled.
    pub retried: u64,
    /// Events dead-lettered (4xx/3xx, or past the schedule).
    pub dead: u64,
    /// Events that could not be attempted: undecryptable (marked, kept) or whose
    /// destination is no longer configured (looked at again in an hour).
    pub skipped: u64,
    /// Queued events left (due or not).
    pub remaining: u64,
}

impl FlushCounts {
    /// The counts by name, in the order PHP sees them (`delivered`, `retried`,
    /// `dead`, `skipped`, `remaining`).
    pub fn fields(&self) -> [(&'static str, u64); 5] {
        [
            ("delivered", self.delivered),
            ("retried", self.retried),
            ("dead", self.dead),
            ("skipped", self.skipped),
            ("remaining", self.remaining),
        ]
    }
}

/// A claimed (leased, decrypted) event for a sender thread.
struct Job {
    /// When it was claimed (its lease runs from then).
    claimed: Instant,
    rowid: i64,
    id: String,
    dest: Arc<Destination>,
    event: String,
    order_id: String,
    body: Zeroizing<Vec<u8>>,
}

/// A sender thread's result: `outcome` is `None` when the job was not attempted
/// because its destination asked for a pause meanwhile.
struct Done {
    rowid: i64,
    id: String,
    dest: Arc<Destination>,
    order_id: String,
    outcome: Option<Outcome>,
    latency: u64,
}

impl Done {
    /// A job handed back without an attempt (its lease is released).
    fn unattempted(j: Job) -> Done {
        Done { rowid: j.rowid, id: j.id, dest: j.dest, order_id: j.order_id, outcome: None, latency: 0 }
    }
}

/// How many of a destination's events one flush may have in flight: one at
/// first, doubled by each plain success (up to the whole window), halved by a
/// failure, and back to one when the destination asks for a pause (so a
/// `Retry-After` or rate-limit header is seen before the next request goes).
#[derive(Default)]
struct Lane {
    allowed: usize,
    in_flight: usize,
}

/// What one claim transaction found.
struct Claimed {
    jobs: Vec<Job>,
    skipped: u64,
    /// Anything happened (a job, a skip, a newly blocked destination): worth claiming again.
    progress: bool,
}

/// Claims up to `want` due events in one transaction, skipping destinations in
/// `blocked` (rate-limited or paused for the rest of this pass) and adding to it
/// the destinations whose bucket runs dry. Each claimed event took one token of
/// its destination's bucket and is leased to `owner`.
fn claim_batch(
    keys: &crate::keys::RingCache,
    db: &mut Store,
    config: &Config,
    tried: &HashSet<i64>,
    owner: &str,
    blocked: &mut BTreeMap<String, i64>,
    want: usize,
) -> Result<Claimed> {
    let ring = keys.outbox_ring(&config.outbox)?;
    let tx = db.immediate()?;
    let now = store::now_ms();
    let skip: Vec<String> = blocked.keys().cloned().collect();
    let rows = tx.due_events(now, want, &skip, tried)?;
    let mut out = Claimed { jobs: Vec::with_capacity(rows.len()), skipped: 0, progress: false };
    // Destinations without a rate limit found unpaused in this transaction: their
    // admission cannot change before it commits.
    let mut open: HashSet<String> = HashSet::new();
    for DueEvent { rowid, id, destination, order_id, event, key_id, payload } in rows {
        let (Some(id), Some(destination), Some(order_id), Some(event)) = (id, destination, order_id, event) else {
            tx.mark_corrupt(rowid, now)?;
            out.skipped = out.skipped.saturating_add(1);
            out.progress = true;
            continue;
        };
        if blocked.contains_key(&destination) {
            continue;
        }
        let Some(dest) = config.destinations.get(&destination) else {
            tx.defer(&id, "destination not configured", now.saturating_add(NO_DESTINATION_DELAY_MS), now)?;
            out.skipped = out.skipped.saturating_add(1);
            out.progress = true;
            continue;
        };
        let body = match (key_id, payload) {
            (Some(k), Some(p)) => ring.open(&k, &aad(&id, &destination, &event, &order_id), &p),
            _ => None,
        };
        let Some(body) = body else {
            tx.mark_undecryptable(&id, now)?;
            out.skipped = out.skipped.saturating_add(1);
            out.progress = true;
            continue;
        };
        if !open.contains(&destination) {
            if let Admission::Wait { until_ms, .. } = shared::admit(&tx, dest, now)? {
                blocked.insert(destination, until_ms);
                out.progress = true;
                continue;
            }
            if dest.rate_limit.is_none() {
                open.insert(destination.clone());
            }
        }
        tx.lease(&id, owner, now.saturating_add(lease_ms(dest)))?;
        out.progress = true;
        out.jobs.push(Job { claimed: Instant::now(), rowid, id, dest: Arc::clone(dest), event, order_id, body });
    }
    tx.commit()?;
    Ok(out)
}

/// Records a batch of sender results in one transaction; `None` for a job that was
/// not attempted (its lease is released: it is due again at once).
fn record_batch(db: &mut Store, schedule: &[u64], owner: &str, done: &[Done]) -> Result<Vec<Option<(Receipt, Recorded)>>> {
    let tx = db.immediate()?;
    let now = store::now_ms();
    let mut book = BTreeMap::new();
    let mut out = Vec::with_capacity(done.len());
    for d in done {
        match &d.outcome {
            Some(outcome) => {
                out.push(Some(record_in(&tx, schedule, &mut book, owner, &d.id, &d.dest.name, outcome, d.latency, now)?))
            }
            None => {
                tx.release(&d.id, owner, now)?;
                out.push(None);
            }
        }
    }
    finish_book(&tx, &book)?;
    tx.commit()?;
    Ok(out)
}

/// A sender thread: attempts jobs until the queue closes. A destination that asks
/// for a pause (Retry-After, rate-limit headers) gets no further attempt from this
/// flush until the pause is over: its remaining jobs come back unattempted.
fn sender(
    clients: &Clients,
    config: &Config,
    jobs: &Mutex<std::sync::mpsc::Receiver<Job>>,
    done: &std::sync::mpsc::Sender<Done>,
    paused: &Mutex<BTreeMap<String, Instant>>,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        let Job { claimed, rowid, id, dest, event, order_id, body } = job;
        // A job that waited too long for its lane might outlive its lease while in
        // flight (another process could then claim it): hand it back instead.
        let stale = claimed.elapsed() > Duration::from_millis(LEASE_SEND_WITHIN_MS);
        let hold =
            stale || paused.lock().unwrap_or_else(PoisonError::into_inner).get(&dest.name).is_some_and(|t| *t > Instant::now());
        let (outcome, latency) = if hold {
            (None, 0)
        } else {
            let started = Instant::now();
            // A panic below must not lose the job: the flusher waits for every
            // job it handed out, so a vanished one would hang it. It counts as a
            // failed attempt (recorded, audited, retried on the schedule).
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let (url, body) = super::envelope::open(&body);
                forward::attempt_to(clients, &dest, Some(&config.outbox), url, &id, &event, body, &[])
            }))
            .unwrap_or_else(|_| forward::Outcome::Retry {
                status: None,
                retry_after: None,
                error: crate::Error::transport(&dest.host, "internal error during the attempt (retried)"),
            });
            let latency = elapsed_ms(started);
            if let Some(d) = forward::pause_hint(&outcome).filter(|d| !d.is_zero()) {
                let until = Instant::now().checked_add(d.min(MAX_RETRY_AFTER)).unwrap_or_else(Instant::now);
                paused.lock().unwrap_or_else(PoisonError::into_inner).insert(dest.name.clone(), until);
            }
            (Some(outcome), latency)
        };
        drop(body);
        if done.send(Done { rowid, id, dest, order_id, outcome, latency }).is_err() {
            return;
        }
    }
}

/// Sends due queued events, at most `max` of them and for at most about `seconds`
/// (an attempt in flight is not interrupted), whatever the circuits say. Each event
/// is attempted at most once per call.
///
/// Events are claimed in batches (one transaction each) and sent by up to
/// [`FLUSH_SENDERS`] threads, each reusing keep-alive connections; results are
/// recorded in batches (one transaction each). Every attempt still takes a token
/// of its destination's bucket when claimed, is leased, timed, written to the
/// `attempts` list and gets its audit line (written by the calling thread).
pub fn flush(clients: &Clients, config: &Config, max: u32, seconds: f64) -> Result<FlushCounts> {
    let started = Instant::now();
    let budget = if seconds.is_finite() && seconds > 0.0 { Duration::from_secs_f64(seconds.min(1e9)) } else { Duration::ZERO };
    let owner = attempt_owner(&config.outbox);
    let senders = FLUSH_SENDERS.min(usize::try_from(max).unwrap_or(usize::MAX)).max(1);
    let window = senders.saturating_mul(FLUSH_DEPTH);
    let mut tried = HashSet::new();
    let mut counts = FlushCounts::default();
    let mut handled: u32 = 0;
    // Destinations without a token (or paused) → when to look at them again.
    let mut blocked: BTreeMap<String, i64> = BTreeMap::new();
    let paused: Mutex<BTreeMap<String, Instant>> = Mutex::new(BTreeMap::new());
    let (job_tx, job_rx) = std::sync::mpsc::channel::<Job>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
    let mut in_flight: usize = 0;
    // Claimed, not yet handed to a sender (a destination's lane is full).
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
    // No checkpoint (two fsyncs each) in the middle of a flush: one at its end
    // copies each page once, however often the flush rewrote it.
    // A shared outbox first takes in what this node spooled while it was down
    // (an unreachable database is the flush's error, naming its host).
    super::spool::move_all(&config.outbox)?;
    store::with_store(&config.outbox, |db| db.set_flushing(true))?;
    let result = std::thread::scope(|scope| {
        let mut spawned = 0;
        for n in 1..=senders {
            let (jobs, done, paused) = (&job_rx, done_tx.clone(), &paused);
            let ok = std::thread::Builder::new()
                .name("sf-flush".to_owned())
                .spawn_scoped(scope, move || {
                    crate::transport::use_pool(n);
                    sender(clients, config, jobs, &done, paused);
                })
                .is_ok();
            spawned += usize::from(ok);
        }
        drop(done_tx);
        if spawned == 0 {
            return Err(Error::config(config.outbox.path.display().to_string(), None, "cannot start a flush thread"));
        }
        let mut run = || -> Result<()> {
            loop {
                // Keep the senders busy: claim more once half the window is free.
                let mut idle = false;
                while in_flight.saturating_add(pending.len()) <= window / 2 && handled < max && started.elapsed() < budget {
                    let now = store::now_ms();
                    blocked.retain(|_, until| *until > now);
                    let room = usize::try_from(max.saturating_sub(handled)).unwrap_or(usize::MAX);
                    let want = window.saturating_sub(in_flight.saturating_add(pending.len())).min(room).max(1);
                    let claimed = store::with_store(&config.outbox, |db| {
                        claim_batch(&clients.keys, db, config, &tried, &owner, &mut blocked, want)
                    })?;
                    counts.skipped = counts.skipped.saturating_add(claimed.skipped);
                    let n = u32::try_from(claimed.jobs.len()).unwrap_or(u32::MAX);
                    handled = handled.saturating_add(n).saturating_add(u32::try_from(claimed.skipped).unwrap_or(u32::MAX));
                    if !claimed.progress {
                        idle = true;
                        break;
                    }
                    pending.extend(claimed.jobs);
                }
                // Hand jobs to the senders, within each destination's lane.
                let mut held = VecDeque::with_capacity(pending.len());
                while let Some(job) = pending.pop_front() {
                    let lane = lanes.entry(job.dest.name.clone()).or_default();
                    if lane.in_flight < lane.allowed.max(1) {
                        lane.in_flight = lane.in_flight.saturating_add(1);
                        if let Err(back) = job_tx.send(job) {
                            lane.in_flight = lane.in_flight.saturating_sub(1);
                            held.push_back(back.0);
                            continue;
                        }
                        in_flight = in_flight.saturating_add(1);
                    } else {
                        held.push_back(job);
                    }
                }
                pending = held;
                if in_flight == 0 {
                    if !idle || !pending.is_empty() {
                        return Ok(());
                    }
                    // Nothing else to do: pace ourselves until the earliest blocked
                    // destination may go again, within the time budget.
                    let Some(until) = blocked.values().min().copied() else { return Ok(()) };
                    let wait = Duration::from_millis(u64::try_from(until.saturating_sub(store::now_ms()).max(1)).unwrap_or(1));
                    if started.elapsed().saturating_add(wait) > budget {
                        return Ok(());
                    }
                    std::thread::sleep(wait);
                    continue;
                }
                let Ok(first) = done_rx.recv() else { return Ok(()) };
                let mut batch = vec![first];
                while let Ok(d) = done_rx.try_recv() {
                    batch.push(d);
                }
                in_flight = in_flight.saturating_sub(batch.len());
                let now = store::now_ms();
                let mut release = Vec::new();
                for d in &batch {
                    let lane = lanes.entry(d.dest.name.clone()).or_default();
                    lane.in_flight = lane.in_flight.saturating_sub(1);
                    let Some(outcome) = &d.outcome else { continue };
                    if let Some(pause) = forward::pause_hint(outcome).filter(|p| !p.is_zero()) {
                        // The destination asked for a pause: one request at a time
                        // again, and what is waiting for it goes back to the queue.
                        lane.allowed = 1;
                        let until = now.saturating_add(i64::try_from(pause.min(MAX_RETRY_AFTER).as_millis()).unwrap_or(i64::MAX));
                        let at = blocked.entry(d.dest.name.clone()).or_insert(until);
                        *at = (*at).max(until);
                        release.push(d.dest.name.clone());
                    } else if matches!(outcome, Outcome::Delivered { .. }) {
                        lane.allowed = lane.allowed.max(1).saturating_mul(2).min(window);
                    } else {
                        lane.allowed = (lane.allowed / 2).max(1);
                    }
                }
                if !release.is_empty() {
                    let (back, keep): (VecDeque<Job>, VecDeque<Job>) =
                        pending.drain(..).partition(|j| release.contains(&j.dest.name));
                    pending = keep;
                    batch.extend(back.into_iter().map(Done::unattempted));
                }
                record_results(config, &owner, &batch, &mut counts, &mut tried, &mut handled)?;
            }
        };
        let result = run();
        // Stop the senders; whatever is still in flight is recorded, and claimed
        // jobs never handed out are released (best effort after an error: an
        // unrecorded attempt is retried when its lease expires).
        drop(job_tx);
        let mut rest: Vec<Done> = done_rx.iter().collect();
        rest.extend(pending.drain(..).map(Done::unattempted));
        if !rest.is_empty() {
            let recorded = record_results(config, &owner, &rest, &mut counts, &mut tried, &mut handled);
            if result.is_ok() {
                recorded?;
            }
        }
        result
    });
    let restored = store::with_store(&config.outbox, |db| db.set_flushing(false));
    result?;
    restored?;
    counts.remaining = store::with_store(&config.outbox, |db| {
        db.prune_delivered(store::now_ms().saturating_sub(DELIVERED_RETENTION_MS))?;
        let remaining = db.count_queued()?;
        // Checkpoint here rather than in a checkout's commit, truncating the WAL:
        // the old copies of delivered (now erased) payloads go with it. Best
        // effort: a busy database is checkpointed by a later flush or submit.
        let _ = db.erase_wal(FLUSH_CHECKPOINT_WAIT);
        Ok(remaining)
    })?;
    Ok(counts)
}

/// Records sender results, writes their audit lines and counts them.
fn record_results(
    config: &Config,
    owner: &str,
    batch: &[Done],
    counts: &mut FlushCounts,
    tried: &mut HashSet<i64>,
    handled: &mut u32,
) -> Result<()> {
    let run = || store::with_store(&config.outbox, |db| record_batch(db, &config.outbox.retry_schedule, owner, batch));
    // A shared database may roll a transaction back (deadlock, lock wait, lost
    // connection): the batch is recorded once more (a result already committed
    // finds its lease gone and counts as skipped).
    let recorded = match run().or_else(|e| if super::spool::spoolable(&config.outbox, &e) { run() } else { Err(e) }) {
        Ok(r) => r,
        Err(e) => {
            // The batch's transaction rolled back: its events stay leased and are
            // sent again once the lease expires (same Idempotency-Key). The
            // requests were made all the same: each still gets its audit line.
            unrecorded_audit(config, batch, &e);
            return Err(e);
        }
    };
    let mut key_fps: BTreeMap<&str, Option<String>> = BTreeMap::new();
    let mut lines = Vec::with_capacity(batch.len());
    for (d, r) in batch.iter().zip(&recorded) {
        let Some((receipt, how)) = r else {
            // Not attempted (paused meanwhile): it may be claimed again.
            *handled = handled.saturating_sub(1);
            continue;
        };
        let key_fp = key_fps.entry(&d.dest.name).or_insert_with(|| audit::key_fp(&d.dest)).clone();
        if let Some(rec) = attempt_record(&d.dest.name, &d.order_id, receipt, *how, d.latency, key_fp) {
            lines.push(rec);
        }
        let slot = match how {
            Recorded::Delivered => &mut counts.delivered,
            Recorded::Retried => &mut counts.retried,
            Recorded::Dead => &mut counts.dead,
            Recorded::Gone => &mut counts.skipped,
        };
        *slot = slot.saturating_add(1);
        tried.insert(d.rowid);
    }
    audit::emit_many(config, &lines);
    Ok(())
}

/// Audit lines for attempts whose results could not be recorded (outcome
/// `retry`: the event is attempted again after its lease).
fn unrecorded_audit(config: &Config, batch: &[Done], why: &crate::Error) {
    let reasons: Vec<(usize, String)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let o = d.outcome.as_ref()?;
            let what = match o {
                Outcome::Delivered { .. } => "delivered".to_owned(),
                Outcome::Retry { error, .. } | Outcome::Dead { error, .. } => error.to_string(),
            };
            Some((i, format!("{what}; result not recorded ({why}): sent again after the lease")))
        })
        .collect();
    let lines: Vec<audit::Record<'_>> = reasons
        .iter()
        .filter_map(|(i, reason)| {
            let d = batch.get(*i)?;
            Some(audit::Record {
                event_id: Some(&d.id),
                destination: &d.dest.name,
                order_id: Some(&d.order_id),
                attempt: 0,
                outcome: audit::Outcome::Retry,
                http_status: d.outcome.as_ref().and_then(outcome_status),
                latency_ms: Some(d.latency),
                error: Some(reason),
                key_fp: audit::key_fp(&d.dest),
            })
        })
        .collect();
    audit::emit_many(config, &lines);
}
