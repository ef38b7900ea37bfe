//! The one internal error type. Each variant maps to one PHP exception class
//! under `SecureForward\Exception`. Messages name a file, a field path or a host;
//! they never carry a value from the order, a key or a secret.
use std::fmt;

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
pub enum Error {
    /// The configuration (file, key or secret file) is unusable.
    Config {
        /// The file at fault (config file, key file, ...).
        file: String,
        /// The TOML key at fault, dotted (`destinations.crm.url`), if any.
        key: Option<String>,
        /// What is wrong, without any value.
        reason: String,
    },
    /// The order was refused before anything was stored or sent.
    Validation {
        /// Path of the field at fault (`line_items[2].sku`), or empty for the whole order.
        path: String,
        /// What is wrong, without the value.
        reason: String,
    },
    /// TLS, connection, timeout or 5xx: the request did not succeed, may be retried.
    Transport {
        /// Host name of the destination.
        host: String,
        /// Short reason (`tls: certificate expired`, `timeout`, `server error (503)`).
        reason: String,
        /// HTTP status, when the server answered.
        status: Option<u16>,
    },
    /// The endpoint answered 4xx (or redirected): not retried.
    Rejected {
        /// Host name of the destination.
        host: String,
        /// HTTP status.
        status: u16,
        /// Short reason.
        reason: String,
    },
    /// Inbound webhook verification failed.
    Signature {
        /// Which check failed.
        reason: String,
    },
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A configuration error about `file`, optionally a `key` in it.
    pub fn config(file: impl Into<String>, key: Option<&str>, reason: impl Into<String>) -> Self {
        Error::Config { file: file.into(), key: key.map(str::to_owned), reason: reason.into() }
    }

    /// A validation error at `path`.
    pub fn validation(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Validation { path: path.into(), reason: reason.into() }
    }

    /// A transport error talking to `host`.
    pub fn transport(host: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Transport { host: host.into(), reason: reason.into(), status: None }
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

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_place_not_value() {
        let e = Error::config("/etc/sf.toml", Some("destinations.crm.url"), "only https:// URLs are allowed");
        assert_eq!(e.to_string(), "configuration error in /etc/sf.toml: destinations.crm.url: only https:// URLs are allowed");
        let e = Error::Rejected { host: "api.example.com".into(), status: 401, reason: "authentication rejected".into() };
        assert_eq!(e.to_string(), "authentication rejected by api.example.com (401)");
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert_eq!(e.http_status(), Some(401));
    }
}
