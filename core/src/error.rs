//! The one internal error type. Each variant maps to one PHP exception class
//! under `SecureForward\Exception` ([`Error::kind`]); each carries a typed reason.
//! Messages name a file, a field path or a host; they never carry a value from the
//! order, a key or a secret. [`std::error::Error::source`] gives the underlying I/O
//! or SQLite error where there is one (an OS or SQLite code, never a value).
use std::fmt;
use std::sync::Arc;

/// Which PHP exception class an [`Error`] becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `SecureForward\ConfigException`
    Config,
    /// `SecureForward\ValidationException`
    Validation,
    /// `SecureForward\TransportException`
    Transport,
    /// `SecureForward\RejectedException`
    Rejected,
    /// `SecureForward\SignatureException`
    Signature,
}

/// Errors of the core. Construct them with the helper functions so that no
/// caller is tempted to format a value into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The configuration (file, key or secret file) is unusable.
    Config {
        /// The file at fault (config file, key file, ...).
        file: String,
        /// The TOML key at fault, dotted (`destinations.crm.url`), if any.
        key: Option<String>,
        /// What is wrong, without any value.
        reason: ConfigReason,
    },
    /// The order was refused before anything was stored or sent.
    Validation {
        /// Path of the field at fault (`line_items[2].sku`), or empty for the whole order.
        path: String,
        /// What is wrong, without the value.
        reason: ValidationReason,
    },
    /// TLS, connection, timeout or 5xx: the request did not succeed, may be retried.
    Transport {
        /// Host name of the destination.
        host: String,
        /// What failed (`tls: certificate expired`, `timeout`, `server error (503)`).
        reason: TransportReason,
        /// HTTP status, when the server answered.
        status: Option<u16>,
    },
    /// The endpoint answered 4xx (or redirected): not retried.
    Rejected {
        /// Host name of the destination.
        host: String,
        /// HTTP status.
        status: u16,
        /// Why it counts as a refusal.
        reason: RejectedReason,
    },
    /// Inbound webhook verification failed.
    Signature {
        /// Which check failed.
        reason: SignatureReason,
    },
}

/// An I/O error kept as the [`std::error::Error::source`] of an [`Error`]. Two are
/// equal when their kind and OS code are. From file and socket calls only: its text
/// is the OS's (`No such file or directory (os error 2)`), never a value.
#[derive(Debug, Clone)]
pub struct IoError(Arc<std::io::Error>);

impl IoError {
    /// Keeps `e` (by kind and OS code; any custom payload is dropped).
    pub fn new(e: &std::io::Error) -> Self {
        IoError(Arc::new(match e.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::from(e.kind()),
        }))
    }

    /// Its kind.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.0.kind()
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.raw_os_error() == other.0.raw_os_error()
    }
}

impl Eq for IoError {}

/// Why a configuration, key or secret file (or the outbox database) is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigReason {
    /// A file could not be read, opened or created (boxed: errors are rare, and a
    /// smaller [`Error`] keeps every `Result` of the hot path small).
    Io(Box<FileFailure>),
    /// The outbox database failed (its SQLite result code), or held unexpected data (`None`).
    Database(Option<rusqlite::ffi::Error>),
    /// Anything else, in words (no value).
    Other(String),
}

/// A failed file operation: what was attempted, and the I/O error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// What was attempted (`cannot open the outbox database`); `None` for reading the file.
    pub doing: Option<&'static str>,
    /// The I/O error.
    pub error: IoError,
}

/// Why an order was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationReason {
    /// The order is not an array.
    NotAnArray,
    /// A string is longer than `max` bytes.
    StringTooLong {
        /// The limit.
        max: usize,
    },
    /// The order holds more than `max` bytes of text.
    TooMuchText {
        /// The limit.
        max: usize,
    },
    /// The order nests deeper than `max` levels.
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// An array has more than `max` elements.
    TooManyElements {
        /// The limit.
        max: usize,
    },
    /// The order holds more than `max` values.
    TooManyValues {
        /// The limit.
        max: usize,
    },
    /// A field the policy keeps holds a payment card number.
    CardNumber,
    /// Anything else, in words (no value).
    Other(String),
}

/// Why a request did not succeed (it may be retried).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportReason {
    /// A timeout; the phase that ran out, as the HTTP client names it.
    Timeout(String),
    /// DNS found no address.
    HostNotFound,
    /// No connection could be made.
    ConnectionFailed,
    /// The TLS handshake failed; the text is `tls: ...` (see `transport::tls_reason`).
    Tls(String),
    /// A socket error.
    Io(IoError),
    /// The answer was refused before its status counted.
    Http(HttpFailure),
    /// The server answered 408.
    RequestTimeout,
    /// The server answered 429.
    RateLimited,
    /// The server answered 5xx (or another retryable status).
    ServerError(u16),
    /// The OAuth2 token endpoint answered 5xx or something unusable; its OAuth error code if any.
    TokenEndpoint {
        /// The HTTP status.
        status: u16,
        /// The `error` member of its answer (an OAuth code such as `temporarily_unavailable`).
        code: Option<String>,
    },
    /// Anything else, in words (no value).
    Other(String),
}

/// A response the transport refused to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpFailure {
    /// A plain-http URL or redirect.
    HttpsOnly,
    /// A redirect.
    Redirect,
    /// The response head is too large.
    HeadTooLarge,
    /// The response body is too large.
    BodyTooLarge,
    /// The response is not HTTP.
    Malformed,
    /// The response stopped arriving.
    Stalled,
    /// Any other failure of the HTTP client.
    Failed,
}

/// Why an endpoint's answer counts as a refusal (not retried).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectedReason {
    /// 401 or 403.
    Authentication,
    /// Another 4xx.
    Request,
    /// A 3xx (redirects are not followed).
    Redirect,
    /// The token endpoint refused the client credentials (OAuth error code).
    OAuth2Client(String),
    /// The token endpoint refused the request (OAuth error code, or `no error code`).
    OAuth2Request(String),
    /// Anything else, in words (no value).
    Other(String),
}

/// Which check of an inbound webhook failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureReason {
    /// A header the format needs is missing (its name).
    MissingHeader(String),
    /// A header appears more than once (its name).
    DuplicateHeader(String),
    /// A header is malformed (its name).
    MalformedHeader(String),
    /// The timestamp is older than the tolerance (seconds).
    TooOld(u64),
    /// The timestamp is further in the future than the tolerance (seconds).
    InFuture(u64),
    /// No configured secret produces a matching signature.
    NoMatch,
    /// This webhook id and timestamp were already accepted.
    Replay,
    /// The body is not valid JSON.
    NotJson,
    /// The body is JSON but neither an object nor an array.
    NotContainer,
    /// Anything else, in words (no value).
    Other(String),
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A configuration error about `file`, optionally a `key` in it.
    pub fn config(file: impl Into<String>, key: Option<&str>, reason: impl Into<String>) -> Self {
        Error::Config { file: file.into(), key: key.map(str::to_owned), reason: ConfigReason::Other(reason.into()) }
    }

    /// `file` could not be read (`doing` = `None`) or had `doing` fail on it.
    pub fn config_io(file: impl Into<String>, doing: Option<&'static str>, e: &std::io::Error) -> Self {
        let failure = FileFailure { doing, error: IoError::new(e) };
        Error::Config { file: file.into(), key: None, reason: ConfigReason::Io(Box::new(failure)) }
    }

    /// A validation error at `path`.
    pub fn validation(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation { path: path.into(), reason: ValidationReason::Other(reason.into()) }
    }

    /// A typed validation error at `path`.
    pub fn invalid(path: impl Into<String>, reason: ValidationReason) -> Self {
        Error::Validation { path: path.into(), reason }
    }

    /// A transport error talking to `host`.
    pub fn transport(host: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Transport { host: host.into(), reason: TransportReason::Other(reason.into()), status: None }
    }

    /// A typed transport error talking to `host`, without an HTTP status.
    pub fn transport_failed(host: impl Into<String>, reason: TransportReason) -> Self {
        Error::Transport { host: host.into(), reason, status: None }
    }

    /// An inbound webhook refused.
    pub fn signature(reason: SignatureReason) -> Self {
        Error::Signature { reason }
    }

    /// The PHP exception class this error maps to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } => ErrorKind::Config,
            Error::Validation { .. } => ErrorKind::Validation,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::Signature { .. } => ErrorKind::Signature,
        }
    }

    /// HTTP status carried by the error, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Transport { status, .. } => *status,
            Error::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How a failed file operation reads (`file not found`, `permission denied`, ...).
pub fn file_io_reason(kind: std::io::ErrorKind) -> String {
    match kind {
        std::io::ErrorKind::NotFound => "file not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        k => format!("cannot read file ({k})"),
    }
}

/// How a failed socket operation reads (`connection refused`, `timeout`, ...).
pub fn socket_io_reason(kind: std::io::ErrorKind) -> String {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionReset => "connection reset".into(),
        K::ConnectionAborted => "connection aborted".into(),
        K::TimedOut | K::WouldBlock => "timeout".into(),
        K::UnexpectedEof => "connection closed unexpectedly".into(),
        K::HostUnreachable | K::NetworkUnreachable => "host unreachable".into(),
        k => format!("connection error ({k})"),
    }
}

impl fmt::Display for ConfigReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigReason::Io(io) => match io.doing {
                None => f.write_str(&file_io_reason(io.error.kind())),
                Some(doing) => write!(f, "{doing} ({})", file_io_reason(io.error.kind())),
            },
            ConfigReason::Database(Some(e)) => write!(f, "outbox database error ({:?}, {})", e.code, e.extended_code),
            ConfigReason::Database(None) => f.write_str("outbox database error (unexpected data)"),
            ConfigReason::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for ValidationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationReason::NotAnArray => f.write_str("the order must be an array"),
            ValidationReason::StringTooLong { max } => write!(f, "string longer than {max} bytes"),
            ValidationReason::TooMuchText { max } => write!(f, "more than {max} bytes of text in the order"),
            ValidationReason::TooDeep { max } => write!(f, "nested deeper than {max} levels"),
            ValidationReason::TooManyElements { max } => write!(f, "more than {max} elements"),
            ValidationReason::TooManyValues { max } => write!(f, "more than {max} values in the order"),
            ValidationReason::CardNumber => f.write_str("contains a payment card number"),
            ValidationReason::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for TransportReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportReason::Timeout(phase) => write!(f, "timeout ({phase})"),
            TransportReason::HostNotFound => f.write_str("host not found"),
            TransportReason::ConnectionFailed => f.write_str("connection failed"),
            TransportReason::Tls(s) | TransportReason::Other(s) => f.write_str(s),
            TransportReason::Io(e) => f.write_str(&socket_io_reason(e.kind())),
            TransportReason::Http(h) => fmt::Display::fmt(h, f),
            TransportReason::RequestTimeout => f.write_str("request timeout (408)"),
            TransportReason::RateLimited => f.write_str("rate limited (429)"),
            TransportReason::ServerError(s) => write!(f, "server error ({s})"),
            TransportReason::TokenEndpoint { status, code: None } => write!(f, "OAuth2 token endpoint error ({status})"),
            TransportReason::TokenEndpoint { status, code: Some(c) } => {
                write!(f, "OAuth2 token endpoint error ({status}, {c})")
            }
        }
    }
}

impl fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpFailure::HttpsOnly => "only https is allowed",
            HttpFailure::Redirect => "redirect refused",
            HttpFailure::HeadTooLarge => "response head too large",
            HttpFailure::BodyTooLarge => "response too large",
            HttpFailure::Malformed => "malformed HTTP response",
            HttpFailure::Stalled => "response stalled",
            HttpFailure::Failed => "request failed",
        })
    }
}

impl fmt::Display for RejectedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectedReason::Authentication => f.write_str("authentication rejected"),
            RejectedReason::Request => f.write_str("request rejected"),
            RejectedReason::Redirect => f.write_str("redirect (not followed) answered"),
            RejectedReason::OAuth2Client(code) => write!(f, "OAuth2 client credentials rejected ({code})"),
            RejectedReason::OAuth2Request(code) => write!(f, "OAuth2 token request refused ({code})"),
            RejectedReason::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for SignatureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureReason::MissingHeader(name) => write!(f, "missing {name} header"),
            SignatureReason::DuplicateHeader(name) => write!(f, "{name} header appears more than once"),
            SignatureReason::MalformedHeader(name) => write!(f, "malformed {name} header"),
            SignatureReason::TooOld(s) => write!(f, "timestamp too old (more than {s} s)"),
            SignatureReason::InFuture(s) => write!(f, "timestamp is in the future (more than {s} s)"),
            SignatureReason::NoMatch => f.write_str("no matching signature"),
            SignatureReason::Replay => f.write_str("replay: this webhook-id and webhook-timestamp were already accepted"),
            SignatureReason::NotJson => f.write_str("body is not valid JSON"),
            SignatureReason::NotContainer => f.write_str("body is not a JSON object or array"),
            SignatureReason::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { file, key: Some(key), reason } => {
                write!(f, "configuration error in {file}: {key}: {reason}")
            }
            Error::Config { file, key: None, reason } => {
                write!(f, "configuration error in {file}: {reason}")
            }
            Error::Validation { path, reason } if path.is_empty() => {
                write!(f, "order refused: {reason}")
            }
            Error::Validation { path, reason } => write!(f, "order refused: {path}: {reason}"),
            Error::Transport { host, reason, .. } => write!(f, "{host}: {reason}"),
            Error::Rejected { host, reason, status } => {
                write!(f, "{reason} by {host} ({status})")
            }
            Error::Signature { reason } => write!(f, "webhook refused: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config { reason: ConfigReason::Io(io), .. } => Some(io.error.0.as_ref()),
            Error::Transport { reason: TransportReason::Io(error), .. } => Some(error.0.as_ref()),
            Error::Config { reason: ConfigReason::Database(Some(e)), .. } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn messages_name_place_not_value() {
        let e = Error::config("/etc/sf.toml", Some("destinations.crm.url"), "only https:// URLs are allowed");
        assert_eq!(e.to_string(), "configuration error in /etc/sf.toml: destinations.crm.url: only https:// URLs are allowed");
        let e = Error::Rejected { host: "api.example.com".into(), status: 401, reason: RejectedReason::Authentication };
        assert_eq!(e.to_string(), "authentication rejected by api.example.com (401)");
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert_eq!(e.http_status(), Some(401));
        assert!(e.source().is_none());
    }

    #[test]
    fn io_errors_read_as_before_and_are_the_source() {
        let gone = std::io::Error::from_raw_os_error(2);
        let e = Error::config_io("/etc/sf/k", None, &gone);
        assert_eq!(e.to_string(), "configuration error in /etc/sf/k: file not found");
        let src = e.source().map(ToString::to_string).unwrap_or_default();
        assert!(src.contains("os error 2"), "{src}");
        let e = Error::config_io(
            "/var/lib/sf/o.sqlite",
            Some("cannot open the outbox database"),
            &std::io::Error::from_raw_os_error(13),
        );
        assert_eq!(
            e.to_string(),
            "configuration error in /var/lib/sf/o.sqlite: cannot open the outbox database (permission denied)"
        );
        // A custom payload (a value, potentially) is not kept.
        let custom = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "secret-value");
        let e = Error::transport_failed("api.example.com", TransportReason::Io(IoError::new(&custom)));
        assert_eq!(e.to_string(), "api.example.com: connection refused");
        assert!(!format!("{e:?} {}", e.source().map(ToString::to_string).unwrap_or_default()).contains("secret-value"));
        assert_eq!(e, e.clone());
    }

    #[test]
    fn error_stays_small() {
        // Every Result of the prepare path carries an Error's size.
        assert!(std::mem::size_of::<Error>() <= 72, "{}", std::mem::size_of::<Error>());
    }

    #[test]
    fn typed_reasons_keep_their_words() {
        let cases: [(Error, &str); 6] = [
            (Error::invalid("", ValidationReason::TooDeep { max: 32 }), "order refused: nested deeper than 32 levels"),
            (
                Error::invalid("billing.note", ValidationReason::CardNumber),
                "order refused: billing.note: contains a payment card number",
            ),
            (
                Error::Transport { host: "h".into(), reason: TransportReason::ServerError(503), status: Some(503) },
                "h: server error (503)",
            ),
            (
                Error::Transport {
                    host: "login".into(),
                    reason: TransportReason::TokenEndpoint { status: 503, code: Some("temporarily_unavailable".into()) },
                    status: Some(503),
                },
                "login: OAuth2 token endpoint error (503, temporarily_unavailable)",
            ),
            (Error::signature(SignatureReason::MissingHeader("webhook-id".into())), "webhook refused: missing webhook-id header"),
            (
                Error::Config { file: "/o".into(), key: None, reason: ConfigReason::Database(None) },
                "configuration error in /o: outbox database error (unexpected data)",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }
}
