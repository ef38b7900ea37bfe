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
//!    passed through as `null`; a missing field is left out.
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
//! indices counted by position); there is never a partial result or a panic.
use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::luhn;
use crate::node::{FieldKey, Key, Node, Scalar};
use crate::secret::{hex, load_file_cached, Secret};

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
];

const KNOWN_KEYS: &[&str] =
    &["fields", "pseudonymize", "mask", "truncate", "rename", "require_consent", "pepper_file", "on_card_number"];

/// What to do with a card number in an outgoing field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCardNumber {
    /// Refuse the whole order (default).
    Refuse,
    /// Replace the digits with `*`.
    Redact,
}

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

/// The pepper's HMAC key, cached next to the `Arc<Secret>` it was made from: a
/// replaced pepper file gives a new `Arc` (see [`load_file_cached`]) and so a
/// new key. A clone starts empty.
#[derive(Default)]
struct HmacCache(std::sync::Mutex<Option<(std::sync::Arc<Secret>, ring::hmac::Key)>>);

impl HmacCache {
    fn key(&self, pepper: &std::sync::Arc<Secret>) -> ring::hmac::Key {
        let mut slot = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &*slot {
            Some((p, k)) if std::sync::Arc::ptr_eq(p, pepper) => k.clone(),
            _ => {
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pepper.expose());
                *slot = Some((std::sync::Arc::clone(pepper), k.clone()));
                k
            }
        }
    }
}

impl Clone for HmacCache {
    fn clone(&self) -> Self {
        HmacCache::default()
    }
}

impl std::fmt::Debug for HmacCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacCache([REDACTED])")
    }
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

/// Parses `a.b`, `a[].b`, `a[]`: keys of letters, digits, `_` and `-`.
fn parse_path(s: &str) -> Option<Vec<Seg>> {
    if s.is_empty() {
        return None;
    }
    let mut segs = Vec::new();
    for part in s.split('.') {
        let (name, each) = match part.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (part, false),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return None;
        }
        segs.push(Seg::Key(name.to_owned()));
        if each {
            segs.push(Seg::Each);
        }
    }
    Some(segs)
}

fn show(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Each => s.push_str("[]"),
        }
    }
    s
}

fn kind_of(segs: &[Seg]) -> Kind {
    let last = segs.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Each => None,
    });
    match last {
        Some(k) if ID_KEYS.contains(&k) => Kind::Id,
        Some("prices_include_tax") => Kind::Plain,
        Some(k)
            if ["total", "subtotal", "amount", "discount", "price"].contains(&k)
                || k.ends_with("_total")
                || k.ends_with("_tax") =>
        {
            Kind::Money
        }
        _ => Kind::Plain,
    }
}

/// Whether one output path is a prefix of (or equal to) the other, or they
/// disagree on list vs. object at the same place.
fn conflicts(a: &[Seg], b: &[Seg]) -> bool {
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Seg::Key(p), Seg::Key(q)) if p != q => return false,
            (Seg::Key(_), Seg::Key(_)) | (Seg::Each, Seg::Each) => {}
            _ => return true,
        }
    }
    true
}

struct Compiler<'a> {
    file: &'a str,
    key: &'a str,
}

impl Compiler<'_> {
    fn err(&self, sub: &str, reason: impl Into<String>) -> Error {
        Error::config(self.file, Some(&format!("{}.{sub}", self.key)), reason)
    }

    fn table<'t>(&self, t: &'t toml::Table, sub: &str) -> Result<Vec<(&'t String, &'t toml::Value)>> {
        match t.get(sub) {
            None => Ok(Vec::new()),
            Some(toml::Value::Table(m)) => Ok(m.iter().collect()),
            Some(_) => Err(self.err(sub, "must be a table of field = value")),
        }
    }

    fn field_index(&self, fields: &[Field], sub: &str, path: &str) -> Result<usize> {
        fields.iter().position(|f| f.path == path).ok_or_else(|| self.err(sub, format!("\"{path}\" is not in fields")))
    }

    fn count(&self, sub: &str, path: &str, v: &toml::Value) -> Result<usize> {
        match v {
            toml::Value::Integer(n) if (0..=MAX_STRING_BYTES as i64).contains(n) => {
                usize::try_from(*n).map_err(|_| self.err(sub, "out of range"))
            }
            _ => Err(self.err(sub, format!("\"{path}\": must be an integer between 0 and {MAX_STRING_BYTES}"))),
        }
    }
}

impl Policy {
    /// Compiles the `[destinations.NAME.policy]` table (`None`: the default);
    /// `key` is the table's dotted name, for messages.
    pub fn compile(raw: Option<&toml::Table>, file: &str, key: &str) -> Result<Policy> {
        let c = Compiler { file, key };
        let empty = toml::Table::new();
        let t = raw.unwrap_or(&empty);
        if let Some(unknown) = t.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(c.err(unknown, "unknown policy key"));
        }
        let paths: Vec<String> = match t.get("fields") {
            None => DEFAULT_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| c.err("fields", "must be a list of strings")))
                .collect::<Result<_>>()?,
            Some(_) => return Err(c.err("fields", "must be a list of strings")),
        };
        let mut fields: Vec<Field> = Vec::with_capacity(paths.len());
        for p in paths {
            let segs = parse_path(&p).ok_or_else(|| c.err("fields", format!("malformed path \"{p}\"")))?;
            if fields.iter().any(|f| f.path == p) {
                return Err(c.err("fields", format!("\"{p}\" is listed twice")));
            }
            fields.push(Field {
                has_each: segs.contains(&Seg::Each),
                kind: kind_of(&segs),
                out: segs.clone(),
                segs,
                path: p,
                pseudonymize: false,
                mask: None,
                truncate: None,
                rename: None,
                consent: None,
            });
        }
        let pseudo = match t.get("pseudonymize") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().ok_or_else(|| c.err("pseudonymize", "must be a list of field paths")))
                .collect::<Result<Vec<_>>>()?,
            Some(_) => return Err(c.err("pseudonymize", "must be a list of field paths")),
        };
        for p in &pseudo {
            let i = c.field_index(&fields, "pseudonymize", p)?;
            if let Some(f) = fields.get_mut(i) {
                f.pseudonymize = true;
            }
        }
        for sub in ["mask", "truncate"] {
            for (p, v) in c.table(t, sub)? {
                let n = c.count(sub, p, v)?;
                let i = c.field_index(&fields, sub, p)?;
                if let Some(f) = fields.get_mut(i) {
                    if f.pseudonymize {
                        return Err(c.err(sub, format!("\"{p}\" is pseudonymized; it cannot also be masked or truncated")));
                    }
                    if sub == "mask" {
                        f.mask = Some(n);
                    } else {
                        f.truncate = Some(n);
                    }
                }
            }
        }
        for (p, v) in c.table(t, "rename")? {
            let target = v.as_str().ok_or_else(|| c.err("rename", format!("\"{p}\": must be a string")))?;
            let i = c.field_index(&fields, "rename", p)?;
            let tsegs = parse_path(target)
                .filter(|s| !s.contains(&Seg::Each))
                .ok_or_else(|| c.err("rename", format!("\"{p}\": malformed target \"{target}\"")))?;
            if let Some(f) = fields.get_mut(i) {
                if f.has_each {
                    // Inside lists, only the last key is renamed.
                    if tsegs.len() != 1 {
                        return Err(
                            c.err("rename", format!("\"{p}\": a field inside a list can only be renamed to a plain name"))
                        );
                    }
                    if let Some(pos) = f.out.iter().rposition(|s| matches!(s, Seg::Key(_))) {
                        if let Some(slot) = f.out.get_mut(pos) {
                            *slot = Seg::Key(target.to_owned());
                        }
                    }
                } else {
                    f.out = tsegs;
                }
                f.rename = Some(target.to_owned());
            }
        }
        for (p, v) in c.table(t, "require_consent")? {
            let src = v.as_str().ok_or_else(|| c.err("require_consent", format!("\"{p}\": must be a string")))?;
            let i = c.field_index(&fields, "require_consent", p)?;
            let consent = match src.strip_prefix("meta:") {
                Some(k) if !k.is_empty() && !k.chars().any(char::is_control) => Consent::Meta(k.to_owned()),
                Some(_) => return Err(c.err("require_consent", format!("\"{p}\": malformed consent source \"{src}\""))),
                None => {
                    let segs = parse_path(src)
                        .filter(|s| !s.contains(&Seg::Each))
                        .ok_or_else(|| c.err("require_consent", format!("\"{p}\": malformed consent source \"{src}\"")))?;
                    Consent::Path(
                        segs.into_iter()
                            .filter_map(|s| match s {
                                Seg::Key(k) => Some(k),
                                Seg::Each => None,
                            })
                            .collect(),
                    )
                }
            };
            if let Some(f) = fields.get_mut(i) {
                f.consent = Some((src.to_owned(), consent));
            }
        }
        for (i, a) in fields.iter().enumerate() {
            if let Some(b) = fields.iter().skip(i + 1).find(|b| conflicts(&a.out, &b.out)) {
                let sub = if a.rename.is_some() || b.rename.is_some() { "rename" } else { "fields" };
                return Err(c.err(
                    sub,
                    format!("\"{}\" and \"{}\" would overlap in the output (one contains the other)", a.path, b.path),
                ));
            }
        }
        let on_card = match t.get("on_card_number") {
            None => OnCardNumber::Refuse,
            Some(toml::Value::String(s)) if s == "refuse" => OnCardNumber::Refuse,
            Some(toml::Value::String(s)) if s == "redact" => OnCardNumber::Redact,
            Some(_) => return Err(c.err("on_card_number", "must be \"refuse\" or \"redact\"")),
        };
        let pepper_file = match t.get("pepper_file") {
            None => None,
            Some(toml::Value::String(s)) if !s.is_empty() => Some(PathBuf::from(s)),
            Some(_) => return Err(c.err("pepper_file", "must be a file path")),
        };
        let needs_pepper = fields.iter().any(|f| f.pseudonymize);
        match &pepper_file {
            None if needs_pepper => return Err(c.err("pseudonymize", "needs pepper_file")),
            Some(p) => {
                load_file_cached(p)?;
            }
            None => {}
        }
        let out = build_out(&fields);
        let any_consent = fields.iter().any(|f| f.consent.is_some());
        Ok(Policy {
            fields,
            out,
            any_consent,
            on_card,
            pepper_file,
            needs_pepper,
            is_default: raw.is_none(),
            hmac: HmacCache::default(),
            id_key: FieldKey::new("id"),
        })
    }

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
                "fingerprint": load_file_cached(p).ok().map(|s| s.fingerprint()),
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
        check_bounds(order)?;
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
        let mut st = Emit { policy: self, hmac: hmac.as_ref(), granted: &granted, idx: [0; MAX_DEPTH + 1], depth: 0, buf: body };
        st.obj(&self.out, order)?;
        Ok(order_id)
    }
}

/// The output tree, compiled from the fields: object entries in `fields` order.
#[derive(Debug, Clone)]
enum Out {
    /// An object: JSON-encoded `"key":` and the child.
    Obj(Vec<(JsonKey, Out)>),
    /// A list read at `input` (relative to the enclosing context); `field` and
    /// `segs` name it in errors (the first `segs` segments of that field).
    List { input: Vec<FieldKey>, elem: Box<Out>, field: usize, segs: usize },
    /// A selected field read at `input` (relative to the enclosing context).
    Leaf { field: usize, input: Vec<FieldKey> },
}

/// Longest key written with a fixed-size copy (see [`JsonKey`]).
const KEY_PAD: usize = 32;

/// `,"k":` — an object entry's key after the separating comma (the first entry
/// of an object is written without it). A short key is also kept zero-padded,
/// so that it is written with one fixed-size copy (no call to `memcpy`) and
/// the padding cut off again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JsonKey {
    bytes: Vec<u8>,
    padded: Option<[u8; KEY_PAD + 1]>,
}

impl JsonKey {
    /// Writes the key, with its comma when `comma`.
    #[inline(always)]
    fn put(&self, buf: &mut Vec<u8>, comma: bool) {
        let skip = usize::from(!comma);
        match self.padded.as_ref().and_then(|p| p.get(skip..skip + KEY_PAD)) {
            Some(chunk) => {
                let end = buf.len() + self.bytes.len() - skip;
                buf.extend_from_slice(chunk);
                buf.truncate(end);
            }
            None => buf.extend_from_slice(self.bytes.get(skip..).unwrap_or_default()),
        }
    }
}

fn json_key(k: &str) -> JsonKey {
    let mut bytes = vec![b','];
    bytes.extend(serde_json::to_vec(k).unwrap_or_default());
    bytes.push(b':');
    let padded = (bytes.len() <= KEY_PAD).then(|| {
        let mut p = [0u8; KEY_PAD + 1];
        for (d, b) in p.iter_mut().zip(&bytes) {
            *d = *b;
        }
        p
    });
    JsonKey { bytes, padded }
}

fn child<'a>(entries: &'a mut Vec<(JsonKey, Out)>, key: &str, make: impl FnOnce() -> Out) -> Option<&'a mut Out> {
    let k = json_key(key);
    if !entries.iter().any(|(e, _)| *e == k) {
        entries.push((k.clone(), make()));
    }
    entries.iter_mut().find(|(e, _)| *e == k).map(|(_, o)| o)
}

/// Adds field `fi` (no `[]`): output keys `outs`, input keys `input` from the root.
fn add_plain(entries: &mut Vec<(JsonKey, Out)>, outs: &[Seg], input: Vec<String>, fi: usize) {
    match outs {
        [Seg::Key(k)] => entries.push((json_key(k), Out::Leaf { field: fi, input: field_keys(&input) })),
        [Seg::Key(k), rest @ ..] => {
            if let Some(Out::Obj(e)) = child(entries, k, || Out::Obj(Vec::new())) {
                add_plain(e, rest, input, fi);
            }
        }
        _ => {}
    }
}

/// Adds field `fi` with `[]`: `outs` and `ins` have the same shape. `pending`
/// holds the input keys read since the enclosing context; `at` counts segments.
fn add_list(entries: &mut Vec<(JsonKey, Out)>, outs: &[Seg], ins: &[Seg], mut pending: Vec<String>, fi: usize, at: usize) {
    match (outs, ins) {
        ([Seg::Key(k)], [Seg::Key(ik)]) => {
            pending.push(ik.clone());
            entries.push((json_key(k), Out::Leaf { field: fi, input: field_keys(&pending) }));
        }
        ([Seg::Key(k), Seg::Each, orest @ ..], [Seg::Key(ik), Seg::Each, irest @ ..]) => {
            pending.push(ik.clone());
            let make = || Out::List {
                input: field_keys(&pending),
                elem: Box::new(if orest.is_empty() { Out::Leaf { field: fi, input: Vec::new() } } else { Out::Obj(Vec::new()) }),
                field: fi,
                segs: at + 1,
            };
            if let Some(Out::List { elem, .. }) = child(entries, k, make) {
                if let Out::Obj(e) = elem.as_mut() {
                    add_list(e, orest, irest, Vec::new(), fi, at + 2);
                }
            }
        }
        ([Seg::Key(k), orest @ ..], [Seg::Key(ik), irest @ ..]) => {
            pending.push(ik.clone());
            if let Some(Out::Obj(e)) = child(entries, k, || Out::Obj(Vec::new())) {
                add_list(e, orest, irest, pending, fi, at + 1);
            }
        }
        _ => {}
    }
}

fn build_out(fields: &[Field]) -> Vec<(JsonKey, Out)> {
    let mut root = Vec::new();
    for (fi, f) in fields.iter().enumerate() {
        if f.has_each {
            add_list(&mut root, &f.out, &f.segs, Vec::new(), fi, 0);
        } else {
            let input = f
                .segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Key(k) => Some(k.clone()),
                    Seg::Each => None,
                })
                .collect();
            add_plain(&mut root, &f.out, input, fi);
        }
    }
    root
}

fn field_keys(keys: &[String]) -> Vec<FieldKey> {
    keys.iter().map(|k| FieldKey::new(k)).collect()
}

#[inline(always)]
fn resolve<'n, N: Node>(mut node: &'n N, keys: &[FieldKey]) -> Option<&'n N> {
    if let [k] = keys {
        return node.get_key(k);
    }
    for k in keys {
        node = node.get_key(k)?;
    }
    Some(node)
}

/// One run of the policy over one order: writes JSON straight into `buf`.
struct Emit<'p> {
    policy: &'p Policy,
    /// The pepper's HMAC key (when the policy pseudonymises).
    hmac: Option<&'p ring::hmac::Key>,
    granted: &'p [bool],
    /// Indices of the enclosing list elements (for error paths only).
    idx: [usize; MAX_DEPTH + 1],
    depth: usize,
    buf: &'p mut Vec<u8>,
}

/// A validated scalar.
enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Valid UTF-8 (checked, or ASCII).
    Str(&'a [u8]),
}

/// Bytes already known to be UTF-8 as `&str` (empty if they were not, which the
/// callers rule out before).
fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

impl Emit<'_> {
    /// Path of `segs` of field `fi` with the current list indices, for errors.
    fn path(&self, fi: usize, segs: Option<usize>) -> String {
        let Some(f) = self.policy.fields.get(fi) else { return String::new() };
        let mut p = String::new();
        let mut idx = self.idx.iter().take(self.depth);
        for seg in f.segs.iter().take(segs.unwrap_or(usize::MAX)) {
            match seg {
                Seg::Key(k) => {
                    if !p.is_empty() {
                        p.push('.');
                    }
                    p.push_str(k);
                }
                Seg::Each => match idx.next() {
                    Some(i) => {
                        let _ = write!(p, "[{i}]");
                    }
                    None => p.push_str("[]"),
                },
            }
        }
        p
    }

    /// Writes an object; returns whether it has any entry (else it is rolled back
    /// by the caller). The root is always written.
    fn obj<N: Node>(&mut self, entries: &[(JsonKey, Out)], ctx: &N) -> Result<bool> {
        self.buf.push(b'{');
        let mut any = false;
        for (key, out) in entries {
            let mark = self.buf.len();
            key.put(self.buf, any);
            let wrote = match out {
                Out::Obj(e) => self.obj(e, ctx)?,
                Out::List { input, elem, field, segs } => match resolve(ctx, input) {
                    Some(list) => self.list(list, elem, *field, *segs)?,
                    None => false,
                },
                Out::Leaf { field, input } => match resolve(ctx, input) {
                    Some(node) => self.leaf(*field, node)?,
                    None => false,
                },
            };
            if wrote {
                any = true;
            } else {
                self.buf.truncate(mark);
            }
        }
        self.buf.push(b'}');
        Ok(any)
    }

    fn list<N: Node>(&mut self, list: &N, elem: &Out, field: usize, segs: usize) -> Result<bool> {
        match list.scalar() {
            Scalar::Array => {}
            Scalar::Null => return Ok(false),
            _ => return Err(Error::validation(self.path(field, Some(segs)), "must be a list")),
        }
        if list.is_empty() {
            self.buf.extend_from_slice(b"[]");
            return Ok(true);
        }
        self.buf.push(b'[');
        let slot = self.depth;
        self.depth += 1;
        let mut any = false;
        let mut i = 0usize;
        list.for_each(|_, el| {
            if let Some(s) = self.idx.get_mut(slot) {
                *s = i;
            }
            if i > 0 {
                self.buf.push(b',');
            }
            let mark = self.buf.len();
            let wrote = match elem {
                Out::Obj(e) => self.obj(e, el)?,
                Out::Leaf { field, .. } => self.leaf(*field, el)?,
                Out::List { .. } => false,
            };
            if !wrote && !matches!(elem, Out::Obj(_)) {
                self.buf.truncate(mark);
                self.buf.extend_from_slice(b"null");
            }
            any |= wrote;
            i += 1;
            Ok(())
        })?;
        self.depth = slot;
        self.buf.push(b']');
        Ok(any)
    }

    fn str(&mut self, s: &str) -> Result<()> {
        let facts = Facts::of(s.as_bytes());
        self.str_with(s.as_bytes(), facts)
    }

    /// Writes `s` as a JSON string. Most strings need no escaping: they are
    /// copied as they are (the same bytes serde_json writes); the others are
    /// escaped by serde_json.
    #[inline(always)]
    fn str_with(&mut self, s: &[u8], facts: Facts) -> Result<()> {
        if facts.escape {
            return self.str_escaped(s);
        }
        self.buf.reserve(s.len() + 2);
        self.buf.push(b'"');
        self.buf.extend_from_slice(s);
        self.buf.push(b'"');
        Ok(())
    }

    #[inline(never)]
    fn str_escaped(&mut self, s: &[u8]) -> Result<()> {
        serde_json::to_writer(&mut *self.buf, utf8(s)).map_err(|_| Error::validation("", "cannot be serialised"))
    }

    /// Writes `s` after the card-number scan (skipped when `s` has too few
    /// digits to hold a card number).
    fn scanned(&mut self, fi: usize, s: &str) -> Result<()> {
        self.scanned_with(fi, s.as_bytes(), Facts::of(s.as_bytes()))
    }

    /// As [`Emit::scanned`], for UTF-8 bytes already classified.
    #[inline(always)]
    fn scanned_with(&mut self, fi: usize, s: &[u8], facts: Facts) -> Result<()> {
        if facts.digits < luhn::MIN_DIGITS {
            return self.str_with(s, facts);
        }
        self.scanned_digits(fi, s, facts)
    }

    /// [`Emit::scanned_with`] for a string with enough digits for a card number.
    #[inline(never)]
    fn scanned_digits(&mut self, fi: usize, s: &[u8], facts: Facts) -> Result<()> {
        if !luhn::may_hold_card_number(s) {
            return self.str_with(s, facts);
        }
        match luhn::redact_card_numbers(utf8(s)) {
            None => self.str_with(s, facts),
            Some(_) if self.policy.on_card == OnCardNumber::Refuse => {
                Err(Error::validation(self.path(fi, None), "contains a payment card number"))
            }
            Some(r) => self.str(&r),
        }
    }

    /// Reads, checks, transforms and writes one selected value; `false` when the
    /// field is withheld (no consent). This is [`Emit::leaf_full`] with one type
    /// dispatch for the common cases — a field without transforms holding an
    /// ASCII string without control characters, a non-negative integer below
    /// 10^12, null, or a boolean of a plain field — that are accepted as they
    /// are; everything else, and every error, goes the full way.
    #[inline]
    fn leaf<N: Node>(&mut self, fi: usize, node: &N) -> Result<bool> {
        let Some(f) = self.policy.fields.get(fi) else { return Ok(false) };
        if f.pseudonymize || f.mask.is_some() || f.truncate.is_some() || !self.granted.get(fi).copied().unwrap_or(true) {
            return self.leaf_full(fi, node);
        }
        match node.scalar() {
            Scalar::Str(bytes) => {
                let facts = Facts::of(bytes);
                let accepted = facts.ascii
                    && !facts.control
                    && match f.kind {
                        Kind::Plain => true,
                        Kind::Money => is_decimal_counted(bytes, facts.digits),
                        Kind::Id => !bytes.is_empty() && facts.digits == bytes.len(),
                    };
                if !accepted {
                    return self.leaf_full(fi, node);
                }
                self.scanned_with(fi, bytes, facts)?;
            }
            Scalar::Int(i) if (0..1_000_000_000_000).contains(&i) => {
                self.buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            }
            Scalar::Null => self.buf.extend_from_slice(b"null"),
            Scalar::Bool(b) if f.kind == Kind::Plain => self.buf.extend_from_slice(if b { b"true" } else { b"false" }),
            _ => return self.leaf_full(fi, node),
        }
        Ok(true)
    }

    /// [`Emit::leaf`], every case.
    #[inline(never)]
    fn leaf_full<N: Node>(&mut self, fi: usize, node: &N) -> Result<bool> {
        if !self.granted.get(fi).copied().unwrap_or(true) {
            return Ok(false);
        }
        let Some(f) = self.policy.fields.get(fi) else { return Ok(false) };
        let bad = |me: &Self, reason: &str| Error::validation(me.path(fi, None), reason);
        let mut facts = Facts::default();
        let v = match node.scalar() {
            Scalar::Null => Val::Null,
            Scalar::Bool(b) => match f.kind {
                Kind::Plain => Val::Bool(b),
                Kind::Money => return Err(bad(self, "must be a decimal amount")),
                Kind::Id => return Err(bad(self, "must be a non-negative integer id")),
            },
            Scalar::Int(i) => {
                if f.kind == Kind::Id && i < 0 {
                    return Err(bad(self, "must be a non-negative integer id"));
                }
                Val::Int(i)
            }
            Scalar::Float(x) => {
                if f.kind == Kind::Id {
                    return Err(bad(self, "must be a non-negative integer id"));
                }
                if !x.is_finite() {
                    return Err(bad(self, "is not a finite number"));
                }
                Val::Float(x)
            }
            Scalar::Str(bytes) => {
                // One pass classifies the bytes; ASCII (almost every value) needs
                // no UTF-8 decoding at all.
                facts = Facts::of(bytes);
                let control = if facts.ascii {
                    facts.control
                } else {
                    std::str::from_utf8(bytes).map_err(|_| bad(self, "is not valid UTF-8"))?;
                    // C0 and DEL are single bytes, whatever the encoding: in `facts`.
                    facts.control || has_c1(bytes)
                };
                if control {
                    return Err(bad(self, "contains control characters"));
                }
                match f.kind {
                    Kind::Money if !is_decimal(bytes) => return Err(bad(self, "must be a decimal amount")),
                    Kind::Id if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) => {
                        return Err(bad(self, "must be a non-negative integer id"))
                    }
                    _ => {}
                }
                Val::Str(bytes)
            }
            Scalar::Array => return Err(bad(self, "must be a scalar (select its fields instead)")),
            Scalar::Other(t) => return Err(bad(self, &format!("must be a scalar, not {t}"))),
        };
        let text = |v: &Val<'_>| -> String {
            match v {
                Val::Null => "null".to_owned(),
                Val::Bool(b) => b.to_string(),
                Val::Int(i) => i.to_string(),
                Val::Float(x) => serde_json::to_string(x).unwrap_or_default(),
                Val::Str(s) => utf8(s).to_owned(),
            }
        };
        if matches!(v, Val::Null) {
            self.buf.extend_from_slice(b"null");
        } else if f.pseudonymize {
            let Some(pepper) = self.hmac else {
                return Err(bad(self, "no pepper to pseudonymize with"));
            };
            let tag = match v {
                Val::Str(s) => pseudonym_tag(pepper, utf8(s)),
                ref other => pseudonym_tag(pepper, &text(other)),
            };
            // Hex needs no escaping and holds no card number: written as it is.
            self.buf.push(b'"');
            crate::secret::hex_into(self.buf, tag.as_ref());
            self.buf.push(b'"');
        } else if f.truncate.is_some() || f.mask.is_some() {
            let mut s = text(&v);
            if let Some(n) = f.truncate {
                s = truncate_chars(&s, n);
            }
            if let Some(n) = f.mask {
                s = mask_chars(&s, n);
            }
            self.scanned(fi, &s)?;
        } else {
            match v {
                Val::Null => {}
                Val::Bool(b) => self.buf.extend_from_slice(if b { b"true" } else { b"false" }),
                Val::Str(s) => self.scanned_with(fi, s, facts)?,
                Val::Int(i) if i.unsigned_abs() < 1_000_000_000_000 => {
                    self.buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                }
                Val::Int(i) => {
                    let s = i.to_string();
                    match luhn::redact_card_numbers(&s) {
                        None => self.buf.extend_from_slice(s.as_bytes()),
                        Some(_) => self.scanned(fi, &s)?,
                    }
                }
                Val::Float(x) => {
                    let s = serde_json::to_string(&x).unwrap_or_default();
                    match luhn::redact_card_numbers(&s) {
                        None => self.buf.extend_from_slice(s.as_bytes()),
                        Some(_) => self.scanned(fi, &s)?,
                    }
                }
            }
        }
        Ok(true)
    }
}

/// `-?[0-9]+(\.[0-9]+)?`, in one pass.
fn is_decimal(s: &[u8]) -> bool {
    let b = s.strip_prefix(b"-").unwrap_or(s);
    let mut int_digits = 0usize;
    let mut frac_digits = 0usize;
    let mut dot = false;
    for &c in b {
        match c {
            b'0'..=b'9' if dot => frac_digits += 1,
            b'0'..=b'9' => int_digits += 1,
            b'.' if !dot && int_digits > 0 => dot = true,
            _ => return false,
        }
    }
    int_digits > 0 && (!dot || frac_digits > 0)
}

/// What one pass over a string's bytes tells (written to vectorise: no early exit).
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    /// Needs JSON escaping: a C0 byte, `"` or `\`.
    escape: bool,
    /// Has a C0 control other than tab/CR/LF, or DEL (meaningful when `ascii`).
    control: bool,
    /// Only ASCII bytes.
    ascii: bool,
    /// Number of ASCII digits.
    digits: usize,
}

/// Byte classes for [`Facts`]: bit 0 digit, bit 1 needs JSON escaping, bit 2
/// control character (C0 but tab/LF/CR, and DEL), bit 3 non-ASCII.
static CLASS: [u8; 256] = byte_classes();

// Evaluated at compile time: an index out of range would fail the build, never
// run, and `i < 256` bounds every index anyway.
#[allow(clippy::indexing_slicing)]
const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut k = 0;
        if c.is_ascii_digit() {
            k |= 1;
        }
        if c < 0x20 || c == b'"' || c == b'\\' {
            k |= 2;
        }
        if (c < 0x20 && c != b'\t' && c != b'\n' && c != b'\r') || c == 0x7f {
            k |= 4;
        }
        if c >= 0x80 {
            k |= 8;
        }
        t[i] = k;
        i += 1;
    }
    t
}

impl Facts {
    #[inline(always)]
    fn of(b: &[u8]) -> Facts {
        // One add per byte: the classes are counted in 16-bit fields of a u64
        // (digits, escapes, controls, non-ASCII), which cannot carry into each
        // other below 65,535 bytes; longer strings take the flag-by-flag loop.
        if b.len() < 0xffff {
            let count = |c: &u8| COUNTS.get(usize::from(*c)).copied().unwrap_or(0);
            // Four bytes a step, in two independent sums.
            let (mut sum, mut sum2) = (0u64, 0u64);
            let mut quads = b.chunks_exact(4);
            for q in &mut quads {
                if let [a, b, c, d] = q {
                    sum += count(a) + count(b);
                    sum2 += count(c) + count(d);
                }
            }
            for c in quads.remainder() {
                sum += count(c);
            }
            sum += sum2;
            return Facts {
                escape: (sum >> 16) & 0xffff != 0,
                control: (sum >> 32) & 0xffff != 0,
                ascii: sum >> 48 == 0,
                digits: (sum & 0xffff) as usize,
            };
        }
        let (mut any, mut digits) = (0u8, 0usize);
        for &c in b {
            let k = CLASS.get(usize::from(c)).copied().unwrap_or(0);
            any |= k;
            digits += usize::from(k & 1);
        }
        Facts { escape: any & 2 != 0, control: any & 4 != 0, ascii: any & 8 == 0, digits }
    }
}

/// [`CLASS`] as counters: bit `k` of a byte's class becomes 1 << (16 k).
static COUNTS: [u64; 256] = byte_counts();

// Evaluated at compile time (see `byte_classes`).
#[allow(clippy::indexing_slicing)]
const fn byte_counts() -> [u64; 256] {
    let classes = byte_classes();
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let k = classes[i] as u64;
        t[i] = (k & 1) | ((k >> 1) & 1) << 16 | ((k >> 2) & 1) << 32 | ((k >> 3) & 1) << 48;
        i += 1;
    }
    t
}

/// Control characters other than tab, CR and LF (C0, DEL and C1: the general
/// category Cc that `char::is_control` tests), read from the UTF-8 bytes: C0 and
/// DEL are single bytes, C1 (U+0080..U+009F) is 0xC2 followed by 0x80..=0x9F.
#[cfg(test)]
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(|&c| (c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n')) || c == 0x7f) || has_c1(b)
}

/// Whether UTF-8 `b` holds a C1 control character (0xC2 0x80..=0x9F).
fn has_c1(b: &[u8]) -> bool {
    b.contains(&0xc2) && b.windows(2).any(|w| matches!(w, [0xc2, 0x80..=0x9f]))
}

/// [`is_decimal`] for a string of which `digits` bytes are ASCII digits: at
/// most a leading `-` and one `.` are not digits, so only strings with a dot
/// are looked at again (up to the dot).
#[inline(always)]
fn is_decimal_counted(s: &[u8], digits: usize) -> bool {
    let b = s.strip_prefix(b"-").unwrap_or(s);
    match b.len().wrapping_sub(digits) {
        0 => !b.is_empty(),
        1 => match b.iter().position(|c| !c.is_ascii_digit()) {
            Some(p) => p > 0 && p + 1 < b.len() && b.get(p) == Some(&b'.'),
            None => false,
        },
        _ => false,
    }
}

/// HMAC-SHA256 of `input` under `pepper`, lower-case hex. A value containing `@`
/// (an email) is trimmed and lower-cased first.
pub fn pseudonym(pepper: &Secret, input: &str) -> String {
    pseudonym_with(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pepper.expose()), input)
}

/// [`pseudonym`] with the pepper's HMAC key already scheduled.
fn pseudonym_with(key: &ring::hmac::Key, input: &str) -> String {
    hex(pseudonym_tag(key, input).as_ref())
}

/// The HMAC behind [`pseudonym_with`].
fn pseudonym_tag(key: &ring::hmac::Key, input: &str) -> ring::hmac::Tag {
    if !input.contains('@') {
        return ring::hmac::sign(key, input.as_bytes());
    }
    let t = input.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() {
        ring::hmac::sign(key, t.to_lowercase().as_bytes())
    } else {
        ring::hmac::sign(key, t.as_bytes())
    }
}

/// The first `n` characters of `s`.
pub fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s` with all but the last `n` characters replaced by `*`.
pub fn mask_chars(s: &str, n: usize) -> String {
    if s.is_ascii() {
        let hide = s.len().saturating_sub(n);
        let mut out = "*".repeat(hide);
        out.push_str(s.get(hide..).unwrap_or_default());
        return out;
    }
    let len = s.chars().count();
    let hide = len.saturating_sub(n);
    s.chars().enumerate().map(|(i, c)| if i < hide { '*' } else { c }).collect()
}

/// Truthy: true, non-zero numbers, "1", "yes", "true", "on" (any case, trimmed).
fn truthy<N: Node>(n: &N) -> bool {
    match n.scalar() {
        Scalar::Bool(b) => b,
        Scalar::Int(i) => i != 0,
        Scalar::Float(x) => x != 0.0 && !x.is_nan(),
        Scalar::Str(s) => {
            let t = s.trim_ascii();
            [&b"1"[..], b"yes", b"true", b"on"].iter().any(|w| t.eq_ignore_ascii_case(w))
        }
        _ => false,
    }
}

fn consent_granted<N: Node>(order: &N, consent: &Consent) -> bool {
    match consent {
        Consent::Path(keys) => {
            let mut node = order;
            for k in keys {
                match node.get(k) {
                    Some(n) => node = n,
                    None => return false,
                }
            }
            truthy(node)
        }
        Consent::Meta(key) => {
            let Some(meta) = order.get("meta_data") else { return false };
            let mut granted = None;
            let _ = meta.for_each(|_, entry| {
                if granted.is_none() && entry.get("key").map(Node::scalar) == Some(Scalar::Str(key.as_bytes())) {
                    granted = Some(entry.get("value").is_some_and(truthy));
                }
                Ok(())
            });
            granted.unwrap_or(false)
        }
    }
}

struct Bounds {
    total: usize,
    values: usize,
}

fn push_key(key: Key<'_>, path: &mut String) {
    match key {
        Key::Int(i) => {
            let _ = write!(path, "[{i}]");
        }
        Key::Str(s) => {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&shown_key(s));
        }
    }
}

/// Longest key shown in an error path, in characters.
const SHOWN_KEY_CHARS: usize = 64;

/// A key as an error path shows it. Keys come from the order too: a key outside
/// the path grammar (letters, digits, `_`, `-`) is quoted, with control
/// characters escaped (no log injection), a long key is cut, and card numbers
/// and emails in it are masked like in every other message.
fn shown_key(raw: &[u8]) -> String {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    if !raw.is_empty() && raw.len() <= SHOWN_KEY_CHARS && raw.iter().all(plain) {
        return crate::redact::redact(&String::from_utf8_lossy(raw));
    }
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len().min(SHOWN_KEY_CHARS + 5));
    out.push('"');
    for (n, c) in text.chars().enumerate() {
        if n == SHOWN_KEY_CHARS {
            out.push('…');
            break;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    crate::redact::redact(&out)
}

/// Prefixes the failing path with `key` on the way out (only on error).
fn under(key: Key<'_>, e: Error) -> Error {
    match e {
        Error::Validation { path, reason } => {
            let mut p = String::new();
            push_key(key, &mut p);
            if !path.is_empty() && !path.starts_with('[') {
                p.push('.');
            }
            p.push_str(&path);
            Error::Validation { path: p, reason }
        }
        other => other,
    }
}

#[inline(always)]
fn check_string(len: usize, b: &mut Bounds) -> Result<()> {
    b.total += len;
    if len > MAX_STRING_BYTES || b.total > MAX_TOTAL_STRING_BYTES {
        return Err(string_bound_error(len));
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn string_bound_error(len: usize) -> Error {
    if len > MAX_STRING_BYTES {
        Error::validation("", format!("string longer than {MAX_STRING_BYTES} bytes"))
    } else {
        Error::validation("", format!("more than {MAX_TOTAL_STRING_BYTES} bytes of text in the order"))
    }
}

/// Walks the whole order once, without allocating unless it fails.
fn check_bounds<N: Node>(order: &N) -> Result<()> {
    if order.within_limits(&LIMITS) {
        return Ok(());
    }
    /// Checks the array `n` at `depth`; scalar children are checked in the loop
    /// (no call per leaf), arrays recursively.
    fn array<N: Node>(n: &N, depth: usize, b: &mut Bounds) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::validation("", format!("nested deeper than {MAX_DEPTH} levels")));
        }
        if n.len() > MAX_ELEMENTS {
            return Err(Error::validation("", format!("more than {MAX_ELEMENTS} elements")));
        }
        b.values += n.len();
        if b.values > MAX_VALUES {
            return Err(Error::validation("", format!("more than {MAX_VALUES} values in the order")));
        }
        n.for_each(|k, child| {
            if let Key::Str(s) = k {
                check_string(s.len(), b).map_err(|e| under(k, e))?;
            }
            match child.scalar() {
                Scalar::Str(s) => check_string(s.len(), b).map_err(|e| under(k, e)),
                Scalar::Array => array(child, depth + 1, b).map_err(|e| under(k, e)),
                _ => Ok(()),
            }
        })
    }
    let mut b = Bounds { total: 0, values: 0 };
    match order.scalar() {
        Scalar::Array => array(order, 1, &mut b),
        Scalar::Str(s) => check_string(s.len(), &mut b),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(parse_path("line_items[].sku").is_some());
        assert!(parse_path("tags[]").is_some());
        for bad in ["", "a..b", "a[]x", "[]", ".a", "a.", "a[][]", "a b", "a[", "meta:x"] {
            assert!(parse_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn kinds() {
        let k = |p: &str| kind_of(&parse_path(p).unwrap_or_default());
        assert_eq!(k("total"), Kind::Money);
        assert_eq!(k("line_items[].subtotal_tax"), Kind::Money);
        assert_eq!(k("shipping_lines[].method_id"), Kind::Plain);
        assert_eq!(k("line_items[].product_id"), Kind::Id);
        assert_eq!(k("number"), Kind::Id);
        assert_eq!(k("billing.email"), Kind::Plain);
        assert_eq!(k("prices_include_tax"), Kind::Plain);
    }

    #[test]
    fn decimals() {
        for ok in ["0", "108", "-5", "13.45", "0.946125"] {
            assert!(is_decimal(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "1.", ".5", "1e5", "1,5", " 1", "abc"] {
            assert!(!is_decimal(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn counted_decimals_agree_with_is_decimal() {
        let alphabet = [b'0', b'7', b'.', b'-', b'a', b' '];
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let next: Vec<Vec<u8>> =
                cases.iter().flat_map(|c| alphabet.iter().map(move |a| [c.as_slice(), &[*a]].concat())).collect();
            cases.extend(next);
            cases.sort();
            cases.dedup();
        }
        for c in cases {
            let digits = c.iter().filter(|b| b.is_ascii_digit()).count();
            assert_eq!(is_decimal_counted(&c, digits), is_decimal(&c), "{:?}", String::from_utf8_lossy(&c));
        }
    }

    #[test]
    fn control_characters_are_category_cc() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = format!("é{c}x");
            assert_eq!(has_control(&s), c.is_control() && !matches!(c, '\t' | '\r' | '\n'), "{:x}", u32::from(c));
        }
    }

    #[test]
    fn byte_classes_match_their_definitions() {
        for b in 0u8..=255 {
            let f = Facts::of(&[b]);
            assert_eq!(f.digits, usize::from(b.is_ascii_digit()), "{b}");
            assert_eq!(f.escape, b < 0x20 || b == b'"' || b == b'\\', "{b}");
            assert_eq!(f.ascii, b.is_ascii(), "{b}");
            if b.is_ascii() {
                assert_eq!(f.control, has_control(&char::from(b).to_string()), "{b}");
            }
        }
        let long = "7\"".repeat(40_000);
        let f = Facts::of(long.as_bytes());
        assert_eq!((f.digits, f.escape, f.ascii, f.control), (40_000, true, true, false));
        let f = Facts::of("4111 1111 1111 1111 \"x\" é".as_bytes());
        assert_eq!((f.digits, f.escape, f.ascii, f.control), (16, true, false, false));
    }

    #[test]
    fn fast_string_writer_writes_what_serde_json_writes() {
        let policy = Policy::compile(None, "t.toml", "destinations.x.policy").unwrap();
        for s in ["", "plain", "quote \" here", "back\\slash", "tab\tnew\nline", "\u{1}", "日本語 ✓", "/slash/"] {
            let mut buf = Vec::new();
            let mut e = Emit { policy: &policy, hmac: None, granted: &[], idx: [0; MAX_DEPTH + 1], depth: 0, buf: &mut buf };
            e.str(s).unwrap();
            assert_eq!(buf, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
