//! The storage layer: every table of the outbox database, in domain terms, and
//! nothing of forwarding (no HTTP, no policy, no encryption: payloads and tokens
//! arrive sealed). The outbox engine ([`crate::outbox`]), the OAuth2 token cache
//! ([`crate::auth`]), the rate limiter ([`crate::forward`]) and the webhook
//! replay store ([`crate::webhook`]) all go through it.
//!
//! Two backends: SQLite ([`sqlite`]): a database in WAL mode, one cached
//! connection per process (re-opened after `fork`), schema and migrations under
//! `PRAGMA user_version`; and MariaDB/MySQL ([`mysql`], `[outbox] url`): the
//! outbox shared by every node, schema under `GET_LOCK` and a version table.
//! The interface is the set of operations of [`Store`] (outside a transaction)
//! and [`Tx`] (inside one), two-variant enums dispatching to either
//! ([`backend`]). Rows cross the interface as the plain types below.
//!
//! Imports: `crate::error`, `crate::secret` (`io_reason`, the password file's
//! opener) and `crate::config` (the plain `[outbox]` settings); nothing of keys,
//! policy, auth or the outbox (a shared outbox's key-check value is handed down,
//! [`set_key_check`]).
mod backend;
pub mod deliveries;
pub mod mysql;
pub mod sqlite;

pub use backend::{set_key_check, with_durable_store, with_spool, with_store, Store, Tx};
pub use deliveries::{DeliveryQuery, DeliveryRow};

/// `synchronous` of a purge (right to erasure), whatever `[outbox] synchronous` says.
pub const PURGE_SYNC: &str = "FULL";
/// `synchronous` of bookkeeping writes (claims, attempt results, circuit).
pub const BOOKKEEPING_SYNC: &str = "NORMAL";
/// How long a writer waits for another process's lock.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Attempts kept per destination in the `attempts` table (for status).
pub const ATTEMPTS_KEPT: i64 = 10;

/// An event's state (`events.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventState {
    /// Waiting for (another) attempt.
    Queued,
    /// Sent; payload erased.
    Delivered,
    /// Dead letter (payload kept, encrypted, until requeue or purge).
    Dead,
    /// Its payload cannot be opened with the outbox keys (kept).
    Undecryptable,
}

impl EventState {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Queued => "queued",
            EventState::Delivered => "delivered",
            EventState::Dead => "dead",
            EventState::Undecryptable => "undecryptable",
        }
    }

    /// From the stored text (`None` for anything else).
    pub fn parse(s: &str) -> Option<EventState> {
        Some(match s {
            "queued" => EventState::Queued,
            "delivered" => EventState::Delivered,
            "dead" => EventState::Dead,
            "undecryptable" => EventState::Undecryptable,
            _ => return None,
        })
    }
}

/// A new event to insert (payload already sealed).
pub struct NewEvent<'a> {
    /// Event id (= Idempotency-Key).
    pub id: &'a str,
    /// Destination name.
    pub destination: &'a str,
    /// The order id as sent (part of the payload's associated data).
    pub order_id: &'a str,
    /// Event name.
    pub event: &'a str,
    /// Key id of the sealing key.
    pub key_id: &'a str,
    /// Sealed payload.
    pub payload: &'a [u8],
    /// Unix ms.
    pub now_ms: i64,
    /// `Some((owner, until_ms))` when it is leased at once (an inline attempt).
    pub lease: Option<(&'a str, i64)>,
    /// Why it was not attempted inline.
    pub reason: Option<&'a str>,
    /// The site it came from (`secure_forward_order()`'s `site` option).
    pub site: Option<&'a str>,
}

/// What is known of an existing event (for a receipt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// Its state.
    pub state: EventState,
    /// HTTP status of the last attempt.
    pub http_status: Option<u16>,
    /// Attempts made.
    pub attempts: u32,
    /// Last failure reason.
    pub reason: Option<String>,
}

/// A due event as read by a claim, read leniently: a damaged column is `None`.
pub struct DueEvent {
    /// SQLite rowid (or the backend's row key).
    pub rowid: i64,
    /// Event id.
    pub id: Option<String>,
    /// Destination name.
    pub destination: Option<String>,
    /// Order id as sent.
    pub order_id: Option<String>,
    /// Event name.
    pub event: Option<String>,
    /// Key id.
    pub key_id: Option<String>,
    /// Sealed payload.
    pub payload: Option<Vec<u8>>,
}

/// A destination's circuit as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CircuitRow {
    /// Consecutive retryable failures.
    pub failures: u32,
    /// When it (re)opened.
    pub opened_at_ms: Option<i64>,
    /// A half-open probe is in flight until then.
    pub probe_until_ms: Option<i64>,
}

/// One `attempts` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// Unix ms.
    pub at_ms: i64,
    /// `delivered`, `retry` or `dead`.
    pub outcome: String,
    /// HTTP status.
    pub http_status: Option<i64>,
    /// Latency.
    pub latency_ms: Option<i64>,
}

/// A destination's bucket and pause (`limits`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LimitRow {
    /// Tokens left (`None` = full).
    pub tokens: Option<f64>,
    /// When `tokens` was computed.
    pub updated_ms: Option<i64>,
    /// Paused until (unix ms).
    pub paused_until_ms: Option<i64>,
}

/// A destination's rate limit, as the store needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Bucket size (requests).
    pub capacity: f64,
    /// Refill per millisecond.
    pub per_ms: f64,
}

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

/// A shared OAuth2 token as stored (sealed).
pub struct TokenRow {
    /// Key id of the sealing key.
    pub key_id: String,
    /// Sealed bare token.
    pub blob: Vec<u8>,
    /// Fingerprint of the bare token.
    pub token_fp: String,
    /// Refresh after (unix ms).
    pub refresh_at_ms: i64,
    /// Expires at (unix ms).
    pub expires_at_ms: i64,
}

/// How a shared token fetch failed (typed columns of `token_fetches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// The token endpoint refused (`Error::Rejected`).
    Rejected,
    /// It could not be reached or answered oddly (`Error::Transport`).
    Transport,
}

impl FailKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            FailKind::Rejected => "rejected",
            FailKind::Transport => "transport",
        }
    }
}

/// A failed fetch's hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    /// Kind.
    pub kind: FailKind,
    /// HTTP status, if any.
    pub status: Option<u16>,
    /// Token endpoint host.
    pub host: String,
    /// Redacted reason (never a secret).
    pub reason: String,
}

/// The `token_fetches` row of a cache key, if it is still in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchRow {
    /// None in force.
    Idle,
    /// A process holds the fetch.
    Pending,
    /// The last fetch failed.
    Failed(FetchFailure),
}

/// A destination's circuit row as status reads it: (destination, circuit, last
/// success ms, last error (ms, reason)).
pub type CircuitStatusRow = (String, CircuitRow, Option<i64>, Option<(i64, String)>);

/// What status reads, in one pass.
#[derive(Debug, Default)]
pub struct StatusRows {
    /// (destination, state, count, oldest `created_at_ms`) for every state but
    /// `delivered`, and for `delivered` since `delivered_since_ms`.
    pub counts: Vec<(String, EventState, u64, Option<i64>)>,
    /// (destination, circuit, last success ms, last error (ms, reason)).
    pub circuits: Vec<CircuitStatusRow>,
    /// (destination, attempt), newest first, at most [`ATTEMPTS_KEPT`] each.
    pub attempts: Vec<(String, AttemptRow)>,
    /// (destination, paused until ms) of pauses still in force.
    pub paused: Vec<(String, i64)>,
    /// A purge's erasure (WAL truncation) is still to be done.
    pub erasure_pending: bool,
    /// (destination, unix ms) since when each circuit that is not closed has been
    /// open, through every failed probe.
    pub circuit_since: Vec<(String, i64)>,
    /// Leases in force: who holds how many events of a destination.
    pub leases: Vec<LeaseRow>,
}

/// Events of a destination leased by one owner (`node:pid:tag:n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Destination.
    pub destination: String,
    /// Lease owner (names the node).
    pub owner: String,
    /// Events it holds.
    pub count: u64,
    /// Its latest lease end (unix ms).
    pub until_ms: i64,
}

/// An event waiting in a node's local spool (the shared database was unreachable).
#[derive(Debug, Clone)]
pub struct SpooledEvent {
    /// Event id.
    pub id: String,
    /// Destination.
    pub destination: String,
    /// Order id as sent.
    pub order_id: String,
    /// Event name.
    pub event: String,
    /// Key id of the sealing key.
    pub key_id: String,
    /// Sealed payload.
    pub payload: Vec<u8>,
    /// When it was accepted (unix ms).
    pub created_at_ms: i64,
    /// The site it came from, if any.
    pub site: Option<String>,
}

/// The normalised order id under which events are looked up and purged: an
/// ASCII-digit string drops its leading zeros (`"007"` → `"7"`, `"000"` → `"0"`),
/// anything else is unchanged. `"007"`, `"7"` and `7` are one order.
pub fn order_key(order_id: &str) -> std::borrow::Cow<'_, str> {
    let digits = !order_id.is_empty() && order_id.bytes().all(|b| b.is_ascii_digit());
    if !digits || !order_id.starts_with('0') || order_id.len() == 1 {
        return std::borrow::Cow::Borrowed(order_id);
    }
    let trimmed = order_id.trim_start_matches('0');
    std::borrow::Cow::Owned(if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() })
}

/// Unix ms now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A lease owner naming this node and process (`host:pid:random`): what
/// token-fetch claims and (with a suffix) event leases record.
pub fn process_owner() -> String {
    // Process-wide (see ARCHITECTURE.md, "State"): the identity of this process in leases; fork detection is the pid beside it.
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let tag = OWNER.get_or_init(|| {
        use ring::rand::SecureRandom as _;
        let mut b = [0u8; 6];
        let _ = ring::rand::SystemRandom::new().fill(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    });
    format!("{}:{}:{tag}", node_name(), std::process::id())
}

/// This node's name in lease owners: `[outbox] node_id` when a shared outbox
/// names one (set by [`set_node_name`]), else the host name.
pub fn node_name() -> String {
    node_slot().lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert_with(crate::config::host_name).clone()
}

/// Sets this process's node name (from `[outbox] node_id`).
pub fn set_node_name(name: &str) {
    let mut slot = node_slot().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if slot.as_deref() != Some(name) {
        *slot = Some(name.to_owned());
    }
}

fn node_slot() -> &'static std::sync::Mutex<Option<String>> {
    static NODE: std::sync::OnceLock<std::sync::Mutex<Option<String>>> = std::sync::OnceLock::new();
    NODE.get_or_init(|| std::sync::Mutex::new(None))
}
