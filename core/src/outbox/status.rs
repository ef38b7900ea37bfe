//! Status: the outbox at a glance, typed ([`Status`]), and as the JSON object
//! the binding turns into a PHP array ([`Status::to_json`]).
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::circuit::{Circuit, CircuitState};
use crate::audit;
use crate::config::{Config, Destination};
use crate::error::Result;
use crate::store::{self, EventState, ATTEMPTS_KEPT};

/// The "recent" window of `delivered` in [`status`].
const RECENT_MS: i64 = 86_400_000;

/// One attempt of a destination's recent list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptStatus {
    /// Unix ms.
    pub at_ms: i64,
    /// `delivered`, `retry` or `dead`.
    pub outcome: String,
    /// HTTP status.
    pub http_status: Option<i64>,
    /// Latency.
    pub latency_ms: Option<i64>,
}

/// A destination's status: its figures, recent attempts and secret facts.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationStatus {
    /// Figures.
    pub figures: DestStatus,
    /// The last attempts, newest first.
    pub attempts: Vec<AttemptStatus>,
    /// Configuration facts (`host`, `auth`) and secret facts (`key_fp`, `key_source`,
    /// `key_path`, `signing_fp`), when configured.
    pub secrets: Option<[(&'static str, Value); 6]>,
}

/// The outbox at a glance.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// When it was read (unix ms).
    pub now_ms: i64,
    /// Totals over all destinations (worst circuit, latest success/error...).
    pub totals: DestStatus,
    /// Per destination.
    pub destinations: BTreeMap<String, DestinationStatus>,
    /// A purge could not yet truncate the WAL (its ciphertext may still be in it).
    pub erasure_pending: bool,
    /// With a shared outbox: (the database as `host:port/db`, this node's name).
    pub shared: Option<(String, String)>,
    /// Events in this node's local spool (shared outbox unreachable when accepted).
    pub spooled: u64,
    /// Leases in force, every node's (owner = `node:pid:tag:n`).
    pub leases: Vec<store::LeaseRow>,
}

impl Status {
    /// The JSON object PHP sees: the totals, `erasure_pending`, and `destinations`.
    pub fn to_json(&self) -> Value {
        let mut dests = serde_json::Map::new();
        for (name, d) in &self.destinations {
            let mut v = d.figures.to_json(self.now_ms);
            if let Some(obj) = v.as_object_mut() {
                let attempts = d
                    .attempts
                    .iter()
                    .map(|a| {
                        json!({
                            "ts": audit::rfc3339_ms(a.at_ms),
                            "outcome": a.outcome,
                            "http_status": a.http_status,
                            "latency_ms": a.latency_ms,
                        })
                    })
                    .collect();
                obj.insert("attempts".to_owned(), Value::Array(attempts));
                for (k, val) in d.secrets.iter().flatten() {
                    obj.insert((*k).to_owned(), val.clone());
                }
            }
            dests.insert(name.clone(), v);
        }
        let mut out = self.totals.to_json(self.now_ms);
        if let Some(obj) = out.as_object_mut() {
            obj.insert("erasure_pending".to_owned(), Value::Bool(self.erasure_pending));
            obj.insert("database".to_owned(), json!(self.shared.as_ref().map(|(db, _)| db)));
            obj.insert("node".to_owned(), json!(self.shared.as_ref().map(|(_, node)| node)));
            obj.insert("spooled".to_owned(), json!(self.spooled));
            let leases = self
                .leases
                .iter()
                .map(|l| json!({"destination": l.destination, "owner": l.owner, "events": l.count, "until": l.until_ms / 1000}))
                .collect();
            obj.insert("leases".to_owned(), Value::Array(leases));
            obj.insert("destinations".to_owned(), Value::Object(dests));
        }
        out
    }
}

/// One destination's (or the totals') figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestStatus {
    /// Queued events (due or not).
    pub queued: u64,
    /// Dead letters.
    pub dead: u64,
    /// Events whose payload cannot be opened.
    pub undecryptable: u64,
    /// Events delivered in the last 24 h.
    pub delivered: u64,
    /// `created_at_ms` of the oldest queued event.
    pub oldest_queued_ms: Option<i64>,
    /// Last delivery (unix ms).
    pub last_success_ms: Option<i64>,
    /// Last failure (unix ms, reason; redacted when shown).
    pub last_error: Option<(i64, String)>,
    /// Circuit state (`None`: never tripped, closed).
    pub circuit: Option<CircuitState>,
    /// Paused until (unix ms), while a pause is in force.
    pub paused_until_ms: Option<i64>,
    /// Since when the circuit has been open (unix ms; through failed probes), unless closed.
    pub circuit_opened_ms: Option<i64>,
}

impl DestStatus {
    /// As the JSON object PHP sees (`now`: for the oldest queued age).
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "queued": self.queued,
            "dead": self.dead,
            "undecryptable": self.undecryptable,
            "delivered": self.delivered,
            "oldest_queued_age_s": self.oldest_queued_ms.map(|t| now.saturating_sub(t).max(0) / 1000),
            "last_success_at": self.last_success_ms.map(|t| t / 1000),
            "last_error": self.last_error.as_ref().map(|(_, e)| crate::redact::redact(e)),
            "last_error_at": self.last_error.as_ref().map(|(t, _)| t / 1000),
            "circuit": self.circuit.unwrap_or(CircuitState::Closed).as_str(),
            "paused_until": self.paused_until_ms.map(|t| t / 1000),
            "circuit_opened_at": self.circuit_opened_ms.filter(|_| self.circuit.is_some_and(|c| c != CircuitState::Closed)).map(|t| t / 1000),
        })
    }

    fn merge(&mut self, o: &DestStatus) {
        self.queued += o.queued;
        self.dead += o.dead;
        self.undecryptable += o.undecryptable;
        self.delivered += o.delivered;
        self.oldest_queued_ms = min_opt(self.oldest_queued_ms, o.oldest_queued_ms);
        self.circuit_opened_ms = min_opt(self.circuit_opened_ms, o.circuit_opened_ms);
        self.last_success_ms = self.last_success_ms.max(o.last_success_ms);
        if o.last_error.as_ref().map(|e| e.0) > self.last_error.as_ref().map(|e| e.0) {
            self.last_error.clone_from(&o.last_error);
        }
        self.circuit = self.circuit.max(o.circuit);
        self.paused_until_ms = self.paused_until_ms.max(o.paused_until_ms);
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The outbox at a glance: totals (`queued`, `dead`, `undecryptable`, `delivered`
/// in the last 24 h, `oldest_queued_age_s`, `last_success_at` in unix seconds,
/// `last_error` (the most recent failure's short reason, kept after a success) and
/// `last_error_at`, worst `circuit`, `paused_until` (unix seconds, while a
/// `Retry-After` or rate-limit headers pause it)), `erasure_pending`, and the same
/// per destination under `destinations`. No payload, key or customer value appears.
pub fn status(config: &Config) -> Result<Value> {
    Ok(status_report(config)?.to_json())
}

/// [`status`], typed.
pub fn status_report(config: &Config) -> Result<Status> {
    let now = store::now_ms();
    let spooled = super::spool::count(&config.outbox)?;
    let rows = match store::with_store(&config.outbox, |db| db.status_rows(now, now.saturating_sub(RECENT_MS))) {
        Ok(rows) => rows,
        // The shared database cannot be read: the error names it and the problem,
        // and says what this node holds meanwhile.
        Err(crate::error::Error::Transport { host, reason, status }) if config.outbox.database.is_some() => {
            let reason = crate::error::TransportReason::Other(format!("{reason}; {spooled} event(s) spooled on this node"));
            return Err(crate::error::Error::Transport { host, reason, status });
        }
        Err(e) => return Err(e),
    };
    let mut per: BTreeMap<String, DestStatus> = config.destinations.keys().map(|k| (k.clone(), DestStatus::default())).collect();
    for (dest, state, n, oldest) in rows.counts {
        let s = per.entry(dest).or_default();
        match state {
            EventState::Queued => {
                s.queued = n;
                s.oldest_queued_ms = oldest;
            }
            EventState::Dead => s.dead = n,
            EventState::Undecryptable => s.undecryptable = n,
            EventState::Delivered => s.delivered = n,
        }
    }
    for (dest, c, last_success, last_error) in rows.circuits {
        let s = per.entry(dest).or_default();
        s.circuit = Some(Circuit::from(c).state(now));
        s.last_success_ms = last_success;
        s.last_error = last_error;
    }
    let mut attempts: BTreeMap<String, Vec<AttemptStatus>> = BTreeMap::new();
    for (dest, a) in rows.attempts {
        let list = attempts.entry(dest).or_default();
        if list.len() < usize::try_from(ATTEMPTS_KEPT).unwrap_or(10) {
            list.push(AttemptStatus { at_ms: a.at_ms, outcome: a.outcome, http_status: a.http_status, latency_ms: a.latency_ms });
        }
    }
    for (dest, since) in rows.circuit_since {
        per.entry(dest).or_default().circuit_opened_ms = Some(since);
    }
    for (dest, until) in rows.paused {
        per.entry(dest).or_default().paused_until_ms = Some(until);
    }
    let mut totals = DestStatus::default();
    let mut destinations = BTreeMap::new();
    for (name, figures) in per {
        totals.merge(&figures);
        let secrets = config.destinations.get(&name).map(|d| secret_facts(d));
        let attempts = attempts.remove(&name).unwrap_or_default();
        destinations.insert(name, DestinationStatus { figures, attempts, secrets });
    }
    let shared = config.outbox.database.as_ref().map(|db| (db.shown(), db.node_id.clone()));
    Ok(Status { now_ms: now, totals, destinations, erasure_pending: rows.erasure_pending, shared, spooled, leases: rows.leases })
}

/// Facts about a destination for [`status`]: `host` (of its URL, never the path or
/// query), `auth` (`header`, `bearer` or `oauth2`), `key_fp`, `key_source`
/// (`file`/`env`/null), `key_path` (path or variable name) and `signing_fp` (the
/// fingerprints of its signing secrets, `[]` without signing). A secret that
/// cannot be read has a null fingerprint.
fn secret_facts(dest: &Destination) -> [(&'static str, Value); 6] {
    let signing = if dest.signing_secret_file.is_some() {
        crate::signing::signing_fingerprints(dest.signing_secret_file.as_deref()).map_or(Value::Null, |f| json!(f))
    } else {
        json!([])
    };
    [
        ("host", json!(dest.host)),
        ("auth", json!(dest.auth.name())),
        ("key_fp", json!(audit::key_fp(dest))),
        ("key_source", json!(dest.key.as_ref().map(crate::secret::SecretSource::kind))),
        ("key_path", json!(dest.key.as_ref().map(crate::secret::SecretSource::location))),
        ("signing_fp", signing),
    ]
}
