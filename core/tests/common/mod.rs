//! Harness shared by the integration tests: the test CA made by
//! tests/support/make-test-ca.sh, per-test directories and real servers (tests/support/receiver.py,
//! `openssl s_server`), killed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // each test crate uses a part

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// tests/support/: the test CA script and the HTTPS receiver every suite uses.
pub fn support() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support")
}

/// The test CA and its good and bad certificates, one per test crate under the
/// target directory, remade when older than a week (its certificates last 30 days).
pub fn ca_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-test-ca", env!("CARGO_CRATE_NAME")));
        let fresh = std::fs::metadata(dir.join("chain.pem"))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < Duration::from_secs(7 * 86_400)));
        if !fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let ok = Command::new("bash").arg(support().join("make-test-ca.sh")).arg(&dir).status().unwrap();
        assert!(ok.success(), "make-test-ca.sh failed");
        dir
    })
}

/// A certificate of the test CA folder (`server`, `expired`, `chain`, ...).
pub fn cert(name: &str) -> PathBuf {
    ca_dir().join(format!("{name}.pem"))
}

/// The private key of [`cert`].
pub fn key(name: &str) -> PathBuf {
    ca_dir().join(format!("{name}.key"))
}

/// A test's own directory, removed when the test ends.
pub struct TempDir(pub PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("sf-{}-{}-{name}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server child process, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `openssl s_server` on a free port with `cert_name`, plus `extra` options.
    pub fn openssl(cert_name: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new("openssl")
            .arg("s_server")
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert(cert_name))
            .arg("-key")
            .arg(key(cert_name))
            .args(["-www", "-quiet"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "s_server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, port, log: None }
    }

    /// tests/support/receiver.py with the good certificate, plus `extra` options. Its
    /// log is `dir`/receiver.log, shared by every receiver started in `dir`
    /// (a receiver restarted on the same port keeps one log).
    pub fn receiver(dir: &Path, extra: &[&OsStr]) -> Server {
        Server::receiver_with(dir, "server", extra)
    }

    /// tests/support/receiver.py on `port` (0: any free port).
    pub fn receiver_on(dir: &Path, port: u16) -> Server {
        let port = port.to_string();
        Server::receiver(dir, &[OsStr::new("--port"), OsStr::new(&port)])
    }

    /// tests/support/receiver.py presenting `cert_name` (a chain file may hold intermediates).
    pub fn receiver_with(dir: &Path, cert_name: &str, extra: &[&OsStr]) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let port_file = dir.join(format!("port-{}", STARTS.fetch_add(1, Ordering::Relaxed)));
        let log = dir.join("receiver.log");
        let child = Command::new("python3")
            .arg(support().join("receiver.py"))
            .arg("--cert")
            .arg(cert(cert_name))
            .arg("--key")
            .arg(key(cert_name))
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(["--max-seconds", "120"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = p.trim().parse() {
                    break p;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(10), "receiver did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        Server { child, port, log: Some(log) }
    }

    /// Logged requests as JSON values.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log.as_ref().expect("a receiver.py server"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Requests per Idempotency-Key.
    pub fn keys(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.requests() {
            *m.entry(r["headers"]["idempotency-key"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
        m
    }

    /// Arrival times (seconds), in order.
    pub fn times(&self) -> Vec<f64> {
        let mut t: Vec<f64> = self.requests().iter().map(|r| r["t"].as_f64().unwrap()).collect();
        t.sort_by(f64::total_cmp);
        t
    }
}
