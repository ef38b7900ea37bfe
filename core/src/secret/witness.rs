//! API key files (`key_file`) are read afresh for every request and never
//! cached: after a send returns, no copy of the key remains in the process (the
//! zeroizing [`Secret`] that held it, and the header value built from it, are
//! wiped on drop; see `transport/wipe.rs` for ureq's buffers).
//!
//! What is kept per key file is a *witness* that cannot give the key back: the
//! file's identity (for fingerprints without re-reading), its fingerprint, and
//! for each value the redaction layer masks (the whole key and each white-space
//! separated token of at least [`MIN_SECRET_TOKEN`] bytes, the base64 part of a
//! `whsec_` token) its length, a 61-bit polynomial hash with a random per-process
//! base (to find candidate windows in one pass) and an HMAC-SHA256 under a random
//! per-process key (to confirm them). [`mask_key_files`] uses them to mask a key
//! in a message exactly as if the key were still at hand.
//!
//! Cost (measured in the README): one `open` + `fstat` + `read` + `close` of a
//! small file per request, against the TLS write and the server round trip.
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use zeroize::Zeroize;

use super::{check_meta, io_reason, trim_owned, FileStamp, Secret};
use crate::error::{Error, Result};

/// Shortest secret token that is masked (shorter ones would mask ordinary
/// words); re-exported as `crate::redact::MIN_SECRET_TOKEN`.
pub const MIN_SECRET_TOKEN: usize = 8;

/// 2^61 - 1, a Mersenne prime: the modulus of the rolling hash.
const MODULUS: u64 = (1 << 61) - 1;

struct Salt {
    base: u64,
    mac: ring::hmac::Key,
}

fn salt() -> &'static Salt {
    static SALT: OnceLock<Salt> = OnceLock::new();
    SALT.get_or_init(|| {
        use ring::rand::SecureRandom;
        let rng = ring::rand::SystemRandom::new();
        let mut seed = [0u8; 40];
        if rng.fill(&mut seed).is_err() {
            // No OS randomness: still correct, only predictable.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            seed.iter_mut().zip(now.as_nanos().to_le_bytes().iter().cycle()).for_each(|(s, t)| *s ^= t);
        }
        let (b, k) = seed.split_at(8);
        let mut base = [0u8; 8];
        base.copy_from_slice(b);
        // Any base in [256, MODULUS - 1] works; keep it away from 0 and 1.
        let base = u64::from_le_bytes(base) % (MODULUS - 512) + 256;
        let salt = Salt { base, mac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, k) };
        seed.zeroize();
        salt
    })
}

fn mulmod(a: u64, b: u64) -> u64 {
    u64::try_from((u128::from(a) * u128::from(b)) % u128::from(MODULUS)).unwrap_or(0)
}

fn roll(bytes: &[u8], base: u64) -> u64 {
    bytes.iter().fold(0, |h, &b| (mulmod(h, base) + u64::from(b)) % MODULUS)
}

fn mac(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::hmac::sign(&salt().mac, bytes).as_ref());
    out
}

#[derive(Clone, PartialEq, Eq)]
struct Pattern {
    len: usize,
    roll: u64,
    mac: [u8; 32],
}

struct Witness {
    stamp: FileStamp,
    fingerprint: String,
    patterns: Vec<Pattern>,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Witness>> {
    static W: OnceLock<Mutex<HashMap<PathBuf, Witness>>> = OnceLock::new();
    W.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Witness>> {
    registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The values of `secret` that redaction masks (as in `redact::mask_secret`).
fn patterns(secret: &[u8]) -> Vec<Pattern> {
    let base = salt().base;
    let mut out: Vec<Pattern> = Vec::new();
    let mut add = |v: &[u8]| {
        if v.len() >= MIN_SECRET_TOKEN {
            let p = Pattern { len: v.len(), roll: roll(v, base), mac: mac(v) };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    };
    add(secret);
    for token in secret.split(u8::is_ascii_whitespace) {
        add(token);
        if let Some(rest) = token.strip_prefix(b"whsec_") {
            add(rest);
        }
    }
    // Longest first, so a whole key is masked before its tokens.
    out.sort_by_key(|p| std::cmp::Reverse(p.len));
    out
}

/// Reads, checks and returns a key file (opened once: the checks apply to the
/// file actually read). Records its witness when the file changed.
pub fn read_key_file(path: &Path) -> Result<Secret> {
    let (secret, stamp) = read_checked(path)?;
    let mut map = lock();
    if map.get(path).is_none_or(|w| w.stamp != stamp) {
        let w = Witness { stamp, fingerprint: secret.fingerprint(), patterns: patterns(secret.expose()) };
        map.insert(path.to_path_buf(), w);
    }
    Ok(secret)
}

/// Opens a secret file once, checks the open file (mode, owner, size: no
/// window between check and read for a swapped path) and reads it into a
/// buffer of the final size. Returns the secret and the stamp of what was read.
pub(super) fn read_checked(path: &Path) -> Result<(Secret, FileStamp)> {
    let shown = || path.display().to_string();
    // Non-blocking open, then the checks on the open file: a FIFO or device at
    // the path is refused at once instead of hanging the worker.
    let (mut file, meta) = super::open::open_regular(path, "secret file", super::MAX_SECRET_FILE)?;
    let meta = check_meta(path, meta)?;
    let stamp = FileStamp::of(&meta);
    let size = usize::try_from(stamp.size).unwrap_or(usize::MAX).saturating_add(1);
    // Read straight into a buffer of the final size: no reallocation and no
    // stack probe buffer ever holds key bytes.
    let mut raw = vec![0u8; size];
    let mut filled = 0;
    while let Some(dst) = raw.get_mut(filled..).filter(|d| !d.is_empty()) {
        match file.read(dst) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                raw.zeroize();
                return Err(Error::config(shown(), None, io_reason(&e)));
            }
        }
    }
    if filled >= size {
        raw.zeroize();
        return Err(Error::config(shown(), None, "secret file changed while being read"));
    }
    raw.truncate(filled);
    let bytes = trim_owned(raw);
    if bytes.is_empty() {
        return Err(Error::config(shown(), None, "secret file is empty"));
    }
    Ok((Secret::new(bytes), stamp))
}

/// The fingerprint of a key file: from its witness when the file is unchanged
/// (one `stat`), else by reading it.
pub fn fingerprint(path: &Path) -> Result<String> {
    if let Ok(meta) = std::fs::metadata(path) {
        let stamp = FileStamp::of(&meta);
        if let Some(w) = lock().get(path).filter(|w| w.stamp == stamp) {
            return Ok(w.fingerprint.clone());
        }
    }
    read_key_file(path).map(|s| s.fingerprint())
}

/// [`read_key_file`] without the read when the file is unchanged since the last
/// one (same identity; the permission checks are made again).
pub fn check(path: &Path) -> Result<()> {
    let stamp = FileStamp::of(&super::check_secret_file(path)?);
    if lock().get(path).is_some_and(|w| w.stamp == stamp) {
        return Ok(());
    }
    read_key_file(path).map(drop)
}

/// Replaces in `buf` every occurrence of a key file's value (or of one of its
/// tokens) read by this process by `mask`.
pub fn mask_key_files(buf: &mut Vec<u8>, mask: &[u8]) {
    let all: Vec<Pattern> = lock().values().flat_map(|w| w.patterns.iter().cloned()).collect();
    for p in &all {
        mask_one(buf, p, mask);
    }
}

fn mask_one(buf: &mut Vec<u8>, p: &Pattern, mask: &[u8]) {
    let (Some(first), true) = (buf.get(..p.len), p.len > 0) else { return };
    let base = salt().base;
    // base^(len-1): the weight of the byte leaving the window.
    let top = (1..p.len).fold(1, |acc, _| mulmod(acc, base));
    let mut h = roll(first, base);
    let mut hits: Vec<usize> = Vec::new();
    let mut next_free = 0;
    let mut i = 0;
    loop {
        if h == p.roll
            && i >= next_free
            && buf.get(i..i + p.len).is_some_and(|w| ring::hmac::verify(&salt().mac, w, &p.mac).is_ok())
        {
            hits.push(i);
            next_free = i + p.len;
        }
        let (Some(&out), Some(&inn)) = (buf.get(i), buf.get(i + p.len)) else { break };
        h = (h + MODULUS - mulmod(u64::from(out), top)) % MODULUS;
        h = (mulmod(h, base) + u64::from(inn)) % MODULUS;
        i += 1;
    }
    if hits.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(buf.len());
    let mut at = 0;
    for start in hits {
        out.extend_from_slice(buf.get(at..start).unwrap_or_default());
        out.extend_from_slice(mask);
        at = start + p.len;
    }
    out.extend_from_slice(buf.get(at..).unwrap_or_default());
    buf.zeroize();
    *buf = out;
}

/// Forgets every witness (tests, shutdown).
pub fn clear() {
    lock().clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_whole_key_and_tokens_without_keeping_them() {
        let d = std::env::temp_dir().join(format!("sf-witness-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let p = crate::secret::tests::temp_secret(&d, "k", b"sk_wtns_0123456789abcdef\nwhsec_QUJDREVGR0hJSktM\n", 0o600);
        let s = read_key_file(&p).unwrap();
        assert_eq!(s.expose(), b"sk_wtns_0123456789abcdef\nwhsec_QUJDREVGR0hJSktM");
        assert_eq!(fingerprint(&p).unwrap(), s.fingerprint());
        check(&p).unwrap();
        drop(s);
        // Not kept: no cache holds the key once the caller dropped it.
        let source = crate::secret::SecretSource::File(p.clone());
        assert_eq!(source.load().unwrap().fingerprint(), fingerprint(&p).unwrap());
        crate::secret::for_each_loaded(|v| assert!(!v.starts_with(b"sk_wtns_0123456789abcdef")));
        let mut msg =
            b"server said sk_wtns_0123456789abcdef twice: sk_wtns_0123456789abcdef; QUJDREVGR0hJSktM; sk_wtns_0123456789abcdeX"
                .to_vec();
        mask_key_files(&mut msg, b"[REDACTED]");
        assert_eq!(
            String::from_utf8(msg).unwrap(),
            "server said [REDACTED] twice: [REDACTED]; [REDACTED]; sk_wtns_0123456789abcdeX"
        );
        let mut short = b"sk_".to_vec();
        mask_key_files(&mut short, b"[REDACTED]");
        assert_eq!(short, b"sk_");
    }

    #[test]
    fn rolling_hash_matches_direct_hash() {
        let base = salt().base;
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let p = Pattern { len: 9, roll: roll(b"012345678", base), mac: mac(b"012345678") };
        let mut buf = text.to_vec();
        mask_one(&mut buf, &p, b"#");
        assert_eq!(buf, b"abcdefghijklmnopqrstuvwxyz#9");
        let mut at_start = b"012345678-".to_vec();
        mask_one(&mut at_start, &p, b"#");
        assert_eq!(at_start, b"#-");
    }
}
