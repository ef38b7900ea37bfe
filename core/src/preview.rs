//! What a request would look like, without sending it
//! (`secure_forward_preview()`), and the configured destinations
//! (`secure_forward_destinations()`). Never a secret: the key header and
//! `Authorization` show as `[REDACTED]`, a `url_file` URL as its host only.
use serde_json::{json, Value};

use crate::config::{AuthConfig, Config, Destination, Target};
use crate::error::Result;
use crate::forward;
use crate::node::Node;
use crate::redact::SECRET_MASK;

/// A request as it would be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// `POST`, `PUT` or `PATCH`.
    pub method: &'static str,
    /// The URL (for `url_file`: `https://HOST` only).
    pub url: String,
    /// Every header sent, in order; secret values as `[REDACTED]`.
    pub headers: Vec<(String, String)>,
    /// The exact JSON body.
    pub body: Vec<u8>,
    /// The event id (`Idempotency-Key`).
    pub event_id: String,
}

/// The request `order` would make to `dest` for `event`.
pub fn preview<N: Node>(dest: &Destination, order: &N, event: &str) -> Result<Preview> {
    forward::check_event(event)?;
    let (prepared, rendered) = forward::prepare_request(dest, order)?;
    let event_id = forward::event_id(&dest.name, &prepared.order_id, event, &prepared.body);
    let url = match (&dest.request.target, rendered) {
        (Target::File(_), _) => format!("https://{}", dest.host),
        (_, Some(u)) => u,
        (Target::Url { url, .. }, None) => url.clone(),
    };
    let mut headers: Vec<(String, String)> = vec![
        ("Content-Type".into(), dest.request.headers.content_type().into()),
        ("Accept".into(), dest.request.headers.accept().into()),
        ("User-Agent".into(), crate::transport::USER_AGENT.into()),
    ];
    let signed: Vec<(&str, &str)> = match &dest.signing_secret_file {
        Some(_) => vec![
            (crate::signing::HEADER_ID, event_id.as_str()),
            (crate::signing::HEADER_TIMESTAMP, "[at send time]"),
            (crate::signing::HEADER_SIGNATURE, SECRET_MASK),
        ],
        None => Vec::new(),
    };
    for (n, v) in forward::request_headers(dest, &event_id, event, &signed, &[]) {
        headers.push((n.to_owned(), v.to_owned()));
    }
    let credential = match &dest.auth {
        AuthConfig::Header => dest.key.as_ref().map(|_| dest.key_header.clone()),
        AuthConfig::Bearer | AuthConfig::Basic { .. } | AuthConfig::OAuth2(_) => Some("Authorization".to_owned()),
    };
    if let Some(name) = credential {
        headers.push((name, SECRET_MASK.to_owned()));
    }
    Ok(Preview { method: dest.request.method.as_str(), url, headers, body: prepared.body, event_id })
}

/// The configured destinations: name, host, method, auth mode and events
/// (`null`: the caller's default events). No secret, no URL path.
pub fn destinations(config: &Config) -> Value {
    let list: Vec<Value> = config
        .destinations
        .values()
        .map(|d| {
            json!({
                "name": d.name,
                "host": d.host,
                "method": d.request.method.as_str(),
                "auth": d.auth.name(),
                "events": d.request.events,
                "shaped": d.request.body.is_some(),
            })
        })
        .collect();
    Value::Array(list)
}
