//! Options of one submit (`secure_forward_order()`'s `$options`) and the event id
//! they give.
//!
//! - `key` names the occurrence (e.g. `processing#3`, at most [`MAX_KEY_CHARS`]
//!   characters) and replaces the payload digest in the event id: the same
//!   occurrence is one event whatever its payload, a new occurrence a new one.
//! - `resend` makes a new event id even for a state delivered before (a random
//!   nonce joins the id); the audit line says `"resend": true`.
//! - `site` (e.g. `1:https://shop.example`) is stored with the event and joins the
//!   event id, so shops sharing one outbox never collide; purge and requeue can be
//!   limited to it.
//!
//! Without options the event id is exactly [`forward::event_id`]'s (today's).
use crate::error::{Error, Result};
use crate::forward;

/// Most characters of `key`.
pub const MAX_KEY_CHARS: usize = 64;
/// Most characters of `site`.
pub const MAX_SITE_CHARS: usize = 255;

/// What a submit was asked to do beyond the order itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// The occurrence key.
    pub key: Option<String>,
    /// A resend: a new event id even for a state delivered before.
    pub resend: bool,
    /// The site the event came from.
    pub site: Option<String>,
}

/// A name-like text: 1..=`max` characters, no control characters.
fn check_text(path: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::validation(path, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Error::validation(path, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::validation(path, "must not contain control characters"));
    }
    Ok(())
}

impl SubmitOptions {
    /// Refuses a bad value, naming the option (never the value).
    pub fn check(&self) -> Result<()> {
        if let Some(k) = &self.key {
            check_text("options.key", k, MAX_KEY_CHARS)?;
        }
        if let Some(s) = &self.site {
            check_text("options.site", s, MAX_SITE_CHARS)?;
        }
        Ok(())
    }

    /// The event id of `body` (already minimised) for these options.
    pub fn event_id(&self, destination: &str, order_id: &str, event: &str, body: &[u8]) -> Result<String> {
        let base = match (&self.key, &self.site) {
            (None, None) => forward::event_id(destination, order_id, event, body),
            (key, site) => {
                let digest;
                let what: &[u8] = match key {
                    Some(k) => k.as_bytes(),
                    None => {
                        digest = ring::digest::digest(&ring::digest::SHA256, body);
                        digest.as_ref()
                    }
                };
                let tag: &[u8] = if key.is_some() { b"key" } else { b"body" };
                let site = site.as_deref().unwrap_or("").as_bytes();
                hashed_id(&[destination.as_bytes(), order_id.as_bytes(), event.as_bytes(), tag, what, site])
            }
        };
        if !self.resend {
            return Ok(base);
        }
        let mut nonce = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| Error::validation("options.resend", "no randomness available for a new event id"))?;
        Ok(hashed_id(&[base.as_bytes(), b"resend", &nonce]))
    }
}

/// `evt_` + 32 hex of SHA-256 over length-prefixed parts (as [`forward::event_id`]).
fn hashed_id(parts: &[&[u8]]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut id = String::from("evt_");
    for b in ctx.finish().as_ref().iter().take(16) {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(key: Option<&str>, resend: bool, site: Option<&str>) -> SubmitOptions {
        SubmitOptions { key: key.map(str::to_owned), resend, site: site.map(str::to_owned) }
    }

    #[test]
    fn without_options_the_id_is_todays() {
        let o = SubmitOptions::default();
        assert_eq!(
            o.event_id("crm", "42", "order.processing", b"{}").unwrap(),
            forward::event_id("crm", "42", "order.processing", b"{}")
        );
    }

    #[test]
    fn key_replaces_the_payload() {
        let a = opts(Some("processing#1"), false, None);
        let id = a.event_id("crm", "42", "order.processing", b"{\"a\":1}").unwrap();
        assert!(id.starts_with("evt_") && id.len() == 36);
        assert_eq!(id, a.event_id("crm", "42", "order.processing", b"{\"a\":2}").unwrap(), "same occurrence, other payload");
        let b = opts(Some("processing#2"), false, None);
        assert_ne!(id, b.event_id("crm", "42", "order.processing", b"{\"a\":1}").unwrap(), "new occurrence");
        assert_ne!(id, a.event_id("erp", "42", "order.processing", b"{}").unwrap());
        assert_ne!(id, a.event_id("crm", "43", "order.processing", b"{}").unwrap());
        assert_ne!(id, a.event_id("crm", "42", "order.completed", b"{}").unwrap());
        assert_ne!(id, forward::event_id("crm", "42", "order.processing", b"{\"a\":1}"));
    }

    #[test]
    fn site_separates_shops() {
        let one = opts(Some("processing#1"), false, Some("1:https://a.example"));
        let two = opts(Some("processing#1"), false, Some("2:https://b.example"));
        let a = one.event_id("crm", "42", "order.processing", b"{}").unwrap();
        assert_ne!(a, two.event_id("crm", "42", "order.processing", b"{}").unwrap());
        assert_eq!(a, one.event_id("crm", "42", "order.processing", b"{\"x\":1}").unwrap());
        let body_only = opts(None, false, Some("1:https://a.example"));
        let b = body_only.event_id("crm", "42", "order.processing", b"{}").unwrap();
        assert_ne!(b, body_only.event_id("crm", "42", "order.processing", b"{ }").unwrap(), "no key: the payload decides");
        assert_ne!(b, forward::event_id("crm", "42", "order.processing", b"{}"));
    }

    #[test]
    fn resend_is_a_new_id_each_time() {
        let r = opts(Some("processing#1"), true, None);
        let a = r.event_id("crm", "42", "order.processing", b"{}").unwrap();
        let b = r.event_id("crm", "42", "order.processing", b"{}").unwrap();
        assert_ne!(a, b);
        assert_ne!(a, opts(Some("processing#1"), false, None).event_id("crm", "42", "order.processing", b"{}").unwrap());
        assert!(a.starts_with("evt_") && a.len() == 36);
    }

    #[test]
    fn bad_values_name_the_option_not_the_value() {
        let long = "k".repeat(MAX_KEY_CHARS + 1);
        for (o, path) in [
            (opts(Some(""), false, None), "options.key"),
            (opts(Some(&long), false, None), "options.key"),
            (opts(Some("a\nb"), false, None), "options.key"),
            (opts(None, false, Some("")), "options.site"),
            (opts(None, false, Some(&"s".repeat(MAX_SITE_CHARS + 1))), "options.site"),
        ] {
            let e = o.check().unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Validation);
            assert!(e.to_string().contains(path), "{e}");
            assert!(!e.to_string().contains("kkkk"), "{e}");
        }
        assert!(
            opts(Some(&"é".repeat(MAX_KEY_CHARS)), true, Some("1:https://shop.example")).check().is_ok(),
            "characters, not bytes"
        );
    }
}
