//! The send path: minimise, identify, send, classify.
use std::time::Duration;

use crate::auth::Clients;
use crate::config::{Destination, Target};
use crate::error::{Error, RejectedReason, Result, TransportReason};
use crate::node::Node;
use crate::policy::Prepared;
use crate::secret::hex;
use crate::transport::{self, Answer, Outgoing};

/// Default event name.
pub const DEFAULT_EVENT: &str = "order.updated";

/// Checks an event name (defined with the configuration, which checks `events` lists).
pub use crate::config::check_event;

/// Stable event id: destination + order id + event + payload digest.
/// The same order state sent twice to the same destination gets the same id.
pub fn event_id(destination: &str, order_id: &str, event: &str, body: &[u8]) -> String {
    let body_digest = ring::digest::digest(&ring::digest::SHA256, body);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [destination.as_bytes(), order_id.as_bytes(), event.as_bytes(), body_digest.as_ref()] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut id = String::from("evt_");
    id.push_str(&hex(ctx.finish().as_ref()));
    id.truncate(4 + 32);
    id
}

/// Minimises `order` for `dest` (no key, no network); with a
/// `[destinations.NAME.body]` the body is the shaped one.
pub fn prepare<N: Node>(dest: &Destination, order: &N) -> Result<Prepared> {
    prepare_request(dest, order).map(|(p, _)| p)
}

/// [`prepare`], and the order's URL when `url` has placeholders (`None`: the
/// destination's fixed URL, or its `url_file`).
pub fn prepare_request<N: Node>(dest: &Destination, order: &N) -> Result<(Prepared, Option<String>)> {
    let Some(shape) = &dest.request.body else {
        let prepared = dest.policy.apply(order)?;
        let url = render_url(dest, &prepared.body)?;
        return Ok((prepared, url));
    };
    let mut fields = Vec::with_capacity(1024);
    let mut slots = Vec::new();
    let id = dest.policy.apply_slots(order, &mut fields, &mut slots)?;
    let order_id = match id {
        crate::policy::OrderId::Int(i) => i.to_string(),
        crate::policy::OrderId::Digits(s) => String::from_utf8_lossy(s).into_owned(),
    };
    let url = render_url(dest, &fields)?;
    let mut body = Vec::with_capacity(fields.len() + 256);
    shape.render_slots(&fields, &slots, &mut body)?;
    Ok((Prepared { body, order_id }, url))
}

/// The order's URL when `url` has placeholders, from the policy's output.
fn render_url(dest: &Destination, policy_output: &[u8]) -> Result<Option<String>> {
    match &dest.request.target {
        Target::Url { template: Some(t), .. } => t.render_json(policy_output).map(Some),
        _ => Ok(None),
    }
}

/// [`prepare`] writing only the body, into `body` (cleared first; a caller that
/// prepares many orders reuses one buffer).
pub fn prepare_into<N: Node>(dest: &Destination, order: &N, body: &mut Vec<u8>) -> Result<()> {
    let Some(shape) = &dest.request.body else {
        return dest.policy.apply_into(order, body).map(|_| ());
    };
    thread_local! {
        /// The policy's output before shaping and its slots, reused from call to call.
        static SCRATCH: std::cell::Cell<(Vec<u8>, Vec<crate::policy::Slot>)> =
            const { std::cell::Cell::new((Vec::new(), Vec::new())) };
    }
    let (mut fields, mut slots) = SCRATCH.take();
    let result = dest.policy.apply_slots(order, &mut fields, &mut slots).and_then(|_| {
        body.clear();
        shape.render_slots(&fields, &slots, body)
    });
    // The policy's output is the order's minimised data: wiped, not just forgotten,
    // before the buffer waits for the next call.
    // (a plain memset kept by black_box: zeroize's volatile byte loop costs ~1k instructions here).
    fields.fill(0);
    std::hint::black_box(&fields);
    fields.clear();
    slots.clear();
    if fields.capacity() <= 64 * 1024 && slots.capacity() <= 4096 {
        SCRATCH.set((fields, slots));
    }
    result
}

/// The URL a request to `dest` goes to: `url` (the order's rendered one when
/// given), or the secret URL of `url_file`, read like a key.
pub fn target_url(dest: &Destination, rendered: Option<&str>) -> Result<UrlText> {
    match (&dest.request.target, rendered) {
        (Target::File(path), _) => crate::secret::load_file_cached(path).map(UrlText::Secret),
        (Target::Url { .. }, Some(u)) => Ok(UrlText::Plain(u.to_owned())),
        (Target::Url { url, .. }, None) => Ok(UrlText::Plain(url.clone())),
    }
}

/// A request URL: plain, or held like a key (`url_file`).
#[derive(Debug)]
pub enum UrlText {
    /// From `url`.
    Plain(String),
    /// From `url_file` (zeroized on drop; `[REDACTED]` in `Debug`).
    Secret(std::sync::Arc<crate::secret::Secret>),
}

impl UrlText {
    /// The URL text (empty if a secret URL is not UTF-8: refused at load).
    pub fn as_str(&self) -> &str {
        match self {
            UrlText::Plain(s) => s,
            UrlText::Secret(s) => std::str::from_utf8(s.expose()).unwrap_or_default(),
        }
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered {
        /// HTTP status.
        status: u16,
        /// The destination's rate-limit headers ask to slow down: pause it this long.
        throttle: Option<Duration>,
    },
    /// Worth retrying: 408, 429, 5xx, timeouts, connection and TLS handshake failures.
    Retry {
        /// HTTP status, if the server answered.
        status: Option<u16>,
        /// Server-requested delay.
        retry_after: Option<Duration>,
        /// The error, for the caller and the audit log.
        error: Error,
    },
    /// Never worth retrying: other 4xx, 3xx, a key that cannot be sent.
    Dead {
        /// HTTP status, if the server answered.
        status: Option<u16>,
        /// The error.
        error: Error,
        /// On a 4xx: `422 api.hubapi.com: <the API's message>`, for the dead
        /// letter's reason only (never the audit log or an exception).
        detail: Option<String>,
    },
}

/// Classifies an HTTP answer.
pub fn classify(host: &str, answer: &Answer) -> Outcome {
    let status = answer.status;
    match status {
        200..=299 => Outcome::Delivered { status, throttle: throttle(answer) },
        408 | 425 | 429 | 500..=599 => Outcome::Retry {
            status: Some(status),
            retry_after: answer.retry_after.or(if answer.rate_remaining == Some(0) { answer.rate_reset } else { None }),
            error: Error::Transport {
                host: host.to_owned(),
                reason: match status {
                    408 => TransportReason::RequestTimeout,
                    429 => TransportReason::RateLimited,
                    s => TransportReason::ServerError(s),
                },
                status: Some(status),
            },
        },
        300..=399 => Outcome::Dead {
            status: Some(status),
            error: Error::Rejected { host: host.to_owned(), status, reason: RejectedReason::Redirect },
            detail: None,
        },
        _ => Outcome::Dead {
            status: Some(status),
            detail: answer.api_message.as_ref().map(|m| format!("{status} {host}: {m}")),
            error: Error::Rejected {
                host: host.to_owned(),
                status,
                reason: match status {
                    401 | 403 => RejectedReason::Authentication,
                    _ => RejectedReason::Request,
                },
            },
        },
    }
}

/// Below this many remaining requests (`X-RateLimit-Remaining` /
/// `RateLimit-Remaining`) with a known reset, requests are spread evenly over
/// the rest of the window.
pub const LOW_REMAINING: u64 = 10;

/// How long the destination's own rate-limit headers ask us to hold off after a
/// successful request: until the reset when nothing remains (1 s when the reset
/// is unknown), `reset / (remaining + 1)` when few requests remain.
pub fn throttle(answer: &Answer) -> Option<Duration> {
    match (answer.rate_remaining?, answer.rate_reset) {
        (0, reset) => Some(reset.unwrap_or(Duration::from_secs(1))),
        (r, Some(reset)) if r < LOW_REMAINING => {
            let steps = u32::try_from(r.saturating_add(1)).unwrap_or(u32::MAX);
            Some(reset / steps).filter(|d| !d.is_zero())
        }
        _ => None,
    }
}

/// How long an outcome asks to pause the whole destination: `Retry-After` on a
/// 429 or 503, or the throttle of a success.
pub fn pause_hint(outcome: &Outcome) -> Option<Duration> {
    match outcome {
        Outcome::Retry { status: Some(429 | 503), retry_after, .. } => *retry_after,
        Outcome::Delivered { throttle, .. } => *throttle,
        _ => None,
    }
}

/// One delivery attempt of a prepared body (key loaded here, at send time).
/// With `signing_secret_file`, the request also carries the Standard Webhooks
/// `webhook-id` (= `event_id`), `webhook-timestamp` (now) and `webhook-signature`.
/// OAuth2 tokens are cached in-process only; see [`attempt_with`].
pub fn attempt(
    clients: &Clients,
    dest: &Destination,
    event_id: &str,
    event: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Outcome {
    attempt_with(clients, dest, None, event_id, event, body, extra)
}

/// [`attempt_to`] the destination's own URL.
pub fn attempt_with(
    clients: &Clients,
    dest: &Destination,
    store: Option<&crate::config::OutboxConfig>,
    event_id: &str,
    event: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Outcome {
    attempt_to(clients, dest, store, None, event_id, event, body, extra)
}

/// The headers a request to `dest` carries besides the credential and the
/// content headers, in the order sent: `Idempotency-Key`, `X-Event-Type`, the
/// signing headers (when given), `headers` of the destination, `extra`.
pub fn request_headers<'a>(
    dest: &'a Destination,
    event_id: &'a str,
    event: &'a str,
    signed: &'a [(&'a str, &'a str)],
    extra: &'a [(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(5 + extra.len());
    headers.push(("Idempotency-Key", event_id));
    headers.push(("X-Event-Type", event));
    headers.extend_from_slice(signed);
    headers.extend(dest.request.headers.other());
    headers.extend_from_slice(extra);
    headers
}

/// [`attempt`], sharing OAuth2 tokens through the outbox database of `store`,
/// to `url` (the order's rendered URL) when given.
/// A 401 answered to an OAuth2 token fetches a new token once and resends once.
/// A token endpoint failure is retryable (the operator can fix the client
/// credentials without losing orders); its reason names the token host and the
/// OAuth `error` code.
#[allow(clippy::too_many_arguments)]
pub fn attempt_to(
    clients: &Clients,
    dest: &Destination,
    store: Option<&crate::config::OutboxConfig>,
    url: Option<&str>,
    event_id: &str,
    event: &str,
    body: &[u8],
    extra: &[(&str, &str)],
) -> Outcome {
    let credential = match crate::auth::credential(clients, dest, store) {
        Ok(c) => c,
        Err(error @ Error::Config { .. }) => return Outcome::Dead { status: None, error, detail: None },
        Err(error) => return Outcome::Retry { status: None, retry_after: None, error },
    };
    let signed =
        match crate::signing::signing_headers(dest.signing_secret_file.as_deref(), event_id, body, crate::secret::unix_now()) {
            Ok(s) => s,
            Err(error) => return Outcome::Dead { status: None, error, detail: None },
        };
    let pairs = signed.as_ref().map(|s| s.pairs());
    let headers = request_headers(dest, event_id, event, pairs.as_ref().map_or(&[][..], |p| &p[..]), extra);
    let target = match target_url(dest, url) {
        Ok(t) => t,
        Err(error) => return Outcome::Dead { status: None, error, detail: None },
    };
    let mut peer = peer(&clients.agents, dest);
    peer.url = target.as_str();
    let how = transport::Shaped {
        method: dest.request.method,
        content_type: dest.request.headers.content_type(),
        accept: dest.request.headers.accept(),
    };
    let send = |c: Option<&crate::auth::Credential>| {
        transport::send_as(
            &peer,
            &how,
            c.map(|c| (c.header.as_str(), &*c.value)),
            &Outgoing { body, headers: &headers, constants: &dest.request.constants },
        )
    };
    let mut sent = send(credential.as_ref());
    if let (Ok(Answer { status: 401, .. }), Some(used)) = (&sent, &credential) {
        if used.refreshable() {
            match crate::auth::refresh(clients, dest, store, used) {
                // The resend is one more request to the destination: it takes
                // a token of the shared bucket like any other, or waits for the flusher.
                Ok(_) if !resend_admitted(dest, store) => {
                    return Outcome::Retry {
                        status: Some(401),
                        retry_after: None,
                        error: Error::transport(&dest.host, "rate limit: resend after a token refresh deferred"),
                    }
                }
                Ok(fresh) => sent = send(Some(&fresh)),
                Err(error @ Error::Config { .. }) => return Outcome::Dead { status: None, error, detail: None },
                Err(error) => return Outcome::Retry { status: None, retry_after: None, error },
            }
        }
    }
    match sent {
        Ok(answer) => classify(&dest.host, &answer),
        Err(error @ Error::Config { .. }) => Outcome::Dead { status: None, error, detail: None },
        Err(error) => Outcome::Retry { status: None, retry_after: None, error },
    }
}

/// Whether a resend may go now under `dest`'s shared `rate_limit` (always, without one).
fn resend_admitted(dest: &Destination, store: Option<&crate::config::OutboxConfig>) -> bool {
    match (&dest.rate_limit, store) {
        (Some(_), Some(store)) => take_token_from(store, dest).unwrap_or(false),
        _ => true,
    }
}

/// `dest`'s `rate_limit` as the store's token bucket.
pub fn bucket(dest: &Destination) -> Option<crate::store::Bucket> {
    dest.rate_limit.map(|l| crate::store::Bucket { capacity: f64::from(l.requests), per_ms: l.per_ms() })
}

/// Takes one token of `dest`'s shared bucket in a transaction of its own (what
/// the bucket costs by itself; `submit` and `flush` take it inside the
/// transaction they already hold). `true` when a request may go now (not
/// paused, and a token was left).
pub fn take_token_from(outbox: &crate::config::OutboxConfig, dest: &Destination) -> Result<bool> {
    crate::store::with_store(outbox, |db| {
        let tx = db.immediate()?;
        let admitted = tx.take_rate_token(&dest.name, bucket(dest), crate::store::now_ms())?;
        tx.commit()?;
        Ok(admitted == crate::store::Admission::Go)
    })
}

/// A receipt for PHP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The event id (also the `Idempotency-Key`).
    pub event_id: String,
    /// `delivered`, `queued` or `dead`.
    pub status: ReceiptStatus,
    /// HTTP status of the last attempt.
    pub http_status: Option<u16>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Why it is not delivered (redacted), if so.
    pub reason: Option<String>,
}

/// Where an event stands, as a receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// Sent (2xx).
    Delivered,
    /// Waiting for an attempt (also an undecryptable event, which can be requeued).
    Queued,
    /// Dead letter.
    Dead,
}

impl ReceiptStatus {
    /// `delivered`, `queued` or `dead` (what PHP sees).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Delivered => "delivered",
            ReceiptStatus::Queued => "queued",
            ReceiptStatus::Dead => "dead",
        }
    }
}

impl PartialEq<&str> for ReceiptStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the transport needs of `dest` (it does not see the configuration).
pub fn peer<'a>(agents: &'a transport::Agents, dest: &'a Destination) -> transport::Peer<'a> {
    transport::Peer {
        agents,
        url: &dest.url,
        host: &dest.host,
        ca_file: dest.ca_file.as_deref(),
        pins: &dest.pin_sha256,
        timeout: dest.timeout,
        connect_timeout: dest.connect_timeout,
        key_origin: dest.key.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_is_stable_and_separates_inputs() {
        let a = event_id("crm", "42", "order.updated", b"{}");
        assert_eq!(a, event_id("crm", "42", "order.updated", b"{}"));
        assert!(a.starts_with("evt_") && a.len() == 36);
        assert_ne!(a, event_id("crm", "42", "order.completed", b"{}"));
        assert_ne!(a, event_id("crm", "43", "order.updated", b"{}"));
        assert_ne!(a, event_id("erp", "42", "order.updated", b"{}"));
        assert_ne!(a, event_id("crm", "42", "order.updated", b"{ }"));
        // Length-prefixing: moving bytes between parts changes the id.
        assert_ne!(event_id("ab", "c", "e", b""), event_id("a", "bc", "e", b""));
    }

    #[test]
    fn classification() {
        let ans = |status| Answer {
            status,
            retry_after: None,
            rate_remaining: None,
            rate_reset: None,
            latency: Duration::ZERO,
            api_message: None,
        };
        assert!(matches!(classify("h", &ans(200)), Outcome::Delivered { status: 200, throttle: None }));
        assert!(matches!(classify("h", &ans(204)), Outcome::Delivered { .. }));
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(matches!(classify("h", &ans(s)), Outcome::Retry { .. }), "{s}");
        }
        for s in [301, 302, 307, 400, 401, 403, 404, 422] {
            assert!(matches!(classify("h", &ans(s)), Outcome::Dead { .. }), "{s}");
        }
        match classify("api.example.com", &ans(401)) {
            Outcome::Dead { error, .. } => {
                assert_eq!(error.to_string(), "authentication rejected by api.example.com (401)")
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn rate_limit_headers_throttle() {
        let ans = |status, remaining, reset: Option<u64>| Answer {
            status,
            retry_after: None,
            rate_remaining: remaining,
            rate_reset: reset.map(Duration::from_secs),
            latency: Duration::ZERO,
            api_message: None,
        };
        assert_eq!(throttle(&ans(200, None, Some(5))), None);
        assert_eq!(throttle(&ans(200, Some(100), Some(5))), None);
        assert_eq!(throttle(&ans(200, Some(0), Some(7))), Some(Duration::from_secs(7)));
        assert_eq!(throttle(&ans(200, Some(0), None)), Some(Duration::from_secs(1)));
        assert_eq!(throttle(&ans(200, Some(3), Some(8))), Some(Duration::from_secs(2)));
        assert_eq!(pause_hint(&classify("h", &ans(200, Some(0), Some(7)))), Some(Duration::from_secs(7)));
        // A 429 without Retry-After but with an exhausted window waits for the reset.
        assert_eq!(pause_hint(&classify("h", &ans(429, Some(0), Some(9)))), Some(Duration::from_secs(9)));
        let mut a = ans(503, None, None);
        a.retry_after = Some(Duration::from_secs(2));
        assert_eq!(pause_hint(&classify("h", &a)), Some(Duration::from_secs(2)));
        a.status = 500;
        assert_eq!(pause_hint(&classify("h", &a)), None, "only 429 and 503 pause the destination");
    }

    #[test]
    fn event_names() {
        assert!(check_event("order.processing").is_ok());
        assert!(check_event("").is_err());
        assert!(check_event("order updated").is_err());
        assert!(check_event("x\r\nX-Evil: 1").is_err());
    }
}
