//! Rate limits and pauses in the flusher, against a real HTTPS receiver
//! (tests/support/receiver.py). These pace by the wall clock by nature; bounds are generous.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use secure_forward_core::config::Config;
use secure_forward_core::outbox::{self, shared};
use secure_forward_core::policy::Prepared;

mod common;
use common::{ca_dir, temp, Server};

fn config(dir: &Path, port: u16, path: &str, dest_extra: &str) -> Config {
    let text = format!(
        "[destinations.crm]\nurl = \"https://localhost:{port}{path}\"\nca_file = \"{ca}\"\n{dest_extra}\n\n\
         [outbox]\npath = \"{db}\"\nretry_schedule = [0, 0, 0]\ndelivery = \"deferred\"\n",
        ca = ca_dir().join("ca.pem").display(),
        db = dir.join("outbox.sqlite").display(),
    );
    Config::parse(&dir.join("c.toml"), &text).unwrap()
}

fn enqueue(c: &Config, n: u32) {
    let d = Arc::clone(c.destination("crm").unwrap());
    for id in 0..n {
        let p = Prepared { body: format!("{{\"id\":{id}}}").into_bytes(), order_id: id.to_string() };
        assert_eq!(outbox::submit(c, &d, &p, "order.processing").unwrap().status, "queued");
    }
}

fn max_in_window(times: &[f64], w: f64) -> usize {
    let mut j = 0;
    let mut most = 0;
    for (i, t) in times.iter().enumerate() {
        while j < times.len() && times[j] < t + w {
            j += 1;
        }
        most = most.max(j - i);
    }
    most
}

#[test]
fn flush_paces_itself_to_the_bucket() {
    let dir = temp("pace");
    let r = Server::receiver(&dir, &[]);
    let c = config(&dir, r.port, "/ok", "rate_limit = { requests = 5, per_s = 1 }");
    enqueue(&c, 15);
    let counts = outbox::flush(&c, 1000, 20.0).unwrap();
    assert_eq!((counts.delivered, counts.remaining), (15, 0), "{counts:?}");
    let t = r.times();
    assert_eq!(t.len(), 15);
    for w in [1.0, 2.0] {
        let most = max_in_window(&t, w);
        assert!(most as f64 <= 5.0 + 5.0 * w + 1.0, "{most} requests in {w} s");
    }
    assert!(t[14] - t[0] > 1.5, "15 requests at 5/s after a burst of 5 take 2 s, took {}", t[14] - t[0]);
}

#[test]
fn flush_skips_a_paused_destination_then_resumes_after_retry_after() {
    let dir = temp("pause");
    let r = Server::receiver(&dir, &[]);
    let c = config(&dir, r.port, "/seq/429r1,200", "");
    enqueue(&c, 3);
    // The first request is answered 429 + Retry-After: 1: the whole destination
    // pauses, and a flush with less time than that sends nothing more.
    let counts = outbox::flush(&c, 1000, 0.5).unwrap();
    assert_eq!((counts.delivered, counts.retried), (0, 1), "{counts:?}");
    assert_eq!(r.times().len(), 1);
    assert!(shared::paused_until(&c, "crm").unwrap().is_some());
    assert!(outbox::status(&c).unwrap()["destinations"]["crm"]["paused_until"].is_u64());
    assert!(!shared::take_token(&c, c.destination("crm").unwrap()).unwrap(), "paused: no token");
    let counts = outbox::flush(&c, 1000, 10.0).unwrap();
    assert_eq!((counts.delivered, counts.remaining), (3, 0), "{counts:?}");
    let t = r.times();
    assert_eq!(t.len(), 4);
    assert!(t[1] - t[0] >= 0.9, "resumed {} s after the 429", t[1] - t[0]);
    assert!(shared::paused_until(&c, "crm").unwrap().is_none());
}

#[test]
fn rate_limit_headers_slow_the_flusher_before_the_limit() {
    let dir = temp("headers");
    let r = Server::receiver(&dir, &[]);
    // Remaining 1 then 0, reset in 1 s: the second request waits half the window,
    // the third the whole reset.
    let c = config(&dir, r.port, "/ratelimit/2", "");
    enqueue(&c, 3);
    let counts = outbox::flush(&c, 1000, 10.0).unwrap();
    assert_eq!(counts.delivered, 3, "{counts:?}");
    let t = r.times();
    assert!(t[1] - t[0] >= 0.45, "{t:?}");
    assert!(t[2] - t[1] >= 0.9, "{t:?}");
}

#[test]
fn a_version_1_database_gets_the_new_tables() {
    let dir = temp("upgrade");
    let db = dir.join("outbox.sqlite");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE events (id TEXT PRIMARY KEY, destination TEXT NOT NULL, order_id TEXT NOT NULL, event TEXT NOT NULL,
               state TEXT NOT NULL, key_id TEXT, payload BLOB, attempts INTEGER NOT NULL DEFAULT 0, created_at_ms INTEGER NOT NULL,
               next_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, lease_owner TEXT, lease_until_ms INTEGER,
               http_status INTEGER, reason TEXT, delivered_at_ms INTEGER);
             CREATE TABLE circuits (destination TEXT PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0, opened_at_ms INTEGER,
               probe_until_ms INTEGER, last_success_ms INTEGER, last_error TEXT, last_error_ms INTEGER);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let c = config(&dir, 9, "/ok", "rate_limit = { requests = 1, per_s = 60 }");
    let d = c.destination("crm").unwrap();
    assert!(shared::take_token(&c, d).unwrap());
    assert!(!shared::take_token(&c, d).unwrap(), "a bucket of one is empty after one request");
    assert_eq!(outbox::status(&c).unwrap()["destinations"]["crm"]["paused_until"], serde_json::Value::Null);
}

#[test]
#[ignore = "benchmark"]
fn bucket_cost() {
    let dir = temp("bench");
    let c = config(&dir, 9, "/ok", "rate_limit = { requests = 1000000, per_s = 1 }");
    let d = c.destination("crm").unwrap();
    let n = 2000;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        assert!(shared::take_token(&c, d).unwrap());
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "rate-limit token, own IMMEDIATE transaction (synchronous=NORMAL, WAL), {n} takes: median {:?}, p99 {:?}, max {:?}",
        times[n / 2],
        times[n * 99 / 100],
        times[n - 1]
    );
}
