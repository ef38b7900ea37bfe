//! `url` with `{path}` placeholders in its path and query.
//!
//! Values are percent-encoded: only RFC 3986 unreserved bytes (`A-Z a-z 0-9 - . _ ~`)
//! stay as they are, so `/`, `?`, `#`, `%`, `&`, `=` and spaces can never change
//! the target; a value that makes a path segment `.` or `..` (`%2E` counted as
//! `.`, as a normalising server reads it) is refused. A missing, null or empty value is refused (it would
//! turn `/orders/{id}` into `/orders/`). The scheme and host are fixed text.
use serde_json::Value;

use super::compile::Compiler;
use super::input::{Input, View};
use super::template::Part;
use crate::error::{Error, Result};

/// A compiled URL template.
#[derive(Debug, Clone)]
pub struct UrlTemplate {
    /// `scheme://authority`, as written.
    head: Box<str>,
    /// Path, query and fragment.
    parts: Box<[Part]>,
    /// Paths used, as the policy names them.
    paths: Vec<String>,
}

impl UrlTemplate {
    /// Compiles `url` (the value of `destinations.DEST.url` in `file`); every
    /// placeholder's path must be `selected` by the policy.
    pub fn compile(url: &str, selected: &dyn Fn(&str) -> bool, file: &str, dest: &str) -> Result<UrlTemplate> {
        let mut c = Compiler { file, dest, selected, used: Vec::new() };
        let Some(scheme_end) = url.find("://") else {
            return Err(c.err("url", "must be an absolute URL (https://host/...)"));
        };
        let after = url.get(scheme_end + 3..).unwrap_or_default();
        let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
        let head_len = scheme_end + 3 + authority_len;
        let (head, rest) = url.split_at_checked(head_len).ok_or_else(|| c.err("url", "malformed URL"))?;
        if head.contains(['{', '}']) {
            return Err(c.err("url", "the scheme and host can not come from a placeholder"));
        }
        if let Some(hash) = rest.find('#') {
            if rest.get(hash..).is_some_and(|f| f.contains(['{', '}'])) {
                return Err(c.err("url", "a placeholder can not be in the fragment"));
            }
        }
        let parts = match c.template("url", "", rest)? {
            Some(p) => p,
            None => vec![Part::Lit(rest.into())].into_boxed_slice(),
        };
        Ok(UrlTemplate { head: head.into(), parts, paths: c.used })
    }

    /// Whether the URL has no placeholder (the same for every order).
    pub fn is_static(&self) -> bool {
        self.paths.is_empty()
    }

    /// The paths the placeholders use, as the policy names them.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// `scheme://authority` as written (fixed for every order).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The URL for one order's policy output `fields`.
    pub fn render(&self, fields: &Value) -> Result<String> {
        self.render_from(fields)
    }

    /// [`UrlTemplate::render`] from the policy's output as JSON bytes.
    pub fn render_json(&self, policy_output: &[u8]) -> Result<String> {
        if self.is_static() {
            return self.render_from(&super::input::Json::Null);
        }
        let fields = super::input::parse(policy_output).ok_or_else(|| Error::validation("", "the policy output is not JSON"))?;
        self.render_from(&fields)
    }

    fn render_from<I: Input>(&self, fields: &I) -> Result<String> {
        let mut url = String::with_capacity(self.head.len() + 64);
        url.push_str(&self.head);
        for p in self.parts.iter() {
            match p {
                Part::Lit(s) => url.push_str(s),
                Part::Field(f) => {
                    let bad = |reason: &str| Error::validation("url", format!("{}: {reason}", f.shown));
                    let text = match f.get(fields).map(Input::view) {
                        Some(View::Str(s, _)) => std::borrow::Cow::Borrowed(s),
                        Some(View::Num(n)) => n,
                        Some(View::Bool(b)) => std::borrow::Cow::Borrowed(if b { "true" } else { "false" }),
                        None | Some(View::Null) => return Err(bad("is missing")),
                        Some(_) => return Err(bad("must be a scalar")),
                    };
                    if text.is_empty() {
                        return Err(bad("is empty"));
                    }
                    encode_into(&text, &mut url);
                }
            }
        }
        // `%2E` is `.` to a server that normalises (RFC 3986 6.2.2.2): a value
        // that is, or completes, a `.` or `..` segment is refused, not encoded.
        if !self.paths.is_empty() {
            let rest = url.get(self.head.len()..).unwrap_or_default();
            let path = rest.split(['?', '#']).next().unwrap_or_default();
            if path.split('/').any(is_dot_segment) {
                return Err(Error::validation("url", "a placeholder makes a '.' or '..' path segment"));
            }
        }
        if url.len() > MAX_URL_BYTES {
            return Err(Error::validation("url", format!("the rendered URL is longer than {MAX_URL_BYTES} bytes")));
        }
        Ok(url)
    }
}

/// Longest rendered URL (servers commonly refuse more than 8 KiB of request line;
/// the outbox seals a URL of up to 64 KiB with its event).
pub const MAX_URL_BYTES: usize = 8192;

/// Whether a path segment is `.` or `..`, `%2E` read as `.`.
fn is_dot_segment(seg: &str) -> bool {
    let dots = seg.replace("%2E", ".").replace("%2e", ".");
    dots == "." || dots == ".."
}

/// Percent-encodes `s` into `out`: RFC 3986 unreserved bytes kept, `.` and `..`
/// encoded whole.
pub fn encode_into(s: &str, out: &mut String) {
    if s == "." || s == ".." {
        for _ in 0..s.len() {
            out.push_str("%2E");
        }
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0')));
            out.push(char::from(HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0')));
        }
    }
}
