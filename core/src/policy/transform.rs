//! Transforms: pseudonymize (HMAC with the pepper), truncate, mask, and the
//! consent gate.
use super::Consent;
use crate::node::{Node, Scalar};
use crate::secret::{hex, Secret};

/// The pepper's HMAC key, cached next to the `Arc<Secret>` it was made from: a
/// replaced pepper file gives a new `Arc` (see [`load_file_cached`]) and so a
/// new key. A clone starts empty.
#[derive(Default)]
pub(super) struct HmacCache(std::sync::Mutex<Option<(std::sync::Arc<Secret>, ring::hmac::Key)>>);

impl HmacCache {
    pub(super) fn key(&self, pepper: &std::sync::Arc<Secret>) -> ring::hmac::Key {
        let mut slot = match self.0.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match &*slot {
            Some((p, k)) if std::sync::Arc::ptr_eq(p, pepper) => k.clone(),
            _ => {
                let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pepper.expose());
                *slot = Some((std::sync::Arc::clone(pepper), k.clone()));
                k
            }
        }
    }
}

impl Clone for HmacCache {
    fn clone(&self) -> Self {
        HmacCache::default()
    }
}

impl std::fmt::Debug for HmacCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacCache([REDACTED])")
    }
}

/// HMAC-SHA256 of `input` under `pepper`, lower-case hex. A value containing `@`
/// (an email) is trimmed and lower-cased first.
pub fn pseudonym(pepper: &Secret, input: &str) -> String {
    pseudonym_with(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pepper.expose()), input)
}

/// [`pseudonym`] with the pepper's HMAC key already scheduled.
fn pseudonym_with(key: &ring::hmac::Key, input: &str) -> String {
    hex(pseudonym_tag(key, input).as_ref())
}

/// The HMAC behind [`pseudonym_with`].
pub(super) fn pseudonym_tag(key: &ring::hmac::Key, input: &str) -> ring::hmac::Tag {
    if !input.contains('@') {
        return ring::hmac::sign(key, input.as_bytes());
    }
    let t = input.trim();
    if t.bytes().any(|b| b.is_ascii_uppercase()) || !t.is_ascii() {
        ring::hmac::sign(key, t.to_lowercase().as_bytes())
    } else {
        ring::hmac::sign(key, t.as_bytes())
    }
}

/// The first `n` characters of `s`.
pub fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// `s` with all but the last `n` characters replaced by `*`.
pub fn mask_chars(s: &str, n: usize) -> String {
    const STARS: &str = "****************************************************************";
    if s.is_ascii() {
        let hide = s.len().saturating_sub(n);
        let mut out = String::with_capacity(s.len());
        // Short runs of `*` are one copy (no call to the generic `repeat`).
        match STARS.get(..hide) {
            Some(stars) => out.push_str(stars),
            None => out.push_str(&"*".repeat(hide)),
        }
        out.push_str(s.get(hide..).unwrap_or_default());
        return out;
    }
    let len = s.chars().count();
    let hide = len.saturating_sub(n);
    s.chars().enumerate().map(|(i, c)| if i < hide { '*' } else { c }).collect()
}

/// Truthy: true, non-zero numbers, "1", "yes", "true", "on" (any case, trimmed).
pub(super) fn truthy<N: Node>(n: &N) -> bool {
    match n.scalar() {
        Scalar::Bool(b) => b,
        Scalar::Int(i) => i != 0,
        Scalar::Float(x) => x != 0.0 && !x.is_nan(),
        Scalar::Str(s) => {
            let t = s.trim_ascii();
            [&b"1"[..], b"yes", b"true", b"on"].iter().any(|w| t.eq_ignore_ascii_case(w))
        }
        _ => false,
    }
}

pub(super) fn consent_granted<N: Node>(order: &N, consent: &Consent) -> bool {
    match consent {
        Consent::Path(keys) => {
            let mut node = order;
            for k in keys {
                match node.get(k) {
                    Some(n) => node = n,
                    None => return false,
                }
            }
            truthy(node)
        }
        Consent::Meta(key) => {
            let Some(meta) = order.get("meta_data") else {
                return false;
            };
            let mut granted = None;
            let _ = meta.for_each(|_, entry| {
                if granted.is_none() && entry.get("key").map(Node::scalar) == Some(Scalar::Str(key.as_bytes())) {
                    granted = Some(entry.get("value").is_some_and(truthy));
                }
                Ok(())
            });
            granted.unwrap_or(false)
        }
    }
}
