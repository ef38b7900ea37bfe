//! `[destinations.NAME.body]` (TOML) → a [`Node`] tree, once per configuration load.
use super::template::{self, json_string, Part, Path};
use crate::error::{Error, Result};
use crate::luhn;

/// Deepest nesting of a body table (configuration, not orders: generous).
const MAX_DEPTH: usize = 32;

/// What `as` turns a value into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum As {
    /// The value as it is (a scalar).
    Keep,
    String,
    Number,
    Integer,
    Boolean,
    Date,
    Unix,
    UnixMs,
}

/// One `map` entry: the value's text and the JSON written for it.
pub(crate) type MapEntry = (Box<str>, Box<[u8]>);

/// A typed value: `{ from = ..., as = ..., map = ..., default = ... }`.
#[derive(Debug)]
pub(crate) struct Typed {
    /// Body key, for messages (`body.items[].unitPrice`).
    pub(crate) key: Box<str>,
    /// One path, or the candidates of a `from` list.
    pub(crate) from: Box<[Path]>,
    /// `from` was a list: take the first value that is set.
    pub(crate) first_set: bool,
    pub(crate) as_: As,
    /// `map`: (value text, JSON of the replacement).
    pub(crate) map: Option<Box<[MapEntry]>>,
    /// JSON of `default`.
    pub(crate) default: Option<Box<[u8]>>,
}

/// A list builder: `{ each = ..., to = ... }`.
#[derive(Debug)]
pub(crate) struct Each {
    pub(crate) key: Box<str>,
    pub(crate) list: Path,
    pub(crate) to: Node,
}

/// A compiled body node.
#[derive(Debug)]
pub(crate) enum Node {
    /// JSON written as it is.
    Lit(Box<[u8]>),
    /// A string template.
    Template {
        key: Box<str>,
        parts: Box<[Part]>,
    },
    Typed(Box<Typed>),
    /// `"key":` (escaped, with quotes and colon) and the value.
    Object(Box<[(Box<[u8]>, Node)]>),
    /// Elements; an [`Node::Each`] among them is spliced in place.
    Array(Box<[Node]>),
    Each(Box<Each>),
}

pub(crate) struct Compiler<'a> {
    pub(crate) file: &'a str,
    pub(crate) dest: &'a str,
    pub(crate) selected: &'a dyn Fn(&str) -> bool,
    /// Every path used, as the policy names it (for describe/status).
    pub(crate) used: Vec<String>,
}

impl Compiler<'_> {
    pub(crate) fn err(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::config(self.file, Some(&format!("destinations.{}.{key}", self.dest)), reason)
    }

    /// Checks that `p` is selected by the policy and records it.
    pub(crate) fn check(&mut self, key: &str, p: &Path) -> Result<()> {
        if !(self.selected)(&p.shown) {
            return Err(self.err(key, format!("path {} is not selected by the policy", p.shown)));
        }
        if !self.used.iter().any(|u| **u == *p.shown) {
            self.used.push(p.shown.to_string());
        }
        Ok(())
    }

    fn path(&mut self, key: &str, scope: &str, text: &str) -> Result<Path> {
        let p = Path::parse(text, scope).ok_or_else(|| self.err(key, format!("malformed path \"{text}\"")))?;
        self.check(key, &p)?;
        Ok(p)
    }

    /// Compiles a string: a template when it holds braces, else a literal.
    pub(crate) fn template(&mut self, key: &str, scope: &str, s: &str) -> Result<Option<Box<[Part]>>> {
        let parts = template::parse(s, scope).map_err(|r| self.err(key, r))?;
        let Some(parts) = parts else { return Ok(None) };
        for p in &parts {
            match p {
                Part::Field(f) => self.check(key, f)?,
                Part::Lit(l) => self.no_card(key, l)?,
            }
        }
        Ok(Some(parts.into_boxed_slice()))
    }

    fn no_card(&self, key: &str, s: &str) -> Result<()> {
        if luhn::may_hold_card_number(s.as_bytes()) && luhn::contains_card_number(s) {
            return Err(self.err(key, "a constant holds a card number"));
        }
        Ok(())
    }

    /// `v` written as JSON, nothing interpreted; card numbers refused.
    pub(crate) fn literal(&self, key: &str, v: &toml::Value, out: &mut Vec<u8>, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.err(key, "nested too deeply"));
        }
        match v {
            toml::Value::String(s) => {
                self.no_card(key, s)?;
                out.extend_from_slice(&json_string(s));
            }
            toml::Value::Integer(i) => {
                let s = itoa::Buffer::new().format(*i).to_owned();
                self.no_card(key, &s)?;
                out.extend_from_slice(s.as_bytes());
            }
            toml::Value::Float(x) => {
                let n = serde_json::Number::from_f64(*x).ok_or_else(|| self.err(key, "not a finite number"))?;
                let s = n.to_string();
                self.no_card(key, &s)?;
                out.extend_from_slice(s.as_bytes());
            }
            toml::Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            toml::Value::Datetime(d) => out.extend_from_slice(&json_string(&d.to_string())),
            toml::Value::Array(a) => {
                out.push(b'[');
                for (i, e) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.literal(key, e, out, depth + 1)?;
                }
                out.push(b']');
            }
            toml::Value::Table(t) => {
                out.push(b'{');
                for (i, (k, e)) in t.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.no_card(key, k)?;
                    out.extend_from_slice(&json_string(k));
                    out.push(b':');
                    self.literal(key, e, out, depth + 1)?;
                }
                out.push(b'}');
            }
        }
        Ok(())
    }

    fn lit(&self, key: &str, v: &toml::Value) -> Result<Box<[u8]>> {
        let mut out = Vec::new();
        self.literal(key, v, &mut out, 0)?;
        Ok(out.into_boxed_slice())
    }

    /// Compiles `v` at body key `key` (`body.a.b`), paths relative to `scope`.
    pub(crate) fn node(&mut self, v: &toml::Value, key: &str, scope: &str, depth: usize) -> Result<Node> {
        if depth > MAX_DEPTH {
            return Err(self.err(key, "nested too deeply"));
        }
        match v {
            toml::Value::String(s) => match self.template(key, scope, s)? {
                Some(parts) => Ok(Node::Template { key: key.into(), parts }),
                None => Ok(Node::Lit(self.lit(key, v)?)),
            },
            toml::Value::Array(a) => {
                let mut items = Vec::with_capacity(a.len());
                for (i, e) in a.iter().enumerate() {
                    items.push(self.node(e, &format!("{key}[{i}]"), scope, depth + 1)?);
                }
                Ok(Node::Array(items.into_boxed_slice()))
            }
            toml::Value::Table(t) => {
                let only = |allowed: &[&str]| t.keys().all(|k| allowed.contains(&k.as_str()));
                if t.len() == 1 && t.contains_key("literal") {
                    let inner = t.get("literal").ok_or_else(|| self.err(key, "literal"))?;
                    return Ok(Node::Lit(self.lit(key, inner)?));
                }
                if t.contains_key("from") && only(&["from", "as", "map", "default"]) {
                    return self.typed(t, key, scope).map(|x| Node::Typed(Box::new(x)));
                }
                if t.contains_key("each") && only(&["each", "to"]) {
                    return self.each(t, key, scope, depth).map(|x| Node::Each(Box::new(x)));
                }
                let mut entries = Vec::with_capacity(t.len());
                for (k, e) in t {
                    self.no_card(key, k)?;
                    let mut name = json_string(k);
                    name.push(b':');
                    entries.push((name.into_boxed_slice(), self.node(e, &format!("{key}.{k}"), scope, depth + 1)?));
                }
                Ok(Node::Object(entries.into_boxed_slice()))
            }
            _ => Ok(Node::Lit(self.lit(key, v)?)),
        }
    }

    fn typed(&mut self, t: &toml::Table, key: &str, scope: &str) -> Result<Typed> {
        let (from, first_set) = match t.get("from") {
            Some(toml::Value::String(s)) => (vec![self.path(key, scope, s)?], false),
            Some(toml::Value::Array(a)) if !a.is_empty() => {
                let mut v = Vec::with_capacity(a.len());
                for e in a {
                    let s = e.as_str().ok_or_else(|| self.err(key, "`from` must be a path or a list of paths"))?;
                    v.push(self.path(key, scope, s)?);
                }
                (v, true)
            }
            _ => return Err(self.err(key, "`from` must be a path or a non-empty list of paths")),
        };
        let as_ = match t.get("as") {
            None => As::Keep,
            Some(toml::Value::String(s)) => match s.as_str() {
                "string" => As::String,
                "number" => As::Number,
                "integer" => As::Integer,
                "boolean" => As::Boolean,
                "date" => As::Date,
                "unix" => As::Unix,
                "unix_ms" => As::UnixMs,
                other => {
                    return Err(self
                        .err(key, format!("unknown `as = \"{other}\"` (string, number, integer, boolean, date, unix, unix_ms)")))
                }
            },
            Some(_) => return Err(self.err(key, "`as` must be a string")),
        };
        let map = match t.get("map") {
            None => None,
            Some(toml::Value::Table(m)) => {
                if as_ != As::Keep {
                    return Err(self.err(key, "`map` writes its values as they are: `as` does not apply with it"));
                }
                let mut v = Vec::with_capacity(m.len());
                for (k, e) in m {
                    self.no_card(key, k)?;
                    v.push((k.as_str().into(), self.lit(key, e)?));
                }
                Some(v.into_boxed_slice())
            }
            Some(_) => return Err(self.err(key, "`map` must be a table")),
        };
        let default = t.get("default").map(|d| self.lit(key, d)).transpose()?;
        Ok(Typed { key: key.into(), from: from.into_boxed_slice(), first_set, as_, map, default })
    }

    fn each(&mut self, t: &toml::Table, key: &str, scope: &str, depth: usize) -> Result<Each> {
        let text = t.get("each").and_then(toml::Value::as_str).ok_or_else(|| self.err(key, "`each` must be a path"))?;
        let list = Path::parse(text, scope).ok_or_else(|| self.err(key, format!("malformed path \"{text}\"")))?;
        let to = t.get("to").ok_or_else(|| self.err(key, "a list builder needs `to`"))?;
        let inner = format!("{}[].", list.shown);
        let to = self.node(to, &format!("{key}[]"), &inner, depth + 1)?;
        // The list itself is data (its length): some field of its elements must be selected.
        if !self.used.iter().any(|u| u.starts_with(&inner)) {
            return Err(self.err(key, format!("`to` uses no field of {}[]: select one and use it", list.shown)));
        }
        Ok(Each { key: key.into(), list, to })
    }
}
