//! Fingerprints of secrets a person may have chosen (the pseudonymisation
//! pepper, an OAuth2 client secret, a WooCommerce webhook secret).
//!
//! A plain SHA-256 prefix of such a secret lets whoever reads phpinfo, a status
//! array or a log brute-force a low-entropy value offline (and, for the pepper,
//! undo the pseudonymisation). So these fingerprints leave the extension only
//! keyed with a per-installation secret: HMAC-SHA256(install key, secret), first
//! 12 hex digits, when the top-level `fingerprint_key_file` is configured (a
//! 0600 file of at least 32 bytes, e.g. `openssl rand -hex 32`). Without it they
//! are shown as `set` only. API keys and `whsec_` signing secrets are random by
//! nature and keep their plain fingerprints.
use std::path::Path;

use ring::hmac;

use crate::config::{Config, Destination};
use crate::error::{Error, Result};
use crate::secret::{hex, load_file_cached};

/// Shortest installation key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;

/// The keyed fingerprint of `secret` under the installation key at `key_file`,
/// or `None` when no key is configured. Errors: the key file is unusable or short.
pub fn keyed(key_file: Option<&Path>, secret: &[u8]) -> Result<Option<String>> {
    let Some(path) = key_file else { return Ok(None) };
    let key = load_file_cached(path)?;
    if key.len() < MIN_KEY_LEN {
        return Err(Error::config(
            path.display().to_string(),
            Some("fingerprint_key_file"),
            format!("at least {MIN_KEY_LEN} bytes are needed; run: openssl rand -hex 32 > {}", path.display()),
        ));
    }
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.expose()), secret);
    let mut out = hex(tag.as_ref());
    out.truncate(12);
    Ok(Some(out))
}

/// `secure_forward_policy()`: the destination's policy description, with the
/// pepper shown as `{path, set, fingerprint}` where the fingerprint is keyed
/// (null without `fingerprint_key_file`).
pub fn describe_policy(config: &Config, dest: &Destination) -> serde_json::Value {
    let mut value = dest.policy.describe();
    if let Some(pepper) = value.get_mut("pepper").and_then(serde_json::Value::as_object_mut) {
        let path = pepper.get("path").and_then(serde_json::Value::as_str).map(std::path::PathBuf::from);
        let secret = path.as_deref().and_then(|p| load_file_cached(p).ok());
        let fp = secret.as_ref().and_then(|s| keyed(config.fingerprint_key_file.as_deref(), s.expose()).ok().flatten());
        pepper.insert("set".into(), secret.is_some().into());
        pepper.insert("fingerprint".into(), fp.into());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn temp_secret(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sf-fp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keyed_fingerprint_is_hmac_prefix_and_absent_without_key() {
        let d = tempdir("keyed");
        let key = "k".repeat(64);
        let p = temp_secret(&d, "install.key", key.as_bytes(), 0o600);
        // printf %s pepper | openssl dgst -sha256 -hmac kkkk...(64)
        let want = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()), b"pepper");
        assert_eq!(keyed(Some(&p), b"pepper").unwrap().unwrap(), hex(want.as_ref())[..12]);
        assert_ne!(keyed(Some(&p), b"pepper").unwrap(), Some(crate::secret::fingerprint(b"pepper")));
        assert_eq!(keyed(None, b"pepper").unwrap(), None);
        let short = temp_secret(&d, "short.key", b"short-fp-key", 0o600);
        let e = keyed(Some(&short), b"pepper").unwrap_err().to_string();
        assert!(e.contains("fingerprint_key_file") && e.contains("openssl rand"), "{e}");
        assert!(!e.contains("short-fp-key"), "{e}");
        let loose = temp_secret(&d, "loose.key", key.as_bytes(), 0o644);
        assert!(keyed(Some(&loose), b"pepper").is_err());
    }

    #[test]
    fn policy_pepper_is_set_or_keyed_never_a_plain_hash() {
        let d = tempdir("policy");
        let pepper = temp_secret(&d, "pii.pepper", b"weak", 0o600);
        let key = temp_secret(&d, "install.key", "z".repeat(40).as_bytes(), 0o600);
        let toml = |extra: &str| {
            format!(
                "{extra}[destinations.d]\nurl = \"https://x.example/\"\n[destinations.d.policy]\nfields = [\"id\", \"billing.email\"]\npseudonymize = [\"billing.email\"]\npepper_file = \"{}\"\n",
                pepper.display()
            )
        };
        let plain = crate::secret::fingerprint(b"weak");
        let c = Config::parse(Path::new("/c.toml"), &toml("")).unwrap();
        let v = describe_policy(&c, c.destination("d").unwrap());
        assert_eq!(v["pepper"]["set"], true);
        assert_eq!(v["pepper"]["fingerprint"], serde_json::Value::Null);
        assert!(!v.to_string().contains(&plain), "{v}");
        let c = Config::parse(Path::new("/c.toml"), &toml(&format!("fingerprint_key_file = \"{}\"\n", key.display()))).unwrap();
        let v = describe_policy(&c, c.destination("d").unwrap());
        let want = keyed(Some(&key), b"weak").unwrap().unwrap();
        assert_eq!(v["pepper"]["fingerprint"], want.as_str());
        assert!(!v.to_string().contains(&plain), "{v}");
    }
}
