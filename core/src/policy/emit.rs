//! Writing the minimised order: one pass over the compiled output tree, JSON
//! written straight into the body buffer.
use std::fmt::Write as _;

use super::scan::{has_c1, is_decimal, is_decimal_counted, Facts};
use super::transform::{mask_chars, pseudonym_tag, truncate_chars};
use super::*;
use crate::luhn;
use crate::node::Key;

#[inline(always)]
pub(super) fn resolve<'n, N: Node>(mut node: &'n N, keys: &[FieldKey]) -> Option<&'n N> {
    if let [k] = keys {
        return node.get_key(k);
    }
    for k in keys {
        node = node.get_key(k)?;
    }
    Some(node)
}

/// One run of the policy over one order: writes JSON straight into `buf`.
/// Writes the minimised `order` into `buf` (the root object is always written).
pub(super) fn write<N: Node>(
    policy: &Policy,
    hmac: Option<&ring::hmac::Key>,
    granted: &[bool],
    order: &N,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let mut st = Emit { policy, hmac, granted, idx: [0; MAX_DEPTH + 1], depth: 0, buf };
    st.obj(&policy.out, order)?;
    Ok(())
}

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
        let Some(f) = self.policy.fields.get(fi) else {
            return String::new();
        };
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
                Out::Meta { field, key } => self.meta(ctx, *field, key)?,
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
                Out::List { .. } | Out::Meta { .. } => false,
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

    /// Writes field `fi`, `meta:KEY`: the `value` of the first entry of the
    /// order's `meta_data` whose `key` is `key` (nothing when there is none, or
    /// it has no `value`), checked like any field.
    #[inline(never)]
    fn meta<N: Node>(&mut self, order: &N, fi: usize, key: &str) -> Result<bool> {
        let Some(meta) = order.get("meta_data") else {
            return Ok(false);
        };
        if meta.scalar() != Scalar::Array {
            return Ok(false);
        }
        // The entry's key in `meta_data`, to look it up again (the walk cannot
        // hand out a reference).
        let mut at: Option<String> = None;
        meta.for_each(|k, entry| {
            if at.is_none() && entry.get("key").map(Node::scalar) == Some(Scalar::Str(key.as_bytes())) {
                at = Some(match k {
                    Key::Int(i) => i.to_string(),
                    Key::Str(s) => String::from_utf8_lossy(s).into_owned(),
                });
            }
            Ok(())
        })?;
        match at.as_deref().and_then(|k| meta.get(k)).and_then(|entry| entry.get("value")) {
            Some(value) => self.leaf(fi, value),
            None => Ok(false),
        }
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
        // `facts.digits` is never less than the digits of any script.
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
        let Some(f) = self.policy.fields.get(fi) else {
            return Ok(false);
        };
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
        let Some(f) = self.policy.fields.get(fi) else {
            return Ok(false);
        };
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

#[cfg(test)]
mod tests {
    use super::*;

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
