//! The order as a tree the core can walk without copying it first.
//!
//! The PHP binding implements [`Node`] for a `zval` (walking PHP's hash tables in
//! place); the core implements it for `serde_json::Value`, which the tests, the
//! fuzzers and the benchmarks use. Policy evaluation only ever looks up the fields
//! it selects, so the bulk of an order is never converted.
use crate::error::Result;

/// A scalar view of a node; arrays are walked with [`Node::get`] and [`Node::for_each`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// PHP `null` / JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string, as raw bytes (PHP strings need not be UTF-8).
    Str(&'a [u8]),
    /// An array (PHP array, JSON object or list).
    Array,
    /// Anything else (objects, resources, closures): named by its type.
    Other(&'static str),
}

/// An array key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// Integer key (list index in a packed PHP array).
    Int(i64),
    /// String key, as raw bytes.
    Str(&'a [u8]),
}

/// A node of the order tree.
pub trait Node {
    /// What this node is.
    fn scalar(&self) -> Scalar<'_>;
    /// Looks up `key` in an array node (`None` for a missing key or a non-array).
    fn get(&self, key: &str) -> Option<&Self>;
    /// Number of entries of an array node (0 otherwise).
    fn len(&self) -> usize;
    /// Whether [`Node::len`] is 0.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Visits the entries of an array node in order; stops at the first error.
    fn for_each<F>(&self, f: F) -> Result<()>
    where
        F: FnMut(Key<'_>, &Self) -> Result<()>;
    /// A fast answer to "is this whole tree within `limits`?": `true` only when it
    /// certainly is; `false` sends the caller to the generic walk, which names the
    /// failing path. An implementation that can walk its storage faster than
    /// through [`Node::for_each`] overrides this (the PHP binding does).
    fn within_limits(&self, _limits: &Limits) -> bool {
        false
    }
}

/// The bounds every input must keep (see [`crate::policy`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Deepest nesting of arrays (the root array is at depth 1).
    pub max_depth: usize,
    /// Longest string, keys included, in bytes.
    pub max_string_bytes: usize,
    /// All strings of the input together, keys included, in bytes.
    pub max_total_string_bytes: usize,
    /// Most entries of one array.
    pub max_elements: usize,
}

impl Node for serde_json::Value {
    fn scalar(&self) -> Scalar<'_> {
        use serde_json::Value as V;
        match self {
            V::Null => Scalar::Null,
            V::Bool(b) => Scalar::Bool(*b),
            V::Number(n) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            V::String(s) => Scalar::Str(s.as_bytes()),
            V::Array(_) | V::Object(_) => Scalar::Array,
        }
    }

    fn get(&self, key: &str) -> Option<&Self> {
        match self {
            serde_json::Value::Object(m) => m.get(key),
            serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            serde_json::Value::Object(m) => m.len(),
            serde_json::Value::Array(a) => a.len(),
            _ => 0,
        }
    }

    fn for_each<F>(&self, mut f: F) -> Result<()>
    where
        F: FnMut(Key<'_>, &Self) -> Result<()>,
    {
        match self {
            serde_json::Value::Object(m) => m.iter().try_for_each(|(k, v)| f(Key::Str(k.as_bytes()), v)),
            serde_json::Value::Array(a) => a
                .iter()
                .zip(0i64..)
                .try_for_each(|(v, i)| f(Key::Int(i), v)),
            _ => Ok(()),
        }
    }
}
