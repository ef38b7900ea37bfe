//! The bounds walk: the whole order once, allocation-free unless it fails.
use std::fmt::Write as _;

use super::*;
use crate::node::Key;

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
        Error::validation(
            "",
            format!("more than {MAX_TOTAL_STRING_BYTES} bytes of text in the order"),
        )
    }
}

/// Walks the whole order once, without allocating unless it fails.
pub(super) fn check_bounds<N: Node>(order: &N) -> Result<()> {
    if order.within_limits(&LIMITS) {
        return Ok(());
    }
    /// Checks the array `n` at `depth`; scalar children are checked in the loop
    /// (no call per leaf), arrays recursively.
    fn array<N: Node>(n: &N, depth: usize, b: &mut Bounds) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::validation(
                "",
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        if n.len() > MAX_ELEMENTS {
            return Err(Error::validation(
                "",
                format!("more than {MAX_ELEMENTS} elements"),
            ));
        }
        b.values += n.len();
        if b.values > MAX_VALUES {
            return Err(Error::validation(
                "",
                format!("more than {MAX_VALUES} values in the order"),
            ));
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
    let mut b = Bounds {
        total: 0,
        values: 0,
    };
    match order.scalar() {
        Scalar::Array => array(order, 1, &mut b),
        Scalar::Str(s) => check_string(s.len(), &mut b),
        _ => Ok(()),
    }
}
