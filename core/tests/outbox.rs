//! The outbox against a real HTTPS receiver (tests/support/receiver.py, python3 + openssl).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secure_forward_core::config::Config;
use secure_forward_core::outbox::{self, FlushCounts};
use secure_forward_core::policy::Prepared;

mod common;
use common::{ca_dir, free_port, temp, Server, TempDir};

fn config(dir: &Path, port: u16, path: &str, outbox_extra: &str) -> Config {
    let text = format!(
        "[destinations.crm]\nurl = \"https://localhost:{port}{path}\"\nca_file = \"{ca}\"\ntimeout_ms = 3000\nconnect_timeout_ms = 1000\n\n\
         [outbox]\npath = \"{db}\"\n{outbox_extra}\n",
        ca = ca_dir().join("ca.pem").display(),
        db = dir.join("outbox.sqlite").display(),
    );
    let file = dir.join("secure-forward.toml");
    std::fs::write(&file, &text).unwrap();
    Config::parse(&file, &text).unwrap()
}

fn order(id: u32, extra: &str) -> Prepared {
    Prepared {
        body: format!("{{\"id\":{id},\"status\":\"processing\",\"total\":\"10.00\"{extra}}}").into_bytes(),
        order_id: id.to_string(),
    }
}

fn dest(c: &Config) -> Arc<secure_forward_core::config::Destination> {
    Arc::clone(c.destination("crm").unwrap())
}

fn flush(c: &Config) -> FlushCounts {
    outbox::flush(c, 1000, 20.0).unwrap()
}

#[test]
fn outage_queues_fast_then_flush_delivers_all_exactly_once() {
    let dir = temp("outage");
    let port = free_port();
    let c = config(&dir, port, "/ok", "retry_schedule = [0, 0, 0, 0, 0]");
    let d = dest(&c);
    let mut skipped_inline = 0;
    for i in 1..=8 {
        let started = Instant::now();
        let r = outbox::submit(&c, &d, &order(i, ""), "order.processing").unwrap();
        assert_eq!(r.status, "queued", "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "receiver down must not slow the checkout");
        if r.reason.as_deref() == Some("circuit open") {
            skipped_inline += 1;
            assert_eq!(r.attempts, 0);
        }
    }
    // 5 consecutive failures open the circuit: the last 3 only enqueue.
    assert_eq!(skipped_inline, 3);
    let s = outbox::status(&c).unwrap();
    assert_eq!(s["queued"], 8);
    assert_eq!(s["circuit"], "open");
    assert_eq!(s["destinations"]["crm"]["circuit"], "open");
    assert!(s["last_error"].as_str().unwrap().contains("localhost"), "{s}");

    let rx = Server::receiver_on(&dir, port);
    assert_eq!(rx.port, port);
    let f = flush(&c);
    assert_eq!((f.delivered, f.retried, f.dead, f.remaining), (8, 0, 0, 0), "{f:?}");
    assert_eq!(flush(&c), FlushCounts::default());
    let keys = rx.keys();
    assert_eq!(keys.len(), 8);
    assert!(keys.values().all(|n| *n == 1), "{keys:?}");
    let s = outbox::status(&c).unwrap();
    assert_eq!((s["queued"].as_u64(), s["delivered"].as_u64()), (Some(0), Some(8)), "{s}");
    assert_eq!(s["circuit"], "closed");
    assert!(s["last_success_at"].as_u64().is_some());
    assert_eq!(s["oldest_queued_age_s"], serde_json::Value::Null);
}

#[test]
fn server_errors_are_retried_with_one_idempotency_key() {
    let dir = temp("seq");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/seq/503,503,503,200", "retry_schedule = [0, 0, 0]");
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!((r.status.as_str(), r.http_status, r.attempts), ("queued", Some(503), 1), "{r:?}");
    // Each flush attempts an event at most once.
    assert_eq!(flush(&c).retried, 1);
    assert_eq!(flush(&c).retried, 1);
    let f = flush(&c);
    assert_eq!((f.delivered, f.remaining), (1, 0), "{f:?}");
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 4);
    for req in &reqs {
        assert_eq!(req["headers"]["idempotency-key"], r.event_id.as_str());
        assert_eq!(req["body"], "{\"id\":1,\"status\":\"processing\",\"total\":\"10.00\"}");
    }
    // Resubmitting the delivered state returns its receipt and sends nothing.
    let again = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!((again.status.as_str(), again.attempts, again.http_status), ("delivered", 4, Some(200)));
    assert_eq!(rx.requests().len(), 4);
}

#[test]
fn retries_past_the_schedule_go_dead() {
    let dir = temp("exhaust");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/status/500", "retry_schedule = [0]");
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!(r.status, "queued");
    let f = flush(&c);
    assert_eq!((f.dead, f.remaining), (1, 0));
    let s = outbox::status(&c).unwrap();
    assert_eq!(s["dead"], 1);
    assert!(s["last_error"].as_str().unwrap().contains("retries exhausted"), "{s}");
}

#[test]
fn retry_after_is_honoured() {
    let dir = temp("429");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/seq/429r2,200", "retry_schedule = [0, 0]");
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!((r.status.as_str(), r.http_status), ("queued", Some(429)));
    let f = flush(&c);
    assert_eq!((f.delivered, f.retried, f.remaining), (0, 0, 1), "not due before Retry-After");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(flush(&c).delivered, 0, "still not due after 1 s");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(flush(&c).delivered, 1);
    assert_eq!(rx.requests().len(), 2);
}

#[test]
fn unauthorized_is_dead_lettered_without_retry_and_requeue_works() {
    let dir = temp("401");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/status/401", "retry_schedule = [0, 0, 0]");
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!((r.status.as_str(), r.http_status, r.attempts), ("dead", Some(401), 1), "{r:?}");
    assert!(r.reason.as_deref().unwrap().contains("authentication rejected"));
    assert_eq!(flush(&c), FlushCounts::default());
    assert_eq!(rx.requests().len(), 1);
    // Same state again: stays dead, nothing sent.
    let again = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!((again.status.as_str(), again.event_id.as_str()), ("dead", r.event_id.as_str()));
    assert_eq!(rx.requests().len(), 1);
    let s = outbox::status(&c).unwrap();
    assert_eq!((s["dead"].as_u64(), s["circuit"].as_str()), (Some(1), Some("closed")), "a 401 does not open the circuit");
    // An operator requeues it: it is tried again (and dies again).
    assert!(outbox::requeue(&c, &r.event_id).unwrap());
    assert!(!outbox::requeue(&c, "evt_nope").unwrap());
    assert_eq!(flush(&c).dead, 1);
    assert_eq!(rx.requests().len(), 2);
}

#[test]
fn redirect_is_dead() {
    let dir = temp("302");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/redirect", "");
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!((r.status.as_str(), r.http_status), ("dead", Some(302)));
}

#[test]
fn same_order_state_is_enqueued_once() {
    let dir = temp("dedupe");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let d = dest(&c);
    let a = outbox::submit(&c, &d, &order(5, ""), "order.processing").unwrap();
    let b = outbox::submit(&c, &d, &order(5, ""), "order.processing").unwrap();
    assert_eq!((a.status.as_str(), a.reason.as_deref()), ("queued", Some("deferred delivery")));
    assert_eq!(a.event_id, b.event_id);
    // A changed state or another event is a new event.
    let changed = outbox::submit(&c, &d, &order(5, ",\"x\":1"), "order.processing").unwrap();
    let other = outbox::submit(&c, &d, &order(5, ""), "order.completed").unwrap();
    assert_ne!(changed.event_id, a.event_id);
    assert_ne!(other.event_id, a.event_id);
    assert_eq!(outbox::status(&c).unwrap()["queued"], 3);
    assert_eq!(flush(&c).delivered, 3);
    assert_eq!(rx.keys().len(), 3);
    let s = outbox::status(&c).unwrap();
    assert!(s["destinations"]["crm"]["last_success_at"].as_u64().is_some(), "{s}");
    assert_eq!(s["last_error"], serde_json::Value::Null);
}

#[test]
fn no_plaintext_at_rest_and_files_are_0600() {
    let dir = temp("pii");
    let rx = Server::receiver_on(&dir, 0);
    let pii = "alice.pii.marker@example.com";
    // Delivered first: an inline delivery may truncate the WAL (at most once a
    // minute), and the queued event's frames written after it must be looked at.
    let c2 = config(&dir, rx.port, "/ok", "retry_schedule = [3600]");
    let r2 = outbox::submit(&c2, &dest(&c2), &order(2, &format!(",\"email\":\"{pii}\"")), "order.processing").unwrap();
    assert_eq!(r2.status, "delivered");
    // Keep a connection open so that the WAL is not checkpointed away when the
    // process-wide connection moves to another test's database.
    let hold = rusqlite::Connection::open(dir.join("outbox.sqlite")).unwrap();
    hold.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap();
    let c = config(&dir, rx.port, "/status/503", "retry_schedule = [3600]");
    let r = outbox::submit(&c, &dest(&c), &order(1, &format!(",\"email\":\"{pii}\"")), "order.processing").unwrap();
    assert_eq!(r.status, "queued");
    // The receiver did get it (so the marker was really in the payload).
    assert!(rx.requests().iter().any(|q| q["body"].as_str().unwrap().contains(pii)));
    let db = dir.join("outbox.sqlite");
    let mut seen = 0;
    for suffix in ["", "-wal", "-shm", ".key"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(bytes) = std::fs::read(&p) else { continue };
        seen += 1;
        if suffix == "-wal" {
            assert!(bytes.len() > 4096, "the WAL holds the frames written");
        }
        assert!(!bytes.windows(pii.len()).any(|w| w == pii.as_bytes()), "{} holds plaintext", p.display());
        assert!(!bytes.windows(8).any(|w| w == b"\"email\":"), "{} holds plaintext", p.display());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    assert_eq!(seen, 4, "db, wal, shm and key file expected");
    drop(hold);
    // The delivered row's payload is erased; the queued one is kept (encrypted).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let delivered: Option<Vec<u8>> =
        conn.query_row("SELECT payload FROM events WHERE id = ?1", [&r2.event_id], |r| r.get(0)).unwrap();
    assert!(delivered.is_none());
    let queued: Option<Vec<u8>> =
        conn.query_row("SELECT payload FROM events WHERE id = ?1", [&r.event_id], |r| r.get(0)).unwrap();
    assert!(queued.is_some());
}

#[test]
fn key_file_is_generated_in_a_new_dir_and_unwritable_path_is_a_config_error() {
    let dir = temp("keygen");
    let mut c = config(&dir, 9, "/ok", "delivery = \"deferred\"");
    c.outbox.path = dir.join("new/sub/outbox.sqlite");
    c.outbox.key_file = dir.join("keys/outbox.key");
    outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    for p in [&c.outbox.path, &c.outbox.key_file] {
        assert_eq!(std::fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
    }
    let mut bad = config(&dir, 9, "/ok", "");
    bad.outbox.path = PathBuf::from("/proc/sf-nope/outbox.sqlite");
    let e = outbox::submit(&bad, &dest(&bad), &order(1, ""), "order.processing").unwrap_err();
    assert_eq!(e.kind(), secure_forward_core::ErrorKind::Config);
    assert!(e.to_string().contains("/proc/sf-nope/outbox.sqlite"), "{e}");
    let mut bad_key = config(&dir, 9, "/ok", "");
    bad_key.outbox.key_file = PathBuf::from("/proc/sf-nope/outbox.key");
    let e = outbox::submit(&bad_key, &dest(&bad_key), &order(1, ""), "order.processing").unwrap_err();
    assert!(e.to_string().contains("/proc/sf-nope/outbox.key"), "{e}");
    // An invalid event name is a validation error, nothing is stored.
    let e = outbox::submit(&c, &dest(&c), &order(2, ""), "bad event").unwrap_err();
    assert_eq!(e.kind(), secure_forward_core::ErrorKind::Validation);
}

#[test]
fn tampered_row_is_skipped_and_reported_others_flow() {
    let dir = temp("tamper");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let d = dest(&c);
    let ids: Vec<String> = (1..=3).map(|i| outbox::submit(&c, &d, &order(i, ""), "order.processing").unwrap().event_id).collect();
    {
        let conn = rusqlite::Connection::open(dir.join("outbox.sqlite")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let mut blob: Vec<u8> = conn.query_row("SELECT payload FROM events WHERE id = ?1", [&ids[0]], |r| r.get(0)).unwrap();
        *blob.last_mut().unwrap() ^= 0x01;
        conn.execute("UPDATE events SET payload = ?2 WHERE id = ?1", rusqlite::params![ids[0], blob]).unwrap();
        // Moving a valid blob onto another row is detected too (bound to its row).
        let other: Vec<u8> = conn.query_row("SELECT payload FROM events WHERE id = ?1", [&ids[2]], |r| r.get(0)).unwrap();
        conn.execute("UPDATE events SET payload = ?2 WHERE id = ?1", rusqlite::params![ids[1], other]).unwrap();
    }
    // A row whose columns are damaged (event is a blob now) is set aside too.
    let corrupt = outbox::submit(&c, &d, &order(4, ""), "order.processing").unwrap().event_id;
    {
        let conn = rusqlite::Connection::open(dir.join("outbox.sqlite")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute("UPDATE events SET event = x'ff00' WHERE id = ?1", [&corrupt]).unwrap();
    }
    let f = flush(&c);
    assert_eq!((f.delivered, f.skipped, f.remaining), (1, 3, 0), "{f:?}");
    let s = outbox::status(&c).unwrap();
    assert_eq!(s["undecryptable"], 3, "{s}");
    assert_eq!(rx.keys().len(), 1);
    assert!(rx.keys().contains_key(&ids[2]));
}

#[test]
fn rotated_key_still_decrypts_old_rows() {
    let dir = temp("rotate");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let d = dest(&c);
    outbox::submit(&c, &d, &order(1, ""), "order.processing").unwrap();
    let old = std::fs::read_to_string(&c.outbox.key_file).unwrap();
    let new = secure_forward_core::outbox::keys::generate_key_line().unwrap();
    let tmp = dir.join("key.new");
    std::fs::write(&tmp, format!("{}{old}", new.as_str())).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, &c.outbox.key_file).unwrap();
    std::thread::sleep(secure_forward_core::secret::RECHECK + Duration::from_millis(100));
    outbox::submit(&c, &d, &order(2, ""), "order.processing").unwrap();
    let conn = rusqlite::Connection::open(&c.outbox.path).unwrap();
    let key_ids: Vec<String> = conn
        .prepare("SELECT DISTINCT key_id FROM events")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(key_ids.len(), 2, "the new key encrypts new rows");
    assert_eq!(flush(&c).delivered, 2, "the old key still decrypts");
}

#[test]
fn missing_api_key_file_keeps_the_event_queued() {
    let dir = temp("nokey");
    let rx = Server::receiver_on(&dir, 0);
    let text = format!(
        "[destinations.crm]\nurl = \"https://localhost:{}/ok\"\nca_file = \"{}\"\nkey_file = \"{}\"\n\n[outbox]\npath = \"{}\"\nretry_schedule = [0, 0]\n",
        rx.port,
        ca_dir().join("ca.pem").display(),
        dir.join("api.key").display(),
        dir.join("outbox.sqlite").display()
    );
    let c = Config::parse(&dir.join("c.toml"), &text).unwrap();
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    assert_eq!(r.status, "queued", "{r:?}");
    assert!(r.reason.as_deref().unwrap().contains("api.key"), "{r:?}");
    assert_eq!(rx.requests().len(), 0);
    assert_eq!(outbox::status(&c).unwrap()["circuit"], "closed");
    // The operator installs the key: the next flush delivers it, with the key.
    let key = dir.join("api.key");
    std::fs::write(&key, "sk_test_123\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(flush(&c).delivered, 1);
    assert_eq!(rx.requests()[0]["headers"]["x-api-key"], "sk_test_123");
}

#[test]
fn a_leased_event_is_not_sent_until_the_lease_expires() {
    let dir = temp("lease");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let r = outbox::submit(&c, &dest(&c), &order(1, ""), "order.processing").unwrap();
    let conn = rusqlite::Connection::open(&c.outbox.path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let set_lease = |delta_ms: i64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        conn.execute(
            "UPDATE events SET lease_owner = 'crashed:0', lease_until_ms = ?2 WHERE id = ?1",
            rusqlite::params![r.event_id, now + delta_ms],
        )
        .unwrap();
    };
    // Another process claimed it and is (or was) sending: not touched.
    set_lease(60_000);
    let f = flush(&c);
    assert_eq!((f.delivered, f.remaining), (0, 1));
    // That process died; its lease ran out: the event is sent.
    set_lease(-1);
    assert_eq!(flush(&c).delivered, 1);
    assert_eq!(rx.keys()[&r.event_id], 1);
}

#[test]
fn purge_erases_an_orders_undelivered_events() {
    let dir = temp("purge");
    let c = config(&dir, 9, "/ok", "delivery = \"deferred\"");
    let d = dest(&c);
    outbox::submit(&c, &d, &order(7, ""), "order.processing").unwrap();
    outbox::submit(&c, &d, &order(7, ""), "order.completed").unwrap();
    outbox::submit(&c, &d, &order(8, ""), "order.processing").unwrap();
    assert_eq!(outbox::purge(&c, "7").unwrap(), 2);
    assert_eq!(outbox::purge(&c, "7").unwrap(), 0);
    assert_eq!(outbox::status(&c).unwrap()["queued"], 1);
}

/// Child half of the multi-process test: flushes until the queue is empty.
#[test]
#[ignore = "run by concurrent_processes_deliver_each_event_exactly_once"]
fn child_flusher() {
    let Ok(file) = std::env::var("SF_OUTBOX_CHILD_CONFIG") else { return };
    let c = Config::load_uncached(Path::new(&file)).unwrap();
    let done = PathBuf::from(format!("{file}.done"));
    let started = Instant::now();
    let mut delivered = 0;
    while started.elapsed() < Duration::from_secs(20) {
        let f = outbox::flush(&c, 5, 5.0).unwrap();
        delivered += f.delivered;
        std::fs::write(format!("{file}.child-{}", std::process::id()), delivered.to_string()).unwrap();
        if f.remaining == 0 && done.exists() {
            break;
        }
        if f.delivered == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn concurrent_processes_deliver_each_event_exactly_once() {
    let dir = temp("concurrent");
    let rx = Server::receiver_on(&dir, 0);
    let c = Arc::new(config(&dir, rx.port, "/slow/5", "delivery = \"deferred\""));
    let file = dir.join("secure-forward.toml");
    let _ = std::fs::remove_file(format!("{}.done", file.display()));
    let children: Vec<Child> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["child_flusher", "--exact", "--ignored", "--test-threads=1", "--quiet", "--nocapture"])
                .env("SF_OUTBOX_CHILD_CONFIG", &file)
                .spawn()
                .unwrap()
        })
        .collect();
    // Two writer threads (inline delivery for half of them) and one flusher thread here.
    let inline = Arc::new(config(&dir, rx.port, "/slow/5", ""));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let c = if w == 0 { Arc::clone(&c) } else { Arc::clone(&inline) };
            std::thread::spawn(move || {
                let d = dest(&c);
                for i in 0..30 {
                    let r = outbox::submit(&c, &d, &order(w * 1000 + i, ""), "order.processing").unwrap();
                    assert_ne!(r.status, "dead");
                }
            })
        })
        .collect();
    let flusher = {
        let c = Arc::clone(&c);
        std::thread::spawn(move || {
            for _ in 0..50 {
                outbox::flush(&c, 5, 5.0).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    flusher.join().unwrap();
    std::fs::write(format!("{}.done", file.display()), "").unwrap();
    for mut ch in children {
        let st = ch.wait().unwrap();
        assert!(st.success());
    }
    let by_children: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.file_name().to_string_lossy().contains(".child-").then(|| std::fs::read_to_string(e.path()).unwrap())
        })
        .map(|s| s.parse::<u64>().unwrap())
        .sum();
    eprintln!("delivered by the two child processes: {by_children} of 60");
    let f = flush(&c);
    assert_eq!(f.remaining, 0, "{f:?}");
    let keys = rx.keys();
    assert_eq!(keys.len(), 60);
    let dups: Vec<_> = keys.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "sent more than once: {dups:?}");
    assert_eq!(outbox::status(&c).unwrap()["delivered"], 60);
}

/// Enqueue cost with the circuit open (the checkout cost while the endpoint is
/// down). `cargo test -p secure_forward_core --release --test outbox -- --ignored enqueue_cost --nocapture`
/// (`SF_BENCH_DIR=/var/lib/...` measures on another file system).
#[test]
#[ignore = "benchmark"]
fn enqueue_cost_with_circuit_open() {
    let dir = std::env::var_os("SF_BENCH_DIR").map_or_else(
        || temp("bench"),
        |d| {
            let d = PathBuf::from(d).join(format!("sf-bench-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            TempDir(d)
        },
    );
    let c = config(&dir, free_port(), "/ok", "");
    let d = dest(&c);
    for i in 0..5 {
        outbox::submit(&c, &d, &order(i, ""), "order.processing").unwrap();
    }
    assert_eq!(outbox::status(&c).unwrap()["circuit"], "open");
    let n = 500;
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let p = order(100 + i as u32, ",\"line_items\":[{\"sku\":\"ABC-1\",\"quantity\":2,\"total\":\"19.98\"}]");
        let t = Instant::now();
        let r = outbox::submit(&c, &d, &p, "order.processing").unwrap();
        times.push(t.elapsed());
        assert_eq!(r.reason.as_deref(), Some("circuit open"));
    }
    times.sort();
    println!(
        "enqueue with circuit open, synchronous={}, {} ({n} events): median {:?}, p99 {:?}, max {:?}",
        c.outbox.synchronous.pragma(),
        dir.display(),
        times[n / 2],
        times[n * 99 / 100],
        times[n - 1]
    );
    // What synchronous=FULL costs over NORMAL for one committed insert, same disk.
    for mode in ["NORMAL", "FULL"] {
        let conn = rusqlite::Connection::open(dir.join(format!("raw-{mode}.sqlite"))).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)).unwrap();
        conn.pragma_update(None, "synchronous", mode).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)").unwrap();
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            conn.execute("INSERT INTO t (b) VALUES (?1)", [vec![7u8; 300]]).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!("raw WAL insert, synchronous={mode}: median {:?}, p99 {:?}", times[n / 2], times[n * 99 / 100]);
    }
}

#[test]
fn submit_order_minimises_and_submits() {
    let dir = temp("order");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "");
    let o = serde_json::json!({"id": 42, "status": "processing", "currency": "EUR", "total": "9.99",
                               "billing": {"email": "bob.marker@example.com"}});
    let r = outbox::submit_order(&c, "crm", &o, "order.processing").unwrap();
    assert_eq!(r.status, "delivered", "{r:?}");
    let body = rx.requests()[0]["body"].as_str().unwrap().to_owned();
    assert!(!body.contains("bob.marker"), "policy applied before enqueue");
    let e = outbox::submit_order(&c, "nope", &o, "order.processing").unwrap_err();
    assert_eq!(e.kind(), secure_forward_core::ErrorKind::Config);
}

/// Child half of the crash test: enqueues, then dies without any cleanup.
#[test]
#[ignore = "run by an_order_enqueued_before_a_crash_is_delivered_after_it"]
fn child_enqueue_then_abort() {
    let Ok(file) = std::env::var("SF_OUTBOX_ABORT_CONFIG") else { return };
    let c = Config::load_uncached(Path::new(&file)).unwrap();
    let r = outbox::submit(&c, &dest(&c), &order(77, ""), "order.processing").unwrap();
    assert_eq!(r.status, "queued");
    std::fs::write(format!("{file}.event"), &r.event_id).unwrap();
    std::process::abort();
}

#[test]
fn an_order_enqueued_before_a_crash_is_delivered_after_it() {
    let dir = temp("crash");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let file = dir.join("secure-forward.toml");
    let st = Command::new(std::env::current_exe().unwrap())
        .args(["child_enqueue_then_abort", "--exact", "--ignored", "--test-threads=1", "--quiet", "--nocapture"])
        .env("SF_OUTBOX_ABORT_CONFIG", &file)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success(), "the child aborts");
    let id = std::fs::read_to_string(format!("{}.event", file.display())).unwrap();
    assert_eq!(outbox::status(&c).unwrap()["queued"], 1);
    assert_eq!(flush(&c).delivered, 1);
    assert_eq!(rx.keys()[&id], 1);
}

/// The files of the outbox database whose bytes contain `needle` (db, -wal, -shm).
fn files_holding(db: &Path, needle: &[u8]) -> Vec<String> {
    ["", "-wal", "-shm"]
        .iter()
        .filter(|suffix| {
            std::fs::read(format!("{}{suffix}", db.display())).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        })
        .map(|s| s.to_string())
        .collect()
}

fn payload_of(db: &Path, event_id: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT payload FROM events WHERE id = ?1", [event_id], |r| r.get(0)).unwrap()
}

#[test]
fn a_purge_leaves_no_ciphertext_in_any_file_of_the_outbox() {
    let dir = temp("purge-wal");
    let c = config(&dir, 9, "/ok", "delivery = \"deferred\"");
    let db = dir.join("outbox.sqlite");
    // A connection kept open: the process-wide one moving to another test's
    // database must not be what checkpoints this one.
    let hold = rusqlite::Connection::open(&db).unwrap();
    let r = outbox::submit(
        &c,
        &dest(&c),
        &order(41, ",\"note\":\"a longer body so that the ciphertext is unique\""),
        "order.processing",
    )
    .unwrap();
    outbox::submit(&c, &dest(&c), &order(42, ""), "order.processing").unwrap();
    let blob = payload_of(&db, &r.event_id);
    assert!(blob.len() > 40);
    assert!(!files_holding(&db, &blob).is_empty(), "the ciphertext is on disk before the purge");
    assert_eq!(outbox::purge(&c, "41").unwrap(), 1);
    for needle in [&blob[..], &blob[blob.len() / 2..blob.len() / 2 + 16]] {
        assert_eq!(files_holding(&db, needle), Vec::<String>::new(), "ciphertext left after the purge");
    }
    assert_eq!(outbox::status(&c).unwrap()["erasure_pending"], false);
    drop(hold);
}

#[test]
fn a_purge_blocked_by_a_reader_is_pending_until_a_flush_erases_it() {
    let dir = temp("purge-pending");
    let c = config(&dir, 9, "/ok", "delivery = \"deferred\"");
    let db = dir.join("outbox.sqlite");
    let r = outbox::submit(&c, &dest(&c), &order(51, ",\"note\":\"pending erasure\""), "order.processing").unwrap();
    let blob = payload_of(&db, &r.event_id);
    // Another process in the middle of a read: the WAL cannot be truncated.
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    reader.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap();
    let started = Instant::now();
    assert_eq!(outbox::purge(&c, "51").unwrap(), 1);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(outbox::status(&c).unwrap()["erasure_pending"], true);
    assert!(!files_holding(&db, &blob).is_empty(), "still in the WAL while the reader holds it");
    reader.execute_batch("COMMIT").unwrap();
    flush(&c);
    assert_eq!(files_holding(&db, &blob), Vec::<String>::new());
    assert_eq!(outbox::status(&c).unwrap()["erasure_pending"], false);
}

#[test]
fn a_purge_of_a_just_delivered_order_leaves_no_ciphertext_in_the_wal() {
    let dir = temp("purge-delivered");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let db = dir.join("outbox.sqlite");
    let hold = rusqlite::Connection::open(&db).unwrap();
    let r =
        outbox::submit(&c, &dest(&c), &order(91, ",\"note\":\"delivered, then erased on request\""), "order.processing").unwrap();
    let blob = payload_of(&db, &r.event_id);
    // A reader keeps the flush from truncating the WAL (best effort there).
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    reader.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(flush(&c).delivered, 1);
    assert!(!files_holding(&db, &blob).is_empty(), "the delivered payload's old copy is still on disk");
    reader.execute_batch("COMMIT").unwrap();
    // The customer asks for erasure: the delivered event keeps its metadata,
    // but no copy of its ciphertext may stay behind.
    assert_eq!(outbox::purge(&c, "91").unwrap(), 0);
    assert_eq!(files_holding(&db, &blob), Vec::<String>::new(), "ciphertext left after the purge");
    assert_eq!(outbox::status(&c).unwrap()["erasure_pending"], false);
    drop(hold);
}

#[test]
fn a_delivered_payloads_ciphertext_is_gone_after_the_flush() {
    let dir = temp("delivered-wal");
    let rx = Server::receiver_on(&dir, 0);
    let c = config(&dir, rx.port, "/ok", "delivery = \"deferred\"");
    let db = dir.join("outbox.sqlite");
    let hold = rusqlite::Connection::open(&db).unwrap();
    let r = outbox::submit(&c, &dest(&c), &order(61, ",\"note\":\"delivered then erased\""), "order.processing").unwrap();
    let blob = payload_of(&db, &r.event_id);
    assert!(!files_holding(&db, &blob).is_empty());
    assert_eq!(flush(&c).delivered, 1);
    assert_eq!(rx.keys()[&r.event_id], 1);
    assert_eq!(files_holding(&db, &blob), Vec::<String>::new(), "ciphertext left after the flush");
    drop(hold);
}

#[test]
fn order_ids_with_leading_zeros_are_one_order() {
    assert_eq!(outbox::order_key("007"), "7");
    assert_eq!(outbox::order_key("000"), "0");
    assert_eq!(outbox::order_key("0"), "0");
    assert_eq!(outbox::order_key("70"), "70");
    assert_eq!(outbox::order_key("0x7"), "0x7");
    assert_eq!(outbox::order_key(""), "");
    let dir = temp("purge-zeros");
    let c = config(&dir, 9, "/ok", "delivery = \"deferred\"");
    let d = dest(&c);
    let sent = |id: &str, event: &str| {
        let p = Prepared { body: format!("{{\"id\":\"{id}\",\"total\":\"1.00\"}}").into_bytes(), order_id: id.to_owned() };
        outbox::submit(&c, &d, &p, event).unwrap()
    };
    let a = sent("007", "order.processing");
    sent("7", "order.completed");
    sent("0070", "order.processing");
    // The body keeps the id as the shop sent it; the row's order_id too (it is
    // part of the ciphertext's associated data).
    let conn = rusqlite::Connection::open(dir.join("outbox.sqlite")).unwrap();
    let (order_id, key): (String, String) = conn
        .query_row("SELECT order_id, order_key FROM events WHERE id = ?1", [&a.event_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((order_id.as_str(), key.as_str()), ("007", "7"));
    drop(conn);
    assert_eq!(outbox::purge(&c, "0007").unwrap(), 2);
    assert_eq!(outbox::purge(&c, "7").unwrap(), 0);
    assert_eq!(outbox::purge(&c, "70").unwrap(), 1);
    assert_eq!(outbox::status(&c).unwrap()["queued"], 0);
}

/// Child half of the inline-erasure test: one inline delivery, then it keeps its
/// connection open a while (its exit must not be what removes the WAL).
#[test]
#[ignore = "run by an_inline_delivery_truncates_the_wal_when_none_did_for_a_minute"]
fn child_inline_submit() {
    let Ok(file) = std::env::var("SF_OUTBOX_INLINE_CONFIG") else { return };
    let c = Config::load_uncached(Path::new(&file)).unwrap();
    let r = outbox::submit(&c, &dest(&c), &order(71, ",\"note\":\"inline then erased\""), "order.processing").unwrap();
    assert_eq!(r.status.as_str(), "delivered");
    std::fs::write(format!("{file}.done"), "1").unwrap();
    std::thread::sleep(Duration::from_secs(3));
}

#[test]
fn an_inline_delivery_truncates_the_wal_when_none_did_for_a_minute() {
    let dir = temp("inline-wal");
    let rx = Server::receiver_on(&dir, 0);
    // Slow enough for the payload to be read while the attempt is in flight.
    let c = config(&dir, rx.port, "/slow/1500", "");
    let file = dir.join("secure-forward.toml");
    let db = dir.join("outbox.sqlite");
    assert_eq!(outbox::status(&c).unwrap()["queued"], 0, "database created");
    let hold = rusqlite::Connection::open(&db).unwrap();
    // A fresh process: it has not looked at the WAL yet (once a minute at most).
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_inline_submit", "--exact", "--ignored", "--test-threads=1", "--quiet", "--nocapture"])
        .env("SF_OUTBOX_INLINE_CONFIG", &file)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let blob: Vec<u8> = loop {
        let row = hold.query_row("SELECT payload FROM events", [], |r| r.get::<_, Option<Vec<u8>>>(0));
        if let Ok(Some(b)) = row {
            break b;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the child did not enqueue");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!files_holding(&db, &blob).is_empty(), "the ciphertext is on disk while in flight");
    let done = PathBuf::from(format!("{}.done", file.display()));
    while !done.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "the child did not deliver");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The child is still alive, its connection open: only a truncation removed it.
    assert_eq!(files_holding(&db, &blob), Vec::<String>::new(), "ciphertext left after an inline delivery");
    assert!(child.wait().unwrap().success());
    assert_eq!(rx.keys().len(), 1);
    drop(hold);
}
