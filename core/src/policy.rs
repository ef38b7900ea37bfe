//! What leaves the store. (Issue 2 baseline: a fixed allowlist. The policy engine
//! of issue 3 replaces this module.)
use crate::error::{Error, Result};
use crate::node::{Node, Scalar};

/// A compiled per-destination policy.
#[derive(Debug, Clone)]
pub struct Policy {
    fields: &'static [&'static str],
    item_fields: &'static [&'static str],
}

/// The minimised order, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The exact JSON body.
    pub body: Vec<u8>,
    /// The order id (digits), for the event id and the audit log.
    pub order_id: String,
}

const FIELDS: &[&str] = &["id", "number", "status", "currency", "total", "date_created", "date_paid"];
const ITEM_FIELDS: &[&str] = &["product_id", "variation_id", "sku", "name", "quantity", "total"];

impl Policy {
    /// Compiles the `[destinations.NAME.policy]` table (`None`: the default).
    pub fn compile(raw: Option<&toml::Table>, file: &str, key: &str) -> Result<Policy> {
        if raw.is_some() {
            return Err(Error::config(file, Some(key), "policy sections are not supported yet"));
        }
        Ok(Policy { fields: FIELDS, item_fields: ITEM_FIELDS })
    }

    /// Applies the policy to an order.
    pub fn apply<N: Node>(&self, order: &N) -> Result<Prepared> {
        if order.scalar() != Scalar::Array {
            return Err(Error::validation("", "the order must be an array"));
        }
        let order_id = match order.get("id").map(Node::scalar) {
            Some(Scalar::Int(i)) if i > 0 => i.to_string(),
            Some(Scalar::Str(s)) if !s.is_empty() && s.iter().all(u8::is_ascii_digit) => {
                String::from_utf8_lossy(s).into_owned()
            }
            Some(_) => return Err(Error::validation("id", "must be a positive integer")),
            None => return Err(Error::validation("id", "is required")),
        };
        let mut out = serde_json::Map::new();
        for f in self.fields {
            if let Some(v) = order.get(f) {
                out.insert((*f).to_owned(), scalar_json(v, f)?);
            }
        }
        if let Some(items) = order.get("line_items") {
            let mut list = Vec::new();
            items.for_each(|k, item| {
                let path = match k {
                    crate::node::Key::Int(i) => format!("line_items[{i}]"),
                    crate::node::Key::Str(_) => "line_items[]".to_owned(),
                };
                let mut o = serde_json::Map::new();
                for f in self.item_fields {
                    if let Some(v) = item.get(f) {
                        o.insert((*f).to_owned(), scalar_json(v, &format!("{path}.{f}"))?);
                    }
                }
                list.push(serde_json::Value::Object(o));
                Ok(())
            })?;
            out.insert("line_items".into(), serde_json::Value::Array(list));
        }
        let body = serde_json::to_vec(&serde_json::Value::Object(out))
            .map_err(|_| Error::validation("", "cannot be serialised"))?;
        Ok(Prepared { body, order_id })
    }
}

fn scalar_json<N: Node>(v: &N, path: &str) -> Result<serde_json::Value> {
    Ok(match v.scalar() {
        Scalar::Null => serde_json::Value::Null,
        Scalar::Bool(b) => serde_json::Value::Bool(b),
        Scalar::Int(i) => serde_json::Value::from(i),
        Scalar::Float(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| Error::validation(path, "is not a finite number"))?,
        Scalar::Str(s) => serde_json::Value::String(
            std::str::from_utf8(s).map_err(|_| Error::validation(path, "is not valid UTF-8"))?.to_owned(),
        ),
        Scalar::Array => return Err(Error::validation(path, "must be a scalar, not an array")),
        Scalar::Other(t) => return Err(Error::validation(path, format!("must be a scalar, not {t}"))),
    })
}
