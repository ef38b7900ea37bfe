//! Inbound webhook verification (`secure_forward_verify_webhook`) on arbitrary
//! headers and bodies: signature header parsing, timestamps, ids, both formats.
//!
//! Some inputs are signed with the real secret (a flag byte), so the paths past
//! the signature check (JSON decoding, the replay store) are fuzzed too.
//! Invariants: no panic; every refusal is a SignatureException (or a JSON
//! error for a validly signed non-JSON body) whose message never contains the
//! secret or an expected signature.
#![no_main]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use ring::hmac;
use secure_forward_core::Config;
use secure_forward_core::ErrorKind;
use secure_forward_core::testing::webhook::verify_webhook;

const NOW: u64 = 1_700_000_000;

struct Setup {
    config: Config,
    key: Vec<u8>,
    /// The secret as written in the file (base64), made at start-up.
    secret_b64: String,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sf-fuzz-webhook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut key = vec![0u8; 24];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).expect("random secret");
        let secret_b64 = base64::engine::general_purpose::STANDARD.encode(&key);
        let secret: PathBuf = dir.join("wh.secret");
        std::fs::write(&secret, format!("whsec_{secret_b64}\n")).expect("secret file");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let text = format!(
            "[outbox]\npath = \"{db}\"\n[webhooks.std]\nsecret_file = \"{s}\"\n[webhooks.wc]\nsecret_file = \"{s}\"\nformat = \"woocommerce\"\n",
            db = dir.join("outbox.sqlite").display(),
            s = secret.display()
        );
        let config = Config::parse(Path::new("/fuzz.toml"), &text).expect("fuzz config parses");
        Setup { config, key, secret_b64 }
    })
}

const NAMES: &[&str] = &[
    "webhook-id", "webhook-timestamp", "webhook-signature", "svix-id", "svix-timestamp", "svix-signature",
    "Webhook-Signature", "X-WC-Webhook-Signature", "content-type",
];

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(5, |b| *b == 0xff);
    let id = parts.next().unwrap_or_default();
    let ts = parts.next().unwrap_or_default();
    let sig = parts.next().unwrap_or_default();
    let extra = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let pick = |i: u8| NAMES.get(usize::from(i) % NAMES.len()).copied().unwrap_or_default().as_bytes().to_vec();
    if flags & 1 != 0 {
        headers.push((pick(0), id.to_vec()));
    }
    let ts_value = if flags & 2 != 0 { NOW.to_string().into_bytes() } else { ts.to_vec() };
    headers.push((pick(1), ts_value.clone()));
    let sig_value = if flags & 4 != 0 {
        // A correct signature over the fuzzed id, timestamp and body.
        let key = hmac::Key::new(hmac::HMAC_SHA256, &s.key);
        let mut msg = id.to_vec();
        msg.push(b'.');
        msg.extend_from_slice(&ts_value);
        msg.push(b'.');
        msg.extend_from_slice(body);
        let tag = hmac::sign(&key, &msg);
        let mut v = b"v1,".to_vec();
        v.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(tag.as_ref()).as_bytes());
        v.push(b' ');
        v.extend_from_slice(sig);
        v
    } else {
        sig.to_vec()
    };
    headers.push((pick(2), sig_value));
    if flags & 8 != 0 {
        headers.push((pick(flags >> 4), extra.to_vec()));
    }
    let source = if flags & 0x80 != 0 { "wc" } else { "std" };
    match verify_webhook(&s.config, source, body, &headers, NOW) {
        Ok(v) => assert!(!v.is_null() || body.trim_ascii() == b"null"),
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::Signature | ErrorKind::Validation), "unexpected error kind: {e:?}");
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(&s.secret_b64), "the secret leaks into a message");
        }
    }
});
