//! What a destination's request looks like (issue #18), as validated data:
//! `method`, `url` with placeholders or the secret `url_file`, static
//! `headers`, `key_prefix`, `events` and the compiled `[destinations.NAME.body]`.
//! Compiled once per configuration load; nothing here opens a connection.
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::shape::{Headers, Shape, UrlTemplate};

/// `method = ...` of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `POST` (default).
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
}

impl Method {
    /// `POST`, `PUT` or `PATCH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

/// Where the URL comes from.
#[derive(Debug)]
pub enum Target {
    /// `url` as written; `template` when it holds placeholders.
    Url {
        /// The URL (never shown: it may carry a query).
        url: String,
        /// Its placeholders, compiled (`None`: the same URL for every order).
        template: Option<UrlTemplate>,
    },
    /// `url_file`: a 0600 file whose content is the URL (the URL is the secret:
    /// Slack, Teams, Discord, Zapier hooks). Read like a key at send time; only
    /// its host is ever shown.
    File(PathBuf),
}

/// The request settings of one destination.
#[derive(Debug)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// URL source.
    pub target: Target,
    /// Static headers (`Content-Type`, `Accept` and others).
    pub headers: Headers,
    /// `key_prefix`: written before the key in the key header (`Klaviyo-API-Key `).
    pub key_prefix: Option<String>,
    /// `events`: the events this destination receives (`None`: the caller's default).
    pub events: Option<Vec<String>>,
    /// `[destinations.NAME.body]`, compiled against the policy.
    pub body: Option<Shape>,
    /// The body's constant strings (no one's data): left as they are when an
    /// API's error message is stripped of the values the request carried.
    pub constants: Vec<String>,
}

/// The raw request keys of a `[destinations.NAME]` table.
pub(crate) struct RawRequest {
    pub method: Option<String>,
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    pub headers: Option<toml::Table>,
    pub key_prefix: Option<String>,
    pub events: Option<Vec<String>>,
    pub body: Option<toml::Value>,
}

/// Validates the request keys of destination `name`; returns them and the
/// destination's host (from `url`, or read from `url_file`).
pub(crate) fn build(
    file: &str,
    name: &str,
    raw: RawRequest,
    key_header: Option<&str>,
    policy: &Policy,
) -> Result<(Request, String)> {
    let key_of = |k: &str| format!("destinations.{name}.{k}");
    let err = |k: &str, reason: String| Error::config(file, Some(&key_of(k)), reason);
    let method = match raw.method.as_deref() {
        None | Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some(_) => return Err(err("method", "must be \"POST\", \"PUT\" or \"PATCH\"".into())),
    };
    let selected = |p: &str| policy.selects(p);
    let (target, host) = match (raw.url, raw.url_file) {
        (Some(_), Some(_)) => return Err(err("url_file", "set either url or url_file, not both".into())),
        (None, None) => return Err(err("url", "required (or url_file)".into())),
        (Some(url), None) => {
            let template = UrlTemplate::compile(&url, &selected, file, name)?;
            // The placeholders are checked by the template; the rest must be a plain https URL.
            let probe = if template.is_static() { url.clone() } else { template.head().to_owned() + "/" };
            let host = super::https_host(&probe).map_err(|reason| err("url", reason))?;
            let template = (!template.is_static()).then_some(template);
            (Target::Url { url, template }, host)
        }
        (None, Some(path)) => {
            let host = secret_url_host(&path).map_err(|e| match e {
                Error::Config { .. } => e,
                other => err("url_file", other.to_string()),
            })?;
            (Target::File(path), host)
        }
    };
    let headers = match &raw.headers {
        Some(t) => Headers::compile(t, key_header, file, name)?,
        None => Headers::default(),
    };
    if let Some(p) = &raw.key_prefix {
        if p.is_empty() || p.len() > 64 || p.bytes().any(|b| b.is_ascii_control() || !b.is_ascii()) {
            return Err(err("key_prefix", "must be 1-64 printable ASCII characters".into()));
        }
    }
    let events = match raw.events {
        None => None,
        Some(list) => {
            if list.is_empty() {
                return Err(err("events", "list at least one event (or leave the key out)".into()));
            }
            for e in &list {
                if super::check_event(e).is_err() {
                    return Err(err("events", "each event is 1-64 characters of letters, digits, '.', '_' or '-'".into()));
                }
            }
            Some(list)
        }
    };
    let field_slot = |p: &str| policy.field_slot(p);
    let list_slot = |p: &str| policy.list_slot(p);
    let body =
        raw.body.as_ref().map(|b| Shape::compile_with_slots(b, &selected, &field_slot, &list_slot, file, name)).transpose()?;
    let mut constants = Vec::new();
    if let Some(b) = &raw.body {
        constant_strings(b, &mut constants);
    }
    Ok((Request { method, target, headers, key_prefix: raw.key_prefix, events, body, constants }, host))
}

/// The strings of a body table that are not templates (no braces).
fn constant_strings(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::String(s) if !s.contains(['{', '}']) => out.push(s.clone()),
        toml::Value::Array(a) => a.iter().for_each(|x| constant_strings(x, out)),
        toml::Value::Table(t) => t.values().for_each(|x| constant_strings(x, out)),
        _ => {}
    }
}

/// The host of the URL held in `path` (a secret file, checked like a key file).
pub fn secret_url_host(path: &std::path::Path) -> Result<String> {
    let shown = path.display().to_string();
    let secret = crate::secret::load_file_cached(path)?;
    let text = std::str::from_utf8(secret.expose()).map_err(|_| Error::config(&shown, None, "not valid UTF-8"))?;
    if text.contains(['{', '}']) || text.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(Error::config(&shown, None, "must hold one https URL on one line, without placeholders"));
    }
    super::https_host(text).map_err(|reason| Error::config(&shown, None, reason))
}
