//! A [`Node`] tree + the policy's output → the request body, written straight
//! into the output buffer. Type problems name the body key and the field path,
//! never the value; every string and number written from the order is scanned
//! for card numbers.
use super::compile::{As, Each, Node, Typed};
use super::input::{Input, View};
use super::number;
use super::template::{escape_into, Part};
use crate::error::{Error, Result};
use crate::luhn;

/// Writes `n` for the scope `v`; `Ok(false)` (nothing written) when it is left out.
pub(crate) fn node<I: Input>(n: &Node, v: &I, out: &mut Vec<u8>) -> Result<bool> {
    match n {
        Node::Lit(b) => out.extend_from_slice(b),
        Node::Template { key, parts } => template(key, parts, v, out)?,
        Node::Typed(t) => return typed(t, v, out),
        Node::Object(entries) => {
            out.push(b'{');
            let mut first = true;
            for (name, child) in entries.iter() {
                let mark = out.len();
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(name);
                if node(child, v, out)? {
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
                            elements(e, list, out, &mut first)?;
                        }
                    }
                    _ => {
                        let mark = out.len();
                        if !first {
                            out.push(b',');
                        }
                        if node(child, v, out)? {
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
            elements(e, list, out, &mut true)?;
            out.push(b']');
        }
    }
    Ok(true)
}

/// The list an `each` walks: `None` when missing or null.
fn list<'v, I: Input>(e: &Each, v: &'v I) -> Result<Option<&'v [I]>> {
    match e.list.get(v).map(Input::view) {
        None | Some(View::Null) => Ok(None),
        Some(View::List(a)) => Ok(Some(a)),
        Some(_) => Err(Error::validation(&*e.key, format!("{} is not a list", e.list.shown))),
    }
}

fn elements<I: Input>(e: &Each, list: &[I], out: &mut Vec<u8>, first: &mut bool) -> Result<()> {
    for el in list {
        let mark = out.len();
        if !*first {
            out.push(b',');
        }
        if node(&e.to, el, out)? {
            *first = false;
        } else {
            out.truncate(mark);
        }
    }
    Ok(())
}

/// Writes a string's content, escaped unless known `clean`.
#[inline]
fn put_str(s: &str, clean: bool, out: &mut Vec<u8>) {
    if clean {
        out.extend_from_slice(s.as_bytes());
    } else {
        escape_into(s.as_bytes(), out);
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

fn template<I: Input>(key: &str, parts: &[Part], v: &I, out: &mut Vec<u8>) -> Result<()> {
    let mark = out.len();
    out.push(b'"');
    for p in parts {
        match p {
            Part::Lit(s) => escape_into(s.as_bytes(), out),
            Part::Field(f) => match f.get(v).map(Input::view) {
                None | Some(View::Null) => {}
                Some(View::Str(s, clean)) => put_str(s, clean, out),
                Some(View::Num(n)) => out.extend_from_slice(n.as_bytes()),
                Some(View::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                Some(View::List(_) | View::Obj) => {
                    return Err(Error::validation(key, format!("{}: a list or object can not go into a string", f.shown)))
                }
            },
        }
    }
    out.push(b'"');
    scan(out, mark, key, "template")
}

/// Whether a `from` candidate counts as set (not missing, null, `""`, `0`, `"0"`).
fn is_set<I: Input>(v: &I) -> bool {
    match v.view() {
        View::Null => false,
        View::Str(s, _) => !s.is_empty() && s != "0",
        View::Num(n) => !is_zero(&n),
        _ => true,
    }
}

/// Whether a JSON number's text is zero (`0`, `-0.0`, `0e5`).
fn is_zero(n: &str) -> bool {
    let mantissa = n.split(['e', 'E']).next().unwrap_or(n);
    !mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

fn is_null<I: Input>(v: &I) -> bool {
    matches!(v.view(), View::Null)
}

fn typed<I: Input>(t: &Typed, v: &I, out: &mut Vec<u8>) -> Result<bool> {
    let (found, path) = if t.first_set {
        match t.from.iter().find_map(|p| p.get(v).filter(|x| is_set(*x)).map(|x| (x, p))) {
            Some((x, p)) => (Some(x), &*p.shown),
            None => (None, t.from.first().map_or("", |p| &*p.shown)),
        }
    } else {
        match t.from.first() {
            Some(p) => (p.get(v).filter(|x| !is_null(*x)), &*p.shown),
            None => (None, ""),
        }
    };
    let bad = |reason: &str| Error::validation(&*t.key, format!("{path}: {reason}"));
    let Some(x) = found else {
        return Ok(default(t, out));
    };
    let x = x.view();
    if let Some(map) = &t.map {
        let text: &str = match &x {
            View::Str(s, _) => s,
            View::Num(n) => n,
            View::Bool(true) => "true",
            View::Bool(false) => "false",
            _ => return Err(bad("must be a scalar")),
        };
        return Ok(match map.iter().find(|(k, _)| **k == *text) {
            Some((_, json)) => {
                out.extend_from_slice(json);
                true
            }
            None => default(t, out),
        });
    }
    let mark = out.len();
    match (t.as_, x) {
        (_, View::List(_) | View::Obj) => return Err(bad("must be a scalar")),
        (_, View::Null) => return Ok(default(t, out)),
        (As::Keep | As::String, View::Str(s, clean)) => {
            out.push(b'"');
            put_str(s, clean, out);
            out.push(b'"');
        }
        (As::String, View::Num(n)) => {
            out.push(b'"');
            out.extend_from_slice(n.as_bytes());
            out.push(b'"');
        }
        (As::String, View::Bool(b)) => out.extend_from_slice(if b { b"\"true\"" } else { b"\"false\"" }),
        (As::Keep | As::Boolean, View::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (As::Keep, View::Num(n)) => out.extend_from_slice(n.as_bytes()),
        (As::Number, View::Num(n)) => {
            // A JSON number with an exponent is written as it is; plain decimals normalised.
            if !number::write_decimal(n.as_bytes(), out) {
                out.extend_from_slice(n.as_bytes());
            }
        }
        (As::Number, View::Str(s, _)) => {
            if !number::write_decimal(s.as_bytes(), out) {
                return Err(bad("is not a decimal number"));
            }
        }
        (As::Integer, View::Num(n)) => {
            if !number::write_integer(n.as_bytes(), out) {
                return Err(bad("is not an integer"));
            }
        }
        (As::Integer, View::Str(s, _)) => {
            if !number::write_integer(s.as_bytes(), out) {
                return Err(bad("is not an integer"));
            }
        }
        (As::Boolean, View::Num(n)) => match &*n {
            "0" => out.extend_from_slice(b"false"),
            "1" => out.extend_from_slice(b"true"),
            _ => return Err(bad("is not a boolean")),
        },
        (As::Boolean, View::Str(s, _)) => match s {
            "1" | "true" | "yes" => out.extend_from_slice(b"true"),
            "0" | "false" | "no" | "" => out.extend_from_slice(b"false"),
            _ => return Err(bad("is not a boolean")),
        },
        (As::Date, View::Str(s, _)) => {
            let d = number::date_part(s).ok_or_else(|| bad("is not an ISO 8601 date"))?;
            out.push(b'"');
            out.extend_from_slice(d.as_bytes());
            out.push(b'"');
        }
        (As::Unix | As::UnixMs, View::Str(s, _)) => {
            let ms = number::unix_ms(s).ok_or_else(|| bad("is not an ISO 8601 date-time"))?;
            let n = if t.as_ == As::Unix { ms.div_euclid(1000) } else { ms };
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
        (As::Number | As::Integer, View::Bool(_)) => return Err(bad("is not a number")),
        (As::Date | As::Unix | As::UnixMs, _) => return Err(bad("is not an ISO 8601 date")),
    }
    // A Unix time is computed from a validated date, not copied from the order:
    // a 13-digit millisecond count passes the Luhn check one time in ten.
    if !matches!(t.as_, As::Unix | As::UnixMs) {
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
