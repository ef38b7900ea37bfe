//! The batched, multi-threaded flush against a real HTTPS receiver (tools/receiver.py):
//! every event once, every attempt recorded and audited, several keep-alive connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use secure_forward_core::config::Config;
use secure_forward_core::outbox;
use secure_forward_core::policy::Prepared;

mod common;
use common::{ca_dir, temp, Server};

fn config(dir: &Path, port: u16, url_path: &str) -> Config {
    let text = format!(
        "[destinations.crm]\nurl = \"https://localhost:{port}{url_path}\"\nca_file = \"{ca}\"\n\n\
         [outbox]\npath = \"{db}\"\ndelivery = \"deferred\"\nretry_schedule = [0, 0]\n\n\
         [audit]\npath = \"{audit}\"\n",
        ca = ca_dir().join("ca.pem").display(),
        db = dir.join("outbox.sqlite").display(),
        audit = dir.join("audit.jsonl").display(),
    );
    Config::parse(&dir.join("c.toml"), &text).unwrap()
}

fn enqueue(c: &Config, n: u32) -> Vec<String> {
    let d = Arc::clone(c.destination("crm").unwrap());
    (0..n)
        .map(|id| {
            let p = Prepared { body: format!("{{\"id\":{id},\"total\":\"1.00\"}}").into_bytes(), order_id: id.to_string() };
            outbox::submit(c, &d, &p, "order.processing").unwrap().event_id
        })
        .collect()
}

fn audit_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("audit.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_backlog_is_sent_once_each_over_several_connections_every_attempt_recorded_and_audited() {
    let dir = temp("backlog");
    let rx = Server::receiver(&dir, &[]);
    let c = config(&dir, rx.port, "/ok");
    let ids = enqueue(&c, 300);
    let counts = outbox::flush(&c, 1000, 60.0).unwrap();
    assert_eq!((counts.delivered, counts.retried, counts.dead, counts.remaining), (300, 0, 0, 0), "{counts:?}");
    let reqs = rx.requests();
    let mut keys: HashMap<&str, usize> = HashMap::new();
    for r in &reqs {
        *keys.entry(r["headers"]["idempotency-key"].as_str().unwrap()).or_default() += 1;
    }
    assert_eq!(keys.len(), 300);
    assert!(ids.iter().all(|id| keys.get(id.as_str()) == Some(&1)), "each event exactly once");
    let conns: HashSet<String> = reqs.iter().map(|r| r["conn"].to_string()).collect();
    assert!(conns.len() > 1, "several sender connections");
    assert!(conns.len() <= outbox::FLUSH_SENDERS, "each sender keeps its connection alive: {} connections", conns.len());
    let audit = audit_lines(&dir);
    let delivered: HashSet<&str> =
        audit.iter().filter(|l| l["outcome"] == "delivered").map(|l| l["event_id"].as_str().unwrap()).collect();
    assert_eq!(delivered.len(), 300, "one audit line per attempt");
    assert!(audit.iter().filter(|l| l["outcome"] == "delivered").all(|l| l["attempt"] == 1 && l["latency_ms"].is_u64()));
    let status = outbox::status(&c).unwrap();
    assert_eq!(status["destinations"]["crm"]["attempts"].as_array().unwrap().len(), 10, "last 10 attempts kept");
    assert_eq!(status["circuit"], "closed");
    assert!(status["last_success_at"].is_u64());
}

#[test]
fn max_bounds_the_attempts_and_failures_are_each_recorded() {
    let dir = temp("max");
    let rx = Server::receiver(&dir, &[]);
    let c = config(&dir, rx.port, "/status/503");
    enqueue(&c, 40);
    let counts = outbox::flush(&c, 25, 60.0).unwrap();
    assert_eq!((counts.retried, counts.remaining), (25, 40), "{counts:?}");
    assert_eq!(rx.requests().len(), 25, "no more than max attempts");
    let retries = audit_lines(&dir).iter().filter(|l| l["outcome"] == "retry").count();
    assert_eq!(retries, 25);
    let status = outbox::status(&c).unwrap();
    assert_eq!(status["circuit"], "open", "consecutive failures open the circuit");
    assert!(status["last_error"].as_str().unwrap().contains("503"));
}

#[test]
fn a_version_2_database_gets_the_partial_indexes_and_keeps_its_rows() {
    let dir = temp("v2");
    let db = dir.0.join("outbox.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE events (id TEXT PRIMARY KEY, destination TEXT NOT NULL, order_id TEXT NOT NULL, event TEXT NOT NULL,
               state TEXT NOT NULL, key_id TEXT, payload BLOB, attempts INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL,
               next_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, lease_owner TEXT, lease_until_ms INTEGER,
               http_status INTEGER, reason TEXT, delivered_at_ms INTEGER);
             CREATE INDEX events_due ON events(state, next_at_ms);
             CREATE INDEX events_order ON events(order_id);
             CREATE INDEX events_delivered ON events(state, delivered_at_ms);
             INSERT INTO events (id, destination, order_id, event, state, created_at_ms, next_at_ms, updated_at_ms, delivered_at_ms)
               VALUES ('evt_old', 'crm', '1', 'order.processing', 'delivered', 1, 1, 1, 1);
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let c = config(&dir, 9, "/ok");
    assert_eq!(outbox::status(&c).unwrap()["queued"], 0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let indexes: HashSet<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want: HashSet<String> = ["events_order", "events_queue", "events_delivered_at"].map(String::from).into();
    assert_eq!(indexes, want);
    assert_eq!(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), 3);
    assert_eq!(conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
}
