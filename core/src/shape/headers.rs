//! `headers = { ... }`: static, non-secret request headers.
//!
//! Refused (ConfigException naming the header): `Host`, `Content-Length`,
//! `Transfer-Encoding`, `Connection`, `Authorization`, the destination's key
//! header, `Idempotency-Key`, `webhook-*` (the signing headers), the other
//! hop-by-hop headers (`Keep-Alive`, `Upgrade`, `TE`, `Trailer`,
//! `Proxy-Connection`, `Expect`), a name that is not an HTTP token, a value with
//! CR, LF or any other control byte, a name given twice (case-insensitively), a
//! value that is not a string or holds a card number. `Content-Type` and
//! `Accept` may be set (both default to `application/json`).
use crate::error::{Error, Result};
use crate::luhn;

/// Names never accepted from `headers` (lower case).
const FORBIDDEN: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "authorization",
    "idempotency-key",
    // Set by the extension on every request: a second copy would be ambiguous.
    "x-event-type",
    "user-agent",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "expect",
];

/// The default of `Content-Type` and `Accept`.
pub const JSON: &str = "application/json";

/// Compiled static headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    content_type: Option<String>,
    accept: Option<String>,
    /// Other headers, in the configuration's order.
    other: Vec<(String, String)>,
}

fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Headers {
    /// Compiles `destinations.DEST.headers` of `file`; `key_header` is the
    /// header carrying the API key (`auth = "header"`), refused here too.
    pub fn compile(table: &toml::Table, key_header: Option<&str>, file: &str, dest: &str) -> Result<Headers> {
        let mut h = Headers::default();
        let mut seen: Vec<String> = Vec::with_capacity(table.len());
        for (name, value) in table {
            let key = format!("destinations.{dest}.headers");
            let err = |reason: String| Error::config(file, Some(&key), reason);
            if name.bytes().any(|b| b.is_ascii_control() || !b.is_ascii()) {
                return Err(err("a header name holds a control or non-ASCII byte".to_owned()));
            }
            if !is_token(name) {
                return Err(err(format!("\"{name}\" is not a valid header name")));
            }
            let lower = name.to_ascii_lowercase();
            if FORBIDDEN.contains(&lower.as_str()) || lower.starts_with("webhook-") {
                return Err(err(format!("\"{name}\" can not be set here")));
            }
            if key_header.is_some_and(|k| k.eq_ignore_ascii_case(name)) {
                return Err(err(format!("\"{name}\" is the key header")));
            }
            if seen.contains(&lower) {
                return Err(err(format!("\"{name}\" is given twice")));
            }
            let Some(v) = value.as_str() else {
                return Err(err(format!("\"{name}\": the value must be a string")));
            };
            if v.bytes().any(|b| b.is_ascii_control()) {
                return Err(err(format!("\"{name}\": the value holds CR, LF or another control byte")));
            }
            if luhn::may_hold_card_number(v.as_bytes()) && luhn::contains_card_number(v) {
                return Err(err(format!("\"{name}\": the value holds a card number")));
            }
            match lower.as_str() {
                "content-type" => h.content_type = Some(v.to_owned()),
                "accept" => h.accept = Some(v.to_owned()),
                _ => h.other.push((name.clone(), v.to_owned())),
            }
            seen.push(lower);
        }
        Ok(h)
    }

    /// `Content-Type` of the request.
    pub fn content_type(&self) -> &str {
        self.content_type.as_deref().unwrap_or(JSON)
    }

    /// `Accept` of the request.
    pub fn accept(&self) -> &str {
        self.accept.as_deref().unwrap_or(JSON)
    }

    /// The other headers, in the configuration's order.
    pub fn other(&self) -> impl Iterator<Item = (&str, &str)> {
        self.other.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}
