//! `[outbox] url` and its companions: the shared MariaDB/MySQL outbox of a fleet
//! of PHP nodes (plain data; the connection itself is `store::mysql`).
//!
//! ```toml
//! [outbox]
//! url = "mysql://sf@db-host:3306/shopdb"     # or mysql://sf@localhost/shopdb?socket=/run/mysqld/mysqld.sock
//! password_file = "/etc/secure-forward/db.password"   # 0600, checked like key files
//! table_prefix = "secure_forward_"           # ^[A-Za-z0-9_]{1,32}$
//! connect_timeout_ms = 2000
//! tls = "verify"                             # default (webpki roots, or ca_file); "off": localhost / socket only
//! ca_file = "/etc/secure-forward/db-ca.pem"
//! node_id = "web-1"                          # default: host name + pid
//! ```
//! A password in the URL is refused (it would end up in logs, status and
//! phpinfo): it is read from `password_file` when a connection is opened.
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default `[outbox] table_prefix`.
pub const DEFAULT_TABLE_PREFIX: &str = "secure_forward_";
/// Default `[outbox] connect_timeout_ms`.
pub const DEFAULT_DB_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// Default port.
pub const DEFAULT_DB_PORT: u16 = 3306;

/// TLS to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTls {
    /// Verified TLS (rustls): webpki roots, or only `ca_file` when set.
    Verify {
        /// Trusted CA file (PEM).
        ca_file: Option<PathBuf>,
    },
    /// Plain: only for localhost or a Unix socket.
    Off,
}

/// The shared outbox database (`[outbox] url` set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Host name or address (named in every error).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Unix socket (`?socket=` of the URL).
    pub socket: Option<PathBuf>,
    /// User name.
    pub user: String,
    /// Database (schema) name.
    pub database: String,
    /// The password's file (0600), if the account has one.
    pub password_file: Option<PathBuf>,
    /// Prefix of every table.
    pub table_prefix: String,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// TLS.
    pub tls: DbTls,
    /// This node's name in lease owners (default: the host name).
    pub node_id: String,
}

impl DatabaseConfig {
    /// `host:port/database`, or `host/database (socket PATH)` (what errors and status show).
    pub fn shown(&self) -> String {
        match &self.socket {
            Some(s) => format!("{}/{} (socket {})", self.host, self.database, s.display()),
            None => format!("{}:{}/{}", self.host, self.port, self.database),
        }
    }
}

/// The raw `[outbox]` keys of the shared database.
pub(super) struct RawDatabase {
    pub url: String,
    pub password_file: Option<PathBuf>,
    pub table_prefix: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub node_id: Option<String>,
}

fn decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = part.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The host name of this machine (for node ids).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1" || host == "[::1]"
}

/// Parses and checks the shared database's keys (`file` is named in errors).
pub(super) fn build(file: &str, raw: RawDatabase) -> Result<DatabaseConfig> {
    let bad = |key: &str, why: &str| Error::config(file, Some(key), why.to_owned());
    let rest = raw
        .url
        .strip_prefix("mysql://")
        .or_else(|| raw.url.strip_prefix("mariadb://"))
        .ok_or_else(|| bad("outbox.url", "must start with mysql:// (or mariadb://)"))?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) =
        rest.split_once('/').ok_or_else(|| bad("outbox.url", "names no database (mysql://user@host/DB)"))?;
    let (userinfo, hostport) =
        authority.rsplit_once('@').ok_or_else(|| bad("outbox.url", "names no user (mysql://USER@host/db)"))?;
    if userinfo.contains(':') {
        return Err(bad("outbox.url", "a password in the URL is not allowed; use outbox.password_file"));
    }
    let user =
        decode(userinfo).filter(|u| !u.is_empty()).ok_or_else(|| bad("outbox.url", "the user name is empty or malformed"))?;
    let database = decode(database)
        .filter(|d| !d.is_empty() && d.len() <= 64 && !d.contains('/'))
        .ok_or_else(|| bad("outbox.url", "the database name is empty or malformed"))?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || !p.is_empty() => {
            let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("outbox.url", "the port is not a number"))?;
            (h.to_owned(), port)
        }
        _ => (hostport.to_owned(), DEFAULT_DB_PORT),
    };
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_whitespace() || b == b'/' || b == b'@') {
        return Err(bad("outbox.url", "names no host"));
    }
    let mut socket = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("socket", v)) => {
                let path = decode(v)
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| bad("outbox.url", "socket= must be an absolute path"))?;
                socket = Some(PathBuf::from(path));
            }
            _ => return Err(bad("outbox.url", "the only query parameter allowed is socket=")),
        }
    }
    let table_prefix = raw.table_prefix.unwrap_or_else(|| DEFAULT_TABLE_PREFIX.to_owned());
    let prefix_ok =
        (1..=32).contains(&table_prefix.len()) && table_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !prefix_ok {
        return Err(bad("outbox.table_prefix", "must match ^[A-Za-z0-9_]{1,32}$"));
    }
    let ms = raw.connect_timeout_ms.unwrap_or(DEFAULT_DB_CONNECT_TIMEOUT_MS);
    if !(1..=60_000).contains(&ms) {
        return Err(bad("outbox.connect_timeout_ms", "must be between 1 and 60000"));
    }
    let tls = match raw.tls.as_deref() {
        None | Some("verify") => DbTls::Verify { ca_file: raw.ca_file },
        Some("off") => {
            if socket.is_none() && !is_local(&host) {
                return Err(bad("outbox.tls", "\"off\" is allowed only for localhost or a Unix socket"));
            }
            if raw.ca_file.is_some() {
                return Err(bad("outbox.ca_file", "has no effect with tls = \"off\""));
            }
            DbTls::Off
        }
        Some(_) => return Err(bad("outbox.tls", "must be \"verify\" or \"off\"")),
    };
    let node_id = match raw.node_id {
        Some(n) => {
            if n.is_empty() || n.len() > 64 || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                return Err(bad("outbox.node_id", "must be 1 to 64 of A-Z a-z 0-9 - _ ."));
            }
            n
        }
        None => host_name(),
    };
    Ok(DatabaseConfig {
        host,
        port,
        socket,
        user,
        database,
        password_file: raw.password_file,
        table_prefix,
        connect_timeout: Duration::from_millis(ms),
        tls,
        node_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(url: &str) -> RawDatabase {
        RawDatabase {
            url: url.into(),
            password_file: None,
            table_prefix: None,
            connect_timeout_ms: None,
            tls: None,
            ca_file: None,
            node_id: Some("n1".into()),
        }
    }

    #[test]
    fn parses_host_port_socket_and_defaults() {
        let d = build("/c.toml", raw("mysql://sf@db-host:3307/shopdb")).unwrap();
        assert_eq!((d.host.as_str(), d.port, d.user.as_str(), d.database.as_str()), ("db-host", 3307, "sf", "shopdb"));
        assert_eq!(d.table_prefix, DEFAULT_TABLE_PREFIX);
        assert_eq!(d.connect_timeout, Duration::from_millis(2000));
        assert_eq!(d.tls, DbTls::Verify { ca_file: None });
        let d = build("/c.toml", raw("mysql://sf@localhost/shop%5Fdb?socket=/tmp/x%20y.sock")).unwrap();
        assert_eq!((d.port, d.database.as_str()), (3306, "shop_db"));
        assert_eq!(d.socket, Some(PathBuf::from("/tmp/x y.sock")));
        assert_eq!(d.shown(), "localhost/shop_db (socket /tmp/x y.sock)");
    }

    #[test]
    fn refuses_password_in_url_without_naming_it() {
        let e = build("/c.toml", raw("mysql://sf:hunter2@db/shop")).unwrap_err().to_string();
        assert!(e.contains("outbox.url") && e.contains("password_file"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn refuses_bad_prefix_tls_off_remote_and_bad_urls() {
        let mut r = raw("mysql://sf@db/shop");
        r.table_prefix = Some("x;drop".into());
        assert!(build("/c", r).unwrap_err().to_string().contains("outbox.table_prefix"));
        let mut r = raw("mysql://sf@db.example/shop");
        r.tls = Some("off".into());
        assert!(build("/c", r).unwrap_err().to_string().contains("outbox.tls"));
        let mut r = raw("mysql://sf@127.0.0.1/shop");
        r.tls = Some("off".into());
        assert_eq!(build("/c", r).unwrap().tls, DbTls::Off);
        for bad in
            ["postgres://sf@db/shop", "mysql://db/shop", "mysql://sf@db", "mysql://sf@db:x/shop", "mysql://sf@db/shop?ssl=1"]
        {
            assert!(build("/c", raw(bad)).unwrap_err().to_string().contains("outbox.url"), "{bad}");
        }
    }
}
