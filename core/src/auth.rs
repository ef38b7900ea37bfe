//! How a destination is authenticated, and how fast it may be called.
//!
//! Three modes (`auth = ...` per destination):
//! - `"header"` (default): the key from `key_file`/`key_env` in `key_header`
//!   (default `X-API-KEY`);
//! - `"bearer"`: `Authorization: Bearer <key>` from the same key sources;
//! - `"oauth2"`: the client-credentials grant (RFC 6749 §4.4) against `token_url`
//!   (https only, same `ca_file` and timeouts as the destination), with
//!   `client_id` and the 0600 `client_secret_file`, optional `scope` and
//!   `audience`. The client authenticates with HTTP Basic (`client_secret_basic`,
//!   the default) or in the form body (`token_auth = "client_secret_post"`).
//!
//! Every `Authorization` value is built in a [`Secret`] (zeroized on drop,
//! `[REDACTED]` in `Debug`); tokens and client secrets never appear in an error,
//! a receipt, status or phpinfo — only fingerprints do.
//!
//! # Access tokens
//! Fetched on demand, cached in-process and — encrypted with the outbox key — in
//! the outbox database, so every worker and flusher of the machine shares one
//! token ([`shared_cache`]). A token is refreshed when less than
//! `min(60 s, 10 % of expires_in)` of its life remains, and once when the
//! destination answers 401 (the event is then retried once with the new token
//! before the 401 counts as a rejection). Two workers meeting an expired token at
//! the same instant do not both fetch one: the first claims the fetch in the
//! database (`token_fetches`) and the others wait for its token (at most the
//! destination's timeout), then fetch their own only if none came.
pub mod shared_cache;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

/// The plain settings live in the configuration; `AuthMode` is the former name.
pub use crate::config::{AuthConfig, AuthConfig as AuthMode, ClientAuth, OAuth2, RateLimit};
use crate::config::{Destination, OutboxConfig};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Lifetime assumed when the token endpoint gives no `expires_in`.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(300);
/// Longest lifetime a token is cached for, whatever `expires_in` says.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(86_400);
/// How often a worker waiting for another's token fetch looks for it.
const FETCH_POLL: Duration = Duration::from_millis(20);
/// How long a failed token fetch is answered from memory of the failure: a
/// failing token endpoint sees one request per hold from the whole machine.
pub const FAILED_FETCH_HOLD: Duration = Duration::from_secs(5);
/// At most this much before expiry a token is refreshed (see [`refresh_margin`]).
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Credentials

/// What a request carries: a header name and its (secret) value.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Header name (`X-API-KEY`, `Authorization`, ...).
    pub header: String,
    /// Header value, zeroized on drop.
    pub value: Arc<Secret>,
    /// For OAuth2: the token's fingerprint, to drop exactly this token on a 401.
    token_fp: Option<String>,
}

impl Credential {
    /// Whether a 401 may be answered by fetching a new token.
    pub fn refreshable(&self) -> bool {
        self.token_fp.is_some()
    }
}

fn bearer_value(token: &[u8]) -> Secret {
    let mut v = Vec::with_capacity(7 + token.len());
    v.extend_from_slice(b"Bearer ");
    v.extend_from_slice(token);
    Secret::new(v)
}

/// The credential for one request to `dest`, or `None` (header mode without a
/// key). `store` is the outbox whose database shares OAuth2 tokens between
/// processes (`None`: in-process cache only).
///
/// Errors: `Config` for an unusable key or client secret file; for OAuth2,
/// `Transport`/`Rejected` naming the token endpoint's host.
pub fn credential(dest: &Destination, store: Option<&OutboxConfig>) -> Result<Option<Credential>> {
    match &dest.auth {
        AuthMode::Header => Ok(dest.key.as_ref().map(crate::secret::SecretSource::load).transpose()?.map(|value| Credential {
            header: dest.key_header.clone(),
            value,
            token_fp: None,
        })),
        AuthMode::Bearer => {
            let Some(source) = dest.key.as_ref() else { return Ok(None) };
            let key = source.load()?;
            Ok(Some(Credential { header: "Authorization".into(), value: Arc::new(bearer_value(key.expose())), token_fp: None }))
        }
        AuthMode::OAuth2(o) => token(dest, o, store, None).map(Some),
    }
}

/// After a 401 with `used`: forgets that token (here and in the shared store,
/// unless another worker already replaced it) and returns a fresh credential.
pub fn refresh(dest: &Destination, store: Option<&OutboxConfig>, used: &Credential) -> Result<Credential> {
    match &dest.auth {
        AuthMode::OAuth2(o) => token(dest, o, store, used.token_fp.as_deref()),
        _ => Ok(used.clone()),
    }
}

/// A cached access token.
#[derive(Debug, Clone)]
pub struct Token {
    /// `Bearer <token>`, ready to send.
    pub header_value: Arc<Secret>,
    /// Fingerprint of the bare token.
    pub fp: String,
    /// Unix ms after which it is no longer used.
    pub refresh_at_ms: i64,
    /// Unix ms at which it expires.
    pub expires_at_ms: i64,
}

fn local_tokens() -> &'static Mutex<HashMap<String, Token>> {
    static TOKENS: OnceLock<Mutex<HashMap<String, Token>>> = OnceLock::new();
    TOKENS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Forgets every in-process token (tests).
pub fn clear_local_tokens() {
    local_tokens().lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
}

/// The cache key: token endpoint, client, scope, audience and the client
/// secret's fingerprint (so a rotated secret never reuses an old token).
fn cache_key(o: &OAuth2, secret: &Secret) -> String {
    let mut material = Vec::new();
    for part in [
        o.token_url.as_str(),
        o.client_id.as_str(),
        o.scope.as_deref().unwrap_or("\u{0}"),
        o.audience.as_deref().unwrap_or("\u{0}"),
        &secret.fingerprint(),
    ] {
        material.extend_from_slice(&(part.len() as u64).to_be_bytes());
        material.extend_from_slice(part.as_bytes());
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &material);
    crate::secret::hex(digest.as_ref())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// How long before expiry a token with lifetime `expires_in` is refreshed:
/// `min(60 s, 10 % of expires_in)`.
pub fn refresh_margin(expires_in: Duration) -> Duration {
    (expires_in / 10).min(MAX_REFRESH_MARGIN)
}

use shared_cache::FetchState;

fn token(dest: &Destination, o: &OAuth2, store: Option<&OutboxConfig>, stale: Option<&str>) -> Result<Credential> {
    let secret = crate::secret::load_file_cached(&o.client_secret_file)?;
    let key = cache_key(o, &secret);
    let usable = |t: &Token, now: i64| now < t.refresh_at_ms && stale != Some(t.fp.as_str());
    let as_credential = |t: &Token| Credential {
        header: "Authorization".into(),
        value: Arc::clone(&t.header_value),
        token_fp: Some(t.fp.clone()),
    };
    let now = now_ms();
    {
        let mut local = local_tokens().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match local.get(&key) {
            Some(t) if usable(t, now) => return Ok(as_credential(t)),
            Some(_) => {
                local.remove(&key);
            }
            None => {}
        }
    }
    let shared_usable = |store: &OutboxConfig| -> Result<Option<Credential>> {
        match shared_cache::token_load(store, &key)? {
            Some(t) if usable(&t, now_ms()) => {
                let cred = as_credential(&t);
                local_tokens().lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.clone(), t);
                Ok(Some(cred))
            }
            _ => Ok(None),
        }
    };
    let mut claimed = false;
    if let Some(store) = store {
        if let Some(stale) = stale {
            shared_cache::token_forget(store, &key, stale)?;
        }
        if let Some(cred) = shared_usable(store)? {
            return Ok(cred);
        }
        if let FetchState::Failed(e) = shared_cache::token_fetch_state(store, &key)? {
            return Err(e);
        }
        // Single flight: while another worker fetches, wait for its token (at
        // most one request timeout), then fetch ourselves only if none came.
        let lease = dest.timeout.saturating_add(Duration::from_secs(1));
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        claimed = shared_cache::token_fetch_begin(store, &key, lease_ms)?;
        if !claimed {
            let deadline = std::time::Instant::now() + lease;
            while std::time::Instant::now() < deadline {
                std::thread::sleep(FETCH_POLL);
                if let Some(cred) = shared_usable(store)? {
                    return Ok(cred);
                }
                match shared_cache::token_fetch_state(store, &key)? {
                    FetchState::Pending => {}
                    FetchState::Idle => break,
                    FetchState::Failed(e) => return Err(e),
                }
            }
            claimed = shared_cache::token_fetch_begin(store, &key, lease_ms)?;
        }
    }
    let fetched = fetch(dest, o, &secret);
    if let (Some(store), Err(e)) = (store, &fetched) {
        // Hold the failure so other workers do not stampede a failing endpoint.
        let hold_ms = i64::try_from(FAILED_FETCH_HOLD.as_millis()).unwrap_or(i64::MAX);
        let _ = shared_cache::token_fetch_failed(store, &key, hold_ms, e);
    }
    let (bare, expires_in) = fetched?;
    let now = now_ms();
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let t = Token {
        header_value: Arc::new(bearer_value(bare.expose())),
        fp: bare.fingerprint(),
        refresh_at_ms: now.saturating_add(ms(expires_in.saturating_sub(refresh_margin(expires_in)))),
        expires_at_ms: now.saturating_add(ms(expires_in)),
    };
    if let Some(store) = store {
        // Sharing is an optimisation: a store that cannot be written only means
        // other workers fetch their own token.
        let _ = shared_cache::token_save(store, &key, &bare, &t);
        if claimed {
            let _ = shared_cache::token_fetch_end(store, &key);
        }
    }
    let cred = as_credential(&t);
    local_tokens().lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, t);
    Ok(cred)
}

/// `application/x-www-form-urlencoded` encoding of `s` (RFC 6749 appendix B).
fn form_encode(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
            out.push(b);
        } else if b == b' ' {
            out.push(b'+');
        } else {
            out.push(b'%');
            out.extend_from_slice(format!("{b:02X}").as_bytes());
        }
    }
}

/// Builds the token request: (form body, optional `Authorization: Basic` value).
pub fn token_request(o: &OAuth2, secret: &Secret) -> (Secret, Option<Secret>) {
    let mut body = Vec::with_capacity(128 + secret.len() * 3);
    body.extend_from_slice(b"grant_type=client_credentials");
    for (k, v) in [("scope", &o.scope), ("audience", &o.audience)] {
        if let Some(v) = v {
            body.push(b'&');
            body.extend_from_slice(k.as_bytes());
            body.push(b'=');
            form_encode(&mut body, v.as_bytes());
        }
    }
    match o.client_auth {
        ClientAuth::Post => {
            body.extend_from_slice(b"&client_id=");
            form_encode(&mut body, o.client_id.as_bytes());
            body.extend_from_slice(b"&client_secret=");
            form_encode(&mut body, secret.expose());
            (Secret::new(body), None)
        }
        ClientAuth::Basic => {
            let mut pair = Vec::with_capacity(o.client_id.len() * 3 + 1 + secret.len() * 3);
            form_encode(&mut pair, o.client_id.as_bytes());
            pair.push(b':');
            form_encode(&mut pair, secret.expose());
            let pair = Secret::new(pair);
            let mut value = Vec::with_capacity(6 + pair.len() * 4 / 3 + 4);
            value.extend_from_slice(b"Basic ");
            let mut encoded = zeroize::Zeroizing::new(String::with_capacity(pair.len() * 4 / 3 + 4));
            base64::engine::general_purpose::STANDARD.encode_string(pair.expose(), &mut encoded);
            value.extend_from_slice(encoded.as_bytes());
            (Secret::new(body), Some(Secret::new(value)))
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: Option<String>,
}

/// The OAuth `error` code of a token endpoint's answer, if it is a plain code.
pub fn oauth_error_code(body: &[u8]) -> Option<String> {
    let e: ErrorResponse = serde_json::from_slice(body).ok()?;
    e.error.filter(|c| (1..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// Parses a successful token response into (token, lifetime).
pub fn parse_token_response(host: &str, body: &[u8]) -> Result<(Secret, Duration)> {
    let bad = |why: &str| Error::transport(host, format!("OAuth2 token endpoint answered {why}"));
    let r: TokenResponse = serde_json::from_slice(body).map_err(|_| bad("a body that is not a token response"))?;
    if r.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(bad("a token type other than Bearer"));
    }
    let token = r.access_token.filter(|t| !t.is_empty()).ok_or_else(|| bad("no access_token"))?;
    let token = Secret::new(token.into_bytes());
    if !token.expose().iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(bad("an access_token that cannot be sent in a header"));
    }
    let expires_in = match r.expires_in {
        None | Some(serde_json::Value::Null) => DEFAULT_EXPIRES_IN,
        Some(v) => {
            let secs = v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
            Duration::from_secs(secs.ok_or_else(|| bad("an invalid expires_in"))?)
        }
    };
    Ok((token, expires_in.min(MAX_EXPIRES_IN)))
}

/// One client-credentials request. Errors name the token host and the OAuth
/// `error` code, never the secret or a token.
fn fetch(dest: &Destination, o: &OAuth2, secret: &Secret) -> Result<(Secret, Duration)> {
    let (body, basic) = token_request(o, secret);
    // The destination's TLS settings and timeouts; its pins only on its own host.
    let pins: &[[u8; 32]] = if o.token_host.eq_ignore_ascii_case(&dest.host) { &dest.pin_sha256 } else { &[] };
    let peer = crate::transport::Peer {
        url: &o.token_url,
        host: &o.token_host,
        ca_file: dest.ca_file.as_deref(),
        pins,
        timeout: dest.timeout,
        connect_timeout: dest.connect_timeout,
        key_origin: None,
    };
    let (status, answer) = crate::transport::post_token(&peer, &body, basic.as_ref())?;
    let host = &o.token_host;
    match status {
        200..=299 => parse_token_response(host, &answer),
        400..=499 => {
            let code = oauth_error_code(&answer).unwrap_or_else(|| "no error code".to_owned());
            let reason = match code.as_str() {
                "invalid_client" | "unauthorized_client" => format!("OAuth2 client credentials rejected ({code})"),
                _ => format!("OAuth2 token request refused ({code})"),
            };
            Err(Error::Rejected { host: host.clone(), status, reason })
        }
        s => Err(Error::Transport {
            host: host.clone(),
            reason: format!(
                "OAuth2 token endpoint error ({s}{})",
                oauth_error_code(&answer).map_or_else(String::new, |c| format!(", {c}"))
            ),
            status: Some(s),
        }),
    }
}

/// What phpinfo shows about a destination's authentication: mode, token host,
/// client id and whether the client secret is set, with its fingerprint keyed
/// by the installation key `fingerprint_key` when configured (a client secret
/// may be a person's choice: see [`crate::fingerprint`]). Never a value.
pub fn describe(dest: &Destination, fingerprint_key: Option<&std::path::Path>) -> Vec<(String, String)> {
    let mut out = vec![("auth".to_owned(), dest.auth.name().to_owned())];
    if let AuthMode::OAuth2(o) = &dest.auth {
        out.push(("token_host".into(), o.token_host.clone()));
        out.push(("client_id".into(), o.client_id.clone()));
        let fp = match crate::secret::load_file_cached(&o.client_secret_file) {
            Err(e) => format!("unusable: {e}"),
            Ok(s) => match crate::fingerprint::keyed(fingerprint_key, s.expose()) {
                Ok(Some(fp)) => format!("keyed fingerprint {fp}"),
                Ok(None) => "set".to_owned(),
                Err(e) => format!("set, no fingerprint: {e}"),
            },
        };
        out.push(("client_secret".into(), format!("{} ({fp})", o.client_secret_file.display())));
    }
    if let Some(r) = dest.rate_limit {
        out.push(("rate_limit".into(), format!("{} requests per {} s", r.requests, r.per_s)));
    }
    out
}

/// Checks that `dest`'s credentials are usable now: loads the key, or obtains an
/// OAuth2 token (from the caches, or from the token endpoint). Returns facts for
/// display: `auth`, `token_host`, `client_id`, `token_fingerprint`,
/// `token_expires_in_s` — never a secret.
pub fn check(dest: &Destination, store: Option<&OutboxConfig>) -> Result<serde_json::Value> {
    let cred = credential(dest, store)?;
    let mut out = serde_json::Map::new();
    out.insert("auth".into(), dest.auth.name().into());
    out.insert("credential".into(), cred.is_some().into());
    if let AuthMode::OAuth2(o) = &dest.auth {
        out.insert("token_host".into(), o.token_host.clone().into());
        out.insert("client_id".into(), o.client_id.clone().into());
        let secret = crate::secret::load_file_cached(&o.client_secret_file)?;
        let key = cache_key(o, &secret);
        let local = local_tokens().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = local.get(&key) {
            out.insert("token_fingerprint".into(), t.fp.clone().into());
            out.insert("token_expires_in_s".into(), (t.expires_at_ms.saturating_sub(now_ms()).max(0) / 1000).into());
        }
    }
    Ok(serde_json::Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn parse(dest: &str) -> Result<Config> {
        Config::parse(Path::new("/c.toml"), &format!("[destinations.d]\nurl = \"https://api.example.com/x\"\n{dest}"))
    }

    fn err(dest: &str) -> String {
        parse(dest).unwrap_err().to_string()
    }

    const OAUTH: &str = "auth = \"oauth2\"\ntoken_url = \"https://login.example.com/oauth/token\"\nclient_id = \"abc\"\nclient_secret_file = \"/etc/sf/client.secret\"\n";

    #[test]
    fn modes_parse() {
        let c = parse("key_file = \"/k\"\n").unwrap();
        assert_eq!(c.destinations["d"].auth, AuthMode::Header);
        let c = parse("auth = \"bearer\"\nkey_env = \"K\"\n").unwrap();
        assert_eq!(c.destinations["d"].auth, AuthMode::Bearer);
        let c = parse(&format!(
            "{OAUTH}scope = \"orders.write\"\naudience = \"https://api\"\nrate_limit = {{ requests = 10, per_s = 1 }}\n"
        ))
        .unwrap();
        let d = &c.destinations["d"];
        match &d.auth {
            AuthMode::OAuth2(o) => {
                assert_eq!(o.token_host, "login.example.com");
                assert_eq!(o.client_auth, ClientAuth::Basic);
                assert_eq!(o.scope.as_deref(), Some("orders.write"));
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(d.rate_limit, Some(RateLimit { requests: 10, per_s: 1 }));
    }

    #[test]
    fn validation_names_the_key() {
        let cases = [
            ("auth = \"basic\"\n", "destinations.d.auth: must be"),
            ("auth = \"oauth2\"\nclient_id = \"a\"\nclient_secret_file = \"/s\"\n", "destinations.d.token_url: required"),
            (&format!("{OAUTH}key_file = \"/k\"\n"), "destinations.d.key_file: not used with auth = \"oauth2\""),
            (&format!("{OAUTH}key_header = \"X-K\"\n"), "destinations.d.key_header: not used"),
            (
                "auth = \"oauth2\"\ntoken_url = \"http://login.example.com/t\"\nclient_id = \"a\"\nclient_secret_file = \"/s\"\n",
                "destinations.d.token_url: only https://",
            ),
            (
                "auth = \"oauth2\"\ntoken_url = \"https://l.example.com/t\"\nclient_secret_file = \"/s\"\n",
                "destinations.d.client_id: required",
            ),
            (
                "auth = \"oauth2\"\ntoken_url = \"https://l.example.com/t\"\nclient_id = \"a\"\n",
                "destinations.d.client_secret_file: required",
            ),
            (&format!("{OAUTH}token_auth = \"private_key_jwt\"\n"), "destinations.d.token_auth: must be"),
            ("token_url = \"https://l.example.com/t\"\n", "destinations.d.token_url: only used with auth = \"oauth2\""),
            ("auth = \"bearer\"\n", "destinations.d.key_file: auth = \"bearer\" needs"),
            ("auth = \"bearer\"\nkey_file = \"/k\"\nkey_header = \"X-K\"\n", "destinations.d.key_header: not used"),
            ("rate_limit = { requests = 0, per_s = 1 }\n", "destinations.d.rate_limit.requests"),
            ("rate_limit = { requests = 5, per_s = 0 }\n", "destinations.d.rate_limit.per_s"),
            ("rate_limit = { requests = 5, per_second = 1 }\n", "unknown field"),
        ];
        for (toml, want) in cases {
            let e = err(toml);
            assert!(e.contains(want), "{toml}: {e}");
        }
    }

    #[test]
    fn refresh_margin_is_min_of_60s_and_a_tenth() {
        assert_eq!(refresh_margin(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(refresh_margin(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(refresh_margin(Duration::from_secs(2)), Duration::from_millis(200));
    }

    #[test]
    fn token_request_basic_and_post() {
        let o = match parse(&format!("{OAUTH}scope = \"a b\"\n")).unwrap().destinations["d"].auth.clone() {
            AuthMode::OAuth2(o) => o,
            a => panic!("{a:?}"),
        };
        let secret = Secret::new(b"s3cr:t/+".to_vec());
        let (body, basic) = token_request(&o, &secret);
        assert_eq!(body.expose(), b"grant_type=client_credentials&scope=a+b");
        let basic = basic.unwrap();
        let expect = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("abc:s3cr%3At%2F%2B"));
        assert_eq!(basic.expose(), expect.as_bytes());
        assert_eq!(format!("{basic:?}"), "[REDACTED]");
        let post = OAuth2 { client_auth: ClientAuth::Post, ..o };
        let (body, basic) = token_request(&post, &secret);
        assert!(basic.is_none());
        assert_eq!(body.expose(), b"grant_type=client_credentials&scope=a+b&client_id=abc&client_secret=s3cr%3At%2F%2B");
    }

    #[test]
    fn token_responses() {
        let (t, e) = parse_token_response("h", br#"{"access_token":"tok-1","token_type":"bearer","expires_in":120}"#).unwrap();
        assert_eq!((t.expose(), e), (&b"tok-1"[..], Duration::from_secs(120)));
        let (_, e) = parse_token_response("h", br#"{"access_token":"tok-1","expires_in":"60"}"#).unwrap();
        assert_eq!(e, Duration::from_secs(60));
        let (_, e) = parse_token_response("h", br#"{"access_token":"tok-1"}"#).unwrap();
        assert_eq!(e, DEFAULT_EXPIRES_IN);
        for bad in [
            &br#"{"token_type":"Bearer"}"#[..],
            br#"{"access_token":"a b"}"#,
            br#"{"access_token":"t","token_type":"mac"}"#,
            b"<html>",
        ] {
            let e = parse_token_response("login.example.com", bad).unwrap_err().to_string();
            assert!(e.starts_with("login.example.com: OAuth2 token endpoint answered"), "{e}");
        }
        assert_eq!(oauth_error_code(br#"{"error":"invalid_client","error_description":"x"}"#).as_deref(), Some("invalid_client"));
        assert_eq!(oauth_error_code(br#"{"error":"<script>"}"#), None);
    }
}
