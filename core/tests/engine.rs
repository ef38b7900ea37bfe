//! The public API only (no `testing`): two engines, each with its own configuration
//! file and outbox, forwarding to a real HTTPS receiver (tests/support/receiver.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use secure_forward_core::{Engine, Error, ErrorKind, ReceiptStatus, ValidationReason};
use serde_json::{json, Value};

mod common;
use common::{ca_dir, temp, Server};

/// Writes `dir`/config.toml: destination `name` on the receiver at `port`, keeping
/// only `fields`, with its outbox in `dir`.
fn config_file(dir: &Path, name: &str, port: u16, fields: &str) -> PathBuf {
    let text = format!(
        "[destinations.{name}]\nurl = \"https://localhost:{port}/{name}\"\nca_file = \"{ca}\"\ntimeout_ms = 3000\n\
         [destinations.{name}.policy]\nfields = [{fields}]\n\n[outbox]\npath = \"{db}\"\n",
        ca = ca_dir().join("ca.pem").display(),
        db = dir.join("outbox.sqlite").display(),
    );
    let file = dir.join("config.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn order(id: u64) -> Value {
    json!({"id": id, "total": "10.00", "billing": {"email": "ada@example.com", "country": "GB"}})
}

fn keys_of(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn two_engines_share_nothing_and_send_what_they_prepare() {
    let (da, db) = (temp("engine-a"), temp("engine-b"));
    let rx = Server::receiver(&da, &[]);
    let a = Engine::new(config_file(&da, "crm", rx.port, "\"id\", \"total\""));
    let b = Engine::new(config_file(&db, "erp", rx.port, "\"id\", \"billing.country\""));

    // Each engine prepares with its own destination's policy.
    let mut body_a = Vec::new();
    a.prepare_into("crm", &order(7), &mut body_a).unwrap();
    assert_eq!(keys_of(&body_a), ["id", "total"]);
    let mut body_b = Vec::new();
    b.prepare_into("erp", &order(8), &mut body_b).unwrap();
    assert_eq!(keys_of(&body_b), ["id", "billing"]);

    // And sends exactly that.
    let ra = a.order("crm", &order(7), "order.created", &Default::default()).unwrap();
    let rb = b.order("erp", &order(8), "order.created", &Default::default()).unwrap();
    assert_eq!((ra.status, ra.http_status, ra.attempts), (ReceiptStatus::Delivered, Some(200), 1), "{ra:?}");
    assert_eq!(rb.status, ReceiptStatus::Delivered, "{rb:?}");
    let sent = rx.requests();
    let body_of = |path: &str| sent.iter().find(|r| r["path"] == path).map(|r| r["body"].as_str().unwrap().to_owned());
    assert_eq!(body_of("/crm").unwrap().as_bytes(), body_a.as_slice());
    assert_eq!(body_of("/erp").unwrap().as_bytes(), body_b.as_slice());
    assert_eq!(sent.len(), 2);

    // Neither sees the other's destination or outbox.
    let e = a.order("erp", &order(9), "order.created", &Default::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("destinations.erp"), "{e}");
    let (sa, sb) = (a.status().unwrap(), b.status().unwrap());
    assert_eq!((sa.totals.delivered, sb.totals.delivered), (1, 1));
    assert!(sa.destinations.contains_key("crm") && !sa.destinations.contains_key("erp"));
    assert!(sb.destinations.contains_key("erp") && !sb.destinations.contains_key("crm"));
    assert_eq!(a.config().unwrap().outbox.path, da.join("outbox.sqlite"));
    assert_eq!(b.config().unwrap().outbox.path, db.join("outbox.sqlite"));
}

#[test]
fn refusals_arrive_typed() {
    let dir = temp("engine-typed");
    let engine = Engine::new(config_file(&dir, "crm", 9, "\"id\""));
    match engine.prepare_into("crm", &json!("not an order"), &mut Vec::new()) {
        Err(Error::Validation { path, reason: ValidationReason::NotAnArray }) => assert_eq!(path, ""),
        other => panic!("{other:?}"),
    }
    let e = Engine::new(dir.join("absent.toml")).config().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(e.to_string(), format!("configuration error in {}: file not found", dir.join("absent.toml").display()));
    let io = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
    assert!(io.contains("os error 2"), "{io}");
}
