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
    /// [`Node::get`] with a key prepared in advance (the policy's keys are):
    /// an implementation backed by PHP arrays uses its precomputed hash.
    #[inline]
    fn get_key(&self, key: &FieldKey) -> Option<&Self> {
        self.get(key.name())
    }
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

/// A key of a policy path, prepared once when the policy is compiled: its text
/// and, for an ASCII key that PHP stores as a string key (policy keys are ASCII;
/// one starting with a digit or `-` may be an integer key), the hash PHP files
/// it under in an array ([`php_hash`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldKey {
    name: String,
    hash: Option<u64>,
}

impl FieldKey {
    /// Prepares `name`.
    pub fn new(name: &str) -> FieldKey {
        let string_key = name.is_ascii() && name.bytes().next().is_some_and(|b| !b.is_ascii_digit() && b != b'-');
        FieldKey { name: name.to_owned(), hash: string_key.then(|| php_hash(name.as_bytes())) }
    }

    /// The key's text.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// [`php_hash`] of the key's text, when it is certainly a string key.
    pub fn hash(&self) -> Option<u64> {
        self.hash
    }
}

/// The hash PHP's arrays use for an ASCII string key (`zend_inline_hash_func`
/// on 64-bit platforms): DJBX33A (`h = h * 33 + byte`, from 5381) with the top
/// bit set. (For bytes ≥ 0x80 the engine's result depends on whether the
/// platform's `char` is signed, so [`FieldKey`] only uses it for ASCII.)
pub fn php_hash(ascii: &[u8]) -> u64 {
    let mut h: u64 = 5381;
    for &b in ascii {
        h = h.wrapping_mul(33).wrapping_add(u64::from(b));
    }
    h | 0x8000_0000_0000_0000
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
    /// Most entries of all arrays together (the same array reached twice
    /// through PHP references counts twice, so a small input cannot make the
    /// walk explode).
    pub max_values: usize,
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
            serde_json::Value::Array(a) => a.iter().zip(0i64..).try_for_each(|(v, i)| f(Key::Int(i), v)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_hash_is_the_engines_djbx33a() {
        // zend_inline_hash_func("") = 5381 with the top bit set.
        assert_eq!(php_hash(b""), 5381 | (1 << 63));
        assert_eq!(php_hash(b"a"), (5381 * 33 + 97) | (1 << 63));
        // DJBX33A collisions the PHP walk test relies on.
        assert_eq!(php_hash(b"id"), php_hash(b"jC"));
        assert_eq!(php_hash(b"total"), php_hash(b"totbK"));
        assert_eq!(FieldKey::new("id").hash(), Some(php_hash(b"id")));
        for no_hash in ["é", "12", "-1", ""] {
            assert_eq!(FieldKey::new(no_hash).hash(), None, "{no_hash}");
        }
    }
}
