//! `secure_forward_order()`'s `$options` array → [`SubmitOptions`]. An unknown
//! option or a value of the wrong type is a `ValidationException` naming it.
use ext_php_rs::types::{ArrayKey, ZendHashTable};
use secure_forward_core::outbox::SubmitOptions;
use secure_forward_core::Error;

/// The option's name for an error message: known names as they are, anything else
/// only when it is short and name-like (never arbitrary caller text).
fn shown(key: &ArrayKey<'_>) -> String {
    let name = key.to_string();
    if !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        format!("options.{name}")
    } else {
        "options".to_owned()
    }
}

/// Reads `key` (string), `resend` (bool) and `site` (string); checks their values.
pub fn from_array(ht: &ZendHashTable) -> Result<SubmitOptions, Error> {
    let mut opts = SubmitOptions::default();
    for (key, value) in ht {
        match key.to_string().as_str() {
            "key" => {
                let s = value.str().ok_or_else(|| Error::validation("options.key", "must be a string"))?;
                opts.key = Some(s.to_owned());
            }
            "site" => {
                let s = value.str().ok_or_else(|| Error::validation("options.site", "must be a string"))?;
                opts.site = Some(s.to_owned());
            }
            "resend" => {
                opts.resend = value.bool().ok_or_else(|| Error::validation("options.resend", "must be a boolean"))?;
            }
            _ => return Err(Error::validation(shown(&key), "unknown option (known: key, resend, site)")),
        }
    }
    opts.check()?;
    Ok(opts)
}
