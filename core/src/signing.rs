//! Standard Webhooks (standardwebhooks.com, the Svix scheme) request signing:
//! `whsec_` secret files, the `v1` HMAC-SHA256 signature, and the three
//! `webhook-*` headers every signed request carries.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the key is the
//! base64-decoded part after `whsec_`, and `webhook-signature` is a
//! space-separated list of `v1,<base64 tag>`, one per secret in the file, so a
//! receiver can rotate: put the new secret on a second line, let the receiver
//! switch, then remove the old line. Secret files are read through
//! [`load_file_cached`], so a replaced file takes effect within a second.
use std::path::Path;

use base64::Engine as _;
use ring::hmac;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{fingerprint, load_file_cached, Secret};

/// Prefix of a Standard Webhooks secret.
pub const WHSEC_PREFIX: &str = "whsec_";
/// Fewest random bytes accepted in a `whsec_` secret (192 bits).
pub const MIN_SECRET_BYTES: usize = 24;
/// Most secrets accepted in one file (rotation needs two; a few more is slack).
pub const MAX_SECRETS: usize = 16;
/// Header carrying the message id (our event id).
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the Unix timestamp of the attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One decoded signing secret.
#[derive(Debug)]
pub struct SigningKey {
    /// The HMAC key: the bytes decoded from after `whsec_` (zeroized on drop).
    pub key: Secret,
    /// First 12 hex of SHA-256 of the whole `whsec_...` line as written in the
    /// file (`printf %s "$line" | sha256sum | cut -c1-12`): safe to show.
    pub fingerprint: String,
}

/// Splits a secret file's content into its non-blank lines, trimmed, with their
/// 1-based line numbers. Lines starting with `#` are comments.
pub(crate) fn secret_lines(content: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    content.split(|b| *b == b'\n').enumerate().filter_map(|(i, line)| {
        let line = line.trim_ascii();
        (!line.is_empty() && !line.starts_with(b"#")).then_some((i + 1, line))
    })
}

/// Parses a file of `whsec_` secrets, one per line (blank and `#` lines ignored).
///
/// Refusals are ConfigExceptions naming `file` and the line number, never the
/// content: no `whsec_` prefix, invalid base64, fewer than [`MIN_SECRET_BYTES`]
/// bytes, more than [`MAX_SECRETS`] secrets, or no secret at all.
pub fn parse_whsec_secrets(file: &str, content: &[u8]) -> Result<Vec<SigningKey>> {
    let mut keys = Vec::new();
    for (line_no, line) in secret_lines(content) {
        let at_line = |reason: &str| Error::config(file, None, format!("line {line_no}: {reason}"));
        let encoded =
            line.strip_prefix(WHSEC_PREFIX.as_bytes()).ok_or_else(|| at_line("signing secret must start with \"whsec_\""))?;
        // Decode into a zeroizing buffer sized up front (no reallocation leaves a copy).
        let mut buf = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(encoded.len())));
        B64.decode_vec(encoded, &mut buf).map_err(|_| at_line("signing secret is not valid base64 after \"whsec_\""))?;
        let key = Secret::new(std::mem::take(&mut *buf));
        if key.len() < MIN_SECRET_BYTES {
            return Err(at_line(&format!("signing secret is too short: at least {MIN_SECRET_BYTES} random bytes are required")));
        }
        if keys.len() == MAX_SECRETS {
            return Err(at_line(&format!("at most {MAX_SECRETS} signing secrets per file")));
        }
        keys.push(SigningKey { key, fingerprint: fingerprint(line) });
    }
    if keys.is_empty() {
        return Err(Error::config(file, None, "secret file holds no signing secret"));
    }
    Ok(keys)
}

/// Loads (through the rotation-aware cache) and parses a `whsec_` secret file.
pub fn load_whsec_file(path: &Path) -> Result<Vec<SigningKey>> {
    let raw = load_file_cached(path)?;
    parse_whsec_secrets(&path.display().to_string(), raw.expose())
}

/// HMAC-SHA256 of the Standard Webhooks signed content under `key`.
pub fn v1_tag(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// The `webhook-signature` value: `v1,<base64>` per key, space-separated.
pub fn sign(keys: &[SigningKey], id: &str, timestamp: u64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| format!("v1,{}", B64.encode(v1_tag(k.key.expose(), id, timestamp, body).as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The three headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningHeaders {
    /// `webhook-id`: the event id (same as `Idempotency-Key`, stable across retries).
    pub id: String,
    /// `webhook-timestamp`: Unix seconds of this attempt.
    pub timestamp: String,
    /// `webhook-signature`: `v1,...` per secret.
    pub signature: String,
}

impl SigningHeaders {
    /// Name/value pairs, ready for [`crate::transport::Outgoing::headers`].
    pub fn pairs(&self) -> [(&str, &str); 3] {
        [(HEADER_ID, self.id.as_str()), (HEADER_TIMESTAMP, self.timestamp.as_str()), (HEADER_SIGNATURE, self.signature.as_str())]
    }
}

/// Signs `body` (byte-for-byte what is sent) with the secrets of a
/// destination's `signing_secret_file` at `now` (Unix seconds).
/// `Ok(None)` when the destination has none.
pub fn signing_headers(secret_file: Option<&Path>, event_id: &str, body: &[u8], now: u64) -> Result<Option<SigningHeaders>> {
    let Some(path) = secret_file else {
        return Ok(None);
    };
    let keys = load_whsec_file(path)?;
    Ok(Some(SigningHeaders { id: event_id.to_owned(), timestamp: now.to_string(), signature: sign(&keys, event_id, now, body) }))
}

/// Fingerprints of the destination's signing secrets, in file order, for status
/// and phpinfo (empty when it does not sign). Never the secrets.
pub fn signing_fingerprints(secret_file: Option<&Path>) -> Result<Vec<String>> {
    match secret_file {
        None => Ok(Vec::new()),
        Some(path) => Ok(load_whsec_file(path)?.into_iter().map(|k| k.fingerprint).collect()),
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// The Standard Webhooks / Svix specification example.
    pub(crate) const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    pub(crate) const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    pub(crate) const SPEC_TS: u64 = 1_614_265_330;
    pub(crate) const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    pub(crate) const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    pub(crate) fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sf-sign-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    pub(crate) fn write_secret(dir: &Path, name: &str, content: &str) -> PathBuf {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    /// A fresh random `whsec_` secret of 32 bytes.
    pub(crate) fn random_whsec() -> String {
        use ring::rand::SecureRandom as _;
        let mut b = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut b).unwrap();
        format!("whsec_{}", B64.encode(b))
    }

    /// The `signing_secret_file` of a destination configured with `secret_file`.
    pub(crate) fn dest_with(secret_file: Option<&Path>) -> Option<std::path::PathBuf> {
        let mut text = String::from("[destinations.d]\nurl = \"https://x.example/\"\n");
        if let Some(p) = secret_file {
            text.push_str(&format!("signing_secret_file = \"{}\"\n", p.display()));
        }
        let c = crate::config::Config::parse(Path::new("/etc/sf.toml"), &text).unwrap();
        c.destination("d").unwrap().signing_secret_file.clone()
    }

    #[test]
    fn known_answer_from_the_specification() {
        let keys = parse_whsec_secrets("f", SPEC_SECRET.as_bytes()).unwrap();
        assert_eq!(sign(&keys, SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
    }

    #[test]
    fn one_signature_per_secret_in_file_order() {
        let second = random_whsec();
        let content = format!("# current\n{SPEC_SECRET}\n\n{second}\n");
        let keys = parse_whsec_secrets("f", content.as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        let sig = sign(&keys, SPEC_ID, SPEC_TS, SPEC_BODY);
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIG);
        assert!(parts[1].starts_with("v1,") && parts[1] != SPEC_SIG);
    }

    #[test]
    fn malformed_secret_files_name_file_and_line_not_content() {
        let cases = [
            ("sk_live_abcdefghijklmnopqrstuvwxyz0123456789", 1, "must start with \"whsec_\""),
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nwhsec_not*base64!!", 2, "not valid base64"),
            ("\n\nwhsec_c2hvcnRzZWNyZXQ=", 3, "too short"),
        ];
        for (content, line, reason) in cases {
            let e = parse_whsec_secrets("/etc/sf/sign.key", content.as_bytes()).unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.kind(), crate::ErrorKind::Config, "{msg}");
            assert!(msg.contains("/etc/sf/sign.key"), "{msg}");
            assert!(msg.contains(&format!("line {line}:")), "{msg}");
            assert!(msg.contains(reason), "{msg}");
            for secret_line in content.lines().filter(|l| !l.is_empty()) {
                assert!(!msg.contains(secret_line), "{msg}");
                assert!(!msg.contains(secret_line.trim_start_matches("whsec_")), "{msg}");
            }
        }
        let e = parse_whsec_secrets("/etc/sf/sign.key", b"# only a comment\n\n").unwrap_err();
        assert!(e.to_string().contains("no signing secret"));
    }

    #[test]
    fn headers_and_fingerprints_for_a_destination() {
        let dir = tempdir("dest");
        let other = random_whsec();
        let p = write_secret(&dir, "sign.key", &format!("{SPEC_SECRET}\n{other}\n"));
        let dest = dest_with(Some(&p));
        let h = signing_headers(dest.as_deref(), SPEC_ID, SPEC_BODY, SPEC_TS).unwrap().unwrap();
        assert_eq!(h.id, SPEC_ID);
        assert_eq!(h.timestamp, "1614265330");
        assert!(h.signature.starts_with(&format!("{SPEC_SIG} v1,")));
        assert_eq!(h.pairs()[0], ("webhook-id", SPEC_ID));
        let fps = signing_fingerprints(dest.as_deref()).unwrap();
        assert_eq!(fps, vec![fingerprint(SPEC_SECRET.as_bytes()), fingerprint(other.as_bytes())]);
        assert!(fps.iter().all(|f| f.len() == 12 && f.bytes().all(|b| b.is_ascii_hexdigit())));
        assert!(!format!("{:?}", load_whsec_file(&p).unwrap()).contains("MfKQ9r8G"));

        let unsigned = dest_with(None);
        assert_eq!(signing_headers(unsigned.as_deref(), "evt_1", b"{}", 1).unwrap(), None);
        assert!(signing_fingerprints(unsigned.as_deref()).unwrap().is_empty());
    }

    #[test]
    fn loose_permissions_refused() {
        let dir = tempdir("perm");
        let p = write_secret(&dir, "sign.key", SPEC_SECRET);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = signing_headers(dest_with(Some(&p)).as_deref(), "evt_1", b"{}", 1).unwrap_err();
        assert!(e.to_string().contains("readable by group or others"));
    }

    #[test]
    fn rotation_takes_effect_after_rename() {
        let dir = tempdir("rotate");
        let p = write_secret(&dir, "sign.key", SPEC_SECRET);
        let dest = dest_with(Some(&p));
        let before = signing_fingerprints(dest.as_deref()).unwrap();
        let new = random_whsec();
        let tmp = write_secret(&dir, "sign.key.new", &new);
        std::fs::rename(&tmp, &p).unwrap();
        std::thread::sleep(crate::secret::RECHECK + std::time::Duration::from_millis(100));
        let after = signing_fingerprints(dest.as_deref()).unwrap();
        assert_eq!(before, vec![fingerprint(SPEC_SECRET.as_bytes())]);
        assert_eq!(after, vec![fingerprint(new.as_bytes())]);
        let h = signing_headers(dest.as_deref(), SPEC_ID, SPEC_BODY, SPEC_TS).unwrap().unwrap();
        let keys = parse_whsec_secrets("f", new.as_bytes()).unwrap();
        assert_eq!(h.signature, sign(&keys, SPEC_ID, SPEC_TS, SPEC_BODY));
        assert_ne!(h.signature, SPEC_SIG);
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
