//! Secrets have one way in: [`Secret`], read from a 0600 file (or, weaker, an
//! environment variable) into a buffer that zeroizes on drop. A secret never
//! appears in `Debug`, `Display` or an error message; only its fingerprint does.
use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

pub mod open;
pub mod witness;

/// Longest secret file accepted (a key, a token, a handful of signing secrets).
const MAX_SECRET_FILE: u64 = open::MAX_SMALL_FILE;
/// How often a cached secret file is re-checked (stat) for rotation.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Secret bytes. Zeroized on drop, `[REDACTED]` in `Debug`, never `Display`.
/// While it exists, its buffer is locked in RAM and kept out of core dumps when
/// the binding installed a [`MemoryGuard`].
#[derive(PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

/// Page protection for secret buffers, installed by the PHP binding (the core
/// has no `unsafe`): `lock(address, length)` when a [`Secret`] is made (mlock,
/// `MADV_DONTDUMP`), `unlock(address, length)` after it was zeroized.
#[derive(Debug, Clone, Copy)]
pub struct MemoryGuard {
    /// Called with the buffer's address and capacity when a secret is made.
    pub lock: fn(usize, usize),
    /// Called with the same address and capacity once the buffer is zeroized.
    pub unlock: fn(usize, usize),
}

static GUARD: OnceLock<MemoryGuard> = OnceLock::new();

/// Installs the page guard (once; later calls are ignored).
pub fn set_memory_guard(guard: MemoryGuard) {
    let _ = GUARD.set(guard);
}

fn span(v: &[u8], capacity: usize) -> (usize, usize) {
    (v.as_ptr() as usize, capacity)
}

impl Secret {
    /// Takes ownership of `bytes` (the caller's buffer is moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        if let (Some(g), true) = (GUARD.get(), bytes.capacity() > 0) {
            let (at, len) = span(&bytes, bytes.capacity());
            (g.lock)(at, len);
        }
        Secret(Zeroizing::new(bytes))
    }

    /// The secret bytes, for the one place that must use them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// First 12 hex characters of SHA-256 of the secret: safe to show and log.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

/// First 12 hex characters of SHA-256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = hex(digest.as_ref());
    out.truncate(12);
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut v = Vec::with_capacity(bytes.len() * 2);
    hex_into(&mut v, bytes);
    // Only ASCII hex digits were written.
    String::from_utf8(v).unwrap_or_default()
}

/// Appends the lower-case hex of `bytes` to `out`.
pub fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |n: u8| DIGITS.get(usize::from(n)).copied().unwrap_or(b'0');
    // Through a stack block: one copy per 32 bytes instead of a push per digit.
    for chunk in bytes.chunks(32) {
        let mut block = [0u8; 64];
        for (pair, &b) in block.chunks_exact_mut(2).zip(chunk) {
            if let [hi, lo] = pair {
                *hi = digit(b >> 4);
                *lo = digit(b & 0x0f);
            }
        }
        out.extend_from_slice(block.get(..chunk.len() * 2).unwrap_or_default());
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Secret::new(self.0.to_vec())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let (at, len) = span(&self.0, self.0.capacity());
        // Zeroes the whole capacity (zeroize's `Vec` impl), then unlocks.
        self.0.zeroize();
        if let (Some(g), true) = (GUARD.get(), len > 0) {
            (g.unlock)(at, len);
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// A file, which must be 0600 (no group/other bits) and owned by us or root.
    File(PathBuf),
    /// An environment variable (stays in the process environment: weaker).
    Env(String),
}

impl SecretSource {
    /// `file` or `env`, for status and phpinfo.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::File(_) => "file",
            SecretSource::Env(_) => "env",
        }
    }

    /// The path or variable name (not secret).
    pub fn location(&self) -> String {
        match self {
            SecretSource::File(p) => p.display().to_string(),
            SecretSource::Env(v) => v.clone(),
        }
    }

    /// Reads the secret. A key file is read afresh on every call and never
    /// cached (see [`witness`]): once the caller drops the returned value, no
    /// copy of the key remains in this process.
    pub fn load(&self) -> Result<Arc<Secret>> {
        match self {
            SecretSource::File(path) => witness::read_key_file(path).map(Arc::new),
            SecretSource::Env(var) => {
                let value = std::env::var_os(var)
                    .ok_or_else(|| Error::config(format!("${var}"), None, "environment variable is not set"))?;
                let bytes = trim_owned(value.into_encoded_bytes());
                if bytes.is_empty() {
                    return Err(Error::config(format!("${var}"), None, "environment variable is empty"));
                }
                let secret = Arc::new(Secret::new(bytes));
                env_registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(var.clone(), Arc::clone(&secret));
                Ok(secret)
            }
        }
    }

    /// Checks that the secret is usable without keeping it: for a key file
    /// read before and unchanged since, the permission checks and one `stat`.
    pub fn check(&self) -> Result<()> {
        match self {
            SecretSource::File(path) => witness::check(path),
            SecretSource::Env(_) => self.load().map(drop),
        }
    }

    /// The secret's fingerprint; for a key file, without reading it again
    /// when it has not changed since it was last read.
    pub fn fingerprint(&self) -> Result<String> {
        match self {
            SecretSource::File(path) => witness::fingerprint(path),
            SecretSource::Env(_) => self.load().map(|s| s.fingerprint()),
        }
    }
}

/// Identity of a file version: a rename, rewrite or touch changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        FileStamp { dev: meta.dev(), ino: meta.ino(), size: meta.size(), mtime: meta.mtime(), mtime_nsec: meta.mtime_nsec() }
    }
}

struct Cached {
    stamp: FileStamp,
    checked: Instant,
    secret: Arc<Secret>,
}

fn cache() -> &'static Mutex<HashMap<PathBuf, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Cached>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads a secret file through a cache that re-checks the file's identity at most
/// once per [`RECHECK`], so an atomic replacement takes effect within a second.
pub fn load_file_cached(path: &Path) -> Result<Arc<Secret>> {
    let now = Instant::now();
    let mut map = cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(c) = map.get(path) {
        if now.duration_since(c.checked) < RECHECK {
            return Ok(Arc::clone(&c.secret));
        }
    }
    let meta = check_secret_file(path)?;
    let stamp = FileStamp::of(&meta);
    if let Some(c) = map.get_mut(path) {
        if c.stamp == stamp {
            c.checked = now;
            return Ok(Arc::clone(&c.secret));
        }
    }
    let (secret, stamp) = witness::read_checked(path)?;
    let secret = Arc::new(secret);
    map.insert(path.to_path_buf(), Cached { stamp, checked: now, secret: Arc::clone(&secret) });
    Ok(secret)
}

/// Forgets every cached secret (tests, and `secure_forward` shutdown).
pub fn clear_cache() {
    witness::clear();
    cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
    env_registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
}

/// Secrets read from environment variables, by variable (they have no file cache).
fn env_registry() -> &'static Mutex<HashMap<String, Arc<Secret>>> {
    static ENV: OnceLock<Mutex<HashMap<String, Arc<Secret>>>> = OnceLock::new();
    ENV.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Calls `f` with every secret value this process keeps (signing and webhook
/// secrets, peppers, outbox keys, client secrets: everything read through
/// [`load_file_cached`]; keys from `key_env`), for the redaction layer. Key
/// files are not kept: [`witness::mask_key_files`] masks them instead.
/// The values stay in their zeroizing buffers; `f` only borrows them.
pub fn for_each_loaded(mut f: impl FnMut(&[u8])) {
    for c in cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner).values() {
        f(c.secret.expose());
    }
    for s in env_registry().lock().unwrap_or_else(std::sync::PoisonError::into_inner).values() {
        f(s.expose());
    }
}

/// Checks that a secret file is a regular file, not group/world accessible, and
/// owned by the effective user or root. Returns its metadata.
pub fn check_secret_file(path: &Path) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| Error::config(path.display().to_string(), None, io_reason(&e)))?;
    check_meta(path, meta)
}

/// The checks of [`check_secret_file`] on metadata already at hand (of an open file).
fn check_meta(path: &Path, meta: std::fs::Metadata) -> Result<std::fs::Metadata> {
    let shown = path.display().to_string();
    if !meta.is_file() {
        return Err(Error::config(&shown, None, "secret file is not a regular file"));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(Error::config(
            &shown,
            None,
            format!("secret file is readable by group or others (mode {:o}); run: chmod 600 {shown}", meta.mode() & 0o777),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(Error::config(
            &shown,
            None,
            format!("secret file is owned by uid {}, not by the running user ({me}) or root", meta.uid()),
        ));
    }
    if meta.size() > MAX_SECRET_FILE {
        return Err(Error::config(&shown, None, "secret file is too large"));
    }
    Ok(meta)
}

/// Reads and checks a secret file, without the cache.
pub fn read_secret_file(path: &Path) -> Result<Secret> {
    witness::read_checked(path).map(|(secret, _)| secret)
}

/// Trims ASCII white space at both ends without leaving an untrimmed copy behind.
fn trim_owned(mut raw: Vec<u8>) -> Vec<u8> {
    let end = raw.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    let start = raw.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(end);
    let out = raw.get(start..end).map(<[u8]>::to_vec).unwrap_or_default();
    raw.zeroize();
    out
}

/// A short reason for an I/O error, without the OS's decoration.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => format!("cannot read file ({})", e.kind()),
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        let bytes: Vec<u8> = (0..=255u8).chain(0..=40).collect();
        let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&bytes), want);
        assert_eq!(hex(&[]), "");
        let mut out = b"x".to_vec();
        hex_into(&mut out, &[0xab, 0x01]);
        assert_eq!(out, b"xab01");
    }
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    pub(crate) fn temp_secret(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let p = dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sf-secret-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn debug_is_redacted_and_fingerprint_is_sha256_prefix() {
        let s = Secret::new(b"sk_live_abc".to_vec());
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        // sha256("abc") = ba7816bf8f01cfea...
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01");
    }

    #[test]
    fn reads_0600_file_trimmed() {
        let d = tempdir("ok");
        let p = temp_secret(&d, "k", b"  key-123\n", 0o600);
        let s = read_secret_file(&p).unwrap();
        assert_eq!(s.expose(), b"key-123");
    }

    #[test]
    fn refuses_group_or_world_readable() {
        let d = tempdir("loose");
        for mode in [0o640, 0o604, 0o644, 0o660] {
            let p = temp_secret(&d, "k", b"key-123", mode);
            let e = read_secret_file(&p).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("readable by group or others"), "{msg}");
            assert!(!msg.contains("key-123"));
        }
    }

    #[test]
    fn refuses_missing_empty_and_directory() {
        let d = tempdir("bad");
        assert!(read_secret_file(&d.join("nope")).unwrap_err().to_string().contains("file not found"));
        let p = temp_secret(&d, "empty", b" \n", 0o600);
        assert!(read_secret_file(&p).unwrap_err().to_string().contains("empty"));
        assert!(read_secret_file(&d).unwrap_err().to_string().contains("not a regular file"));
    }

    #[test]
    fn cache_sees_atomic_replacement_after_recheck_interval() {
        let d = tempdir("rotate");
        let p = temp_secret(&d, "k", b"old", 0o600);
        assert_eq!(load_file_cached(&p).unwrap().expose(), b"old");
        let tmp = temp_secret(&d, "k.new", b"new", 0o600);
        std::fs::rename(&tmp, &p).unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert_eq!(load_file_cached(&p).unwrap().expose(), b"new");
    }

    #[test]
    fn memory_guard_sees_each_secret_buffer_locked_then_unlocked() {
        static EVENTS: Mutex<Vec<(bool, usize, usize)>> = Mutex::new(Vec::new());
        fn lock(at: usize, len: usize) {
            EVENTS.lock().unwrap().push((true, at, len));
        }
        fn unlock(at: usize, len: usize) {
            EVENTS.lock().unwrap().push((false, at, len));
        }
        set_memory_guard(MemoryGuard { lock, unlock });
        let mut bytes = Vec::with_capacity(40);
        bytes.extend_from_slice(b"sk_guarded_0123456789");
        let span = (bytes.as_ptr() as usize, 40);
        let s = Secret::new(bytes);
        let copy = s.clone();
        let copy_span = (copy.expose().as_ptr() as usize, copy.len());
        let seen = |e: (bool, usize, usize)| EVENTS.lock().unwrap().contains(&e);
        assert!(seen((true, span.0, span.1)));
        assert!(seen((true, copy_span.0, copy_span.1)), "a clone is guarded too");
        assert!(!seen((false, span.0, span.1)));
        drop(s);
        drop(copy);
        assert!(seen((false, span.0, span.1)) && seen((false, copy_span.0, copy_span.1)));
    }

    #[test]
    fn env_source() {
        std::env::set_var("SF_TEST_KEY_ENV", "envkey\n");
        let s = SecretSource::Env("SF_TEST_KEY_ENV".into()).load().unwrap();
        assert_eq!(s.expose(), b"envkey");
        let e = SecretSource::Env("SF_TEST_KEY_ENV_MISSING".into()).load().unwrap_err();
        assert!(e.to_string().contains("not set"));
    }
}
