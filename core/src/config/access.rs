//! The authentication settings of a destination, as plain data: `auth`,
//! the OAuth2 client-credentials keys and `rate_limit`, validated at parse
//! time. `crate::auth` builds credentials (keys, tokens) from them; nothing
//! here reads a secret or opens a connection.
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// `auth = ...` of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// The key in `key_header`.
    Header,
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// OAuth2 client credentials.
    OAuth2(OAuth2),
}

impl AuthConfig {
    /// `header`, `bearer` or `oauth2`.
    pub fn name(&self) -> &'static str {
        match self {
            AuthConfig::Header => "header",
            AuthConfig::Bearer => "bearer",
            AuthConfig::OAuth2(_) => "oauth2",
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// The OAuth2 client-credentials settings of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// Token endpoint (https; never shown, it may carry a query).
    pub token_url: String,
    /// Its host, for messages and phpinfo.
    pub token_host: String,
    /// The client id (not secret).
    pub client_id: String,
    /// 0600 file holding the client secret.
    pub client_secret_file: PathBuf,
    /// Optional `scope`.
    pub scope: Option<String>,
    /// Optional `audience` (Auth0, Okta and others).
    pub audience: Option<String>,
    /// Basic or body.
    pub client_auth: ClientAuth,
}

/// `rate_limit = { requests = N, per_s = S }`: a token bucket of `requests`
/// tokens refilled at `requests / per_s` per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket size (also the burst).
    pub requests: u32,
    /// Refill period, seconds.
    pub per_s: u32,
}

impl RateLimit {
    /// Tokens refilled per millisecond.
    pub fn per_ms(&self) -> f64 {
        f64::from(self.requests) / (f64::from(self.per_s.max(1)) * 1000.0)
    }
}

/// The raw authentication keys of a `[destinations.NAME]` table.
#[derive(Debug, Default)]
pub(crate) struct RawAuth {
    pub auth: Option<String>,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub token_auth: Option<String>,
    pub has_key: bool,
    pub has_key_header: bool,
}

/// `rate_limit = { requests = .., per_s = .. }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    requests: u64,
    per_s: u64,
}

fn printable(s: &str) -> bool {
    !s.is_empty() && s.len() <= 1024 && s.chars().all(|c| !c.is_control())
}

/// Validates the authentication keys of destination `name`.
pub(crate) fn build(file: &str, name: &str, raw: RawAuth) -> Result<AuthConfig> {
    let key_of = |k: &str| format!("destinations.{name}.{k}");
    let err = |k: &str, reason: &str| Error::config(file, Some(&key_of(k)), reason);
    let mode = raw.auth.as_deref().unwrap_or("header");
    if !matches!(mode, "header" | "bearer" | "oauth2") {
        return Err(err("auth", "must be \"header\", \"bearer\" or \"oauth2\""));
    }
    if mode != "oauth2" {
        let stray = [
            ("token_url", raw.token_url.is_some()),
            ("client_id", raw.client_id.is_some()),
            ("client_secret_file", raw.client_secret_file.is_some()),
            ("scope", raw.scope.is_some()),
            ("audience", raw.audience.is_some()),
            ("token_auth", raw.token_auth.is_some()),
        ];
        if let Some((k, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(err(k, "only used with auth = \"oauth2\""));
        }
    }
    match mode {
        "header" => Ok(AuthConfig::Header),
        "bearer" => {
            if raw.has_key_header {
                return Err(err("key_header", "not used with auth = \"bearer\" (the key goes in Authorization)"));
            }
            if !raw.has_key {
                return Err(err("key_file", "auth = \"bearer\" needs key_file or key_env"));
            }
            Ok(AuthConfig::Bearer)
        }
        _ => {
            if raw.has_key {
                return Err(err("key_file", "not used with auth = \"oauth2\" (use client_secret_file)"));
            }
            if raw.has_key_header {
                return Err(err("key_header", "not used with auth = \"oauth2\" (the token goes in Authorization)"));
            }
            let token_url = raw.token_url.ok_or_else(|| err("token_url", "required with auth = \"oauth2\""))?;
            let token_host = super::https_host(&token_url).map_err(|reason| err("token_url", &reason))?;
            let client_id = raw.client_id.ok_or_else(|| err("client_id", "required with auth = \"oauth2\""))?;
            if !printable(&client_id) {
                return Err(err("client_id", "must be 1-1024 printable characters"));
            }
            let client_secret_file =
                raw.client_secret_file.ok_or_else(|| err("client_secret_file", "required with auth = \"oauth2\""))?;
            for (k, v) in [("scope", &raw.scope), ("audience", &raw.audience)] {
                if v.as_deref().is_some_and(|v| !printable(v)) {
                    return Err(err(k, "must be 1-1024 printable characters"));
                }
            }
            let client_auth = match raw.token_auth.as_deref() {
                None | Some("client_secret_basic") => ClientAuth::Basic,
                Some("client_secret_post") => ClientAuth::Post,
                Some(_) => return Err(err("token_auth", "must be \"client_secret_basic\" or \"client_secret_post\"")),
            };
            Ok(AuthConfig::OAuth2(OAuth2 {
                token_url,
                token_host,
                client_id,
                client_secret_file,
                scope: raw.scope,
                audience: raw.audience,
                client_auth,
            }))
        }
    }
}

/// Validates `rate_limit` of destination `name`.
pub(crate) fn build_rate_limit(file: &str, name: &str, raw: Option<RawRateLimit>) -> Result<Option<RateLimit>> {
    let Some(raw) = raw else { return Ok(None) };
    let key = format!("destinations.{name}.rate_limit");
    let requests = u32::try_from(raw.requests).ok().filter(|r| (1..=1_000_000).contains(r));
    let per_s = u32::try_from(raw.per_s).ok().filter(|s| (1..=86_400).contains(s));
    match (requests, per_s) {
        (Some(requests), Some(per_s)) => Ok(Some(RateLimit { requests, per_s })),
        (None, _) => Err(Error::config(file, Some(&format!("{key}.requests")), "must be between 1 and 1000000")),
        (_, None) => Err(Error::config(file, Some(&format!("{key}.per_s")), "must be between 1 and 86400")),
    }
}
