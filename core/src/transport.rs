//! HTTPS transport: ureq over rustls (ring), one agent per distinct TLS/timeout
//! setting, created lazily on first use (after PHP-FPM has forked) and reused for
//! keep-alive. Certificates are always verified, TLS 1.2+ only, redirects never
//! followed, timeouts always set and response bodies capped.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::http::HeaderValue;

mod wipe;
use wipe::WipeSentConnector;

use crate::error::{Error, HttpFailure, IoError, Result, TransportReason};
use crate::secret::{Secret, SecretSource};

mod tls;

/// Most response body bytes read (the rest is dropped with the connection).
pub const RESPONSE_CAP: u64 = 64 * 1024;
/// Largest response head accepted.
pub const RESPONSE_HEADER_CAP: usize = 16 * 1024;
/// The `User-Agent` sent.
pub const USER_AGENT: &str = concat!("secure_forward/", env!("CARGO_PKG_VERSION"));

/// What the transport needs to know of a destination (no more: it does not
/// see the configuration): where to send, whom to trust, how long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The agents (connection pools) to send through: the engine's.
    pub agents: &'a Agents,
    /// Full https URL (never shown: it may carry a query).
    pub url: &'a str,
    /// Its host, for messages.
    pub host: &'a str,
    /// Trust roots replacing the webpki roots, when set.
    pub ca_file: Option<&'a Path>,
    /// SPKI SHA-256 pins (empty: none).
    pub pins: &'a [[u8; 32]],
    /// Total per-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Where the request's secret header value came from, for the message
    /// when it cannot be sent in a header (never the value).
    pub key_origin: Option<&'a SecretSource>,
}

/// One request to a destination.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The JSON body, sent byte for byte.
    pub body: &'a [u8],
    /// Extra, non-secret headers (`Idempotency-Key`, `X-Event-Type`, `webhook-*`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Strings of the body that are configuration, not data: kept when the
    /// body's values are masked in a 4xx answer's message.
    pub constants: &'a [String],
}

/// What the destination answered (any status: classification is the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, when present and parseable.
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Remaining` / `RateLimit-Remaining`, when present.
    pub rate_remaining: Option<u64>,
    /// `X-RateLimit-Reset` / `RateLimit-Reset` as a delay from now (delta seconds,
    /// or a Unix time when the number is that large), when present.
    pub rate_reset: Option<Duration>,
    /// Time from sending to the response head plus the (capped) body.
    pub latency: Duration,
    /// On a 4xx: the API's own error message, cleaned
    /// ([`crate::shape::api_error_message`]), for the dead letter only.
    pub api_message: Option<String>,
}

/// How a request is sent: method and the two content headers.
#[derive(Debug, Clone, Copy)]
pub struct Shaped<'a> {
    /// `POST`, `PUT` or `PATCH`.
    pub method: crate::config::Method,
    /// `Content-Type` of the body.
    pub content_type: &'a str,
    /// `Accept`.
    pub accept: &'a str,
}

impl Shaped<'_> {
    /// `POST` of JSON (what [`send`] does).
    pub const POST_JSON: Shaped<'static> =
        Shaped { method: crate::config::Method::Post, content_type: "application/json", accept: "application/json" };
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct AgentKey {
    ca_file: Option<PathBuf>,
    ca_stamp: Option<(u64, i64)>,
    timeout: Duration,
    connect_timeout: Duration,
    pins: Vec<[u8; 32]>,
    pool: usize,
}

thread_local! {
    // Process-wide (see ARCHITECTURE.md, "State"): which agent this thread uses (each flush sender thread its own).
    static POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Makes this thread's requests use agent (connection pool) number `n`; 0, the
/// default, is the one `secure_forward_order()` uses. Each flush sender thread
/// takes its own, so it keeps its own keep-alive connection and the inline path
/// keeps reusing one connection (ureq hands out idle connections oldest first).
pub fn use_pool(n: usize) {
    POOL.with(|p| p.set(n));
}

/// HTTPS agents (each a connection pool and resolver) by TLS settings, pins,
/// timeouts and pool number. One per [`crate::engine::Engine`].
#[derive(Default)]
pub struct Agents(Mutex<HashMap<AgentKey, ureq::Agent>>);

impl Agents {
    /// Drops every cached agent and its pooled connections.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    }
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "Agents({n})")
    }
}

/// The agent for `peer`'s TLS settings, pins and timeouts.
fn agent_for(peer: &Peer<'_>) -> Result<ureq::Agent> {
    let ca_stamp = match peer.ca_file {
        Some(p) => {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(p).map_err(|e| {
                Error::config(p.display().to_string(), None, format!("ca_file: {}", crate::secret::io_reason(&e)))
            })?;
            Some((m.ino(), m.mtime()))
        }
        None => None,
    };
    let key = AgentKey {
        ca_file: peer.ca_file.map(Path::to_path_buf),
        ca_stamp,
        timeout: peer.timeout,
        connect_timeout: peer.connect_timeout,
        pins: peer.pins.to_vec(),
        pool: POOL.with(std::cell::Cell::get),
    };
    let mut map = peer.agents.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(a) = map.get(&key) {
        return Ok(a.clone());
    }
    let agent = build_agent(peer)?;
    map.insert(key, agent.clone());
    Ok(agent)
}

fn build_agent(peer: &Peer<'_>) -> Result<ureq::Agent> {
    use ureq::unversioned::transport::{Connector as _, TcpConnector};
    let roots = match peer.ca_file {
        None => tls::Roots::WebPki,
        Some(path) => tls::Roots::Certs(load_ca(path)?.iter().map(|c| c.der().to_vec().into()).collect()),
    };
    // Only an empty root store fails here (load_ca already refused an empty file).
    let tls = tls::TlsConnector::new(roots, peer.pins).map_err(|_| match peer.ca_file {
        Some(p) => Error::config(p.display().to_string(), None, "ca_file: no usable CA certificate"),
        None => Error::transport(peer.host, "tls: no trust roots"),
    })?;
    let config = ureq::Agent::config_builder()
        .https_only(true)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .save_redirect_history(false)
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(peer.timeout))
        .timeout_connect(Some(peer.connect_timeout))
        .max_response_header_size(RESPONSE_HEADER_CAP)
        .user_agent(USER_AGENT)
        .accept("application/json")
        .build();
    // WipeSentConnector last: it wraps the transport ureq writes the request into.
    // ureq resolves the host on every request, on a new thread: cache the answer.
    Ok(ureq::Agent::with_parts(
        config,
        TcpConnector::default().chain(tls).chain(WipeSentConnector),
        crate::dns::CachingResolver::default(),
    ))
}

fn load_ca(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let shown = path.display().to_string();
    let pem = crate::secret::open::read_trusted(path, "ca_file", crate::secret::open::MAX_CA_FILE)?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(_) => return Err(Error::config(&shown, None, "ca_file: not a valid PEM file")),
        }
    }
    if certs.is_empty() {
        return Err(Error::config(&shown, None, "ca_file: no certificate found"));
    }
    Ok(certs)
}

fn sensitive_value(peer: &Peer<'_>, value: &Secret) -> Result<HeaderValue> {
    wipe::zeroizing_header(value.expose()).ok_or_else(|| {
        Error::config(
            peer.key_origin.map_or_else(String::new, SecretSource::location),
            None,
            "the key contains characters not allowed in an HTTP header",
        )
    })
}

/// Sends one POST to `peer` with `auth` = (header name, secret value), if any.
pub fn send(peer: &Peer<'_>, auth: Option<(&str, &Secret)>, out: &Outgoing<'_>) -> Result<Answer> {
    send_as(peer, &Shaped::POST_JSON, auth, out)
}

/// [`send`] with the method and content headers of `how`.
pub fn send_as(peer: &Peer<'_>, how: &Shaped<'_>, auth: Option<(&str, &Secret)>, out: &Outgoing<'_>) -> Result<Answer> {
    use crate::config::Method;
    let agent = agent_for(peer)?;
    let req = match how.method {
        Method::Post => agent.post(peer.url),
        Method::Put => agent.put(peer.url),
        Method::Patch => agent.patch(peer.url),
    };
    let mut req = req.header("Content-Type", how.content_type).header("Accept", how.accept);
    for (name, value) in out.headers {
        req = req.header(*name, *value);
    }
    if let Some((name, value)) = auth {
        req = req.header(name, sensitive_value(peer, value)?);
    }
    let started = Instant::now();
    let mut resp = req.send(out.body).map_err(|e| transport_error(peer.host, &e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers();
    let text = |names: &[&str]| names.iter().find_map(|n| headers.get(*n)).and_then(|v| v.to_str().ok()).map(str::trim);
    let now = std::time::SystemTime::now();
    let retry_after = text(&["retry-after"]).and_then(|v| parse_retry_after(v, now));
    let rate_remaining = text(&["x-ratelimit-remaining", "ratelimit-remaining"]).and_then(|v| v.parse().ok());
    let rate_reset = text(&["x-ratelimit-reset", "ratelimit-reset"]).and_then(|v| parse_rate_reset(v, now));
    // Drain (capped) so the connection can be reused; an oversized body only
    // costs the connection, never the verdict the status already gave.
    let answered = resp.body_mut().with_config().limit(RESPONSE_CAP).read_to_vec();
    let api_message = match answered {
        Ok(body) if (400..500).contains(&status) => crate::shape::api_error_message_for(&body, out.body, out.constants),
        _ => None,
    };
    Ok(Answer { status, retry_after, rate_remaining, rate_reset, latency: started.elapsed(), api_message })
}

/// `RateLimit-Reset`: delta seconds (up to a day), or (GitHub-style
/// `X-RateLimit-Reset`) a Unix time in seconds or milliseconds. Anything else
/// — a millisecond delta, a time more than a day ahead — is not understood and
/// ignored rather than read as a pause of days.
pub fn parse_rate_reset(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    const DAY: u64 = 86_400;
    let n: u64 = v.trim().parse().ok()?;
    if n <= DAY {
        return Some(Duration::from_secs(n));
    }
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?;
    let delay = if n >= 1_000_000_000_000 {
        Duration::from_millis(n).saturating_sub(now)
    } else if n >= 1_000_000_000 {
        Duration::from_secs(n).saturating_sub(now)
    } else {
        return None;
    };
    (delay <= Duration::from_secs(DAY)).then_some(delay)
}

/// POSTs an OAuth2 token request (`application/x-www-form-urlencoded` `form`,
/// optional `Authorization: Basic` value) to the token endpoint `peer` (its
/// url, host, TLS settings and timeouts; pins only when it is the destination's
/// own host: the caller decides). Returns the status and the (capped) body, which holds
/// a token on success and is zeroized on drop.
pub fn post_token(peer: &Peer<'_>, form: &Secret, basic: Option<&Secret>) -> Result<(u16, zeroize::Zeroizing<Vec<u8>>)> {
    let host = peer.host;
    let agent = agent_for(peer)?;
    let mut req = agent.post(peer.url).header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(basic) = basic {
        let value = wipe::zeroizing_header(basic.expose())
            .ok_or_else(|| Error::transport(host, "client credentials cannot be sent in a header"))?;
        req = req.header("Authorization", value);
    }
    let mut resp = req.send(form.expose()).map_err(|e| transport_error(host, &e))?;
    let status = resp.status().as_u16();
    // Read into a buffer that never reallocates (no stray copy of a token is
    // left behind) and is zeroized on drop.
    let cap = usize::try_from(RESPONSE_CAP).unwrap_or(usize::MAX);
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(cap.saturating_add(1)));
    let mut reader = resp.body_mut().with_config().limit(RESPONSE_CAP).reader();
    std::io::Read::read_to_end(&mut reader, &mut body).map_err(|e| transport_error(host, &ureq::Error::Io(e)))?;
    Ok((status, body))
}

/// A short, value-free reason for a ureq error.
pub fn transport_error(host: &str, e: &ureq::Error) -> Error {
    use ureq::Error as E;
    use TransportReason as T;
    let reason = match e {
        E::Timeout(t) => T::Timeout(t.to_string()),
        E::HostNotFound => T::HostNotFound,
        E::ConnectionFailed => T::ConnectionFailed,
        E::Rustls(r) => T::Tls(tls_reason(r)),
        E::Tls(m) => T::Tls(format!("tls: {m}")),
        E::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(r) => T::Tls(tls_reason(r)),
            None => T::Io(IoError::new(io)),
        },
        E::RequireHttpsOnly(_) => T::Http(HttpFailure::HttpsOnly),
        E::TooManyRedirects | E::RedirectFailed => T::Http(HttpFailure::Redirect),
        E::LargeResponseHeader(..) => T::Http(HttpFailure::HeadTooLarge),
        E::BodyExceedsLimit(_) => T::Http(HttpFailure::BodyTooLarge),
        E::Protocol(_) => T::Http(HttpFailure::Malformed),
        E::BodyStalled => T::Http(HttpFailure::Stalled),
        _ => T::Http(HttpFailure::Failed),
    };
    Error::transport_failed(host, reason)
}

/// A distinct, clear message per TLS failure.
pub fn tls_reason(e: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as R, PeerIncompatible as P};
    let what = match e {
        R::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "certificate expired",
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate not yet valid",
            C::NotValidForName | C::NotValidForNameContext { .. } => "certificate not valid for this host name",
            C::UnknownIssuer => "certificate issued by an untrusted CA",
            C::Revoked => "certificate revoked",
            C::BadSignature => "certificate has a bad signature",
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => "certificate not valid for TLS servers",
            C::ApplicationVerificationFailure => "certificate key matches no pin_sha256 (pin mismatch)",
            C::Other(o) if o.0.downcast_ref::<tls::SelfSigned>().is_some() => "certificate is self-signed",
            _ => "certificate rejected",
        },
        R::AlertReceived(A::ProtocolVersion)
        | R::PeerIncompatible(
            P::ServerDoesNotSupportTls12Or13
            | P::ServerTlsVersionIsDisabledByOurConfig
            | P::SupportedVersionsExtensionRequired
            | P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled,
        ) => "server does not support TLS 1.2 or later",
        R::PeerIncompatible(_) => "server has no TLS parameters in common with us",
        R::AlertReceived(A::HandshakeFailure) => "handshake failure (no common cipher suite or protocol)",
        R::AlertReceived(_) => "alert received from server",
        R::InvalidMessage(_) | R::PeerMisbehaved(_) => "server sent an invalid TLS message",
        _ => "handshake failed",
    };
    format!("tls: {what}")
}

/// Parses `Retry-After`: delta seconds or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// IMF-fixdate to Unix seconds.
pub fn parse_http_date(v: &str) -> Option<u64> {
    let mut parts = v.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = crate::civil::days_from_civil(year, month, i64::try_from(day).ok()?);
    u64::try_from(days).ok().map(|d| d * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn rate_reset_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_rate_reset("30", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_rate_reset("1700000045", now), Some(Duration::from_secs(45)));
        assert_eq!(parse_rate_reset("1700000045500", now), Some(Duration::from_millis(45_500)));
        assert_eq!(parse_rate_reset("1699999990", now), Some(Duration::ZERO));
        // Small numbers cannot be told from seconds; past a day (e.g. a millisecond
        // delta of 90 s) or more than a day ahead, the header is ignored, never a pause of days.
        assert_eq!(parse_rate_reset("1500", now), Some(Duration::from_secs(1500)));
        assert_eq!(parse_rate_reset("90000", now), None);
        assert_eq!(parse_rate_reset("1800000000", now), None);
        assert_eq!(parse_rate_reset("soon", now), None);
    }

    #[test]
    fn tls_reasons_are_distinct() {
        use rustls::CertificateError as C;
        let self_signed = C::Other(rustls::OtherError(std::sync::Arc::new(tls::SelfSigned)));
        let mut reasons: Vec<String> =
            [C::Expired, C::NotValidYet, C::NotValidForName, C::UnknownIssuer, C::ApplicationVerificationFailure, self_signed]
                .into_iter()
                .map(|c| tls_reason(&rustls::Error::InvalidCertificate(c)))
                .collect();
        reasons.push(tls_reason(&rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)));
        assert!(reasons.iter().all(|r| r.starts_with("tls: ") && !r.ends_with("rejected")), "{reasons:?}");
        // Either way a TLS 1.0/1.1-only server shows itself, the message is the same.
        assert_eq!(
            reasons.last(),
            Some(&tls_reason(&rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig)))
        );
        let mut dedup = reasons.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), reasons.len(), "{reasons:?}");
        assert_eq!(reasons.first().map(String::as_str), Some("tls: certificate expired"));
    }
}
