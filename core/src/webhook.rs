//! Inbound webhook verification against `[webhooks.NAME]`.
//!
//! * `format = "standard"` (default): Standard Webhooks / Svix. Headers
//!   `webhook-id`, `webhook-timestamp`, `webhook-signature` (or their `svix-*`
//!   spellings), names matched case-insensitively. The secret file holds one or
//!   more `whsec_` secrets; any may match. Checks, in order: headers present and
//!   well-formed, timestamp within `tolerance_s` of now (both ways), a `v1`
//!   signature matching (constant-time; other versions such as `v1a` ignored),
//!   body is JSON, and finally the pair (id, timestamp) was not already
//!   accepted (replay). Only a message passing every other check is recorded,
//!   so a forged message cannot burn a genuine id. A sender's retry (same id,
//!   new timestamp and signature) is accepted: the extension refuses replays
//!   of a captured message, the application deduplicates by webhook-id once it
//!   has handled the event (see docs/configuration.md).
//! * `format = "woocommerce"`: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret,
//!   body)), the secret file holding the WooCommerce webhook secret as plain text
//!   (one per line, any may match). WooCommerce signs neither a timestamp nor an
//!   id, so **no freshness or replay check is possible** for this format: a
//!   captured delivery can be replayed; handlers must be idempotent.
//!
//! A body that is authentic but not JSON is refused with a SignatureException
//! ("body is not valid JSON"), so every refusal of an inbound webhook is one
//! exception class. Messages say which check failed, never a secret or an
//! expected signature.
//!
//! Replay store: table `webhook_seen(id TEXT PRIMARY KEY, seen_at INTEGER)` in
//! the outbox database (see [`record_once`]), shared by
//! every PHP worker. The id stored is `<len(source)>:<source>:<webhook-id>\n<timestamp>`,
//! so two sources cannot collide. Entries are kept for twice the largest tolerance
//! (a message stamped up to `tolerance` in the future stays acceptable for
//! `2 × tolerance` after it was seen), then pruned.
use base64::Engine as _;
use ring::hmac;

use crate::config::{Config, OutboxConfig, WebhookConfig, WebhookFormat};
use crate::error::{Error, Result, SignatureReason};
use crate::secret::load_file_cached;
use crate::signing::{ct_eq, load_whsec_file, secret_lines, v1_tag};
use crate::store;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Longest `webhook-signature` header accepted.
const MAX_SIGNATURE_HEADER: usize = 8 * 1024;
/// Longest `webhook-id` accepted.
const MAX_ID: usize = 256;
/// WooCommerce's signature header.
pub const WC_SIGNATURE_HEADER: &str = "x-wc-webhook-signature";

fn refuse(reason: SignatureReason) -> Error {
    Error::signature(reason)
}

/// The `[webhooks.NAME]` section, or a ConfigException naming `webhooks.NAME`.
pub fn webhook_config<'a>(config: &'a Config, source: &str) -> Result<&'a WebhookConfig> {
    config.webhooks.get(source).ok_or_else(|| {
        Error::config(
            config.path.display().to_string(),
            Some(&format!("webhooks.{source}")),
            "no such webhook source is configured",
        )
    })
}

/// Verifies an inbound webhook from `source` and returns its decoded JSON body.
///
/// `headers` are (name, value) pairs as received (names in any case); `now` is
/// Unix seconds. Errors: ConfigException for an unknown source or an unusable
/// secret file or replay store; SignatureException for every refusal.
pub fn verify_webhook<N, V>(config: &Config, source: &str, body: &[u8], headers: &[(N, V)], now: u64) -> Result<serde_json::Value>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let wh = webhook_config(config, source)?;
    match wh.format {
        WebhookFormat::Standard => verify_standard(config, source, wh, body, headers, now),
        WebhookFormat::WooCommerce => {
            verify_woocommerce(wh, body, headers)?;
            parse_json(body)
        }
    }
}

/// Fingerprints of a webhook source's secrets, for status and phpinfo. Never
/// the secrets. `whsec_` secrets (random by nature): first 12 hex of SHA-256 of
/// each line as written. WooCommerce secrets may have been typed by a person:
/// keyed with the installation key (see [`crate::fingerprint`]), else `set`.
pub fn webhook_fingerprints(config: &Config, source: &str) -> Result<Vec<String>> {
    let wh = webhook_config(config, source)?;
    match wh.format {
        WebhookFormat::Standard => Ok(load_whsec_file(&wh.secret_file)?.into_iter().map(|k| k.fingerprint).collect()),
        WebhookFormat::WooCommerce => {
            let raw = load_file_cached(&wh.secret_file)?;
            let key = config.fingerprint_key_file.as_deref();
            secret_lines(raw.expose())
                .map(|(_, l)| {
                    crate::fingerprint::keyed(key, l).map(|fp| fp.map_or_else(|| "set".to_owned(), |fp| format!("keyed {fp}")))
                })
                .collect()
        }
    }
}

/// The single value of header `names[0]` (or, if absent, `names[1]`, ...).
/// `Ok(None)` when absent; refused when one name appears more than once.
fn header<'h, N, V>(headers: &'h [(N, V)], names: &[&str]) -> Result<Option<&'h [u8]>>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    for name in names {
        let mut found = headers.iter().filter(|(n, _)| n.as_ref().trim_ascii().eq_ignore_ascii_case(name.as_bytes()));
        if let Some((_, v)) = found.next() {
            if found.next().is_some() {
                return Err(refuse(SignatureReason::DuplicateHeader((*name).to_owned())));
            }
            return Ok(Some(v.as_ref().trim_ascii()));
        }
    }
    Ok(None)
}

fn required<'h, N, V>(headers: &'h [(N, V)], name: &str) -> Result<&'h [u8]>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let svix = name.replacen("webhook-", "svix-", 1);
    header(headers, &[name, &svix])?.ok_or_else(|| refuse(SignatureReason::MissingHeader(name.to_owned())))
}

fn parse_json(body: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(body).map_err(|_| refuse(SignatureReason::NotJson))
}

fn verify_standard<N, V>(
    config: &Config,
    source: &str,
    wh: &WebhookConfig,
    body: &[u8],
    headers: &[(N, V)],
    now: u64,
) -> Result<serde_json::Value>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let id = required(headers, "webhook-id")?;
    let ts = required(headers, "webhook-timestamp")?;
    let sig = required(headers, "webhook-signature")?;

    let id = std::str::from_utf8(id)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= MAX_ID && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| refuse(SignatureReason::MalformedHeader("webhook-id".into())))?;
    let ts: u64 = std::str::from_utf8(ts)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| refuse(SignatureReason::MalformedHeader("webhook-timestamp".into())))?;
    let entries = parse_signature_header(sig)?;

    let tolerance = wh.tolerance.as_secs();
    if now > ts.saturating_add(tolerance) {
        return Err(refuse(SignatureReason::TooOld(tolerance)));
    }
    if ts > now.saturating_add(tolerance) {
        return Err(refuse(SignatureReason::InFuture(tolerance)));
    }

    let keys = load_whsec_file(&wh.secret_file)?;
    let mut matched = false;
    for k in &keys {
        let tag = v1_tag(k.key.expose(), id, ts, body);
        for e in &entries {
            // No early exit: every comparison is made.
            matched |= ct_eq(tag.as_ref(), e);
        }
    }
    drop(keys);
    if !matched {
        return Err(refuse(SignatureReason::NoMatch));
    }

    let value = parse_json(body)?;
    let max_tolerance = config.webhooks.values().map(|w| w.tolerance.as_secs()).max().unwrap_or(tolerance);
    // The replay key is the signed pair (id, timestamp): an exact replay is
    // refused, while a sender's retry of the same id, re-signed with a new
    // timestamp, is accepted (deduplicating by id is the application's job).
    let key = format!("{}:{source}:{id}\n{ts}", source.len());
    if !record_once(&config.outbox, &key, now, max_tolerance.saturating_mul(2))? {
        return Err(refuse(SignatureReason::Replay));
    }
    Ok(value)
}

/// Decoded `v1` signatures from a `webhook-signature` header. Entries of other
/// versions (`v1a`, ...) are ignored; `v1` entries that are not base64 of 32
/// bytes can never match and are dropped. Refused as malformed when an entry is
/// not `version,value`, or when the header is empty or oversized.
fn parse_signature_header(value: &[u8]) -> Result<Vec<Vec<u8>>> {
    let malformed = || refuse(SignatureReason::MalformedHeader("webhook-signature".into()));
    if value.is_empty() || value.len() > MAX_SIGNATURE_HEADER {
        return Err(malformed());
    }
    let mut out = Vec::new();
    for entry in value.split(|b| b.is_ascii_whitespace()).filter(|e| !e.is_empty()) {
        let comma = entry.iter().position(|b| *b == b',').ok_or_else(malformed)?;
        let (version, rest) = entry.split_at(comma);
        let sig = rest.get(1..).unwrap_or_default();
        if version.is_empty() || sig.is_empty() {
            return Err(malformed());
        }
        if version == b"v1" {
            if let Some(raw) = B64.decode(sig).ok().filter(|r| r.len() == 32) {
                out.push(raw);
            }
        }
    }
    Ok(out)
}

fn verify_woocommerce<N, V>(wh: &WebhookConfig, body: &[u8], headers: &[(N, V)]) -> Result<()>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let sig = header(headers, &[WC_SIGNATURE_HEADER])?
        .ok_or_else(|| refuse(SignatureReason::MissingHeader("X-WC-Webhook-Signature".into())))?;
    let received = B64
        .decode(sig)
        .ok()
        .filter(|r| r.len() == 32)
        .ok_or_else(|| refuse(SignatureReason::MalformedHeader("X-WC-Webhook-Signature".into())))?;
    let raw = load_file_cached(&wh.secret_file)?;
    let mut matched = false;
    for (_, line) in secret_lines(raw.expose()) {
        let key = hmac::Key::new(hmac::HMAC_SHA256, line);
        matched |= ct_eq(hmac::sign(&key, body).as_ref(), &received);
    }
    if matched {
        Ok(())
    } else {
        Err(refuse(SignatureReason::NoMatch))
    }
}

/// Records an accepted inbound webhook id (`key`) at `now_s` (unix seconds) in the
/// `webhook_seen` table, atomically across processes; `Ok(false)` when it was
/// already there (a replay). Entries older than `keep_s` seconds are pruned first,
/// so the table stays bounded.
pub(crate) fn record_once(config: &OutboxConfig, key: &str, now_s: u64, keep_s: u64) -> Result<bool> {
    let now = i64::try_from(now_s).unwrap_or(i64::MAX);
    let cutoff = i64::try_from(now_s.saturating_sub(keep_s)).unwrap_or(i64::MAX);
    store::with_store(config, |db| {
        let tx = db.immediate()?;
        let fresh = tx.replay_seen_once(key, now, cutoff)?;
        tx.commit()?;
        Ok(fresh)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::fingerprint;
    use crate::signing::tests::{random_whsec, tempdir, write_secret, SPEC_BODY, SPEC_ID, SPEC_SECRET, SPEC_SIG, SPEC_TS};
    use crate::signing::{parse_whsec_secrets, sign};
    use std::path::{Path, PathBuf};

    const EXPECTED_B64: &str = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn config(dir: &Path, secret_file: &Path, extra: &str) -> Config {
        let text = format!(
            "[outbox]\npath = \"{}\"\n[webhooks.shop]\nsecret_file = \"{}\"\n{extra}",
            dir.join("db/outbox.sqlite").display(),
            secret_file.display()
        );
        Config::parse(Path::new("/etc/sf.toml"), &text).unwrap()
    }

    fn spec_setup(tag: &str) -> (PathBuf, Config) {
        let dir = tempdir(&format!("wh-{tag}"));
        let p = write_secret(&dir, "wh.key", SPEC_SECRET);
        let c = config(&dir, &p, "");
        (dir, c)
    }

    /// Headers validly signed with the specification's secret for `id`
    /// (for `SPEC_ID`, exactly the specification's example).
    fn spec_headers(id: &str) -> Vec<(String, String)> {
        let keys = parse_whsec_secrets("f", SPEC_SECRET.as_bytes()).unwrap();
        let sig = sign(&keys, id, SPEC_TS, SPEC_BODY);
        if id == SPEC_ID {
            assert_eq!(sig, SPEC_SIG);
        }
        vec![
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), SPEC_TS.to_string()),
            ("webhook-signature".into(), sig),
        ]
    }

    /// Asserts a refusal with `reason` that leaks neither secret nor expected signature.
    fn assert_refused(r: Result<serde_json::Value>, reason: &str) {
        let e = r.unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.kind(), crate::ErrorKind::Signature, "{msg}");
        assert!(msg.contains(reason), "expected {reason:?} in {msg:?}");
        assert!(!msg.contains("MfKQ9r8G"), "{msg}");
        assert!(!msg.contains(EXPECTED_B64) && !msg.contains("v1,"), "{msg}");
    }

    #[test]
    fn spec_example_verifies_and_replay_is_refused() {
        let (dir, c) = spec_setup("spec");
        let v = verify_webhook(&c, "shop", SPEC_BODY, &spec_headers(SPEC_ID), SPEC_TS + 10).unwrap();
        assert_eq!(v, serde_json::json!({"test": 2_432_232_314_u64}));
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &spec_headers(SPEC_ID), SPEC_TS + 20), "replay");
        // A sender's retry: same id, new timestamp and signature: accepted once.
        let keys = parse_whsec_secrets("f", SPEC_SECRET.as_bytes()).unwrap();
        let retry = vec![
            ("webhook-id".to_owned(), SPEC_ID.to_owned()),
            ("webhook-timestamp".to_owned(), (SPEC_TS + 60).to_string()),
            ("webhook-signature".to_owned(), sign(&keys, SPEC_ID, SPEC_TS + 60, SPEC_BODY)),
        ];
        verify_webhook(&c, "shop", SPEC_BODY, &retry, SPEC_TS + 70).unwrap();
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &retry, SPEC_TS + 80), "replay");
        // The old timestamp with the new signature does not verify (the timestamp is signed).
        let forged = vec![retry[0].clone(), ("webhook-timestamp".to_owned(), (SPEC_TS + 61).to_string()), retry[2].clone()];
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &forged, SPEC_TS + 80), "no matching signature");
        // Recorded in the outbox database (0600), no separate file.
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.join("db/outbox.sqlite")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(!dir.join("db/outbox.sqlite.webhooks").exists());
    }

    #[test]
    fn round_trip_outbound_to_inbound() {
        let dir = tempdir("wh-rt");
        let secret = random_whsec();
        let p = write_secret(&dir, "wh.key", &secret);
        let c = config(&dir, &p, "");
        let keys = parse_whsec_secrets("f", secret.as_bytes()).unwrap();
        let now = crate::secret::unix_now();
        let body = br#"{"id":42,"status":"processing"}"#;
        let headers = vec![
            ("Webhook-Id".to_owned(), "evt_roundtrip".to_owned()),
            ("Webhook-Timestamp".to_owned(), now.to_string()),
            ("Webhook-Signature".to_owned(), sign(&keys, "evt_roundtrip", now, body)),
        ];
        let v = verify_webhook(&c, "shop", body, &headers, now).unwrap();
        assert_eq!(v["id"], 42);
    }

    #[test]
    fn refusals_name_the_failed_check() {
        let (_dir, c) = spec_setup("refuse");
        let t = SPEC_TS;
        assert_refused(verify_webhook(&c, "shop", br#"{"test": 2432232315}"#, &spec_headers("m1"), t), "no matching signature");
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &spec_headers("m2"), t + 301), "timestamp too old");
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &spec_headers("m3"), t - 301), "timestamp is in the future");
        // The edges of the window are accepted.
        verify_webhook(&c, "shop", SPEC_BODY, &spec_headers(SPEC_ID), t + 300).unwrap();

        for garbage in ["garbage", "v1", ",abc", "v1,", ""] {
            let mut h = spec_headers("m4");
            h[2].1 = garbage.into();
            assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &h, t), "malformed webhook-signature header");
        }
        let mut h = spec_headers("m5");
        h[1].1 = "16142653300000000000000".into();
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &h, t), "malformed webhook-timestamp header");
        let mut h = spec_headers("m6");
        h[0].1 = "has space".into();
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &h, t), "malformed webhook-id header");
        let mut h = spec_headers("m7");
        h.push(("WEBHOOK-ID".into(), "other".into()));
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &h, t), "webhook-id header appears more than once");

        for (i, name) in ["webhook-id", "webhook-timestamp", "webhook-signature"].into_iter().enumerate() {
            let mut h = spec_headers("m8");
            h.remove(i);
            assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &h, t), &format!("missing {name} header"));
        }
    }

    #[test]
    fn wrong_secret_and_second_of_two_secrets() {
        let dir = tempdir("wh-two");
        let other = random_whsec();
        let only_other = write_secret(&dir, "other.key", &other);
        let c = config(&dir, &only_other, "");
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &spec_headers("w1"), SPEC_TS), "no matching signature");
        let both = write_secret(&dir, "both.key", &format!("{other}\n{SPEC_SECRET}\n"));
        let c = config(&dir, &both, "");
        verify_webhook(&c, "shop", SPEC_BODY, &spec_headers("w2"), SPEC_TS).unwrap();
        assert_eq!(
            webhook_fingerprints(&c, "shop").unwrap(),
            vec![fingerprint(other.as_bytes()), fingerprint(SPEC_SECRET.as_bytes())]
        );
    }

    #[test]
    fn svix_names_mixed_case_and_other_versions() {
        let (_dir, c) = spec_setup("svix");
        let h = vec![
            ("Svix-Id", SPEC_ID.to_owned()),
            ("SVIX-TIMESTAMP", SPEC_TS.to_string()),
            ("svix-Signature", format!("v1a,{EXPECTED_B64} v2,xyz v1,AAAA {SPEC_SIG}")),
        ];
        verify_webhook(&c, "shop", SPEC_BODY, &h, SPEC_TS).unwrap();
        // A v1a entry carrying the right value does not count.
        let (_dir, c) = spec_setup("v1a");
        let mut h = spec_headers(SPEC_ID);
        h[2].1 = format!("v1a,{EXPECTED_B64}");
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &h, SPEC_TS), "no matching signature");
        // Byte headers work too.
        let hb: Vec<(Vec<u8>, Vec<u8>)> =
            spec_headers(SPEC_ID).into_iter().map(|(n, v)| (n.into_bytes(), v.into_bytes())).collect();
        verify_webhook(&c, "shop", SPEC_BODY, &hb, SPEC_TS).unwrap();
    }

    #[test]
    fn authentic_non_json_body_is_refused() {
        let dir = tempdir("wh-json");
        let secret = random_whsec();
        let p = write_secret(&dir, "wh.key", &secret);
        let c = config(&dir, &p, "");
        let keys = parse_whsec_secrets("f", secret.as_bytes()).unwrap();
        let body = b"webhook_id=12";
        let h = vec![
            ("webhook-id", "j1".to_owned()),
            ("webhook-timestamp", "1000".to_owned()),
            ("webhook-signature", sign(&keys, "j1", 1000, body)),
        ];
        assert_refused(verify_webhook(&c, "shop", body, &h, 1000), "body is not valid JSON");
    }

    #[test]
    fn unknown_source_and_unwritable_store_are_config_errors() {
        let (_dir, c) = spec_setup("unknown");
        let e = verify_webhook(&c, "nope", SPEC_BODY, &spec_headers(SPEC_ID), SPEC_TS).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.to_string().contains("webhooks.nope"), "{e}");

        let dir = tempdir("wh-ro");
        let p = write_secret(&dir, "wh.key", SPEC_SECRET);
        // A regular file where the store's parent directory should be.
        std::fs::write(dir.join("blocker"), b"").unwrap();
        let text = format!(
            "[outbox]\npath = \"{}\"\n[webhooks.shop]\nsecret_file = \"{}\"\n",
            dir.join("blocker/outbox.sqlite").display(),
            p.display()
        );
        let c = Config::parse(Path::new("/etc/sf.toml"), &text).unwrap();
        let e = verify_webhook(&c, "shop", SPEC_BODY, &spec_headers(SPEC_ID), SPEC_TS).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Config);
        assert!(e.to_string().contains("blocker/outbox.sqlite"), "{e}");
    }

    #[test]
    fn replay_store_is_shared_across_connections_and_pruned() {
        let dir = tempdir("wh-prune");
        let p = write_secret(&dir, "wh.key", SPEC_SECRET);
        let c = config(&dir.join("s"), &p, "");
        assert!(record_once(&c.outbox, "a", 1000, 600).unwrap());
        assert!(!record_once(&c.outbox, "a", 1001, 600).unwrap());
        // A second process sees the same table, in the outbox database.
        let other = rusqlite::Connection::open(&c.outbox.path).unwrap();
        let n: i64 = other.query_row("SELECT count(*) FROM webhook_seen WHERE id = 'a'", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        // Much later: pruned, so the table stays bounded.
        assert!(record_once(&c.outbox, "b", 5000, 600).unwrap());
        let n: i64 = other.query_row("SELECT count(*) FROM webhook_seen", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn forged_message_does_not_burn_the_id() {
        let (_dir, c) = spec_setup("burn");
        let mut forged = spec_headers(SPEC_ID);
        forged[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &forged, SPEC_TS), "no matching signature");
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &spec_headers(SPEC_ID), SPEC_TS + 400), "timestamp too old");
        verify_webhook(&c, "shop", SPEC_BODY, &spec_headers(SPEC_ID), SPEC_TS).unwrap();
    }

    #[test]
    fn woocommerce_format() {
        let dir = tempdir("wh-wc");
        let p = write_secret(&dir, "wc.key", "old-wc-secret\nwc_secret_value_123\n");
        let c = config(&dir, &p, "format = \"woocommerce\"\n");
        let body = br#"{"id":7,"status":"completed"}"#;
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"wc_secret_value_123"), body);
        let good = B64.encode(tag.as_ref());
        let v = verify_webhook(&c, "shop", body, &[("X-WC-Webhook-Signature", good.as_str())], 0).unwrap();
        assert_eq!(v["id"], 7);
        // Again: no replay protection in this format (documented).
        verify_webhook(&c, "shop", body, &[("x-wc-webhook-signature", good.as_str())], 0).unwrap();

        let check = |r: Result<serde_json::Value>, reason: &str| {
            let e = r.unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.kind(), crate::ErrorKind::Signature);
            assert!(msg.contains(reason), "{msg}");
            assert!(!msg.contains("wc_secret_value") && !msg.contains(&good), "{msg}");
        };
        check(
            verify_webhook(&c, "shop", br#"{"id":8}"#, &[("X-WC-Webhook-Signature", good.as_str())], 0),
            "no matching signature",
        );
        check(
            verify_webhook(&c, "shop", body, &[("X-WC-Webhook-Signature", "nope")], 0),
            "malformed X-WC-Webhook-Signature header",
        );
        check(verify_webhook::<&str, &str>(&c, "shop", body, &[], 0), "missing X-WC-Webhook-Signature header");
        // A WooCommerce secret may be typed by a person: no plain hash leaves.
        assert_eq!(webhook_fingerprints(&c, "shop").unwrap(), vec!["set", "set"]);
        let install = write_secret(&dir, "install.key", &"i".repeat(48));
        let c = config(&dir, &p, "format = \"woocommerce\"\n");
        let c = Config { fingerprint_key_file: Some(install.clone()), ..c };
        let keyed = |s: &[u8]| format!("keyed {}", crate::fingerprint::keyed(Some(&install), s).unwrap().unwrap());
        let fps = webhook_fingerprints(&c, "shop").unwrap();
        assert_eq!(fps, vec![keyed(b"old-wc-secret"), keyed(b"wc_secret_value_123")]);
        assert!(!fps.contains(&format!("keyed {}", fingerprint(b"old-wc-secret"))));
    }

    #[test]
    fn rotated_secret_file_is_used_within_a_second() {
        let (dir, c) = spec_setup("rotate");
        verify_webhook(&c, "shop", SPEC_BODY, &spec_headers("r1"), SPEC_TS).unwrap();
        let new = random_whsec();
        let tmp = write_secret(&dir, "wh.key.new", &new);
        std::fs::rename(&tmp, dir.join("wh.key")).unwrap();
        std::thread::sleep(crate::secret::RECHECK + std::time::Duration::from_millis(100));
        assert_refused(verify_webhook(&c, "shop", SPEC_BODY, &spec_headers("r2"), SPEC_TS), "no matching signature");
        let keys = parse_whsec_secrets("f", new.as_bytes()).unwrap();
        let mut h = spec_headers("r3");
        h[2].1 = sign(&keys, "r3", SPEC_TS, SPEC_BODY);
        verify_webhook(&c, "shop", SPEC_BODY, &h, SPEC_TS).unwrap();
    }
}

/// End to end through the real transport: run `tests/support/receiver.py` and set
/// `SF_TEST_RECEIVER` (`https://127.0.0.1:PORT`), `SF_TEST_CA` (its CA file) and
/// `SF_TEST_RECEIVER_LOG` (its `--log` file).
#[cfg(test)]
mod e2e {
    use super::*;
    use crate::signing::tests::{random_whsec, tempdir, write_secret};
    use std::path::Path;

    #[test]
    #[ignore = "needs tests/support/receiver.py; set SF_TEST_RECEIVER, SF_TEST_CA, SF_TEST_RECEIVER_LOG"]
    fn signed_attempt_verifies_at_the_receiver() {
        let base = std::env::var("SF_TEST_RECEIVER").unwrap();
        let ca = std::env::var("SF_TEST_CA").unwrap();
        let dir = tempdir("wh-e2e");
        let secret = random_whsec();
        let p = write_secret(&dir, "sign.key", &format!("{}\n{secret}\n", random_whsec()));
        let text = format!(
            "[outbox]\npath = \"{db}\"\n[destinations.d]\nurl = \"{base}/ok\"\nca_file = \"{ca}\"\nsigning_secret_file = \"{k}\"\n\
             [webhooks.back]\nsecret_file = \"{k}\"\n",
            db = dir.join("outbox.sqlite").display(),
            k = p.display()
        );
        let c = Config::parse(Path::new("/etc/sf.toml"), &text).unwrap();
        let body = br#"{"id":99,"status":"processing"}"#;
        let id = format!("evt_e2e_{}", crate::secret::unix_now());
        let out = crate::forward::attempt(
            &crate::auth::Clients::default(),
            c.destination("d").unwrap(),
            &id,
            "order.updated",
            body,
            &[],
        );
        assert!(matches!(out, crate::forward::Outcome::Delivered { .. }), "{out:?}");
        let log = std::fs::read_to_string(std::env::var("SF_TEST_RECEIVER_LOG").unwrap()).unwrap();
        let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let entry = entries.iter().rev().find(|e| e["headers"]["webhook-id"] == id.as_str()).unwrap();
        let headers: Vec<(String, String)> =
            entry["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
        assert_eq!(entry["headers"]["idempotency-key"], id.as_str());
        assert_eq!(entry["headers"]["webhook-signature"].as_str().unwrap().split(' ').count(), 2);
        let received_body = entry["body"].as_str().unwrap().as_bytes().to_vec();
        let v = verify_webhook(&c, "back", &received_body, &headers, crate::secret::unix_now()).unwrap();
        assert_eq!(v["id"], 99);
    }
}
