//! Operator-owned configuration: one TOML file named by the INI entry
//! `secure_forward.config`. Parsed once, cached, and re-checked by file identity
//! (at most once per second), so an edited file takes effect without a restart.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::policy::Policy;

mod access;
mod database;
mod request;
use crate::secret::SecretSource;
pub use access::{AuthConfig, ClientAuth, OAuth2, RateLimit};
pub use database::{host_name, DatabaseConfig, DbTls, DEFAULT_TABLE_PREFIX};
pub use request::{Method, Request, Target};

/// Default outbox location when the file has no `[outbox]` section.
pub const DEFAULT_OUTBOX: &str = "/var/lib/secure-forward/outbox.sqlite";
/// Default request timeout, total.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default connect timeout (capped at `timeout_ms` when that is smaller).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Default header carrying the API key.
pub const DEFAULT_KEY_HEADER: &str = "X-API-KEY";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    fingerprint_key_file: Option<PathBuf>,
    #[serde(default)]
    destinations: BTreeMap<String, RawDestination>,
    outbox: Option<RawOutbox>,
    audit: Option<RawAudit>,
    #[serde(default)]
    webhooks: BTreeMap<String, RawWebhook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    url: Option<String>,
    url_file: Option<PathBuf>,
    method: Option<String>,
    headers: Option<toml::Table>,
    key_prefix: Option<String>,
    username: Option<String>,
    events: Option<Vec<String>>,
    body: Option<toml::Value>,
    key_file: Option<PathBuf>,
    key_env: Option<String>,
    key_header: Option<String>,
    ca_file: Option<PathBuf>,
    timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    signing_secret_file: Option<PathBuf>,
    #[serde(default)]
    pin_sha256: Vec<String>,
    policy: Option<toml::Table>,
    auth: Option<String>,
    token_url: Option<String>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    scope: Option<String>,
    audience: Option<String>,
    token_auth: Option<String>,
    rate_limit: Option<access::RawRateLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    path: Option<PathBuf>,
    key_file: Option<PathBuf>,
    retry_schedule: Option<Vec<u64>>,
    delivery: Option<String>,
    synchronous: Option<String>,
    url: Option<String>,
    password_file: Option<PathBuf>,
    table_prefix: Option<String>,
    connect_timeout_ms: Option<u64>,
    tls: Option<String>,
    ca_file: Option<PathBuf>,
    node_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    path: Option<PathBuf>,
    max_bytes: Option<u64>,
    keep: Option<u32>,
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    secret_file: PathBuf,
    tolerance_s: Option<u64>,
    format: Option<String>,
}

/// The whole, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Destinations by name.
    pub destinations: BTreeMap<String, Arc<Destination>>,
    /// The outbox (always present: defaults apply without a section).
    pub outbox: OutboxConfig,
    /// The audit log, when configured.
    pub audit: Option<AuditConfig>,
    /// Inbound webhook sources by name.
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// Top-level `fingerprint_key_file`: the per-installation key that fingerprints
    /// of chosen secrets (pepper, client secret, WooCommerce secret) are keyed
    /// with (see [`crate::fingerprint`]); without it they are shown as `set`.
    pub fingerprint_key_file: Option<PathBuf>,
}

/// One destination.
#[derive(Debug)]
pub struct Destination {
    /// Its name (`default`, `crm`, ...).
    pub name: String,
    /// Full https URL (never shown: it may carry a query); empty with `url_file`
    /// (see [`Destination::request`]).
    pub url: String,
    /// Host name, for messages and status.
    pub host: String,
    /// Where the API key comes from.
    pub key: Option<SecretSource>,
    /// Header carrying the key.
    pub key_header: String,
    /// Trust roots replacing the webpki roots for this destination.
    pub ca_file: Option<PathBuf>,
    /// Total per-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Standard Webhooks signing secrets, one per line.
    pub signing_secret_file: Option<PathBuf>,
    /// SPKI SHA-256 pins (raw 32-byte digests).
    pub pin_sha256: Vec<[u8; 32]>,
    /// What leaves the store.
    pub policy: Policy,
    /// `auth = "header" | "bearer" | "oauth2"` (credentials are built from it by `crate::auth`).
    pub auth: AuthConfig,
    /// `rate_limit = { requests, per_s }`, shared by all workers of the machine.
    pub rate_limit: Option<RateLimit>,
    /// Method, URL template or `url_file`, static headers, `key_prefix`,
    /// `events` and the compiled body.
    pub request: Request,
}

/// How `secure_forward_order()` delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Enqueue, then try once inline.
    Inline,
    /// Enqueue only; `secure_forward_flush()` sends.
    Deferred,
}

/// `[outbox]`.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// SQLite file (with `url` set: this node's local spool).
    pub path: PathBuf,
    /// The shared MariaDB/MySQL outbox (`url`), if configured.
    pub database: Option<DatabaseConfig>,
    /// Key file (generated beside the database when not configured).
    pub key_file: PathBuf,
    /// Retry delays in seconds.
    pub retry_schedule: Vec<u64>,
    /// Inline or deferred.
    pub delivery: Delivery,
    /// SQLite `synchronous` of the enqueue (and requeue) commits; purge is always FULL.
    pub synchronous: Synchronous,
}

/// `[outbox] synchronous`: how hard an enqueue commit presses the order onto the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// WAL + `synchronous=NORMAL` (default): survives a crash or `kill -9` of the
    /// process; a power loss may lose the last commits (the database stays consistent).
    Normal,
    /// `synchronous=FULL`: one fsync of the WAL per enqueue; survives a power loss.
    Full,
}

impl Synchronous {
    /// The `PRAGMA synchronous` value.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// `[audit]`.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// JSON Lines file; `None` sends the lines to PHP's error log.
    pub path: Option<PathBuf>,
    /// Rotate when the file reaches this size.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
    /// Level for the error-log fallback (`info`, `notice`, `warning`).
    pub level: String,
}

/// `[webhooks.NAME]`.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Secrets file (`whsec_...` per line, or the WooCommerce secret).
    pub secret_file: PathBuf,
    /// Accepted clock skew and replay window.
    pub tolerance: Duration,
    /// `standard` (Standard Webhooks / Svix) or `woocommerce`.
    pub format: WebhookFormat,
}

/// Inbound signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Standard Webhooks (`webhook-*` or `svix-*` headers).
    Standard,
    /// WooCommerce `X-WC-Webhook-Signature`.
    WooCommerce,
}

/// Standard Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
pub const DEFAULT_RETRY_SCHEDULE: [u64; 9] = [5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400];

impl Config {
    /// Parses `text` as the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let file = path.display().to_string();
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&file, text, &e))?;
        let mut destinations = BTreeMap::new();
        for (name, d) in raw.destinations {
            let dest = Destination::build(&file, &name, d)?;
            destinations.insert(name, Arc::new(dest));
        }
        let outbox = build_outbox(&file, raw.outbox)?;
        let audit = raw.audit.map(|a| build_audit(&file, a)).transpose()?;
        let mut webhooks = BTreeMap::new();
        for (name, w) in raw.webhooks {
            webhooks.insert(name.clone(), build_webhook(&file, &name, w)?);
        }
        let fingerprint_key_file = raw.fingerprint_key_file;
        Ok(Config { path: path.to_path_buf(), destinations, outbox, audit, webhooks, fingerprint_key_file })
    }

    /// Reads and parses the file (no cache).
    pub fn load_uncached(path: &Path) -> Result<Config> {
        let file = path.display().to_string();
        let what = "configuration file";
        let bytes = crate::secret::open::read_trusted(path, what, crate::secret::open::MAX_SMALL_FILE)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::config(&file, None, "not valid UTF-8"))?;
        Config::parse(path, &text)
    }

    /// The named destination, or a ConfigException naming it.
    pub fn destination(&self, name: &str) -> Result<&Arc<Destination>> {
        self.destinations.get(name).ok_or_else(|| {
            Error::config(
                self.path.display().to_string(),
                Some(&format!("destinations.{name}")),
                "no such destination is configured",
            )
        })
    }
}

/// Turns a TOML error into a message with the key and line, without echoing the
/// source line (which may hold a value).
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| text.get(..s.start).map_or(0, |t| t.matches('\n').count()) + 1);
    let reason = e.message().trim().to_owned();
    match line {
        Some(l) => Error::config(file, None, format!("line {l}: {reason}")),
        None => Error::config(file, None, reason),
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Destination {
    fn build(file: &str, name: &str, d: RawDestination) -> Result<Destination> {
        let key_of = |k: &str| format!("destinations.{name}.{k}");
        if !is_token(name) {
            return Err(Error::config(
                file,
                Some(&format!("destinations.{name}")),
                "destination names may only use letters, digits, '-', '_' and '.'",
            ));
        }
        let auth = access::build(
            file,
            name,
            access::RawAuth {
                auth: d.auth,
                token_url: d.token_url,
                client_id: d.client_id,
                client_secret_file: d.client_secret_file,
                scope: d.scope,
                audience: d.audience,
                token_auth: d.token_auth,
                has_key: d.key_file.is_some() || d.key_env.is_some(),
                has_key_header: d.key_header.is_some(),
                username: d.username,
                has_key_prefix: d.key_prefix.is_some(),
            },
        )?;
        let rate_limit = access::build_rate_limit(file, name, d.rate_limit)?;
        let key = match (d.key_file, d.key_env) {
            (Some(_), Some(_)) => {
                return Err(Error::config(file, Some(&key_of("key_env")), "set either key_file or key_env, not both"))
            }
            (Some(p), None) => Some(SecretSource::File(p)),
            (None, Some(v)) if v.is_empty() => return Err(Error::config(file, Some(&key_of("key_env")), "empty variable name")),
            (None, Some(v)) => Some(SecretSource::Env(v)),
            (None, None) => None,
        };
        let key_header = d.key_header.unwrap_or_else(|| DEFAULT_KEY_HEADER.to_owned());
        let reserved = [
            "host",
            "content-length",
            "content-type",
            "transfer-encoding",
            "connection",
            "user-agent",
            "idempotency-key",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        ];
        if !is_token(&key_header) || reserved.contains(&key_header.to_ascii_lowercase().as_str()) {
            return Err(Error::config(file, Some(&key_of("key_header")), "not a usable HTTP header name"));
        }
        let timeout_ms = d.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(1..=300_000).contains(&timeout_ms) {
            return Err(Error::config(file, Some(&key_of("timeout_ms")), "must be between 1 and 300000"));
        }
        let connect_ms = d.connect_timeout_ms.unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS.min(timeout_ms));
        if !(1..=timeout_ms).contains(&connect_ms) {
            return Err(Error::config(file, Some(&key_of("connect_timeout_ms")), "must be between 1 and timeout_ms"));
        }
        let mut pins = Vec::with_capacity(d.pin_sha256.len());
        for p in &d.pin_sha256 {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(p.trim())
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
                .ok_or_else(|| {
                    Error::config(file, Some(&key_of("pin_sha256")), "each pin must be base64 of a 32-byte SHA-256 digest")
                })?;
            pins.push(raw);
        }
        let policy_key = format!("destinations.{name}.policy");
        let policy = match (&d.body, d.policy.as_ref()) {
            (Some(_), Some(t)) => {
                let cfg = crate::policy::PolicyConfig::from_table(t, file, &policy_key)?;
                if !cfg.rename.is_empty() {
                    return Err(Error::config(
                        file,
                        Some(&format!("{policy_key}.rename")),
                        "does not apply with a body (the body names the keys it sends)",
                    ));
                }
                Policy::from_config(&cfg, false, file, &policy_key)?
            }
            (_, raw) => Policy::compile(raw, file, &policy_key)?,
        };
        let uses_key_header = matches!(auth, AuthConfig::Header);
        let url = d.url.clone().unwrap_or_default();
        let (request, host) = request::build(
            file,
            name,
            request::RawRequest {
                method: d.method,
                url: d.url,
                url_file: d.url_file,
                headers: d.headers,
                key_prefix: d.key_prefix,
                events: d.events,
                body: d.body,
            },
            uses_key_header.then_some(key_header.as_str()),
            &policy,
        )?;
        if request.key_prefix.is_some() && !uses_key_header {
            return Err(Error::config(file, Some(&key_of("key_prefix")), "only used with auth = \"header\""));
        }
        Ok(Destination {
            name: name.to_owned(),
            url,
            host,
            key,
            key_header,
            ca_file: d.ca_file,
            timeout: Duration::from_millis(timeout_ms),
            connect_timeout: Duration::from_millis(connect_ms),
            signing_secret_file: d.signing_secret_file,
            pin_sha256: pins,
            policy,
            auth,
            rate_limit,
            request,
        })
    }
}

/// Checks that `url` is an absolute https URL without credentials and returns its host.
pub fn https_host(url: &str) -> std::result::Result<String, String> {
    if let Some((scheme, _)) = url.split_once(':') {
        let is_scheme = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if is_scheme && !scheme.eq_ignore_ascii_case("https") {
            return Err(format!("only https:// URLs are allowed, not {}://", scheme.to_ascii_lowercase()));
        }
    }
    let uri: ureq::http::Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => {}
        Some(s) => return Err(format!("only https:// URLs are allowed, not {}://", s.to_ascii_lowercase())),
        None => return Err("only absolute https:// URLs are allowed".into()),
    }
    let authority = uri.authority().ok_or_else(|| "URL has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("credentials in the URL are not allowed; use key_file".into());
    }
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| "URL has no host".to_owned())?;
    Ok(host.to_owned())
}

fn build_outbox(file: &str, raw: Option<RawOutbox>) -> Result<OutboxConfig> {
    let raw = raw.unwrap_or(RawOutbox {
        path: None,
        key_file: None,
        retry_schedule: None,
        delivery: None,
        synchronous: None,
        url: None,
        password_file: None,
        table_prefix: None,
        connect_timeout_ms: None,
        tls: None,
        ca_file: None,
        node_id: None,
    });
    let database = match raw.url {
        Some(url) => Some(database::build(
            file,
            database::RawDatabase {
                url,
                password_file: raw.password_file,
                table_prefix: raw.table_prefix,
                connect_timeout_ms: raw.connect_timeout_ms,
                tls: raw.tls,
                ca_file: raw.ca_file,
                node_id: raw.node_id,
            },
        )?),
        None => {
            let lone = [
                ("outbox.password_file", raw.password_file.is_some()),
                ("outbox.table_prefix", raw.table_prefix.is_some()),
                ("outbox.connect_timeout_ms", raw.connect_timeout_ms.is_some()),
                ("outbox.tls", raw.tls.is_some()),
                ("outbox.ca_file", raw.ca_file.is_some()),
                ("outbox.node_id", raw.node_id.is_some()),
            ];
            if let Some((key, _)) = lone.iter().find(|(_, set)| *set) {
                return Err(Error::config(file, Some(key), "applies only with outbox.url"));
            }
            None
        }
    };
    let path = raw.path.unwrap_or_else(|| PathBuf::from(DEFAULT_OUTBOX));
    let key_file = raw.key_file.unwrap_or_else(|| {
        let mut p = path.clone().into_os_string();
        p.push(".key");
        PathBuf::from(p)
    });
    let retry_schedule = raw.retry_schedule.unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.to_vec());
    if retry_schedule.len() > 100 || retry_schedule.iter().any(|s| *s > 7 * 86_400) {
        return Err(Error::config(file, Some("outbox.retry_schedule"), "at most 100 delays of at most 7 days each"));
    }
    let delivery = match raw.delivery.as_deref() {
        None | Some("inline") => Delivery::Inline,
        Some("deferred") => Delivery::Deferred,
        Some(_) => return Err(Error::config(file, Some("outbox.delivery"), "must be \"inline\" or \"deferred\"")),
    };
    let synchronous = match raw.synchronous.as_deref() {
        None | Some("normal") => Synchronous::Normal,
        Some("full") => Synchronous::Full,
        Some(_) => return Err(Error::config(file, Some("outbox.synchronous"), "must be \"normal\" or \"full\"")),
    };
    Ok(OutboxConfig { path, database, key_file, retry_schedule, delivery, synchronous })
}

fn build_audit(file: &str, raw: RawAudit) -> Result<AuditConfig> {
    let level = raw.level.unwrap_or_else(|| "notice".into());
    if !["info", "notice", "warning"].contains(&level.as_str()) {
        return Err(Error::config(file, Some("audit.level"), "must be \"info\", \"notice\" or \"warning\""));
    }
    let max_bytes = raw.max_bytes.unwrap_or(10 * 1024 * 1024);
    if max_bytes < 4096 {
        return Err(Error::config(file, Some("audit.max_bytes"), "must be at least 4096"));
    }
    Ok(AuditConfig { path: raw.path, max_bytes, keep: raw.keep.unwrap_or(5), level })
}

fn build_webhook(file: &str, name: &str, raw: RawWebhook) -> Result<WebhookConfig> {
    let format = match raw.format.as_deref() {
        None | Some("standard") => WebhookFormat::Standard,
        Some("woocommerce") => WebhookFormat::WooCommerce,
        Some(_) => {
            return Err(Error::config(file, Some(&format!("webhooks.{name}.format")), "must be \"standard\" or \"woocommerce\""))
        }
    };
    let tolerance_s = raw.tolerance_s.unwrap_or(300);
    if !(1..=86_400).contains(&tolerance_s) {
        return Err(Error::config(file, Some(&format!("webhooks.{name}.tolerance_s")), "must be between 1 and 86400"));
    }
    Ok(WebhookConfig { secret_file: raw.secret_file, tolerance: Duration::from_secs(tolerance_s), format })
}

/// Checks an event name: `order.processing`, `order.refunded`, ... (1-64 chars of
/// letters, digits, `.`, `_`, `-`).
pub fn check_event(event: &str) -> Result<()> {
    let ok = (1..=64).contains(&event.len()) && event.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::validation("event", "must be 1-64 characters of letters, digits, '.', '_' or '-'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("/etc/sf.toml"), text)
    }

    #[test]
    fn shared_outbox_keys_parse_and_need_url() {
        let c = parse(
            "[outbox]\nurl = \"mysql://sf@db.example:3307/shop\"\npassword_file = \"/etc/sf/db.pw\"\nnode_id = \"web-1\"\n",
        )
        .unwrap();
        let db = c.outbox.database.unwrap();
        assert_eq!((db.host.as_str(), db.port, db.node_id.as_str()), ("db.example", 3307, "web-1"));
        assert_eq!(db.password_file, Some(PathBuf::from("/etc/sf/db.pw")));
        assert_eq!(c.outbox.path, PathBuf::from(DEFAULT_OUTBOX), "path is the local spool, default as today");
        assert!(parse("").unwrap().outbox.database.is_none());
        for key in ["tls = \"off\"", "table_prefix = \"x_\"", "password_file = \"/p\"", "node_id = \"n\""] {
            let e = parse(&format!("[outbox]\n{key}\n")).unwrap_err().to_string();
            assert!(e.contains("applies only with outbox.url"), "{key}: {e}");
        }
        let e = parse("[outbox]\nurl = \"mysql://sf:s3cret@db/shop\"\n").unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Config);
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn minimal_destination_gets_defaults() {
        let c = parse("[destinations.default]\nurl = \"https://api.example.com/orders?x=1\"\nkey_file = \"/etc/k\"\n").unwrap();
        let d = c.destination("default").unwrap();
        assert_eq!(d.host, "api.example.com");
        assert_eq!(d.key_header, "X-API-KEY");
        assert_eq!(d.timeout, Duration::from_millis(10_000));
        assert_eq!(d.connect_timeout, Duration::from_millis(3_000));
        assert_eq!(c.outbox.path, PathBuf::from(DEFAULT_OUTBOX));
        assert_eq!(c.outbox.key_file, PathBuf::from("/var/lib/secure-forward/outbox.sqlite.key"));
        assert_eq!(c.outbox.retry_schedule, DEFAULT_RETRY_SCHEDULE.to_vec());
        assert_eq!(c.outbox.delivery, Delivery::Inline);
    }

    #[test]
    fn connect_timeout_defaults_to_the_smaller_of_3s_and_timeout() {
        let dest = |extra: &str| parse(&format!("[destinations.d]\nurl = \"https://x.example/\"\n{extra}"));
        let c = dest("timeout_ms = 2000\n").unwrap();
        assert_eq!(c.destinations["d"].timeout, Duration::from_millis(2000));
        assert_eq!(c.destinations["d"].connect_timeout, Duration::from_millis(2000));
        let c = dest("timeout_ms = 5000\n").unwrap();
        assert_eq!(c.destinations["d"].connect_timeout, Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS));
        let c = dest("timeout_ms = 2000\nconnect_timeout_ms = 500\n").unwrap();
        assert_eq!(c.destinations["d"].connect_timeout, Duration::from_millis(500));
        let e = dest("timeout_ms = 2000\nconnect_timeout_ms = 2001\n").unwrap_err().to_string();
        assert!(e.contains("destinations.d.connect_timeout_ms") && e.contains("timeout_ms"), "{e}");
        let e = dest("connect_timeout_ms = 0\n").unwrap_err().to_string();
        assert!(e.contains("destinations.d.connect_timeout_ms"), "{e}");
    }

    #[test]
    fn refuses_every_scheme_but_https() {
        for url in ["http://api.example.com/", "ftp://x/", "file:///etc/passwd", "//x/y", "api.example.com", "HTTP://x/"] {
            let e = parse(&format!("[destinations.d]\nurl = \"{url}\"\n")).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("destinations.d.url"), "{url}: {msg}");
            assert_eq!(e.kind(), crate::ErrorKind::Config);
        }
        let e = parse("[destinations.d]\nurl = \"https://user:pw@x.example/\"\n").unwrap_err();
        assert!(e.to_string().contains("credentials"));
        assert!(!e.to_string().contains("pw"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = parse("[destinations.d]\nurl = \"https://x.example/\"\nkey_fiel = \"/k\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("key_fiel") && msg.contains("line 3"), "{msg}");
        let e = parse("[destinations.d]\nurl = \"https://x.example/\"\ntimeout_ms = 0\n").unwrap_err();
        assert!(e.to_string().contains("destinations.d.timeout_ms"));
        let e = parse("[destinations.d]\nurl = \"https://x.example/\"\nkey_header = \"Bad Header\"\n").unwrap_err();
        assert!(e.to_string().contains("destinations.d.key_header"));
        let e = parse("[destinations.d]\nurl = \"https://x.example/\"\nkey_file = \"/a\"\nkey_env = \"B\"\n").unwrap_err();
        assert!(e.to_string().contains("either key_file or key_env"));
        let e = parse("[outbox]\ndelivery = \"later\"\n").unwrap_err();
        assert!(e.to_string().contains("outbox.delivery"));
        assert_eq!(parse("[outbox]\nsynchronous = \"full\"\n").unwrap().outbox.synchronous, Synchronous::Full);
        assert_eq!(parse("[outbox]\nsynchronous = \"normal\"\n").unwrap().outbox.synchronous, Synchronous::Normal);
        let e = parse("[outbox]\nsynchronous = \"FULL\"\n").unwrap_err();
        assert!(e.to_string().contains("outbox.synchronous"), "{e}");
        let e = parse("[destinations.d]\nurl = \"https://x.example/\"\npin_sha256 = [\"abc\"]\n").unwrap_err();
        assert!(e.to_string().contains("pin_sha256"));
    }

    #[test]
    fn syntax_error_names_line_without_echoing_it() {
        let e = parse("[destinations.d]\nurl = \"https://x.example/\nkey_file = 'sekrit-value\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains("sekrit"), "{msg}");
    }

    #[test]
    fn unknown_destination_is_named() {
        let c = parse("").unwrap();
        let e = c.destination("crm").unwrap_err();
        assert!(e.to_string().contains("destinations.crm"));
    }
}
