//! A [`Node`] tree + the policy's output → the request body, written straight
//! into the output buffer. Type problems name the body key and the field path,
//! never the value; every string and number written from the order is scanned
//! for card numbers.
use std::borrow::Cow;

use super::compile::{As, Each, Node, Op, Typed};
use super::input::{Input, View};
use super::number;
use super::template::{escape_into, Part, Path};
use crate::error::{Error, Result};
use crate::luhn;

/// One value of a scope, as rendering needs it.
pub(crate) enum Val<'v> {
    Null,
    Bool(bool),
    /// A JSON number's text.
    Num(Cow<'v, [u8]>),
    /// A string's UTF-8 bytes; `true` when it needs no JSON escaping.
    Str(&'v [u8], bool),
    List,
    Obj,
}

/// The list at a path.
pub(crate) enum ListAt<E> {
    /// Missing or null.
    None,
    /// Something else than a list.
    NotList,
    Elems(E),
}

/// Where paths are looked up: the policy's output as a tree (the order, or a
/// list element), or the slots the policy recorded (see `shape::slots`).
pub(crate) trait Scope<'v>: Copy {
    type Elems: Iterator<Item = Self>;
    /// Every value was already scanned for card numbers (the policy's slots).
    const PRESCANNED: bool;
    fn get(self, p: &Path) -> Option<Val<'v>>;
    fn elements(self, p: &Path) -> ListAt<Self::Elems>;
    /// The value at `p` as JSON string text, quotes included, when it is a
    /// string needing no escapes (copied as it is).
    #[inline(always)]
    fn raw_str(self, _p: &Path) -> Option<&'v [u8]> {
        None
    }
}

impl<'v, I: Input> Scope<'v> for &'v I {
    type Elems = std::slice::Iter<'v, I>;
    const PRESCANNED: bool = false;

    #[inline]
    fn get(self, p: &Path) -> Option<Val<'v>> {
        p.get(self).map(|x| match x.view() {
            View::Null => Val::Null,
            View::Bool(b) => Val::Bool(b),
            View::Num(Cow::Borrowed(n)) => Val::Num(Cow::Borrowed(n.as_bytes())),
            View::Num(Cow::Owned(n)) => Val::Num(Cow::Owned(n.into_bytes())),
            View::Str(s, clean) => Val::Str(s.as_bytes(), clean),
            View::List(_) => Val::List,
            View::Obj => Val::Obj,
        })
    }

    fn elements(self, p: &Path) -> ListAt<Self::Elems> {
        match p.get(self).map(Input::view) {
            None | Some(View::Null) => ListAt::None,
            Some(View::List(a)) => ListAt::Elems(a.iter()),
            Some(_) => ListAt::NotList,
        }
    }
}

/// [`node`] with the leaves (literal, template, typed value) written here and
/// only containers recursing: most of a body is leaves.
#[inline(always)]
fn child<'v, S: Scope<'v>>(n: &Node, v: S, out: &mut Vec<u8>) -> Result<bool> {
    match n {
        Node::Lit(b) => {
            out.extend_from_slice(b);
            Ok(true)
        }
        Node::Template { key, parts, joins } => write_template(key, parts, *joins, v, out).map(|()| true),
        Node::Typed(t) => {
            if let (As::Keep | As::String, None, false, [f]) = (t.as_, &t.map, t.first_set, &*t.from) {
                if let Some(raw) = v.raw_str(f) {
                    out.extend_from_slice(raw);
                    return Ok(true);
                }
            }
            typed(t, v, out)
        }
        _ => node(n, v, out),
    }
}

/// A template's value; `"{path}"` of a plain string is its JSON text as the
/// policy wrote it.
#[inline(always)]
fn write_template<'v, S: Scope<'v>>(key: &str, parts: &[Part], joins: bool, v: S, out: &mut Vec<u8>) -> Result<()> {
    if let ([Part::Field(f)], false) = (parts, joins || !S::PRESCANNED) {
        if let Some(raw) = v.raw_str(f) {
            out.extend_from_slice(raw);
            return Ok(());
        }
    }
    template(key, parts, joins || !S::PRESCANNED, v, out)
}

/// Writes `n` for the scope `v`; `Ok(false)` (nothing written) when it is left out.
pub(crate) fn node<'v, S: Scope<'v>>(n: &Node, v: S, out: &mut Vec<u8>) -> Result<bool> {
    match n {
        Node::Lit(b) => out.extend_from_slice(b),
        Node::Template { key, parts, joins } => template(key, parts, *joins || !S::PRESCANNED, v, out)?,
        Node::Typed(t) => return typed(t, v, out),
        Node::Seq(ops) => {
            for op in ops.iter() {
                match op {
                    Op::Bytes(b) => out.extend_from_slice(b),
                    Op::Tpl { key, parts, joins } => write_template(key, parts, *joins, v, out)?,
                    Op::Opt(name, c) => {
                        let mark = out.len();
                        out.extend_from_slice(name);
                        if !child(c, v, out)? {
                            out.truncate(mark);
                        }
                    }
                    Op::Val(c) => {
                        child(c, v, out)?;
                    }
                }
            }
        }
        Node::Object(entries) => {
            out.push(b'{');
            let mut first = true;
            for (name, child) in entries.iter() {
                let mark = out.len();
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(name);
                if self::child(child, v, out)? {
                    first = false;
                } else {
                    out.truncate(mark);
                }
            }
            out.push(b'}');
        }
        Node::Array(items) => {
            out.push(b'[');
            let mut first = true;
            for child in items.iter() {
                match child {
                    Node::Each(e) => {
                        if let Some(list) = list(e, v)? {
                            elements::<S>(e, list, out, &mut first)?;
                        }
                    }
                    _ => {
                        let mark = out.len();
                        if !first {
                            out.push(b',');
                        }
                        if self::child(child, v, out)? {
                            first = false;
                        } else {
                            out.truncate(mark);
                        }
                    }
                }
            }
            out.push(b']');
        }
        Node::Each(e) => {
            let Some(list) = list(e, v)? else {
                return Ok(false);
            };
            out.push(b'[');
            elements::<S>(e, list, out, &mut true)?;
            out.push(b']');
        }
    }
    Ok(true)
}

/// The elements an `each` walks: `None` when the list is missing or null.
fn list<'v, S: Scope<'v>>(e: &Each, v: S) -> Result<Option<S::Elems>> {
    match v.elements(&e.list) {
        ListAt::None => Ok(None),
        ListAt::Elems(it) => Ok(Some(it)),
        ListAt::NotList => Err(Error::validation(&*e.key, format!("{} is not a list", e.list.shown))),
    }
}

fn elements<'v, S: Scope<'v>>(e: &Each, list: S::Elems, out: &mut Vec<u8>, first: &mut bool) -> Result<()> {
    for el in list {
        let mark = out.len();
        if !*first {
            out.push(b',');
        }
        if child(&e.to, el, out)? {
            *first = false;
        } else {
            out.truncate(mark);
        }
    }
    Ok(())
}

/// Writes a string's content, escaped unless known `clean`.
#[inline]
fn put_str(s: &[u8], clean: bool, out: &mut Vec<u8>) {
    if clean {
        out.extend_from_slice(s);
    } else {
        escape_into(s, out);
    }
}

/// Refuses the body when the bytes written since `mark` hold a card number.
#[inline]
fn scan(out: &[u8], mark: usize, key: &str, path: &str) -> Result<()> {
    let Some(written) = out.get(mark..) else {
        return Ok(());
    };
    // Fewer than 13 digits in all (names, addresses, prices) can hold no card
    // number: a branch-free count first, the run scan only past it.
    let digits = written.iter().filter(|b| b.is_ascii_digit()).count();
    if digits >= luhn::MIN_DIGITS
        && luhn::may_hold_card_number(written)
        && luhn::contains_card_number(&String::from_utf8_lossy(written))
    {
        return Err(Error::validation(key, format!("{path}: contains a card number")));
    }
    Ok(())
}

fn template<'v, S: Scope<'v>>(key: &str, parts: &[Part], must_scan: bool, v: S, out: &mut Vec<u8>) -> Result<()> {
    let mark = out.len();
    out.push(b'"');
    for p in parts {
        match p {
            // Escaped when the body was compiled.
            Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Part::Field(f) => match v.get(f) {
                None | Some(Val::Null) => {}
                Some(Val::Str(s, clean)) => put_str(s, clean, out),
                Some(Val::Num(n)) => out.extend_from_slice(&n),
                Some(Val::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                Some(Val::List | Val::Obj) => {
                    return Err(Error::validation(key, format!("{}: a list or object can not go into a string", f.shown)))
                }
            },
        }
    }
    out.push(b'"');
    if !must_scan {
        return Ok(());
    }
    scan(out, mark, key, "template")
}

/// Whether a `from` candidate counts as set (not missing, null, `""`, `0`, `"0"`).
fn is_set(v: &Val<'_>) -> bool {
    match v {
        Val::Null => false,
        Val::Str(s, _) => !s.is_empty() && *s != b"0",
        Val::Num(n) => !is_zero(n),
        _ => true,
    }
}

/// Whether a JSON number's text is zero (`0`, `-0.0`, `0e5`).
fn is_zero(n: &[u8]) -> bool {
    let mantissa = n.split(|b| matches!(b, b'e' | b'E')).next().unwrap_or(n);
    !mantissa.iter().any(|b| (b'1'..=b'9').contains(b))
}

fn typed<'v, S: Scope<'v>>(t: &Typed, v: S, out: &mut Vec<u8>) -> Result<bool> {
    let (found, path) = if t.first_set {
        match t.from.iter().find_map(|p| v.get(p).filter(is_set).map(|x| (x, p))) {
            Some((x, p)) => (Some(x), &*p.shown),
            None => (None, t.from.first().map_or("", |p| &*p.shown)),
        }
    } else {
        match t.from.first() {
            Some(p) => (v.get(p).filter(|x| !matches!(x, Val::Null)), &*p.shown),
            None => (None, ""),
        }
    };
    let bad = |reason: &str| Error::validation(&*t.key, format!("{path}: {reason}"));
    let Some(x) = found else {
        return Ok(default(t, out));
    };
    if let Some(map) = &t.map {
        let text: &[u8] = match &x {
            Val::Str(s, _) => s,
            Val::Num(n) => n,
            Val::Bool(true) => b"true",
            Val::Bool(false) => b"false",
            _ => return Err(bad("must be a scalar")),
        };
        return Ok(match map.iter().find(|(k, _)| k.as_bytes() == text) {
            Some((_, json)) => {
                out.extend_from_slice(json);
                true
            }
            None => default(t, out),
        });
    }
    let mark = out.len();
    let source_len = match &x {
        Val::Str(s, _) => s.len(),
        Val::Num(n) => n.len(),
        _ => 0,
    };
    match (t.as_, x) {
        (_, Val::List | Val::Obj) => return Err(bad("must be a scalar")),
        (_, Val::Null) => return Ok(default(t, out)),
        (As::Keep | As::String, Val::Str(s, clean)) => {
            out.push(b'"');
            put_str(s, clean, out);
            out.push(b'"');
        }
        (As::String, Val::Num(n)) => {
            out.push(b'"');
            out.extend_from_slice(&n);
            out.push(b'"');
        }
        (As::String, Val::Bool(b)) => out.extend_from_slice(if b { b"\"true\"" } else { b"\"false\"" }),
        (As::Keep | As::Boolean, Val::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (As::Keep, Val::Num(n)) => out.extend_from_slice(&n),
        (As::Number, Val::Num(n)) => {
            // A JSON number with an exponent is written as it is; plain decimals normalised.
            if !number::write_decimal(&n, out) {
                out.extend_from_slice(&n);
            }
        }
        (As::Number, Val::Str(s, _)) => {
            if !number::write_decimal(s, out) {
                return Err(bad("is not a decimal number"));
            }
        }
        (As::Integer, Val::Num(n)) => {
            if !number::write_integer(&n, out) {
                return Err(bad("is not an integer"));
            }
        }
        (As::Integer, Val::Str(s, _)) => {
            if !number::write_integer(s, out) {
                return Err(bad("is not an integer"));
            }
        }
        (As::Boolean, Val::Num(n)) => match &*n {
            b"0" => out.extend_from_slice(b"false"),
            b"1" => out.extend_from_slice(b"true"),
            _ => return Err(bad("is not a boolean")),
        },
        (As::Boolean, Val::Str(s, _)) => match s {
            b"1" | b"true" | b"yes" => out.extend_from_slice(b"true"),
            b"0" | b"false" | b"no" | b"" => out.extend_from_slice(b"false"),
            _ => return Err(bad("is not a boolean")),
        },
        (As::Date, Val::Str(s, _)) => {
            let d = std::str::from_utf8(s).ok().and_then(number::date_part).ok_or_else(|| bad("is not an ISO 8601 date"))?;
            out.push(b'"');
            out.extend_from_slice(d.as_bytes());
            out.push(b'"');
        }
        (As::Unix | As::UnixMs, Val::Str(s, _)) => {
            let ms = std::str::from_utf8(s).ok().and_then(number::unix_ms).ok_or_else(|| bad("is not an ISO 8601 date-time"))?;
            let n = if t.as_ == As::Unix { ms.div_euclid(1000) } else { ms };
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
        (As::Number | As::Integer, Val::Bool(_)) => return Err(bad("is not a number")),
        (As::Date | As::Unix | As::UnixMs, _) => return Err(bad("is not an ISO 8601 date")),
    }
    // A Unix time is computed from a validated date, not copied from the order:
    // a 13-digit millisecond count passes the Luhn check one time in ten. A
    // value the policy scanned and that is written as it was (or only its date
    // part, or as a boolean) holds no card number: only a number whose text
    // changed (`"0004111…"` → `4111…`) is scanned again.
    let rescan = match t.as_ {
        As::Unix | As::UnixMs => false,
        _ if !S::PRESCANNED => true,
        As::Keep | As::String | As::Boolean | As::Date => false,
        As::Number | As::Integer => out.len() - mark != source_len,
    };
    if rescan {
        scan(out, mark, &t.key, path)?;
    }
    Ok(true)
}

fn default(t: &Typed, out: &mut Vec<u8>) -> bool {
    match &t.default {
        Some(d) => {
            out.extend_from_slice(d);
            true
        }
        None => false,
    }
}
