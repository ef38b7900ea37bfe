//! What a body is rendered from: the policy's output, either as a
//! `serde_json::Value` or (the fast path) as a borrowed tree parsed straight
//! from the policy's JSON bytes: no hashing, strings borrowed unless escaped.
use std::borrow::Cow;

use serde_json::Value;

/// One value of the input, as rendering needs it.
pub(crate) enum View<'v, I> {
    Null,
    Bool(bool),
    /// A JSON number's text.
    Num(Cow<'v, str>),
    /// A string; `true` when it needs no JSON escaping (taken verbatim from
    /// JSON text without escapes: no `"`, `\\` or control byte in it).
    Str(&'v str, bool),
    List(&'v [I]),
    Obj,
}

/// An input tree.
pub(crate) trait Input: Sized {
    /// The member `key` of an object.
    fn field(&self, key: &str) -> Option<&Self>;
    fn view(&self) -> View<'_, Self>;
}

impl Input for Value {
    #[inline]
    fn field(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }

    fn view(&self) -> View<'_, Self> {
        match self {
            Value::Null => View::Null,
            Value::Bool(b) => View::Bool(*b),
            Value::Number(n) => View::Num(Cow::Owned(n.to_string())),
            Value::String(s) => View::Str(s, false),
            Value::Array(a) => View::List(a),
            Value::Object(_) => View::Obj,
        }
    }
}

/// A JSON value borrowed from its text.
#[derive(Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, str>),
    List(Vec<Json<'a>>),
    Obj(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Input for Json<'_> {
    #[inline]
    fn field(&self, key: &str) -> Option<&Self> {
        match self {
            Json::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    #[inline]
    fn view(&self) -> View<'_, Self> {
        match self {
            Json::Null => View::Null,
            Json::Bool(b) => View::Bool(*b),
            Json::Num(n) => View::Num(Cow::Borrowed(n)),
            Json::Str(Cow::Borrowed(s)) => View::Str(s, true),
            Json::Str(Cow::Owned(s)) => View::Str(s, false),
            Json::List(a) => View::List(a),
            Json::Obj(_) => View::Obj,
        }
    }
}

/// Bytes that end the plain part of a JSON string: `"`, `\\` and C0 controls.
// Evaluated at compile time: an index out of range would fail the build.
#[allow(clippy::indexing_slicing)]
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Length of the leading part of `b` without `"`, `\\` or C0 controls, eight
/// bytes at a time (SWAR); `None` when `b` ends first.
#[inline]
fn plain_len(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let w = u64::from_le_bytes(chunk);
        // Bytes below 0x20 (ASCII only: a set high bit never matches), `"`, `\\`.
        let control = w.wrapping_sub(0x2020_2020_2020_2020) & !w & HIGH;
        if control | has_zero(w ^ (ONES * 0x22)) | has_zero(w ^ (ONES * 0x5c)) != 0 {
            break;
        }
        i += 8;
    }
    let rest = b.get(i..)?;
    rest.iter().position(|&c| STOP.get(usize::from(c)).copied().unwrap_or(true)).map(|n| i + n)
}

/// Deepest nesting accepted (the policy writes at most 16).
const MAX_DEPTH: usize = 64;

/// Parses one JSON document; `None` when it is not valid JSON.
pub(crate) fn parse(text: &[u8]) -> Option<Json<'_>> {
    // Validated once (ASCII is checked a word at a time): every string is then
    // sliced at ASCII quotes, which are always character boundaries.
    let text = std::str::from_utf8(text).ok()?;
    let mut p = Parser { t: text, s: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    (p.i == text.len()).then_some(v)
}

struct Parser<'a> {
    t: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    #[inline]
    fn byte(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.i += 1)
    }

    fn eat(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut m = Vec::with_capacity(8);
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Some(Json::Obj(m));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.byte(b':')?;
                    let v = self.value(depth + 1)?;
                    m.push((k, v));
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Json::Obj(m));
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut a = Vec::with_capacity(4);
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Some(Json::List(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Json::List(a));
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.eat(b"true").map(|()| Json::Bool(true)),
            b'f' => self.eat(b"false").map(|()| Json::Bool(false)),
            b'n' => self.eat(b"null").map(|()| Json::Null),
            _ => self.number(),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.need_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.need_digits()?;
        }
        self.t.get(start..self.i).map(Json::Num)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn need_digits(&mut self) -> Option<()> {
        let at = self.i;
        self.digits();
        (self.i > at).then_some(())
    }

    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.byte(b'"')?;
        let start = self.i;
        self.i = start + plain_len(self.s.get(start..)?)?;
        match self.peek()? {
            b'"' => {
                let raw = self.t.get(start..self.i)?;
                self.i += 1;
                return Some(Cow::Borrowed(raw));
            }
            b'\\' => {}
            _ => return None,
        }
        self.escaped(start)
    }

    /// The rest of a string with escapes, from its content's `start`.
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> Option<Cow<'a, str>> {
        let mut buf: Vec<u8> = self.s.get(start..self.i)?.to_vec();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(buf).ok().map(Cow::Owned);
                }
                b'\\' => {
                    self.i += 1;
                    let c = self.peek()?;
                    self.i += 1;
                    match c {
                        b'"' | b'\\' | b'/' => buf.push(c),
                        b'b' => buf.push(8),
                        b'f' => buf.push(12),
                        b'n' => buf.push(b'\n'),
                        b'r' => buf.push(b'\r'),
                        b't' => buf.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                self.eat(b"\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            let ch = char::from_u32(cp)?;
                            let mut tmp = [0u8; 4];
                            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                c => {
                    buf.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_runs() {
        for (s, n) in [
            ("\"", Some(0)),
            ("abcdefgh\"", Some(8)),
            ("abcdefghijklmnop\\", Some(16)),
            ("abc\u{1}", Some(3)),
            ("ééééé\"", Some(10)),
            ("abcdefg", None),
            ("1234567\n", Some(7)),
        ] {
            assert_eq!(plain_len(s.as_bytes()), n, "{s:?}");
        }
    }

    #[test]
    fn parses_like_serde_json() {
        let text = r#" {"a":[1,-2.5e3,true,false,null,"x\"y\\\u00e9\ud83d\ude00\n"],"b":{},"c":[],"é":"ü"} "#;
        let j = parse(text.as_bytes()).unwrap();
        let Json::Obj(m) = &j else { panic!() };
        assert_eq!(m.len(), 4);
        let Json::List(a) = &m[0].1 else { panic!() };
        assert_eq!(a[1], Json::Num("-2.5e3"));
        assert_eq!(a[5], Json::Str(Cow::Owned("x\"y\\é😀\n".to_owned())));
        assert_eq!(j.field("é").map(|v| matches!(v, Json::Str(s) if s == "ü")), Some(true));
        for bad in ["", "{", "[1,]", "{\"a\"}", "01", "1.", "-", "\"a\nb\"", "\"\\x\"", "tru", "{} x", "\"\\ud800\"", "[1 2]"] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(deep.as_bytes()).is_none());
    }
}
