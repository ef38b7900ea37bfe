//! Field paths and string templates (`"Order #{number} from {billing.country}"`).
//!
//! A path is dotted keys of letters, digits, `_` and `-` (`billing.country`),
//! relative to the order or, inside a list builder, to the list element. A
//! string holding `{` or `}` is a template: `{path}` is a placeholder, `{{` and
//! `}}` are literal braces, anything else (a lone brace, a malformed path) is a
//! configuration error. A string without braces is a literal.
use super::input::Input;

/// A compiled field path.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    /// Keys from the scope (the order, or the list element).
    keys: Box<[Box<str>]>,
    /// The path as the policy names it (`line_items[].sku`): for messages.
    pub(crate) shown: Box<str>,
}

impl Path {
    /// Parses `text` in `scope` (`""` or `"line_items[]."`); `None` when malformed.
    pub(crate) fn parse(text: &str, scope: &str) -> Option<Path> {
        if text.is_empty() {
            return None;
        }
        let mut keys = Vec::new();
        for k in text.split('.') {
            if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return None;
            }
            keys.push(Box::from(k));
        }
        Some(Path { keys: keys.into_boxed_slice(), shown: format!("{scope}{text}").into_boxed_str() })
    }

    /// The value at this path in `v`, if any.
    #[inline]
    pub(crate) fn get<'v, I: Input>(&self, v: &'v I) -> Option<&'v I> {
        let mut cur = v;
        for k in self.keys.iter() {
            cur = cur.field(k)?;
        }
        Some(cur)
    }
}

/// One piece of a template.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// Literal text (braces already unescaped).
    Lit(Box<str>),
    /// A placeholder.
    Field(Path),
}

/// Splits `s` into parts. `Ok(None)`: `s` has no braces (a literal).
/// `Err(reason)`: malformed (the reason names no value: config text only).
pub(crate) fn parse(s: &str, scope: &str) -> Result<Option<Vec<Part>>, String> {
    if !s.contains(['{', '}']) {
        return Ok(None);
    }
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        let (before, at) = rest.split_at(i);
        lit.push_str(before);
        if let Some(after) = at.strip_prefix("{{") {
            lit.push('{');
            rest = after;
        } else if let Some(after) = at.strip_prefix("}}") {
            lit.push('}');
            rest = after;
        } else if let Some(after) = at.strip_prefix('{') {
            let end = after.find('}').ok_or_else(|| "unclosed `{` (write `{{` for a literal brace)".to_owned())?;
            let (name, tail) = after.split_at(end);
            let path = Path::parse(name, scope)
                .ok_or_else(|| format!("malformed placeholder `{{{name}}}` (write `{{{{` for a literal brace)"))?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit).into_boxed_str()));
            }
            parts.push(Part::Field(path));
            rest = tail.get(1..).unwrap_or_default();
        } else {
            return Err("lone `}` (write `}}` for a literal brace)".to_owned());
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Lit(lit.into_boxed_str()));
    }
    Ok(Some(parts))
}

/// Appends `s` JSON-escaped (without quotes) to `out`.
#[inline]
pub(crate) fn escape_into(s: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(s.get(start..i).unwrap_or_default());
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(s.get(start..).unwrap_or_default());
}

/// `s` as a JSON string literal, quotes included.
pub(crate) fn json_string(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    escape_into(s.as_bytes(), &mut out);
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert!(parse("plain", "").unwrap().is_none());
        let p = parse("#{number} {{x}} {billing.country}", "").unwrap().unwrap();
        assert_eq!(p.len(), 4);
        assert!(matches!(&p[2], Part::Lit(s) if &**s == " {x} "));
        assert!(matches!(&p[3], Part::Field(f) if &*f.shown == "billing.country"));
        assert!(parse("{a", "").is_err());
        assert!(parse("a}", "").is_err());
        assert!(parse("{a b}", "").is_err());
        assert!(parse("{}", "").is_err());
        assert!(parse("{a..b}", "").is_err());
        let p = parse("{sku}", "line_items[].").unwrap().unwrap();
        assert!(matches!(&p[0], Part::Field(f) if &*f.shown == "line_items[].sku"));
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_into("a\"b\\c\n\u{1}é".as_bytes(), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\"b\\\\c\\n\\u0001é");
    }
}
