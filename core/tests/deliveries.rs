//! The deliveries listing, the erasure of one event and since when a circuit has
//! been open, against a real HTTPS receiver (tests/support/receiver.py) and a real
//! SQLite outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;

use secure_forward_core::testing::config::Config;
use secure_forward_core::testing::outbox::{self, DeliveryFilter, FilterValue};
use secure_forward_core::testing::policy::Prepared;

mod common;
use common::{ca_dir, clients, temp, Server};

fn config(dir: &Path, port: u16) -> Config {
    let dest = |name: &str, path: &str| {
        format!(
            "[destinations.{name}]\nurl = \"https://localhost:{port}{path}\"\nca_file = \"{}\"\n\n",
            ca_dir().join("ca.pem").display()
        )
    };
    let text = format!(
        "{}{}{}[outbox]\npath = \"{db}\"\nretry_schedule = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n\n[audit]\npath = \"{audit}\"\n",
        dest("ok", "/ok"),
        dest("refuses", "/status/422"),
        dest("flaky", "/seq/503,503,503,503,503,503,200"),
        db = dir.join("outbox.sqlite").display(),
        audit = dir.join("audit.jsonl").display(),
    );
    Config::parse(&dir.join("c.toml"), &text).unwrap()
}

fn submit(c: &Config, dest: &str, order_id: &str, event: &str) -> secure_forward_core::Receipt {
    let d = Arc::clone(c.destination(dest).unwrap());
    let p = Prepared {
        body: format!("{{\"id\":{order_id},\"secret_note\":\"Jane Doe\"}}").into_bytes(),
        order_id: order_id.to_owned(),
    };
    outbox::submit(clients(), c, &d, &p, event).unwrap()
}

fn filter(items: &[(&str, FilterValue)]) -> DeliveryFilter {
    DeliveryFilter::parse(items.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()).unwrap()
}

fn s(v: &str) -> FilterValue {
    FilterValue::Str(v.to_owned())
}

#[test]
fn lists_filters_pages_and_purges_one_event_without_any_payload() {
    let dir = temp("deliveries");
    let rx = Server::receiver(&dir, &[]);
    let c = config(&dir, rx.port);
    let ok = submit(&c, "ok", "007", "order.processing");
    let dead = submit(&c, "refuses", "7", "order.processing");
    std::thread::sleep(std::time::Duration::from_millis(3));
    let later = submit(&c, "ok", "8", "order.completed");

    let (total, rows) = outbox::deliveries(&c, &filter(&[])).unwrap();
    assert_eq!(total, 3);
    assert_eq!(rows[0].id, later.event_id, "newest first");
    let (_, asc) = outbox::deliveries(&c, &filter(&[("order", s("asc"))])).unwrap();
    assert_eq!(asc.last().unwrap().id, later.event_id);

    // "007" and 7 are one order; the row keeps the id as sent.
    let (n, by_order) = outbox::deliveries(&c, &filter(&[("order_id", FilterValue::Int(7))])).unwrap();
    assert_eq!(n, 2);
    let mut ids: Vec<&str> = by_order.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let mut want = vec![ok.event_id.as_str(), dead.event_id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(by_order.iter().any(|r| r.order_id == "007"));

    let (n, d) = outbox::deliveries(&c, &filter(&[("state", s("dead"))])).unwrap();
    assert_eq!((n, d[0].id.as_str(), d[0].http_status, d[0].attempts), (1, dead.event_id.as_str(), Some(422), 1));
    assert!(d[0].last_attempt_ms.is_some() && d[0].next_attempt_ms.is_none());
    let (n, _) = outbox::deliveries(&c, &filter(&[("destination", s("ok")), ("event", s("order.completed"))])).unwrap();
    assert_eq!(n, 1);
    let (n, page) = outbox::deliveries(&c, &filter(&[("limit", FilterValue::Int(1)), ("offset", FilterValue::Int(1))])).unwrap();
    assert_eq!((n, page.len()), (3, 1), "total counts every match, rows are the page");
    // Events stored without a site (before schema 5) are every site's, as for purge and requeue.
    assert_eq!(outbox::deliveries(&c, &filter(&[("site", s("1:https://shop.example"))])).unwrap().0, 3);

    // An event's site (`events.site`) is listed and filtered on.
    let conn = rusqlite::Connection::open(dir.join("outbox.sqlite")).unwrap();
    conn.execute("UPDATE events SET site = '1:https://shop.example' WHERE id = ?1", [&later.event_id]).unwrap();
    let (n, by_site) = outbox::deliveries(&c, &filter(&[("site", s("1:https://shop.example"))])).unwrap();
    assert_eq!(n, 3);
    let mine = by_site.iter().find(|r| r.id == later.event_id).unwrap();
    assert_eq!(mine.site.as_deref(), Some("1:https://shop.example"));
    let (n, other) = outbox::deliveries(&c, &filter(&[("site", s("2:https://other.example"))])).unwrap();
    assert_eq!(n, 2, "another site sees the site-less events, not this site's");
    assert!(other.iter().all(|r| r.id != later.event_id && r.site.is_none()));
    drop(conn);

    let json = serde_json::to_string(&rows.iter().map(outbox::deliveries::row_json).collect::<Vec<_>>()).unwrap();
    let port = format!(":{}", rx.port);
    assert!(!json.contains("Jane Doe") && !json.contains("/status/") && !json.contains(&port), "no payload and no URL: {json}");

    let db = dir.join("outbox.sqlite");
    let hold = rusqlite::Connection::open(&db).unwrap();
    let blob: Vec<u8> = hold.query_row("SELECT payload FROM events WHERE id = ?1", [&dead.event_id], |r| r.get(0)).unwrap();
    assert!(blob.len() > 40);
    assert!(outbox::purge_event(&c, &dead.event_id).unwrap());
    assert!(!outbox::purge_event(&c, &dead.event_id).unwrap(), "already gone");
    assert!(!outbox::requeue(&c, &dead.event_id).unwrap());
    assert_eq!(outbox::deliveries(&c, &filter(&[])).unwrap().0, 2, "only that event went");
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(audit.lines().any(|l| l.contains(&dead.event_id) && l.contains("\"purged\"")), "the erasure is audited");
    for suffix in ["", "-wal", "-shm"] {
        let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
        assert!(!bytes.windows(blob.len()).any(|w| w == blob), "its ciphertext is left in outbox.sqlite{suffix}");
    }
    drop(hold);
}

#[test]
fn circuit_opened_at_stays_through_failed_probes_and_clears_on_success() {
    let dir = temp("circuit-since");
    let rx = Server::receiver(&dir, &[]);
    let c = config(&dir, rx.port);
    let opened_ms = |c: &Config| outbox::status_report(c).unwrap().destinations["flaky"].figures.circuit_opened_ms;
    for i in 0..4 {
        submit(&c, "flaky", &(100 + i).to_string(), "order.processing");
    }
    assert_eq!(opened_ms(&c), None, "four failures: still closed");
    submit(&c, "flaky", "104", "order.processing");
    let since = opened_ms(&c).expect("the fifth failure opens the circuit");
    let db = rusqlite::Connection::open(dir.join("outbox.sqlite")).unwrap();
    let opened_at = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT opened_at_ms FROM circuits WHERE destination = 'flaky'", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(opened_at(&db), since);
    std::thread::sleep(std::time::Duration::from_millis(5));
    // A flush is the probe: it fails (6th request), the cool-down restarts, "since" does not.
    let f = outbox::flush(clients(), &c, 1, 10.0).unwrap();
    assert_eq!(f.retried, 1, "{f:?}");
    assert!(opened_at(&db) > since, "the cool-down restarted");
    assert_eq!(opened_ms(&c), Some(since), "open since the first opening");
    let v = outbox::status(&c).unwrap();
    assert_eq!(v["destinations"]["flaky"]["circuit_opened_at"], since / 1000);
    assert_eq!(v["destinations"]["ok"]["circuit_opened_at"], serde_json::Value::Null);
    assert_eq!(v["destinations"]["flaky"]["host"], "localhost");
    assert_eq!(v["destinations"]["flaky"]["auth"], "header");
    // The next request answers 200: delivered, closed, no "since".
    let f = outbox::flush(clients(), &c, 100, 10.0).unwrap();
    assert_eq!((f.delivered, f.remaining), (5, 0), "{f:?}");
    assert_eq!(opened_ms(&c), None);
    assert_eq!(outbox::status(&c).unwrap()["destinations"]["flaky"]["circuit_opened_at"], serde_json::Value::Null);
}
