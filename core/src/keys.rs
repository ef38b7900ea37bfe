//! Encryption at rest of outbox payloads and shared OAuth2 tokens (the outbox
//! key ring).
//!
//! The key file (`[outbox] key_file`, by default the database path + `.key`) holds
//! one key per line: standard base64 of 32 random bytes. Blank lines and lines
//! starting with `#` are ignored. The FIRST key encrypts new rows; every key in the
//! file decrypts, so a key is rotated by putting a new line first and keeping the
//! old one below it until no row encrypted with it is left (`status` shows
//! `undecryptable` rows if a needed key was removed too early).
//!
//! Each line is stretched with HKDF-SHA256 into a ChaCha20-Poly1305 key. A row
//! records the key id (the [`fingerprint`] of the line's raw bytes), and its blob
//! is `nonce (12 random bytes) || ciphertext || tag`, authenticated together with
//! the row's event id, destination, event and order id (so a blob cannot be moved
//! to another row).
//!
//! When the file does not exist it is generated on first use: mode 0600 in a
//! directory created 0700 if missing, written to a temporary name and hard-linked
//! into place, so concurrent first uses agree on one key.
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom as _, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::{fingerprint, Secret};

const HKDF_SALT: &[u8] = b"secure_forward outbox v1";
const HKDF_INFO: &[u8] = b"payload encryption";
const HKDF_INFO_LABEL: &[u8] = b"shared cache labels";
/// Raw key length, in bytes.
pub const KEY_LEN: usize = 32;

/// The keys of a key file: the first encrypts, all decrypt.
pub struct KeyRing {
    keys: Vec<(String, LessSafeKey)>,
    /// HMAC key of the first line, for [`KeyRing::label`].
    label_key: ring::hmac::Key,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("key_ids", &self.key_ids()).finish()
    }
}

impl KeyRing {
    /// Parses the content of key file `file` (named in errors, never the content).
    pub fn parse(file: &Path, secret: &Secret) -> Result<KeyRing> {
        let shown = file.display().to_string();
        let mut keys = Vec::new();
        let mut label_key = None;
        for (n, line) in secret.expose().split(|b| *b == b'\n').enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let raw = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(line)
                    .map_err(|_| Error::config(&shown, None, format!("line {}: not base64", n + 1)))?,
            );
            if raw.len() != KEY_LEN {
                return Err(Error::config(&shown, None, format!("line {}: a key must be {KEY_LEN} bytes", n + 1)));
            }
            let key = derive(&raw).ok_or_else(|| Error::config(&shown, None, "key derivation failed"))?;
            if label_key.is_none() {
                label_key = derive_label_key(&raw);
            }
            keys.push((fingerprint(&raw), key));
        }
        let Some(label_key) = label_key.filter(|_| !keys.is_empty()) else {
            return Err(Error::config(&shown, None, "no key in the outbox key file"));
        };
        Ok(KeyRing { keys, label_key })
    }

    /// Key ids, the encrypting one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Encrypts `plain` with the first key; returns (key id, nonce || ciphertext || tag).
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<(String, Vec<u8>)> {
        let (id, key) = self.keys.first().ok_or_else(|| Error::config("outbox key file", None, "no key"))?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| Error::config("outbox key file", None, "no system randomness"))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + plain.len() + CHACHA20_POLY1305.tag_len());
        blob.extend_from_slice(&nonce);
        let mut in_out = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| Error::config("outbox key file", None, "encryption failed"))?;
        blob.extend_from_slice(&in_out);
        Ok((id.clone(), blob))
    }

    /// A keyed label of `data` (hex HMAC-SHA256 under a key derived from the
    /// first line): how a value that must be looked up but may be derived from a
    /// person's secret (an OAuth2 cache key holds the client secret's
    /// fingerprint) is stored, so a copy of the database alone cannot be used
    /// to brute-force that secret. A new first key changes every label.
    pub fn label(&self, data: &[u8]) -> String {
        crate::secret::hex(ring::hmac::sign(&self.label_key, data).as_ref())
    }

    /// Decrypts a blob sealed by key `key_id`; `None` when the key is unknown or
    /// the blob or its associated data were altered.
    pub fn open(&self, key_id: &str, aad: &[u8], blob: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (_, key) = self.keys.iter().find(|(id, _)| id == key_id)?;
        let (nonce, sealed) = blob.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(sealed.to_vec());
        let len = key.open_in_place(nonce, Aad::from(aad), &mut buf).ok()?.len();
        buf.truncate(len);
        Some(buf)
    }
}

/// The parsed key ring of the outbox key file: one per engine (in its `auth::Clients`).
#[derive(Default)]
pub struct RingCache(Mutex<Option<CachedRing>>);

/// The key file, the secret it held when parsed, and the ring parsed from it.
type CachedRing = (PathBuf, Arc<Secret>, Arc<KeyRing>);

impl std::fmt::Debug for RingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RingCache")
    }
}

impl RingCache {
    /// The key ring of `key_file`, generating the file on first use; parsed once
    /// and re-parsed when the cached file changes.
    pub fn ring(&self, key_file: &Path) -> Result<Arc<KeyRing>> {
        ring(&self.0, key_file, true)
    }

    /// [`RingCache::ring`] of the outbox `cfg`: with a shared outbox (`url`, every
    /// node needs the same key file) a missing key file is a configuration error,
    /// never generated.
    pub fn outbox_ring(&self, cfg: &crate::config::OutboxConfig) -> Result<Arc<KeyRing>> {
        ring(&self.0, &cfg.key_file, cfg.database.is_none())
    }
}

fn ring(cache: &Mutex<Option<CachedRing>>, key_file: &Path, generate: bool) -> Result<Arc<KeyRing>> {
    let secret = match crate::secret::load_file_cached(key_file) {
        Ok(s) => s,
        Err(e) => {
            if !generate || std::fs::symlink_metadata(key_file).is_ok() {
                return Err(e);
            }
            ensure_key_file(key_file)?;
            crate::secret::load_file_cached(key_file)?
        }
    };
    let mut cached = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((p, s, ring)) = cached.as_ref() {
        if p == key_file && Arc::ptr_eq(s, &secret) {
            return Ok(Arc::clone(ring));
        }
    }
    let ring = Arc::new(KeyRing::parse(key_file, &secret)?);
    *cached = Some((key_file.to_path_buf(), secret, Arc::clone(&ring)));
    Ok(ring)
}

fn derive(raw: &[u8]) -> Option<LessSafeKey> {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, HKDF_SALT).extract(raw);
    // `expand` only fails when asked for more than 255 hash blocks; this is one.
    let okm = prk.expand(&[HKDF_INFO], &CHACHA20_POLY1305).ok()?;
    Some(LessSafeKey::new(UnboundKey::from(okm)))
}

fn derive_label_key(raw: &[u8]) -> Option<ring::hmac::Key> {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, HKDF_SALT).extract(raw);
    let okm = prk.expand(&[HKDF_INFO_LABEL], ring::hmac::HMAC_SHA256).ok()?;
    Some(ring::hmac::Key::from(okm))
}

/// A fresh key line: base64 of 32 random bytes and a newline.
pub fn generate_key_line() -> Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new([0u8; KEY_LEN]);
    SystemRandom::new().fill(raw.as_mut()).map_err(|_| Error::config("outbox key file", None, "no system randomness"))?;
    let mut line = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(raw.as_ref()));
    line.push('\n');
    Ok(line)
}

/// Generates the key file at `path` unless it exists (see the module docs).
pub fn ensure_key_file(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let shown = path.display().to_string();
    let fail = |what: &'static str, e: &std::io::Error| Error::config_io(&shown, Some(what), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("cannot create the key file's directory", &e))?;
    }
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(format!(".{}.{}.tmp", std::process::id(), crate::secret::hex(&random8())));
    let tmp = path.with_file_name(tmp_name);
    let line = generate_key_line()?;
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("cannot create the key file", &e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(fail("cannot create the key file", &e)),
    }
}

fn random8() -> [u8; 8] {
    let mut b = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn ring_of(lines: &str) -> KeyRing {
        KeyRing::parse(Path::new("/k"), &Secret::new(lines.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn labels_are_keyed_by_the_first_line() {
        let (a, b) = (generate_key_line().unwrap(), generate_key_line().unwrap());
        let ring = ring_of(&a);
        let label = ring.label(b"cache key");
        assert_eq!(label.len(), 64);
        assert_eq!(label, ring_of(&a).label(b"cache key"), "stable for one key");
        assert_ne!(label, ring.label(b"cache kez"));
        assert_ne!(label, ring_of(&b).label(b"cache key"), "another installation's key labels differently");
        assert_eq!(label, ring_of(&format!("{}{}", a.as_str(), b.as_str())).label(b"cache key"), "the first line labels");
        let plain = crate::secret::hex(ring::digest::digest(&ring::digest::SHA256, b"cache key").as_ref());
        assert_ne!(label, plain);
    }

    #[test]
    fn seal_open_and_tamper() {
        let line = generate_key_line().unwrap();
        let ring = ring_of(&line);
        let (id, blob) = ring.seal(b"evt_1", b"{\"email\":\"x@y\"}").unwrap();
        assert_eq!(id.len(), 12);
        assert!(!blob.windows(5).any(|w| w == b"email"));
        assert_eq!(ring.open(&id, b"evt_1", &blob).unwrap().as_slice(), b"{\"email\":\"x@y\"}");
        // Another row's associated data, a flipped bit, a truncated blob, an unknown key: refused.
        assert!(ring.open(&id, b"evt_2", &blob).is_none());
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(ring.open(&id, b"evt_1", &bad).is_none());
        assert!(ring.open(&id, b"evt_1", &blob[..5]).is_none());
        assert!(ring.open("000000000000", b"evt_1", &blob).is_none());
    }

    #[test]
    fn rotation_first_encrypts_all_decrypt() {
        let old = generate_key_line().unwrap();
        let new = generate_key_line().unwrap();
        let (old_id, blob) = ring_of(&old).seal(b"a", b"payload").unwrap();
        let rotated = ring_of(&format!("# rotated\n{}\n{}", new.as_str(), old.as_str()));
        assert_eq!(rotated.key_ids().len(), 2);
        assert_ne!(rotated.key_ids()[0], old_id);
        assert_eq!(rotated.open(&old_id, b"a", &blob).unwrap().as_slice(), b"payload");
        let (new_id, _) = rotated.seal(b"a", b"payload").unwrap();
        assert_eq!(new_id, rotated.key_ids()[0]);
        // Old key removed: its rows are undecryptable.
        assert!(ring_of(&new).open(&old_id, b"a", &blob).is_none());
    }

    #[test]
    fn bad_key_files_name_the_line_not_the_value() {
        for text in ["not-base64!!", "c2hvcnQ=", "# only a comment\n"] {
            let e = KeyRing::parse(Path::new("/etc/k"), &Secret::new(text.as_bytes().to_vec())).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("/etc/k"), "{msg}");
            assert!(!msg.contains("c2hvcnQ") && !msg.contains("not-base64"), "{msg}");
        }
    }

    #[test]
    fn generated_key_file_is_0600_in_new_dir_and_kept() {
        let dir = std::env::temp_dir().join(format!("sf-outbox-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/outbox.sqlite.key");
        ensure_key_file(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let first = std::fs::read(&path).unwrap();
        ensure_key_file(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first, "an existing key is never replaced");
        let ring = KeyRing::parse(&path, &crate::secret::read_secret_file(&path).unwrap()).unwrap();
        assert_eq!(ring.key_ids().len(), 1);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn unwritable_key_dir_is_a_config_error_naming_it() {
        let e = ensure_key_file(Path::new("/proc/sf-no/outbox.key")).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.to_string().contains("/proc/sf-no/outbox.key"), "{e}");
    }
}
