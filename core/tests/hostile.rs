//! A hostile network, with real servers: Debian's `openssl s_server` presenting
//! bad certificates or only TLS 1.0/1.1, and tests/support/receiver.py misbehaving at
//! the HTTP level (stalls, trickles, huge and endless bodies, resets).
//! Certificates are made at test time by tests/support/make-test-ca.sh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secure_forward_core::testing::forward::{self, Outcome};
use secure_forward_core::testing::outbox;
use secure_forward_core::testing::policy::Prepared;
use secure_forward_core::testing::transport::{self, Outgoing};
use secure_forward_core::{Config, Destination};

mod common;
use common::{cert, clients, temp, Server};

/// base64 SHA-256 of a certificate's SubjectPublicKeyInfo, computed by openssl
/// (the recipe the README gives operators), not by the code under test.
fn pin_of(name: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg("openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64")
        .arg("pin")
        .arg(cert(name))
        .output()
        .unwrap();
    assert!(out.status.success());
    let pin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(pin.len(), 44, "{pin}");
    pin
}

/// A config with destination `d` at `url` (trusting the test CA) plus `extra` lines.
fn config(dir: &Path, url: &str, extra: &str) -> Config {
    let text = format!(
        "[destinations.d]\nurl = \"{url}\"\nca_file = \"{ca}\"\n{extra}\n\n[outbox]\npath = \"{db}\"\nretry_schedule = [0, 0, 0]\n",
        ca = cert("ca").display(),
        db = dir.join("outbox.sqlite").display(),
    );
    let file = dir.join("secure-forward.toml");
    std::fs::write(&file, &text).unwrap();
    Config::parse(&file, &text).unwrap()
}

fn dest(c: &Config) -> Arc<Destination> {
    Arc::clone(c.destination("d").unwrap())
}

/// One POST; the error message on failure.
fn send(c: &Config) -> Result<u16, String> {
    transport::send(
        &forward::peer(&clients().agents, &dest(c)),
        None,
        &Outgoing { body: b"{\"id\":1}", headers: &[], constants: &[] },
    )
    .map(|a| a.status)
    .map_err(|e| e.to_string())
}

fn order(id: u32) -> Prepared {
    Prepared { body: format!("{{\"id\":{id},\"status\":\"processing\"}}").into_bytes(), order_id: id.to_string() }
}

#[test]
fn the_tls11_server_really_refuses_tls12() {
    let s = Server::openssl("server", &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let handshake = |args: &[&str]| {
        Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", s.port)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(handshake(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]), "TLS 1.1 works");
    assert!(!handshake(&["-tls1_2"]), "TLS 1.2 is refused");
    assert!(!handshake(&["-tls1_3"]), "TLS 1.3 is refused");
}

#[test]
fn each_tls_refusal_has_its_own_message_naming_the_host() {
    let dir = temp("tls");
    let cases: [(&str, &[&str], &str); 6] = [
        ("server", &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], "tls: server does not support TLS 1.2 or later"),
        ("expired", &[], "tls: certificate expired"),
        ("future", &[], "tls: certificate not yet valid"),
        ("wrongname", &[], "tls: certificate not valid for this host name"),
        ("self", &[], "tls: certificate is self-signed"),
        ("rogue", &[], "tls: certificate issued by an untrusted CA"),
    ];
    let mut seen = Vec::new();
    for (cert_name, extra, reason) in cases {
        let s = Server::openssl(cert_name, extra);
        let c = config(&dir, &format!("https://localhost:{}/ok", s.port), "timeout_ms = 5000");
        let got = send(&c);
        assert_eq!(got, Err(format!("localhost: {reason}")), "{cert_name} {extra:?}");
        seen.push(reason);
    }
    // A valid chain whose key is not pinned.
    let s = Server::openssl("server", &[]);
    let c = config(&dir, &format!("https://localhost:{}/ok", s.port), &format!("pin_sha256 = [\"{}\"]", pin_of("rogue")));
    let reason = "tls: certificate key matches no pin_sha256 (pin mismatch)";
    assert_eq!(send(&c), Err(format!("localhost: {reason}")));
    seen.push(reason);
    let mut distinct = seen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 7, "{seen:?}");
}

#[test]
fn a_tls_refusal_is_retried_not_dead_lettered() {
    let dir = temp("tls-queue");
    let s = Server::openssl("expired", &[]);
    let c = config(&dir, &format!("https://localhost:{}/ok", s.port), "");
    let r = outbox::submit(clients(), &c, &dest(&c), &order(1), "order.processing").unwrap();
    assert_eq!((r.status.as_str(), r.http_status), ("queued", None), "{r:?}");
    assert_eq!(r.reason.as_deref(), Some("localhost: tls: certificate expired"));
}

#[test]
fn pinned_leaf_or_ca_delivers_and_other_pins_refuse() {
    let dir = temp("pins");
    let rx = Server::receiver(&dir, &[]);
    let url = format!("https://localhost:{}/ok", rx.port);
    for (pins, ok) in [
        (vec![pin_of("server")], true),
        (vec![pin_of("ca")], true),
        (vec![pin_of("rogue"), pin_of("server")], true),
        (vec![pin_of("rogue")], false),
        (vec![pin_of("rogue-ca"), pin_of("self")], false),
    ] {
        let list = pins.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ");
        let c = config(&dir, &url, &format!("pin_sha256 = [{list}]"));
        let got = send(&c);
        if ok {
            assert_eq!(got, Ok(200), "{pins:?}");
        } else {
            assert_eq!(got, Err("localhost: tls: certificate key matches no pin_sha256 (pin mismatch)".into()), "{pins:?}");
        }
    }
    assert_eq!(rx.requests().len(), 3, "nothing was sent over a connection whose key is not pinned");
}

#[test]
fn any_key_of_a_chain_with_an_intermediate_can_be_pinned() {
    let dir = temp("chain");
    let rx = Server::receiver_with(&dir, "chain", &[]);
    let url = format!("https://localhost:{}/ok", rx.port);
    for (pin, ok) in [("chain", true), ("inter", true), ("ca", true), ("server", false), ("rogue-ca", false)] {
        let c = config(&dir, &url, &format!("pin_sha256 = [\"{}\"]", pin_of(pin)));
        let got = send(&c);
        if ok {
            assert_eq!(got, Ok(200), "pin of {pin}");
        } else {
            assert_eq!(got, Err("localhost: tls: certificate key matches no pin_sha256 (pin mismatch)".into()), "pin of {pin}");
        }
    }
    assert_eq!(rx.requests().len(), 3);
}

/// A config like [`config`] trusting both the test CA and the "other" CA (as
/// the public web PKI trusts many CAs): whoever holds a certificate for the
/// host from any trusted CA can complete a verified handshake.
fn config_two_cas(dir: &Path, url: &str, extra: &str) -> Config {
    let both = dir.join("two-cas.pem");
    let mut pem = std::fs::read(cert("ca")).unwrap();
    pem.extend(std::fs::read(cert("rogue-ca")).unwrap());
    std::fs::write(&both, pem).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&both, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!(
        "[destinations.d]\nurl = \"{url}\"\nca_file = \"{ca}\"\n{extra}\n\n[outbox]\npath = \"{db}\"\n",
        ca = both.display(),
        db = dir.join("outbox.sqlite").display(),
    );
    Config::parse(&dir.join("secure-forward.toml"), &text).unwrap()
}

#[test]
fn pins_count_only_on_the_verified_path_not_on_padding_the_server_sends() {
    let dir = temp("pin-padding");
    let mismatch = Err("localhost: tls: certificate key matches no pin_sha256 (pin mismatch)".to_owned());
    let pinned = |port: u16, pin: &str| {
        send(&config_two_cas(
            &dir,
            &format!("https://localhost:{port}/ok"),
            &format!("timeout_ms = 2000\npin_sha256 = [\"{}\"]", pin_of(pin)),
        ))
    };
    // The attack: a leaf from another trusted CA, padded with the real server's
    // certificate (openssl s_server -cert rogue.pem -cert_chain server.pem).
    let real = cert("server");
    let padded = Server::openssl("rogue", &["-cert_chain", real.to_str().unwrap()]);
    for pin in ["server", "ca"] {
        assert_eq!(pinned(padded.port, pin), mismatch, "pin of {pin}: the real key was only sent, not verified");
    }
    // Control: the rogue path itself verifies, so its own keys do satisfy a pin
    // (the refusals above are the pin check, not a failed chain).
    for pin in ["rogue", "rogue-ca"] {
        let got = pinned(padded.port, pin);
        assert!(!got.as_ref().is_err_and(|e| e.contains("tls:")), "pin of {pin}: {got:?}");
    }
    // A pinned intermediate the server sends but that is not on the path
    // (server.pem is issued by the CA directly).
    let inter = cert("inter");
    let unused = Server::openssl("server", &["-cert_chain", inter.to_str().unwrap()]);
    assert_eq!(pinned(unused.port, "inter"), mismatch, "an intermediate off the verified path is no pin match");
    let got = pinned(unused.port, "server");
    assert!(!got.as_ref().is_err_and(|e| e.contains("tls:")), "control, pin of the leaf: {got:?}");
}

#[test]
fn bad_pins_are_config_errors_naming_the_destination() {
    let dir = temp("badpins");
    for pin in ["not base64!", "AAAA", "YWJj", &format!("{}AAAA", pin_of("server"))] {
        let text = format!("[destinations.crm]\nurl = \"https://x.example/\"\npin_sha256 = [\"{pin}\"]\n");
        let e = Config::parse(&dir.join("c.toml"), &text).unwrap_err();
        assert_eq!(e.kind(), secure_forward_core::ErrorKind::Config);
        assert!(e.to_string().contains("destinations.crm.pin_sha256"), "{e}");
        assert!(!e.to_string().contains(pin), "{e}");
    }
}

#[test]
fn oauth_token_requests_are_pinned_only_on_the_destinations_host() {
    let dir = temp("oauth-pins");
    let secret = dir.join("client.secret");
    std::fs::write(&secret, "cs_hostile_test_secret").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let rx = Server::receiver(
        &dir,
        &["--oauth-client-id".as_ref(), "sf-hostile".as_ref(), "--oauth-secret-file".as_ref(), secret.as_os_str()],
    );
    let oauth = |token_host: &str, pin: &str| {
        let c = config(
            &dir,
            &format!("https://localhost:{}/bearer/x", rx.port),
            &format!(
                "auth = \"oauth2\"\ntoken_url = \"https://{token_host}:{}/oauth/token\"\nclient_id = \"sf-hostile\"\n\
                 client_secret_file = \"{}\"\npin_sha256 = [\"{pin}\"]",
                rx.port,
                secret.display()
            ),
        );
        forward::attempt(clients(), &dest(&c), "evt_1", "order.processing", b"{}", &[])
    };
    let tokens = || rx.requests().iter().filter(|r| r["path"] == "/oauth/token").count();
    let resources = || rx.requests().iter().filter(|r| r["path"] == "/bearer/x").count();
    let mismatch = "tls: certificate key matches no pin_sha256 (pin mismatch)";
    // Same host: the token request itself is refused.
    match oauth("localhost", &pin_of("rogue")) {
        Outcome::Retry { error, .. } => assert!(error.to_string().contains(mismatch), "{error}"),
        o => panic!("{o:?}"),
    }
    assert_eq!((tokens(), resources()), (0, 0));
    // Another host (127.0.0.1): no pins there, a token is issued, the resource is refused.
    match oauth("127.0.0.1", &pin_of("rogue")) {
        Outcome::Retry { error, .. } => assert_eq!(error.to_string(), format!("localhost: {mismatch}")),
        o => panic!("{o:?}"),
    }
    assert_eq!((tokens(), resources()), (1, 0));
    // The right pin: token and resource.
    assert!(matches!(oauth("localhost", &pin_of("server")), Outcome::Delivered { status: 200, .. }));
    assert_eq!((tokens(), resources()), (2, 1));
}

fn timed_submit(c: &Config, id: u32) -> (secure_forward_core::Receipt, Duration) {
    let started = Instant::now();
    let r = outbox::submit(clients(), c, &dest(c), &order(id), "order.processing").unwrap();
    (r, started.elapsed())
}

#[test]
fn stalled_and_trickling_receivers_cost_at_most_the_timeout() {
    let dir = temp("stall");
    let rx = Server::receiver(&dir, &[]);
    for (i, path) in [(1, "/stall"), (2, "/trickle")] {
        let c = config(&dir, &format!("https://localhost:{}{path}", rx.port), "timeout_ms = 1000\nconnect_timeout_ms = 500");
        let (r, took) = timed_submit(&c, i);
        assert_eq!((r.status.as_str(), r.http_status), ("queued", None), "{path}: {r:?}");
        assert!(r.reason.as_deref().unwrap().starts_with("localhost: timeout"), "{path}: {r:?}");
        assert!(took >= Duration::from_millis(900), "{path}: gave up early ({took:?})");
        assert!(took < Duration::from_millis(1750), "{path}: took {took:?} with timeout_ms = 1000");
        println!("{path}: queued after {took:?} (timeout_ms = 1000)");
    }
}

/// Peak resident memory of this process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn huge_and_endless_bodies_are_cut_at_the_cap() {
    let dir = temp("big");
    let rx = Server::receiver(&dir, &[]);
    let before = peak_rss_kib();
    for (i, path) in [(1, "/big"), (2, "/endless")] {
        let c = config(&dir, &format!("https://localhost:{}{path}", rx.port), "timeout_ms = 10000");
        let (r, took) = timed_submit(&c, i);
        // The status line and head were complete and 2xx: delivered.
        assert_eq!((r.status.as_str(), r.http_status), ("delivered", Some(200)), "{path}: {r:?}");
        assert!(took < Duration::from_secs(5), "{path}: the cap, not the 10 s timeout, ends the read ({took:?})");
        println!("{path}: delivered after {took:?}");
    }
    let grown = peak_rss_kib().saturating_sub(before);
    println!("peak RSS grew by {grown} KiB over a 64 MiB and an endless body");
    assert!(grown < 16 * 1024, "bodies are read up to {} bytes only, grew {grown} KiB", transport::RESPONSE_CAP);
}

#[test]
fn a_reset_mid_response_is_retried_per_the_schedule() {
    let dir = temp("reset");
    let rx = Server::receiver(&dir, &[]);
    let c = config(&dir, &format!("https://localhost:{}/cut/2", rx.port), "timeout_ms = 3000");
    let (r, _) = timed_submit(&c, 1);
    assert_eq!((r.status.as_str(), r.http_status, r.attempts), ("queued", None, 1), "{r:?}");
    assert_eq!(r.reason.as_deref(), Some("localhost: connection reset"), "{r:?}");
    let f = outbox::flush(clients(), &c, 100, 10.0).unwrap();
    assert_eq!((f.delivered, f.retried, f.remaining), (0, 1, 1), "{f:?}");
    let f = outbox::flush(clients(), &c, 100, 10.0).unwrap();
    assert_eq!((f.delivered, f.retried, f.remaining), (1, 0, 0), "{f:?}");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|q| q["headers"]["idempotency-key"] == r.event_id.as_str()), "one event, one key");
}

#[test]
fn a_ca_file_without_a_usable_certificate_is_a_config_error() {
    let dir = temp("badca");
    let ca = dir.join("junk.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n").unwrap();
    let text = format!("[destinations.d]\nurl = \"https://localhost:1/ok\"\nca_file = \"{}\"\n", ca.display());
    let c = Config::parse(&dir.join("c.toml"), &text).unwrap();
    let e = transport::send(
        &forward::peer(&clients().agents, &dest(&c)),
        None,
        &Outgoing { body: b"{}", headers: &[], constants: &[] },
    )
    .unwrap_err();
    assert_eq!(e.kind(), secure_forward_core::ErrorKind::Config);
    assert!(e.to_string().ends_with("junk.pem: ca_file: no usable CA certificate"), "{e}");
}
