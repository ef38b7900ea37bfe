//! Data minimisation: what leaves the store, and in what form.
//!
//! A [`Policy`] is compiled from `[destinations.NAME.policy]` (or the built-in
//! default) and applied to an order walked in place through [`Node`]:
//!
//! 1. **Bounds** over the whole input, allocation-free: depth ≤ [`MAX_DEPTH`],
//!    ≤ [`MAX_STRING_BYTES`] per string (keys included), ≤ [`MAX_TOTAL_STRING_BYTES`]
//!    of strings in total, ≤ [`MAX_ELEMENTS`] entries per array, ≤ [`MAX_VALUES`]
//!    entries in all arrays together.
//! 2. **The order id** (`id`: positive integer or digit string) is required.
//! 3. **Selected fields only** are read, in the order of `fields`, and each is
//!    checked: a scalar (arrays, objects and resources are refused), valid UTF-8,
//!    no control characters other than tab, CR and LF; money fields (last key
//!    `total`, `subtotal`, `amount`, `discount`, `price`, or ending in `_total` /
//!    `_tax`, except the boolean `prices_include_tax`) must be numbers or decimal strings (`-?digits[.digits]`); id fields
//!    (last key `id`, `number`, or one of the numeric WooCommerce `*_id` keys, see
//!    [`ID_KEYS`]) must be non-negative integers or digit strings. `null` is
//!    passed through as `null`; a missing field is left out. A field
//!    `meta:KEY` is the `value` of the first `meta_data` entry whose `key` is
//!    `KEY` (checked the same way, its kind taken from `KEY`); it is sent as
//!    `"meta:KEY"` unless renamed.
//! 4. **Transforms**: consent gate, then pseudonymize (HMAC-SHA256 hex with the
//!    pepper; a value containing `@` is trimmed and lower-cased first) or
//!    truncate-then-mask (characters, not bytes), then rename.
//! 5. **Card numbers**: every outgoing string and integer except pseudonyms is
//!    scanned (see [`crate::luhn`]); `refuse` fails the whole order naming the
//!    path, `redact` replaces the digits with `*` keeping the separators.
//!
//! Output keys come in the order of the `fields` list (first mention of each
//! parent); list elements keep their input order; the JSON is written directly
//! (no intermediate tree), so the same input gives the same bytes. Objects with
//! nothing to send are left out; an empty input list is sent as `[]`, a list
//! whose elements yield nothing at all is left out. `[]` also walks PHP arrays
//! with string keys (sent as a list, keys dropped). Renaming: outside lists a
//! dotted target nests from the top (`customer.ref`), a plain one goes to the
//! top level; inside lists only the last key can be renamed (plain name).
//!
//! Every violation is a `Validation` error naming the path (`line_items[3].total`,
//! indices counted by position; an order key that is not a usual name shows by
//! its position, `line_items[3].<key #2>`, see `bounds`); there is never a
//! partial result or a panic.
//!
//! Modules: [`config`] (the TOML table as plain data), `compile` (paths, kinds,
//! the output tree), `emit` (writing the body), `scan` (byte classes),
//! `transform` (pseudonyms, masks, consent), `bounds` (the size walk).
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::node::{FieldKey, Node, Scalar};
use crate::secret::load_file_cached;

mod bounds;
mod compile;
pub mod config;
mod emit;
mod scan;
mod transform;

pub use config::{OnCardNumber, PolicyConfig};
pub use transform::{mask_chars, pseudonym, truncate_chars};

use compile::{show, JsonKey, Out};
use transform::{consent_granted, HmacCache};

/// Deepest nesting of arrays in an order (the order itself is level 1).
pub const MAX_DEPTH: usize = 16;
/// Longest string (value or key), in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Most string bytes in a whole order.
pub const MAX_TOTAL_STRING_BYTES: usize = 1024 * 1024;
/// Most entries in one array.
pub const MAX_ELEMENTS: usize = 1000;
/// Most entries in all arrays of an order together (a real order has a few
/// hundred; a thousand line items of twenty fields are 20,000).
pub const MAX_VALUES: usize = 100_000;
/// The five bounds together.
pub const LIMITS: crate::node::Limits = crate::node::Limits {
    max_depth: MAX_DEPTH,
    max_string_bytes: MAX_STRING_BYTES,
    max_total_string_bytes: MAX_TOTAL_STRING_BYTES,
    max_elements: MAX_ELEMENTS,
    max_values: MAX_VALUES,
};

/// Last keys that are ids (besides `id`): integers or digit strings.
pub const ID_KEYS: &[&str] =
    &["id", "number", "order_id", "parent_id", "customer_id", "product_id", "variation_id", "rate_id", "instance_id"];

/// The built-in default field list (used without a policy section, or when a
/// section has no `fields`).
pub const DEFAULT_FIELDS: &[&str] = &[
    "id",
    "number",
    "status",
    "currency",
    "total",
    "subtotal",
    "total_tax",
    "shipping_total",
    "discount_total",
    "date_created",
    "date_paid",
    "date_completed",
    "payment_method",
    "prices_include_tax",
    "billing.country",
    "line_items[].product_id",
    "line_items[].variation_id",
    "line_items[].sku",
    "line_items[].name",
    "line_items[].quantity",
    "line_items[].subtotal",
    "line_items[].total",
    "line_items[].total_tax",
    "shipping_lines[].method_id",
    "shipping_lines[].method_title",
    "shipping_lines[].total",
    "shipping_lines[].total_tax",
    "fee_lines[].name",
    "fee_lines[].total",
    "fee_lines[].total_tax",
    "coupon_lines[].code",
    "coupon_lines[].discount",
    "coupon_lines[].discount_tax",
    "refunds[].amount",
    "refunds[].date_created",
    // refund.created: the refund itself (never its free-text reason).
    "refund.id",
    "refund.amount",
    "refund.date_created",
    "refund.refunded_payment",
    "refund.line_items[].product_id",
    "refund.line_items[].sku",
    "refund.line_items[].quantity",
    "refund.line_items[].total",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Each,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Money,
    Id,
}

#[derive(Debug, Clone)]
enum Consent {
    Meta(String),
    Path(Vec<String>),
}

#[derive(Debug, Clone)]
struct Field {
    path: String,
    segs: Vec<Seg>,
    out: Vec<Seg>,
    has_each: bool,
    kind: Kind,
    pseudonymize: bool,
    mask: Option<usize>,
    truncate: Option<usize>,
    rename: Option<String>,
    consent: Option<(String, Consent)>,
    /// `meta:KEY`: the meta entry's key.
    meta: Option<String>,
}

/// A compiled per-destination policy.
#[derive(Debug, Clone)]
pub struct Policy {
    fields: Vec<Field>,
    out: Vec<(JsonKey, Out)>,
    any_consent: bool,
    on_card: OnCardNumber,
    pepper_file: Option<PathBuf>,
    needs_pepper: bool,
    is_default: bool,
    /// The HMAC key schedule of the current pepper, kept while the pepper file
    /// is unchanged (rebuilding it costs two SHA-256 blocks per pseudonym).
    hmac: HmacCache,
    /// `id`, prepared for lookups.
    id_key: FieldKey,
}

/// The minimised order, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The exact JSON body.
    pub body: Vec<u8>,
    /// The order id (digits), for the event id and the audit log.
    pub order_id: String,
}

/// The order id of an accepted order, as the order holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderId<'a> {
    /// A positive integer.
    Int(i64),
    /// A digit string (not all zeros, at most 20 digits).
    Digits(&'a [u8]),
}

impl Policy {
    /// What the policy sends and how, for `secure_forward_policy()`. Shows the
    /// pepper's path and fingerprint, never the pepper.
    pub fn describe(&self) -> Value {
        let mut pseudonymize = Vec::new();
        let (mut mask, mut truncate, mut rename, mut consent) = (Map::new(), Map::new(), Map::new(), Map::new());
        let mut outputs = Map::new();
        for f in &self.fields {
            if f.pseudonymize {
                pseudonymize.push(Value::from(f.path.clone()));
            }
            if let Some(n) = f.mask {
                mask.insert(f.path.clone(), n.into());
            }
            if let Some(n) = f.truncate {
                truncate.insert(f.path.clone(), n.into());
            }
            if let Some(r) = &f.rename {
                rename.insert(f.path.clone(), r.clone().into());
            }
            if let Some((src, _)) = &f.consent {
                consent.insert(f.path.clone(), src.clone().into());
            }
            outputs.insert(f.path.clone(), show(&f.out).into());
        }
        let pepper = self.pepper_file.as_ref().map(|p| {
            serde_json::json!({
                "path": p.display().to_string(),
                // A pepper may be low-entropy: no plain fingerprint leaves (see crate::fingerprint).
                "set": load_file_cached(p).is_ok(),
                "fingerprint": serde_json::Value::Null,
            })
        });
        serde_json::json!({
            "default": self.is_default,
            "fields": self.fields.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
            "output": outputs,
            "transforms": {
                "pseudonymize": pseudonymize,
                "mask": mask,
                "truncate": truncate,
                "rename": rename,
                "require_consent": consent,
            },
            "on_card_number": match self.on_card { OnCardNumber::Refuse => "refuse", OnCardNumber::Redact => "redact" },
            "pepper": pepper,
            "limits": {
                "max_depth": MAX_DEPTH,
                "max_string_bytes": MAX_STRING_BYTES,
                "max_total_string_bytes": MAX_TOTAL_STRING_BYTES,
                "max_elements": MAX_ELEMENTS,
                "max_values": MAX_VALUES,
            },
        })
    }

    /// Applies the policy to an order.
    pub fn apply<N: Node>(&self, order: &N) -> Result<Prepared> {
        let mut body = Vec::with_capacity(1024);
        let id = self.apply_into(order, &mut body)?;
        let order_id = match id {
            OrderId::Int(i) => i.to_string(),
            OrderId::Digits(s) => String::from_utf8_lossy(s).into_owned(),
        };
        Ok(Prepared { body, order_id })
    }

    /// [`Policy::apply`] writing the body into `body` (cleared first, so that a
    /// caller can reuse one buffer); returns the order id as found. On error
    /// `body` holds nothing usable.
    pub fn apply_into<'o, N: Node>(&self, order: &'o N, body: &mut Vec<u8>) -> Result<OrderId<'o>> {
        body.clear();
        if order.scalar() != Scalar::Array {
            return Err(Error::validation("", "the order must be an array"));
        }
        bounds::check_bounds(order)?;
        let order_id = match order.get_key(&self.id_key).map(Node::scalar) {
            Some(Scalar::Int(i)) if i > 0 => OrderId::Int(i),
            Some(Scalar::Str(s))
                if !s.is_empty() && s.len() <= 20 && s.iter().all(u8::is_ascii_digit) && s.iter().any(|b| *b != b'0') =>
            {
                OrderId::Digits(s)
            }
            Some(_) => return Err(Error::validation("id", "must be a positive integer")),
            None => return Err(Error::validation("id", "is required")),
        };
        let hmac = match &self.pepper_file {
            Some(p) if self.needs_pepper => Some(self.hmac.key(&load_file_cached(p)?)),
            _ => None,
        };
        let granted: Vec<bool> = if self.any_consent {
            self.fields.iter().map(|f| f.consent.as_ref().is_none_or(|(_, c)| consent_granted(order, c))).collect()
        } else {
            Vec::new()
        };
        emit::write(self, hmac.as_ref(), &granted, order, body)?;
        Ok(order_id)
    }
}
