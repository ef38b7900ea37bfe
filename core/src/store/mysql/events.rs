//! Events, circuits and attempts on MariaDB/MySQL: the SQLite backend's
//! operations (`store::sqlite::events`), with row locks where SQLite relied on
//! its single writer.
use std::collections::HashSet;

use mysql::prelude::Queryable as _;
use mysql::{Params, Value};

use super::{Store, Tx};
use crate::error::Result;
use crate::store::{AttemptRow, CircuitRow, DueEvent, EventState, EventSummary, LeaseRow, NewEvent, StatusRows, ATTEMPTS_KEPT};

/// Positional parameters of mixed types.
macro_rules! args {
    ($($v:expr),* $(,)?) => { ::mysql::Params::Positional(vec![$(::mysql::Value::from($v)),*]) };
}
pub(super) use args;

impl Tx<'_> {
    /// What is known of event `id`, if it exists.
    pub fn event_summary(&self, id: &str) -> Result<Option<EventSummary>> {
        let sql = self.sql("SELECT state, http_status, attempts, reason FROM {p}events WHERE id = ?");
        let row: Option<(String, Option<u16>, u32, Option<String>)> = self.run(|t| t.exec_first(sql, (id,)))?;
        Ok(row.map(|(state, http_status, attempts, reason)| EventSummary {
            state: EventState::parse(&state).unwrap_or(EventState::Queued),
            http_status,
            attempts,
            reason,
        }))
    }

    /// Inserts a new `queued` event (due now, or at its lease's end when leased).
    pub fn insert_event(&self, e: &NewEvent<'_>) -> Result<()> {
        let (owner, until) = match e.lease {
            Some((o, u)) => (Some(o), Some(u)),
            None => (None, None),
        };
        let sql = self.sql(
            "INSERT INTO {p}events (id, destination, order_id, order_key, event, state, key_id, payload, attempts,
                                    created_at_ms, next_at_ms, updated_at_ms, lease_owner, lease_until_ms, reason, site)
             VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
        );
        let key = crate::store::order_key(e.order_id).into_owned();
        let params = args![
            e.id,
            e.destination,
            e.order_id,
            key,
            e.event,
            e.key_id,
            e.payload,
            e.now_ms,
            until.unwrap_or(e.now_ms),
            e.now_ms,
            owner,
            until,
            e.reason,
            e.site
        ];
        self.run(|t| t.exec_drop(sql, params))
    }

    /// Inserts a queued event moved from a node's local spool, unless an event
    /// with its id is already there; `true` when inserted.
    pub fn adopt_event(&self, e: &NewEvent<'_>, created_at_ms: i64) -> Result<bool> {
        let sql = self.sql(
            "INSERT IGNORE INTO {p}events (id, destination, order_id, order_key, event, state, key_id, payload, attempts,
                                    created_at_ms, next_at_ms, updated_at_ms, reason, site)
             VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, 0, ?, ?, ?, ?, ?)",
        );
        let key = crate::store::order_key(e.order_id).into_owned();
        let params = args![
            e.id,
            e.destination,
            e.order_id,
            key,
            e.event,
            e.key_id,
            e.payload,
            created_at_ms,
            e.now_ms,
            e.now_ms,
            e.reason,
            e.site
        ];
        self.run(|t| {
            t.exec_drop(sql, params)?;
            Ok(t.affected_rows() > 0)
        })
    }

    /// A destination's circuit and last success, if it has a row (locked).
    pub fn circuit(&self, destination: &str) -> Result<Option<(CircuitRow, Option<i64>)>> {
        let sql = self.sql(
            "SELECT failures, opened_at_ms, probe_until_ms, last_success_ms FROM {p}circuits WHERE destination = ? FOR UPDATE",
        );
        type Row = (u32, Option<i64>, Option<i64>, Option<i64>);
        let row: Option<Row> = self.run(|t| t.exec_first(sql, (destination,)))?;
        Ok(row
            .map(|(failures, opened_at_ms, probe_until_ms, last)| (CircuitRow { failures, opened_at_ms, probe_until_ms }, last)))
    }

    /// Writes a destination's circuit (`since_ms`: when it first opened, kept
    /// through failed probes, cleared when it closes).
    pub fn upsert_circuit(&self, destination: &str, c: &CircuitRow) -> Result<()> {
        // `since_ms` first: MySQL evaluates the assignments left to right.
        let sql = self.sql(
            "INSERT INTO {p}circuits (destination, failures, opened_at_ms, probe_until_ms, since_ms) VALUES (?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE
                since_ms = CASE WHEN VALUES(opened_at_ms) IS NULL THEN NULL ELSE COALESCE(since_ms, VALUES(opened_at_ms)) END,
                failures = VALUES(failures), opened_at_ms = VALUES(opened_at_ms), probe_until_ms = VALUES(probe_until_ms)",
        );
        self.run(|t| t.exec_drop(sql, (destination, c.failures, c.opened_at_ms, c.probe_until_ms, c.opened_at_ms)))
    }

    /// Notes a destination's last success (it must have a circuit row).
    pub fn set_last_success(&self, destination: &str, at_ms: i64) -> Result<()> {
        let sql = self.sql("UPDATE {p}circuits SET last_success_ms = ? WHERE destination = ?");
        self.run(|t| t.exec_drop(sql, (at_ms, destination)))
    }

    /// Notes a destination's last error (it must have a circuit row).
    pub fn set_last_error(&self, destination: &str, reason: &str, at_ms: i64) -> Result<()> {
        let sql = self.sql("UPDATE {p}circuits SET last_error = ?, last_error_ms = ? WHERE destination = ?");
        self.run(|t| t.exec_drop(sql, (reason, at_ms, destination)))
    }

    /// Appends attempts of a destination and keeps its newest [`ATTEMPTS_KEPT`].
    pub fn add_attempts(&self, destination: &str, attempts: &[(i64, &str, Option<u16>, i64)]) -> Result<()> {
        let keep = usize::try_from(ATTEMPTS_KEPT).unwrap_or(10);
        let insert =
            self.sql("INSERT INTO {p}attempts (destination, at_ms, outcome, http_status, latency_ms) VALUES (?, ?, ?, ?, ?)");
        // One statement: the (ATTEMPTS_KEPT + 1)-th newest and older go (the derived
        // table lets MySQL read the table it deletes from).
        let trim = self.sql(
            "DELETE FROM {p}attempts WHERE destination = ? AND id <= (SELECT cut.id FROM
                (SELECT id FROM {p}attempts WHERE destination = ? ORDER BY id DESC LIMIT 1 OFFSET ?) AS cut)",
        );
        self.run(|t| {
            for (at, outcome, status, latency) in attempts.iter().skip(attempts.len().saturating_sub(keep)) {
                t.exec_drop(&insert, (destination, at, outcome, status, latency))?;
            }
            t.exec_drop(&trim, (destination, destination, ATTEMPTS_KEPT))
        })
    }

    /// Marks event `id` delivered if it is still queued under `owner`'s lease;
    /// returns its attempts before this one (one statement: the new count comes
    /// back as `LAST_INSERT_ID(…)` in the server's answer).
    pub fn mark_delivered(&self, id: &str, owner: &str, status: u16, now: i64) -> Result<Option<u32>> {
        let sql = self.sql(
            "UPDATE {p}events SET attempts = LAST_INSERT_ID(attempts + 1), state = 'delivered', payload = NULL,
                    http_status = ?, reason = NULL, delivered_at_ms = ?, updated_at_ms = ?, lease_owner = NULL,
                    lease_until_ms = NULL
             WHERE id = ? AND state = 'queued' AND lease_owner = ?",
        );
        self.run(|t| {
            t.exec_drop(sql, (status, now, now, id, owner))?;
            if t.affected_rows() != 1 {
                return Ok(None);
            }
            let after = t.last_insert_id().unwrap_or(0);
            Ok(u32::try_from(after.saturating_sub(1)).ok())
        })
    }

    /// The attempts so far of event `id`, if it is queued under `owner`'s lease (locked).
    pub fn leased_attempts(&self, id: &str, owner: &str) -> Result<Option<u32>> {
        let sql = self.sql("SELECT attempts FROM {p}events WHERE id = ? AND state = 'queued' AND lease_owner = ? FOR UPDATE");
        self.run(|t| t.exec_first(sql, (id, owner)))
    }

    /// A failed attempt: due again at `next_ms`, lease released.
    pub fn reschedule(&self, id: &str, attempts: u32, status: Option<u16>, reason: &str, next_ms: i64, now: i64) -> Result<()> {
        let sql = self.sql(
            "UPDATE {p}events SET attempts = ?, http_status = ?, reason = ?, next_at_ms = ?, updated_at_ms = ?,
                    lease_owner = NULL, lease_until_ms = NULL WHERE id = ?",
        );
        self.run(|t| t.exec_drop(sql, (attempts, status, reason, next_ms, now, id)))
    }

    /// Dead letter (the payload is kept, encrypted, so that requeue can send it again).
    pub fn mark_dead(&self, id: &str, attempts: u32, status: Option<u16>, reason: &str, now: i64) -> Result<()> {
        let sql = self.sql(
            "UPDATE {p}events SET state = 'dead', attempts = ?, http_status = ?, reason = ?, updated_at_ms = ?,
                    lease_owner = NULL, lease_until_ms = NULL WHERE id = ?",
        );
        self.run(|t| t.exec_drop(sql, (attempts, status, reason, now, id)))
    }

    /// Up to `want` queued events due at `now` and not leased, oldest due first,
    /// outside destinations `skip` and rows `tried`; locked, skipping rows other
    /// transactions hold (`FOR UPDATE SKIP LOCKED`).
    pub fn due_events(&self, now: i64, want: usize, skip: &[String], tried: &HashSet<i64>) -> Result<Vec<DueEvent>> {
        let mut sql = String::from(
            "SELECT seq, id, destination, order_id, event, key_id, payload FROM {p}events
             WHERE state = 'queued' AND next_at_ms <= ? AND (lease_until_ms IS NULL OR lease_until_ms <= ?)",
        );
        if !skip.is_empty() {
            sql.push_str(" AND destination NOT IN (");
            sql.push_str(&vec!["?"; skip.len()].join(", "));
            sql.push(')');
        }
        sql.push_str(" ORDER BY next_at_ms, created_at_ms LIMIT ? FOR UPDATE SKIP LOCKED");
        let sql = self.sql(&sql);
        let limit = u64::try_from(want.saturating_add(tried.len())).unwrap_or(u64::MAX);
        let mut params = vec![Value::from(now), Value::from(now)];
        params.extend(skip.iter().map(|s| Value::from(s.as_str())));
        params.push(Value::from(limit));
        let rows: Vec<mysql::Row> = self.run(|t| t.exec(sql, Params::Positional(params)))?;
        let mut found = Vec::with_capacity(rows.len().min(want));
        for mut r in rows {
            if found.len() >= want {
                break;
            }
            let Some(Ok(seq)) = r.take_opt::<i64, usize>(0) else { continue };
            if tried.contains(&seq) {
                continue;
            }
            let mut text = |i: usize| r.take_opt::<Option<String>, usize>(i).and_then(std::result::Result::ok).flatten();
            let (id, destination, order_id, event, key_id) = (text(1), text(2), text(3), text(4), text(5));
            let payload = r.take_opt::<Option<Vec<u8>>, usize>(6).and_then(std::result::Result::ok).flatten();
            found.push(DueEvent { rowid: seq, id, destination, order_id, event, key_id, payload });
        }
        Ok(found)
    }

    /// Sets aside a row whose columns cannot be read.
    pub fn mark_corrupt(&self, rowid: i64, now: i64) -> Result<()> {
        let sql =
            self.sql("UPDATE {p}events SET state = 'undecryptable', reason = 'corrupt row', updated_at_ms = ? WHERE seq = ?");
        self.run(|t| t.exec_drop(sql, (now, rowid)))
    }

    /// Sets aside an event whose payload cannot be opened (kept for requeue).
    pub fn mark_undecryptable(&self, id: &str, now: i64) -> Result<()> {
        let sql = self.sql(
            "UPDATE {p}events SET state = 'undecryptable', reason = 'payload cannot be decrypted with the outbox keys',
                    updated_at_ms = ? WHERE id = ?",
        );
        self.run(|t| t.exec_drop(sql, (now, id)))
    }

    /// Looks at event `id` again at `next_ms`, noting `reason` (no attempt made).
    pub fn defer(&self, id: &str, reason: &str, next_ms: i64, now: i64) -> Result<()> {
        let sql = self.sql("UPDATE {p}events SET reason = ?, next_at_ms = ?, updated_at_ms = ? WHERE id = ?");
        self.run(|t| t.exec_drop(sql, (reason, next_ms, now, id)))
    }

    /// Leases event `id` to `owner` until `until_ms` (also when it is due again).
    /// Written with the transaction's next statement or its commit, together with
    /// the other leases of the same owner and end (one statement per batch).
    pub fn lease(&self, id: &str, owner: &str, until_ms: i64) -> Result<()> {
        self.pending.borrow_mut().push((id.to_owned(), owner.to_owned(), until_ms));
        Ok(())
    }

    /// Releases `owner`'s lease on event `id` without an attempt: due at `now`.
    pub fn release(&self, id: &str, owner: &str, now: i64) -> Result<()> {
        let sql = self.sql(
            "UPDATE {p}events SET lease_owner = NULL, lease_until_ms = NULL, next_at_ms = ? WHERE id = ? AND lease_owner = ?",
        );
        self.run(|t| t.exec_drop(sql, (now, id, owner)))
    }

    /// Whether the order under `order_key` has delivered events.
    pub fn has_delivered(&self, order_key: &str) -> Result<bool> {
        let sql = self.sql("SELECT EXISTS (SELECT 1 FROM {p}events WHERE order_key = ? AND state = 'delivered')");
        let found: Option<bool> = self.run(|t| t.exec_first(sql, (order_key,)))?;
        Ok(found.unwrap_or(false))
    }

    /// Deletes every event of the order under `order_key` that is not delivered
    /// (of `site`, when given: that site's events and those stored without a
    /// site); returns their (id, destination).
    pub fn purge_order(&self, order_key: &str, site: Option<&str>) -> Result<Vec<(String, String)>> {
        const WHERE: &str = "WHERE order_key = ? AND state <> 'delivered' AND (? IS NULL OR site IS NULL OR site = ?)";
        let select = self.sql(&format!("SELECT id, destination FROM {{p}}events {WHERE} FOR UPDATE"));
        let delete = self.sql(&format!("DELETE FROM {{p}}events {WHERE}"));
        self.run(|t| {
            let removed: Vec<(String, String)> = t.exec(select, (order_key, site, site))?;
            t.exec_drop(delete, (order_key, site, site))?;
            Ok(removed)
        })
    }
}

impl Store {
    /// Puts a dead or undecryptable event with a payload (of `site`, when given,
    /// or stored without a site) back in the queue.
    pub fn requeue(&mut self, id: &str, now: i64, site: Option<&str>) -> Result<bool> {
        let sql = self.sql(
            "UPDATE {p}events SET state = 'queued', attempts = 0, next_at_ms = ?, updated_at_ms = ?, reason = NULL,
                    lease_owner = NULL, lease_until_ms = NULL
             WHERE id = ? AND state IN ('dead', 'undecryptable') AND payload IS NOT NULL
               AND (? IS NULL OR site IS NULL OR site = ?)",
        );
        let err = super::db_error(&self.shown, &self.broken);
        self.conn.exec_drop(sql, (now, now, id, site, site)).map_err(err)?;
        Ok(self.conn.affected_rows() > 0)
    }

    /// Deletes delivered events' metadata older than `cutoff_ms`.
    pub fn prune_delivered(&mut self, cutoff_ms: i64) -> Result<()> {
        let sql = self.sql("DELETE FROM {p}events WHERE state = 'delivered' AND delivered_at_ms < ?");
        let err = super::db_error(&self.shown, &self.broken);
        self.conn.exec_drop(sql, (cutoff_ms,)).map_err(err)
    }

    /// Queued events (due or not).
    pub fn count_queued(&mut self) -> Result<u64> {
        let sql = self.sql("SELECT COUNT(*) FROM {p}events WHERE state = 'queued'");
        let err = super::db_error(&self.shown, &self.broken);
        Ok(self.conn.query_first::<u64, _>(sql).map_err(err)?.unwrap_or(0))
    }

    /// Everything status shows, at `now`, for the whole fleet.
    pub fn status_rows(&mut self, now: i64, delivered_since_ms: i64) -> Result<StatusRows> {
        let counts = self.sql(
            "SELECT destination, state, COUNT(*), MIN(created_at_ms) FROM {p}events
             WHERE state <> 'delivered' OR delivered_at_ms >= ? GROUP BY destination, state",
        );
        let circuits = self.sql(
            "SELECT destination, failures, opened_at_ms, probe_until_ms, last_success_ms, last_error, last_error_ms FROM {p}circuits",
        );
        let attempts = self.sql("SELECT destination, at_ms, outcome, http_status, latency_ms FROM {p}attempts ORDER BY id DESC");
        let since =
            self.sql("SELECT destination, since_ms FROM {p}circuits WHERE opened_at_ms IS NOT NULL AND since_ms IS NOT NULL");
        let paused = self.sql("SELECT destination, paused_until_ms FROM {p}limits WHERE paused_until_ms > ?");
        let leases = self.sql(
            "SELECT destination, lease_owner, COUNT(*), MAX(lease_until_ms) FROM {p}events
             WHERE state = 'queued' AND lease_until_ms > ? GROUP BY destination, lease_owner",
        );
        let err = super::db_error(&self.shown, &self.broken);
        let mut out = StatusRows::default();
        let rows: Vec<(String, String, u64, Option<i64>)> = self.conn.exec(counts, (delivered_since_ms,)).map_err(&err)?;
        for (dest, state, n, oldest) in rows {
            if let Some(state) = EventState::parse(&state) {
                out.counts.push((dest, state, n, oldest));
            }
        }
        type Circ = (String, u32, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<i64>);
        let rows: Vec<Circ> = self.conn.query(circuits).map_err(&err)?;
        out.circuits = rows
            .into_iter()
            .map(|(d, failures, opened_at_ms, probe_until_ms, ok, e, e_at)| {
                (d, CircuitRow { failures, opened_at_ms, probe_until_ms }, ok, e.map(|e| (e_at.unwrap_or(0), e)))
            })
            .collect();
        out.circuit_since = self.conn.query(since).map_err(&err)?;
        type Attempt = (String, i64, String, Option<i64>, Option<i64>);
        let rows: Vec<Attempt> = self.conn.query(attempts).map_err(&err)?;
        out.attempts = rows
            .into_iter()
            .map(|(d, at_ms, outcome, http_status, latency_ms)| (d, AttemptRow { at_ms, outcome, http_status, latency_ms }))
            .collect();
        out.paused = self.conn.exec(paused, (now,)).map_err(&err)?;
        let rows: Vec<(String, String, u64, i64)> = self.conn.exec(leases, (now,)).map_err(&err)?;
        out.leases = rows
            .into_iter()
            .map(|(destination, owner, count, until_ms)| LeaseRow { destination, owner, count, until_ms })
            .collect();
        Ok(out)
    }
}
