//! The audit log: facts, never data.
//!
//! One JSON line per delivery attempt and per terminal event — `queued` (accepted
//! into the outbox), `delivered`, `retry` (scheduled), `dead` (dead-lettered),
//! `refused` (validation), `purged` — with exactly these fields: `ts` (RFC 3339
//! UTC, milliseconds), `event_id`, `destination`, `order_id`, `attempt`,
//! `outcome`, `http_status`, `latency_ms`, `error` (a short reason, passed through
//! [`crate::redact`]) and `key_fp` (the API key's fingerprint). Never the payload,
//! a key, a secret or a customer's data.
//!
//! # Where lines go
//! With `[audit] path`, to that file: created 0600, opened `O_APPEND` for every
//! line and each line written with one `write(2)`, so many PHP-FPM workers can
//! append at once. Rotation by size (`max_bytes`, `keep` files `path.1` … `path.keep`)
//! happens under an exclusive `flock` of the current file; a writer that finds,
//! once it holds the lock, that the path now names another file (someone rotated)
//! re-opens. Without `[audit] path` (or when the file cannot be written), lines go
//! to the [`Sink`] the PHP binding installs — PHP's error log at `[audit] level`
//! (default `notice`) — so nothing is silent by default.
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::config::{AuditConfig, Config, Destination};

/// Level of the error-log fallback when there is no `[audit]` section.
pub const DEFAULT_LEVEL: &str = "notice";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted into the outbox.
    Queued,
    /// Delivered (2xx).
    Delivered,
    /// Failed, retry scheduled.
    Retry,
    /// Dead-lettered.
    Dead,
    /// Refused before anything was stored.
    Refused,
    /// Erased on request.
    Purged,
}

impl Outcome {
    /// The `outcome` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Delivered => "delivered",
            Outcome::Retry => "retry",
            Outcome::Dead => "dead",
            Outcome::Refused => "refused",
            Outcome::Purged => "purged",
        }
    }
}

/// One audit line, before it gets its `ts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Event id (`None` for a refusal: nothing was stored).
    pub event_id: Option<&'a str>,
    /// Destination name.
    pub destination: &'a str,
    /// Order id, when known.
    pub order_id: Option<&'a str>,
    /// Attempt number (0 for events that are not attempts).
    pub attempt: u32,
    /// What happened.
    pub outcome: Outcome,
    /// HTTP status of the attempt.
    pub http_status: Option<u16>,
    /// Time the attempt took.
    pub latency_ms: Option<u64>,
    /// Short reason (redacted on output).
    pub error: Option<&'a str>,
    /// Fingerprint of the API key used.
    pub key_fp: Option<String>,
}

impl Record<'_> {
    /// The JSON line (without newline), stamped `ts`.
    pub fn to_line(&self, ts: &str) -> String {
        let v: Value = json!({
            "ts": ts,
            "event_id": self.event_id,
            "destination": self.destination,
            "order_id": self.order_id,
            "attempt": self.attempt,
            "outcome": self.outcome.as_str(),
            "http_status": self.http_status,
            "latency_ms": self.latency_ms,
            "error": self.error.map(crate::redact::redact),
            "key_fp": self.key_fp,
        });
        v.to_string()
    }
}

/// Where lines go when there is no audit file: the binding installs PHP's error log.
pub trait Sink: Send + Sync {
    /// Writes one line at `level` (`info`, `notice` or `warning`).
    fn write(&self, level: &str, line: &str);
}

// Process-wide (see ARCHITECTURE.md, "State"): set once in MINIT by the binding (PHP's error log), read from any thread.
static SINK: OnceLock<Box<dyn Sink>> = OnceLock::new();

/// Installs the process's fallback sink (once; later calls are ignored).
pub fn set_sink(sink: Box<dyn Sink>) {
    let _ = SINK.set(sink);
}

fn to_sink(level: &str, line: &str) {
    match SINK.get() {
        Some(s) => s.write(level, line),
        None => eprintln!("secure_forward audit: {line}"),
    }
}

/// The key fingerprint of `dest` (`None` without a key or when it cannot be read).
/// A Basic password may be a person's choice: no plain fingerprint of it (`set`).
pub fn key_fp(dest: &Destination) -> Option<String> {
    if matches!(dest.auth, crate::config::AuthConfig::Basic { .. }) {
        return dest.key.as_ref().and_then(|k| k.check().ok()).map(|()| "set".to_owned());
    }
    dest.key.as_ref().and_then(|k| k.fingerprint().ok())
}

/// Writes `rec` where `config` says. Never fails: a line that cannot go to the
/// file goes to the sink, with the file's problem.
pub fn emit(config: &Config, rec: &Record<'_>) {
    emit_line(config, rec.to_line(&rfc3339_now()));
}

/// [`emit`] for an event submitted as a resend: the line adds `"resend": true`.
pub fn emit_resend(config: &Config, rec: &Record<'_>) {
    let line = rec.to_line(&rfc3339_now());
    let line = match line.strip_suffix('}') {
        Some(head) => format!("{head},\"resend\":true}}"),
        None => line,
    };
    emit_line(config, line);
}

fn emit_line(config: &Config, line: String) {
    match &config.audit {
        Some(a @ AuditConfig { path: Some(path), .. }) => {
            if let Err(e) = append(path, a.max_bytes, a.keep, &line) {
                to_sink("warning", &format!("cannot write the audit log {}: {}", path.display(), crate::secret::io_reason(&e)));
                to_sink(&a.level, &line);
            }
        }
        Some(a) => to_sink(&a.level, &line),
        None => to_sink(DEFAULT_LEVEL, &line),
    }
}

/// Writes several records where `config` says: to the audit file, all lines in
/// one `write(2)` under one lock (each line whole, in order), or one by one to
/// the sink. Never fails, like [`emit`].
pub fn emit_many(config: &Config, recs: &[Record<'_>]) {
    match recs {
        [] => return,
        [one] => return emit(config, one),
        _ => {}
    }
    let ts = rfc3339_now();
    match &config.audit {
        Some(a @ AuditConfig { path: Some(path), .. }) => {
            let joined = recs.iter().map(|r| r.to_line(&ts)).collect::<Vec<_>>().join("\n");
            if let Err(e) = append(path, a.max_bytes, a.keep, &joined) {
                to_sink("warning", &format!("cannot write the audit log {}: {}", path.display(), crate::secret::io_reason(&e)));
                for line in joined.lines() {
                    to_sink(&a.level, line);
                }
            }
        }
        Some(a) => recs.iter().for_each(|r| to_sink(&a.level, &r.to_line(&ts))),
        None => recs.iter().for_each(|r| to_sink(DEFAULT_LEVEL, &r.to_line(&ts))),
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    // Non-blocking open, then only a regular file is written to: a FIFO or a device
    // at the audit path must not hang every worker in open(2) or write(2).
    let open = || {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(i32::try_from((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC).bits()).unwrap_or(0))
            .open(path)?;
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
        }
        Ok(file)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // First line: create the directory (0700), like the outbox's.
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
            }
            open()
        }
        other => other,
    }
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

/// Appends `line` + newline with one write, rotating first (under the lock) when
/// the file would grow past `max_bytes`.
pub fn append(path: &Path, max_bytes: u64, keep: u32, line: &str) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    let len = buf.len() as u64;
    for _ in 0..8 {
        let mut file = open_append(path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
        let meta = file.metadata()?;
        // Rotated by someone else between our open and our lock: start again.
        match std::fs::metadata(path) {
            Ok(m) if m.ino() == meta.ino() && m.dev() == meta.dev() => {}
            _ => continue,
        }
        if meta.len() > 0 && meta.len().saturating_add(len) > max_bytes {
            rotate(path, keep)?;
            // Still holding the old file's lock: writers queued on it will see the
            // new inode and re-open.
            let mut fresh = open_append(path)?;
            fresh.write_all(&buf)?;
            return Ok(());
        }
        file.write_all(&buf)?;
        return Ok(());
    }
    Err(std::io::Error::other("audit log keeps being rotated"))
}

/// `path.keep` is dropped, `path.N` → `path.N+1`, `path` → `path.1`.
fn rotate(path: &Path, keep: u32) -> std::io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(rotated(path, keep));
    for n in (1..keep).rev() {
        match std::fs::rename(rotated(path, n), rotated(path, n + 1)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

/// Now as RFC 3339 UTC with milliseconds (`2026-11-22T07:40:00.123Z`).
pub fn rfc3339_now() -> String {
    let ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    rfc3339_ms(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", tod / 3600, tod % 3600 / 60, tod % 60)
}

/// Inverse of [`crate::transport::days_from_civil`] (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_fifo_or_directory_at_the_audit_path_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("sf-audit-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("audit.fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // A reader keeps the FIFO open, so a blocking open would succeed and a write block.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(i32::try_from(rustix::fs::OFlags::NONBLOCK.bits()).unwrap())
            .open(&fifo)
            .unwrap();
        let started = std::time::Instant::now();
        assert!(append(&fifo, 1 << 20, 1, "line").is_err());
        assert!(append(&dir, 1 << 20, 1, "line").is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rfc3339_known_values_and_round_trip() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(784_111_777_123), "1994-11-06T08:49:37.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(crate::civil::days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn line_has_exact_fields_and_redacts_error() {
        let rec = Record {
            event_id: Some("evt_1"),
            destination: "crm",
            order_id: Some("42"),
            attempt: 2,
            outcome: Outcome::Retry,
            http_status: Some(503),
            latency_ms: Some(12),
            error: Some("server error (503) for ana@example.com 4111111111111111"),
            key_fp: Some("abcdef012345".into()),
        };
        let v: Value = serde_json::from_str(&rec.to_line("2026-11-22T07:40:00.123Z")).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["ts", "event_id", "destination", "order_id", "attempt", "outcome", "http_status", "latency_ms", "error", "key_fp"]
        );
        assert_eq!(v["outcome"], "retry");
        assert_eq!(v["error"], "server error (503) for [email] ****************");
    }

    #[test]
    fn file_is_0600_and_rotates_by_size_keeping_n() {
        let dir = std::env::temp_dir().join(format!("sf-audit-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log/audit.jsonl");
        let line = "x".repeat(99);
        for _ in 0..100 {
            append(&p, 1000, 2, &line).unwrap();
        }
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mode = std::fs::metadata(dir.join("log")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "missing directory created 0700");
        for f in [p.clone(), rotated(&p, 1), rotated(&p, 2)] {
            let len = std::fs::metadata(&f).unwrap().len();
            assert!(len > 0 && len <= 1000, "{} {len}", f.display());
            assert_eq!(len % 100, 0, "whole lines only");
        }
        assert!(!rotated(&p, 3).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_writers_lose_and_tear_no_line() {
        let dir = std::env::temp_dir().join(format!("sf-audit-conc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("audit.jsonl");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        append(&p, 20_000, 1000, &format!("{{\"t\":{t},\"i\":{i},\"pad\":\"{}\"}}", "y".repeat(40))).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut lines = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for l in text.lines() {
                serde_json::from_str::<Value>(l).unwrap();
                lines += 1;
            }
        }
        assert_eq!(lines, 8 * 250);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
