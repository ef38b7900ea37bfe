//! The batched, multi-threaded flush against a real HTTPS receiver (tests/support/receiver.py):
//! every event once, every attempt recorded and audited, several keep-alive connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use secure_forward_core::testing::outbox;
use secure_forward_core::testing::policy::Prepared;
use secure_forward_core::Config;

mod common;
use common::{ca_dir, clients, temp, Server};

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
            outbox::submit(clients(), c, &d, &p, "order.processing").unwrap().event_id
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
    let counts = outbox::flush(clients(), &c, 1000, 60.0).unwrap();
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
    let counts = outbox::flush(clients(), &c, 25, 60.0).unwrap();
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
    let want: HashSet<String> = ["events_order_key", "events_queue", "events_delivered_at"].map(String::from).into();
    assert_eq!(indexes, want);
    assert_eq!(
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(),
        secure_forward_core::testing::store::SCHEMA_VERSION
    );
    assert_eq!(conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap(), 1);
}

/// The schema 3 of the outbox (as released), for the migration test.
const SCHEMA_3: &str = "
CREATE TABLE events (id TEXT PRIMARY KEY, destination TEXT NOT NULL, order_id TEXT NOT NULL, event TEXT NOT NULL,
    state TEXT NOT NULL, key_id TEXT, payload BLOB, attempts INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL,
    next_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, lease_owner TEXT, lease_until_ms INTEGER,
    http_status INTEGER, reason TEXT, delivered_at_ms INTEGER);
CREATE INDEX events_order ON events(order_id);
CREATE INDEX events_queue ON events(next_at_ms, created_at_ms) WHERE state = 'queued';
CREATE INDEX events_delivered_at ON events(delivered_at_ms) WHERE state = 'delivered';
CREATE TABLE circuits (destination TEXT PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0, opened_at_ms INTEGER,
    probe_until_ms INTEGER, last_success_ms INTEGER, last_error TEXT, last_error_ms INTEGER);
CREATE TABLE attempts (id INTEGER PRIMARY KEY, destination TEXT NOT NULL, at_ms INTEGER NOT NULL, outcome TEXT NOT NULL,
    http_status INTEGER, latency_ms INTEGER);
CREATE INDEX attempts_destination ON attempts(destination, id);
CREATE TABLE webhook_seen (id TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
CREATE INDEX webhook_seen_at ON webhook_seen(seen_at);
CREATE TABLE limits (destination TEXT PRIMARY KEY, tokens REAL, updated_ms INTEGER, paused_until_ms INTEGER);
CREATE TABLE tokens (cache_key TEXT PRIMARY KEY, key_id TEXT NOT NULL, blob BLOB NOT NULL, token_fp TEXT NOT NULL,
    refresh_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL);
CREATE TABLE token_fetches (cache_key TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ms INTEGER NOT NULL);
PRAGMA user_version = 3;
";

#[test]
fn a_version_3_database_migrates_to_4_keeping_its_rows() {
    let dir = temp("v3");
    let db = dir.0.join("outbox.sqlite");
    let far = 4_102_444_800_000_i64; // 2100
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        conn.execute_batch(SCHEMA_3).unwrap();
        conn.execute_batch(
            "INSERT INTO events (id, destination, order_id, event, state, created_at_ms, next_at_ms, updated_at_ms)
               VALUES ('evt_a', 'crm', '007', 'order.processing', 'dead', 1, 1, 1),
                      ('evt_b', 'crm', '000', 'order.processing', 'dead', 1, 1, 1),
                      ('evt_c', 'crm', '12', 'order.processing', 'dead', 1, 1, 1),
                      ('evt_d', 'crm', 'x01', 'order.processing', 'dead', 1, 1, 1);
             INSERT INTO limits (destination, tokens, updated_ms, paused_until_ms) VALUES ('crm', 2.5, 1, NULL);",
        )
        .unwrap();
        let fetches = [
            ("k_rejected", "!failed\trejected\t401\tlogin.example\tinvalid_client"),
            ("k_transport", "!failed\ttransport\t0\tlogin.example\tconnection refused"),
            ("k_pending", "123:abcdef"),
            ("k_garbled", "!failed\tnonsense"),
        ];
        for (key, owner) in fetches {
            conn.execute(
                "INSERT INTO token_fetches (cache_key, owner, until_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![key, owner, far],
            )
            .unwrap();
        }
    }
    let c = config(&dir, 9, "/ok");
    assert_eq!(outbox::status(&c).unwrap()["dead"], 4);
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(),
        secure_forward_core::testing::store::SCHEMA_VERSION
    );
    let keys: Vec<(String, String, String)> = conn
        .prepare("SELECT id, order_id, order_key FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want = [("evt_a", "007", "7"), ("evt_b", "000", "0"), ("evt_c", "12", "12"), ("evt_d", "x01", "x01")]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(keys, want);
    type Row = (String, String, Option<String>, Option<u16>, Option<String>, Option<String>);
    let typed: Vec<Row> = conn
        .prepare("SELECT cache_key, owner, fail_kind, fail_status, fail_host, fail_reason FROM token_fetches ORDER BY cache_key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(typed.len(), 3, "the unreadable hold is dropped: {typed:?}");
    assert_eq!(typed[0].0, "k_pending");
    assert_eq!((typed[0].1.as_str(), typed[0].2.as_deref()), ("123:abcdef", None));
    assert_eq!(typed[1].2.as_deref(), Some("rejected"));
    assert_eq!(
        (typed[1].3, typed[1].4.as_deref(), typed[1].5.as_deref()),
        (Some(401), Some("login.example"), Some("invalid_client"))
    );
    assert_eq!((typed[2].2.as_deref(), typed[2].3), (Some("transport"), None));
    drop(conn);
    use secure_forward_core::testing::auth::shared_cache::{token_fetch_state, FetchState};
    match token_fetch_state(&c.outbox, "k_rejected").unwrap() {
        FetchState::Failed(secure_forward_core::Error::Rejected { host, status, reason }) => {
            assert_eq!((host.as_str(), status), ("login.example", 401));
            assert!(reason.to_string().starts_with("invalid_client"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match token_fetch_state(&c.outbox, "k_transport").unwrap() {
        FetchState::Failed(secure_forward_core::Error::Transport { host, status: None, reason }) => {
            assert_eq!(host, "login.example");
            assert!(reason.to_string().starts_with("connection refused"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(token_fetch_state(&c.outbox, "k_pending").unwrap(), FetchState::Pending));
    assert!(matches!(token_fetch_state(&c.outbox, "k_garbled").unwrap(), FetchState::Idle));
    // "007" and 7 are one order.
    assert_eq!(outbox::purge(&c, "7").unwrap(), 1);
    assert_eq!(outbox::purge(&c, "0").unwrap(), 1);
}

#[test]
fn a_stalled_flusher_cannot_overwrite_the_result_of_the_one_that_took_over_its_lease() {
    let dir = temp("stalled");
    let rx = Server::receiver(&dir, &[]);
    // The same destination and database; the first flusher's request takes longer.
    let slow = config(&dir, rx.port, "/slow/1500");
    let slower = config(&dir, rx.port, "/slow/2500");
    let id = enqueue(&slow, 1).remove(0);
    let db = dir.0.join("outbox.sqlite");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    let lease_owner =
        || -> Option<String> { conn.query_row("SELECT lease_owner FROM events WHERE id = ?1", [&id], |r| r.get(0)).unwrap() };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| outbox::flush(clients(), &slow, 10, 30.0).unwrap());
        let started = std::time::Instant::now();
        let stalled = loop {
            if let Some(owner) = lease_owner() {
                break owner;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "the first flusher did not claim");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        // The first flusher stalls past its lease (made to run out now).
        conn.execute("UPDATE events SET lease_until_ms = 0, next_at_ms = 0 WHERE id = ?1", [&id]).unwrap();
        let second = outbox::flush(clients(), &slower, 10, 30.0).unwrap();
        let took_over = lease_owner();
        assert!(took_over.is_none(), "released once recorded");
        let first = first.join().unwrap();
        assert!(!stalled.is_empty());
        (first, second)
    });
    assert_eq!((first.delivered, first.skipped), (0, 1), "the stale write is ignored: {first:?}");
    assert_eq!((second.delivered, second.skipped), (1, 0), "{second:?}");
    assert_eq!(rx.keys()[&id], 2, "both sent it (same Idempotency-Key)");
    let (state, attempts): (String, i64) =
        conn.query_row("SELECT state, attempts FROM events WHERE id = ?1", [&id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((state.as_str(), attempts), ("delivered", 1), "one result");
    let delivered = audit_lines(&dir).iter().filter(|l| l["outcome"] == "delivered" && l["event_id"] == id.as_str()).count();
    assert_eq!(delivered, 1, "one delivery recorded");
}
