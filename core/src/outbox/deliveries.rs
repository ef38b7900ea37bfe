//! The deliveries listing (`secure_forward_deliveries()`): events as facts,
//! filtered and paged. A row is exactly `event_id, destination, event, order_id,
//! site, state, attempts, http_status, reason, created_at, last_attempt_at,
//! next_attempt_at` (times as RFC 3339 UTC strings or null): never a payload, a
//! key, a token or a destination URL.
use serde_json::{json, Value};

use crate::audit;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{self, DeliveryQuery, DeliveryRow, EventState};

/// Rows per call when no `limit` is given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 500;
/// Longest destination, event or site accepted in a filter (bytes).
const MAX_TEXT: usize = 256;

/// A filter value as the caller gave it (the binding converts PHP values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// Anything else (its type name, for the message).
    Other(&'static str),
}

/// A checked filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// What the store selects.
    pub query: DeliveryQuery,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        DeliveryFilter { query: DeliveryQuery { limit: DEFAULT_LIMIT, ..DeliveryQuery::default() } }
    }
}

/// A key as it may appear in a message: printable ASCII, at most 40 bytes.
fn key_name(key: &str) -> String {
    let clean: String = key.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
    if clean.is_empty() {
        "(empty)".to_owned()
    } else {
        clean
    }
}

fn text(key: &str, v: FilterValue) -> Result<String> {
    match v {
        FilterValue::Str(s) if !s.is_empty() && s.len() <= MAX_TEXT && !s.chars().any(char::is_control) => Ok(s),
        FilterValue::Str(_) => Err(Error::validation(
            key,
            format!("must be a non-empty string of at most {MAX_TEXT} bytes without control characters"),
        )),
        FilterValue::Int(_) | FilterValue::Other(_) => Err(Error::validation(key, "must be a string")),
    }
}

fn int(key: &str, v: FilterValue) -> Result<i64> {
    match v {
        FilterValue::Int(i) => Ok(i),
        FilterValue::Str(s) if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| Error::validation(key, "must be an integer"))
        }
        FilterValue::Str(_) | FilterValue::Other(_) => Err(Error::validation(key, "must be an integer")),
    }
}

impl DeliveryFilter {
    /// Checks a filter: known keys, good values. An unknown key or a bad value is
    /// a validation error naming the key (never the value).
    pub fn parse(items: Vec<(String, FilterValue)>) -> Result<Self> {
        let mut f = DeliveryFilter::default();
        for (key, v) in items {
            match key.as_str() {
                "order_id" => {
                    let id = match v {
                        FilterValue::Int(i) if i >= 0 => i.to_string(),
                        FilterValue::Str(s) if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_digit()) => s,
                        _ => return Err(Error::validation("order_id", "must be a non-negative integer or digit string")),
                    };
                    f.query.order_key = Some(store::order_key(&id).into_owned());
                }
                "destination" => f.query.destination = Some(text("destination", v)?),
                "event" => f.query.event = Some(text("event", v)?),
                "site" => f.query.site = Some(text("site", v)?),
                "state" => {
                    let s = text("state", v)?;
                    f.query.state = Some(match s.as_str() {
                        "queued" => EventState::Queued,
                        "dead" => EventState::Dead,
                        "delivered" => EventState::Delivered,
                        _ => return Err(Error::validation("state", "must be queued, dead or delivered")),
                    });
                }
                "limit" => {
                    let n = int("limit", v)?;
                    f.query.limit = u32::try_from(n)
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| Error::validation("limit", format!("must be between 1 and {MAX_LIMIT}")))?;
                }
                "offset" => {
                    let n = int("offset", v)?;
                    f.query.offset = u64::try_from(n).map_err(|_| Error::validation("offset", "must be 0 or more"))?;
                }
                "order" => {
                    f.query.ascending = match text("order", v)?.as_str() {
                        "asc" => true,
                        "desc" => false,
                        _ => return Err(Error::validation("order", "must be asc or desc")),
                    };
                }
                _ => {
                    return Err(Error::validation(
                        key_name(&key),
                        "unknown filter key (order_id, destination, state, event, site, limit, offset, order)",
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// The matching events: `(total, rows)`, `total` counting every match.
pub fn deliveries(config: &Config, filter: &DeliveryFilter) -> Result<(u64, Vec<DeliveryRow>)> {
    store::with_store(&config.outbox, |db| db.deliveries(&filter.query))
}

/// One row as PHP sees it (exactly the documented keys, in order).
pub fn row_json(r: &DeliveryRow) -> Value {
    json!({
        "event_id": r.id,
        "destination": r.destination,
        "event": r.event,
        "order_id": r.order_id,
        "site": r.site,
        "state": r.state,
        "attempts": r.attempts,
        "http_status": r.http_status,
        "reason": r.reason.as_deref().map(crate::redact::redact),
        "created_at": audit::rfc3339_ms(r.created_at_ms),
        "last_attempt_at": r.last_attempt_ms.map(audit::rfc3339_ms),
        "next_attempt_at": r.next_attempt_ms.map(audit::rfc3339_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> FilterValue {
        FilterValue::Str(v.to_owned())
    }

    #[test]
    fn parses_every_key_and_defaults() {
        let f = DeliveryFilter::parse(vec![]).unwrap();
        assert_eq!((f.query.limit, f.query.offset, f.query.ascending), (DEFAULT_LIMIT, 0, false));
        let f = DeliveryFilter::parse(vec![
            ("order_id".into(), s("007")),
            ("destination".into(), s("crm")),
            ("state".into(), s("dead")),
            ("event".into(), s("order.completed")),
            ("limit".into(), FilterValue::Int(500)),
            ("offset".into(), s("20")),
            ("order".into(), s("asc")),
        ])
        .unwrap();
        assert_eq!(f.query.order_key.as_deref(), Some("7"));
        assert_eq!(f.query.destination.as_deref(), Some("crm"));
        assert_eq!(f.query.state, Some(EventState::Dead));
        assert_eq!(f.query.event.as_deref(), Some("order.completed"));
        assert_eq!((f.query.limit, f.query.offset, f.query.ascending), (500, 20, true));
        assert_eq!(
            DeliveryFilter::parse(vec![("order_id".into(), FilterValue::Int(7))]).unwrap().query.order_key.as_deref(),
            Some("7")
        );
    }

    #[test]
    fn refuses_bad_keys_and_values_naming_the_key_not_the_value() {
        let bad: Vec<(&str, FilterValue, &str)> = vec![
            ("payload", FilterValue::Int(1), "payload"),
            ("limit", FilterValue::Int(0), "limit"),
            ("limit", FilterValue::Int(501), "limit"),
            ("limit", s("x"), "limit"),
            ("offset", FilterValue::Int(-1), "offset"),
            ("state", s("undecryptable"), "state"),
            ("order", s("up"), "order"),
            ("order_id", s("1 OR 1=1"), "order_id"),
            ("order_id", FilterValue::Int(-3), "order_id"),
            ("destination", FilterValue::Other("array"), "destination"),
            ("event", s(""), "event"),
            ("site", s("a\nb"), "site"),
        ];
        for (k, v, name) in bad {
            let e = DeliveryFilter::parse(vec![(k.to_owned(), v)]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(name), "{k}: {msg}");
            assert!(!msg.contains("1=1") && !msg.contains("undecryptable\"") && !msg.contains("up\""), "{msg}");
        }
        let long = format!("\u{1}{}TAILWORD", "k".repeat(40));
        let e = DeliveryFilter::parse(vec![(long, FilterValue::Int(1))]).unwrap_err();
        assert!(e.to_string().contains(&"k".repeat(40)) && !e.to_string().contains("TAILWORD"), "a key is cut to 40 bytes: {e}");
    }

    #[test]
    fn a_row_has_exactly_the_documented_keys() {
        let r = DeliveryRow {
            id: "evt_1".into(),
            destination: "crm".into(),
            event: "order.completed".into(),
            order_id: "007".into(),
            site: None,
            state: "queued".into(),
            attempts: 2,
            http_status: Some(503),
            reason: Some("server error (503)".into()),
            created_at_ms: 1_700_000_000_000,
            last_attempt_ms: Some(1_700_000_001_000),
            next_attempt_ms: None,
        };
        let v = row_json(&r);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "event_id",
                "destination",
                "event",
                "order_id",
                "site",
                "state",
                "attempts",
                "http_status",
                "reason",
                "created_at",
                "last_attempt_at",
                "next_attempt_at"
            ]
        );
        assert_eq!(v["created_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["next_attempt_at"], Value::Null);
    }
}
