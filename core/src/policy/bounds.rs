//! The bounds walk: the whole order once, allocation-free unless it fails.
use std::fmt::Write as _;

use super::*;
use crate::node::Key;

struct Bounds {
    total: usize,
    values: usize,
}

/// `key`, the entry at `pos` (counted from 1) of its array, as a path step.
fn push_key(key: Key<'_>, pos: usize, path: &mut String) {
    match key {
        Key::Int(i) => {
            let _ = write!(path, "[{i}]");
        }
        Key::Str(s) => {
            if !path.is_empty() {
                path.push('.');
            }
            shown_key(s, pos, path);
        }
    }
}

/// Longest key shown by its text, in bytes.
pub(super) const SHOWN_KEY_BYTES: usize = 64;

/// Whether a key is shown by its text: `^[A-Za-z_][A-Za-z0-9_]{0,63}$`, the
/// shape of every key WooCommerce itself writes (`line_items`, `_billing_vat`).
pub(super) fn is_usual_key(raw: &[u8]) -> bool {
    matches!(raw.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && raw.len() <= SHOWN_KEY_BYTES
        && raw.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A key as an error path shows it. Keys are order data too: a usual key (see
/// [`is_usual_key`]) is shown by its text (through the redaction layer, like
/// every message), any other key by its position in its array, counted from 1
/// (`line_items[3].<key #2>`), so that no text of it reaches a message or a log.
fn shown_key(raw: &[u8], pos: usize, out: &mut String) {
    if is_usual_key(raw) {
        out.push_str(&crate::redact::redact(&String::from_utf8_lossy(raw)));
    } else {
        let _ = write!(out, "<key #{pos}>");
    }
}

/// Prefixes the failing path with `key` (entry `pos` of its array) on the way
/// out (only on error).
fn under(key: Key<'_>, pos: usize, e: Error) -> Error {
    match e {
        Error::Validation { path, reason } => {
            let mut p = String::new();
            push_key(key, pos, &mut p);
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
pub(super) fn check_bounds<N: Node>(order: &N) -> Result<()> {
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
        let mut pos = 0usize;
        n.for_each(|k, child| {
            pos += 1;
            if let Key::Str(s) = k {
                check_string(s.len(), b).map_err(|e| under(k, pos, e))?;
            }
            match child.scalar() {
                Scalar::Str(s) => check_string(s.len(), b).map_err(|e| under(k, pos, e)),
                Scalar::Array => array(child, depth + 1, b).map_err(|e| under(k, pos, e)),
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
    fn usual_keys() {
        for k in ["id", "line_items", "_billing_vat", "A1", "_", &"k".repeat(64)] {
            assert!(is_usual_key(k.as_bytes()), "{k}");
        }
        for k in ["", "1a", "a-b", "a.b", "a b", "é", "a\n", "4111111111111111", &"k".repeat(65), "jane@example.com"] {
            assert!(!is_usual_key(k.as_bytes()), "{k}");
        }
    }

    #[test]
    fn unusual_keys_show_by_position() {
        let mut p = String::new();
        push_key(Key::Str(b"a-b"), 2, &mut p);
        push_key(Key::Int(3), 7, &mut p);
        push_key(Key::Str(b"total"), 1, &mut p);
        assert_eq!(p, "<key #2>[3].total");
    }
}
