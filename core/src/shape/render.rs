//! A [`Node`] tree + the policy's output → the request body, written straight
//! into the output buffer. Type problems name the body key and the field path,
//! never the value; every string and number written from the order is scanned
//! for card numbers.
use serde_json::Value;

use super::compile::{As, Each, Node, Typed};
use super::number;
use super::template::{escape_into, Part};
use crate::error::{Error, Result};
use crate::luhn;

/// Writes `n` for the scope `v`; `Ok(false)` (nothing written) when it is left out.
pub(crate) fn node(n: &Node, v: &Value, out: &mut Vec<u8>) -> Result<bool> {
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
fn list<'v>(e: &Each, v: &'v Value) -> Result<Option<&'v [Value]>> {
    match e.list.get(v) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(Error::validation(&*e.key, format!("{} is not a list", e.list.shown))),
    }
}

fn elements(e: &Each, list: &[Value], out: &mut Vec<u8>, first: &mut bool) -> Result<()> {
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

/// Refuses the body when the bytes written since `mark` hold a card number.
#[inline]
fn scan(out: &[u8], mark: usize, key: &str, path: &str) -> Result<()> {
    let Some(written) = out.get(mark..) else {
        return Ok(());
    };
    if luhn::may_hold_card_number(written) && luhn::contains_card_number(&String::from_utf8_lossy(written)) {
        return Err(Error::validation(key, format!("{path}: contains a card number")));
    }
    Ok(())
}

fn template(key: &str, parts: &[Part], v: &Value, out: &mut Vec<u8>) -> Result<()> {
    let mark = out.len();
    out.push(b'"');
    for p in parts {
        match p {
            Part::Lit(s) => escape_into(s.as_bytes(), out),
            Part::Field(f) => match f.get(v) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => escape_into(s.as_bytes(), out),
                Some(Value::Number(n)) => out.extend_from_slice(n.to_string().as_bytes()),
                Some(Value::Bool(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Some(Value::Array(_) | Value::Object(_)) => {
                    return Err(Error::validation(
                        key,
                        format!("{}: a list or object can not go into a string", f.shown),
                    ))
                }
            },
        }
    }
    out.push(b'"');
    scan(out, mark, key, "template")
}

/// Whether a `from` candidate counts as set (not missing, null, `""`, `0`, `"0"`).
fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty() && s != "0",
        Value::Number(n) => n.as_f64() != Some(0.0),
        _ => true,
    }
}

fn typed(t: &Typed, v: &Value, out: &mut Vec<u8>) -> Result<bool> {
    let (found, path) = if t.first_set {
        match t.from.iter().find_map(|p| p.get(v).filter(|x| is_set(x)).map(|x| (x, p))) {
            Some((x, p)) => (Some(x), &*p.shown),
            None => (None, t.from.first().map_or("", |p| &*p.shown)),
        }
    } else {
        match t.from.first() {
            Some(p) => (p.get(v).filter(|x| !x.is_null()), &*p.shown),
            None => (None, ""),
        }
    };
    let bad = |reason: &str| Error::validation(&*t.key, format!("{path}: {reason}"));
    let Some(x) = found else {
        return Ok(default(t, out));
    };
    if let Some(map) = &t.map {
        let text_buf;
        let text: &str = match x {
            Value::String(s) => s,
            Value::Number(n) => {
                text_buf = n.to_string();
                &text_buf
            }
            Value::Bool(b) => {
                if *b {
                    "true"
                } else {
                    "false"
                }
            }
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
        (_, Value::Array(_) | Value::Object(_)) => return Err(bad("must be a scalar")),
        (As::Keep, Value::String(s)) | (As::String, Value::String(s)) => {
            out.push(b'"');
            escape_into(s.as_bytes(), out);
            out.push(b'"');
        }
        (As::String, Value::Number(n)) => {
            out.push(b'"');
            out.extend_from_slice(n.to_string().as_bytes());
            out.push(b'"');
        }
        (As::String, Value::Bool(b)) => out.extend_from_slice(if *b { b"\"true\"" } else { b"\"false\"" }),
        (As::Keep | As::Boolean, Value::Bool(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        (As::Keep | As::Number, Value::Number(n)) => out.extend_from_slice(n.to_string().as_bytes()),
        (As::Number, Value::String(s)) => {
            if !number::write_decimal(s.as_bytes(), out) {
                return Err(bad("is not a decimal number"));
            }
        }
        (As::Integer, Value::Number(n)) => {
            if !number::write_integer(n.to_string().as_bytes(), out) {
                return Err(bad("is not an integer"));
            }
        }
        (As::Integer, Value::String(s)) => {
            if !number::write_integer(s.as_bytes(), out) {
                return Err(bad("is not an integer"));
            }
        }
        (As::Boolean, Value::Number(n)) => match n.as_u64() {
            Some(0) => out.extend_from_slice(b"false"),
            Some(1) => out.extend_from_slice(b"true"),
            _ => return Err(bad("is not a boolean")),
        },
        (As::Boolean, Value::String(s)) => match s.as_str() {
            "1" | "true" | "yes" => out.extend_from_slice(b"true"),
            "0" | "false" | "no" | "" => out.extend_from_slice(b"false"),
            _ => return Err(bad("is not a boolean")),
        },
        (As::Date, Value::String(s)) => {
            let d = number::date_part(s).ok_or_else(|| bad("is not an ISO 8601 date"))?;
            out.push(b'"');
            out.extend_from_slice(d.as_bytes());
            out.push(b'"');
        }
        (As::Unix | As::UnixMs, Value::String(s)) => {
            let ms = number::unix_ms(s).ok_or_else(|| bad("is not an ISO 8601 date-time"))?;
            let n = if t.as_ == As::Unix { ms.div_euclid(1000) } else { ms };
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
        (As::Number | As::Integer, Value::Bool(_)) => return Err(bad("is not a number")),
        (As::Date | As::Unix | As::UnixMs, _) => return Err(bad("is not an ISO 8601 date")),
        (_, Value::Null) => return Ok(default(t, out)),
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
