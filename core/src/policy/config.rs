//! The policy as the operator writes it: `[destinations.NAME.policy]`, plain
//! data deserialized with serde (like the rest of the configuration), then
//! compiled into a [`super::Policy`] by [`super::Policy::from_config`].
//!
//! Errors name the TOML key (`destinations.crm.policy.mask`) and, where one is
//! at fault, the field path, never a value: serde's own messages can quote the
//! value ("invalid type: string \"…\""), so a failed deserialization is
//! re-examined key by key and reported with a fixed reason.
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// What to do with a card number in an outgoing field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnCardNumber {
    /// Refuse the whole order (default).
    #[default]
    Refuse,
    /// Replace the digits with `*`.
    Redact,
}

/// `[destinations.NAME.policy]`, unvalidated (paths are checked when compiled).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Selected field paths; `None`: the built-in default list.
    pub fields: Option<Vec<String>>,
    /// Fields sent as HMAC pseudonyms.
    #[serde(default)]
    pub pseudonymize: Vec<String>,
    /// Field → characters kept visible at the end.
    #[serde(default)]
    pub mask: BTreeMap<String, i64>,
    /// Field → characters kept at the start.
    #[serde(default)]
    pub truncate: BTreeMap<String, i64>,
    /// Field → output name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Field → consent source (`meta:KEY` or a dotted path).
    #[serde(default)]
    pub require_consent: BTreeMap<String, String>,
    /// The pepper for `pseudonymize`.
    pub pepper_file: Option<PathBuf>,
    /// `"refuse"` (default) or `"redact"`.
    pub on_card_number: Option<OnCardNumber>,
}

/// The keys of a policy table, in the order they are checked.
pub const KNOWN_KEYS: &[&str] =
    &["fields", "pseudonymize", "mask", "truncate", "rename", "require_consent", "pepper_file", "on_card_number"];

impl PolicyConfig {
    /// Deserializes the policy table `t`; `key` is its dotted name, for messages.
    pub fn from_table(t: &toml::Table, file: &str, key: &str) -> Result<PolicyConfig> {
        match PolicyConfig::deserialize(toml::Value::Table(t.clone())) {
            Ok(c) => Ok(c),
            Err(_) => Err(diagnose(t, file, key)),
        }
    }
}

/// The error for a table serde refused: the first unknown key, else the first
/// key whose value has the wrong type, with the reason the operator can act on.
fn diagnose(t: &toml::Table, file: &str, key: &str) -> Error {
    let err = |sub: &str, reason: String| Error::config(file, Some(&format!("{key}.{sub}")), reason);
    if let Some(unknown) = t.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return err(unknown, "unknown policy key".to_owned());
    }
    let table_of = |sub: &str, v: &toml::Value, ok: fn(&toml::Value) -> bool, want: &str| -> Option<Error> {
        match v {
            toml::Value::Table(m) => m.iter().find(|(_, x)| !ok(x)).map(|(p, _)| err(sub, format!("\"{p}\": {want}"))),
            _ => Some(err(sub, "must be a table of field = value".to_owned())),
        }
    };
    for sub in KNOWN_KEYS {
        let Some(v) = t.get(*sub) else { continue };
        let found = match *sub {
            "fields" => Vec::<String>::deserialize(v.clone()).err().map(|_| err(sub, "must be a list of strings".into())),
            "pseudonymize" => {
                Vec::<String>::deserialize(v.clone()).err().map(|_| err(sub, "must be a list of field paths".into()))
            }
            "mask" | "truncate" => table_of(sub, v, |x| x.is_integer(), &count_reason()),
            "rename" | "require_consent" => table_of(sub, v, |x| x.is_str(), "must be a string"),
            "pepper_file" => PathBuf::deserialize(v.clone()).err().map(|_| err(sub, "must be a file path".into())),
            _ => OnCardNumber::deserialize(v.clone()).err().map(|_| err(sub, "must be \"refuse\" or \"redact\"".into())),
        };
        if let Some(e) = found {
            return e;
        }
    }
    Error::config(file, Some(key), "malformed policy")
}

/// The reason for a bad `mask` / `truncate` count.
pub(super) fn count_reason() -> String {
    format!("must be an integer between 0 and {}", super::MAX_STRING_BYTES)
}
