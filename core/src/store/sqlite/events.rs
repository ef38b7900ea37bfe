//! Events, circuits and attempts: the outbox queue's SQL.
use std::collections::HashSet;

use rusqlite::{params, OptionalExtension as _};

use super::{exec, sql_error, Store, Tx};
use crate::error::Result;
use crate::store::{
    AttemptRow, CircuitRow, DueEvent, EventState, EventSummary, LeaseRow, NewEvent, SpooledEvent, StatusRows, ATTEMPTS_KEPT,
};

// The trim statement in `add_attempts` spells the number out (OFFSET 10).
const _: () = assert!(ATTEMPTS_KEPT == 10);

impl Tx<'_> {
    /// What is known of event `id`, if it exists.
    pub fn event_summary(&self, id: &str) -> Result<Option<EventSummary>> {
        self.tx
            .prepare_cached("SELECT state, http_status, attempts, reason FROM events WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    let state: String = r.get(0)?;
                    Ok(EventSummary {
                        // Anything unknown counts as queued (it is kept, and requeue can fix it).
                        state: EventState::parse(&state).unwrap_or(EventState::Queued),
                        http_status: r.get(1)?,
                        attempts: r.get(2)?,
                        reason: r.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(self.err())
    }

    /// Inserts a new `queued` event (due now, or at its lease's end when leased).
    pub fn insert_event(&self, e: &NewEvent<'_>) -> Result<()> {
        let (owner, until) = match e.lease {
            Some((o, u)) => (Some(o), Some(u)),
            None => (None, None),
        };
        exec(
            &self.tx,
            "INSERT INTO events (id, destination, order_id, event, state, key_id, payload, attempts,
                                 created_at_ms, next_at_ms, updated_at_ms, lease_owner, lease_until_ms, reason, order_key, site)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, 0, ?7, COALESCE(?9, ?7), ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                e.id,
                e.destination,
                e.order_id,
                e.event,
                e.key_id,
                e.payload,
                e.now_ms,
                owner,
                until,
                e.reason,
                crate::store::order_key(e.order_id),
                e.site
            ],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// A destination's circuit and last success, if it has a row.
    pub fn circuit(&self, destination: &str) -> Result<Option<(CircuitRow, Option<i64>)>> {
        self.tx
            .prepare_cached("SELECT failures, opened_at_ms, probe_until_ms, last_success_ms FROM circuits WHERE destination = ?1")
            .and_then(|mut s| {
                s.query_row([destination], |r| {
                    Ok((CircuitRow { failures: r.get(0)?, opened_at_ms: r.get(1)?, probe_until_ms: r.get(2)? }, r.get(3)?))
                })
                .optional()
            })
            .map_err(self.err())
    }

    /// Writes a destination's circuit.
    pub fn upsert_circuit(&self, destination: &str, c: &CircuitRow) -> Result<()> {
        exec(
            &self.tx,
            "INSERT INTO circuits (destination, failures, opened_at_ms, probe_until_ms, since_ms) VALUES (?1, ?2, ?3, ?4, ?3)
             ON CONFLICT(destination) DO UPDATE SET failures = ?2, opened_at_ms = ?3, probe_until_ms = ?4,
                 since_ms = CASE WHEN ?3 IS NULL THEN NULL ELSE COALESCE(circuits.since_ms, ?3) END",
            params![destination, c.failures, c.opened_at_ms, c.probe_until_ms],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Notes a destination's last success (it must have a circuit row).
    pub fn set_last_success(&self, destination: &str, at_ms: i64) -> Result<()> {
        exec(&self.tx, "UPDATE circuits SET last_success_ms = ?2 WHERE destination = ?1", params![destination, at_ms])
            .map_err(self.err())?;
        Ok(())
    }

    /// Notes a destination's last error (it must have a circuit row).
    pub fn set_last_error(&self, destination: &str, reason: &str, at_ms: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE circuits SET last_error = ?2, last_error_ms = ?3 WHERE destination = ?1",
            params![destination, reason, at_ms],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Appends attempts of a destination (at, outcome, http status, latency) and
    /// keeps its newest [`ATTEMPTS_KEPT`].
    pub fn add_attempts(&self, destination: &str, attempts: &[(i64, &str, Option<u16>, i64)]) -> Result<()> {
        let keep = usize::try_from(ATTEMPTS_KEPT).unwrap_or(10);
        for (at, outcome, status, latency) in attempts.iter().skip(attempts.len().saturating_sub(keep)) {
            exec(
                &self.tx,
                "INSERT INTO attempts (destination, at_ms, outcome, http_status, latency_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![destination, at, outcome, status, latency],
            )
            .map_err(self.err())?;
        }
        // The 11th newest and older go (ATTEMPTS_KEPT = 10, asserted above).
        exec(
            &self.tx,
            "DELETE FROM attempts WHERE destination = ?1 AND id <=
                (SELECT id FROM attempts WHERE destination = ?1 ORDER BY id DESC LIMIT 1 OFFSET 10)",
            [destination],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Marks event `id` delivered (payload erased, lease released) if it is still
    /// queued under `owner`'s lease; returns its attempts before this one.
    pub fn mark_delivered(&self, id: &str, owner: &str, status: u16, now: i64) -> Result<Option<u32>> {
        self.tx
            .prepare_cached(
                "UPDATE events SET state = 'delivered', payload = NULL, attempts = attempts + 1, http_status = ?2, reason = NULL,
                        delivered_at_ms = ?3, updated_at_ms = ?3, lease_owner = NULL, lease_until_ms = NULL
                 WHERE id = ?1 AND state = 'queued' AND lease_owner = ?4 RETURNING attempts - 1",
            )
            .and_then(|mut s| s.query_row(params![id, status, now, owner], |r| r.get(0)).optional())
            .map_err(self.err())
    }

    /// The attempts so far of event `id`, if it is queued under `owner`'s lease.
    pub fn leased_attempts(&self, id: &str, owner: &str) -> Result<Option<u32>> {
        self.tx
            .prepare_cached("SELECT attempts FROM events WHERE id = ?1 AND state = 'queued' AND lease_owner = ?2")
            .and_then(|mut s| s.query_row([id, owner], |r| r.get(0)).optional())
            .map_err(self.err())
    }

    /// A failed attempt: due again at `next_ms`, lease released.
    pub fn reschedule(&self, id: &str, attempts: u32, status: Option<u16>, reason: &str, next_ms: i64, now: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET attempts = ?2, http_status = ?3, reason = ?4, next_at_ms = ?5,
                    updated_at_ms = ?6, lease_owner = NULL, lease_until_ms = NULL WHERE id = ?1",
            params![id, attempts, status, reason, next_ms, now],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Dead letter (the payload is kept, encrypted, so that requeue can send it again).
    pub fn mark_dead(&self, id: &str, attempts: u32, status: Option<u16>, reason: &str, now: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET state = 'dead', attempts = ?2, http_status = ?3, reason = ?4, updated_at_ms = ?5,
                    lease_owner = NULL, lease_until_ms = NULL WHERE id = ?1",
            params![id, attempts, status, reason, now],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Up to `want` queued events due at `now` and not leased, oldest due first,
    /// outside destinations `skip` and rows `tried` (already attempted by this
    /// claimer). Rows are read one by one and the reading stops at `want`.
    pub fn due_events(&self, now: i64, want: usize, skip: &[String], tried: &HashSet<i64>) -> Result<Vec<DueEvent>> {
        let err = self.err();
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT rowid, id, destination, order_id, event, key_id, payload FROM events
                 WHERE state = 'queued' AND next_at_ms <= ?1 AND (lease_until_ms IS NULL OR lease_until_ms <= ?1)
                   AND destination NOT IN (SELECT value FROM json_each(?3))
                 ORDER BY next_at_ms, created_at_ms LIMIT ?2",
            )
            .map_err(&err)?;
        let skip = serde_json::Value::from(skip.to_vec()).to_string();
        let limit = i64::try_from(want.saturating_add(tried.len())).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![now, limit, skip]).map_err(&err)?;
        let mut found = Vec::with_capacity(want.min(256));
        while found.len() < want {
            let Some(r) = rows.next().map_err(&err)? else { break };
            let rowid: i64 = r.get(0).map_err(&err)?;
            if tried.contains(&rowid) {
                continue;
            }
            // Read leniently: a row with damaged columns is set aside, not an
            // error that would stop the whole queue.
            let text = |i: usize| r.get::<_, Option<String>>(i).ok().flatten();
            found.push(DueEvent {
                rowid,
                id: text(1),
                destination: text(2),
                order_id: text(3),
                event: text(4),
                key_id: text(5),
                payload: r.get::<_, Option<Vec<u8>>>(6).ok().flatten(),
            });
        }
        Ok(found)
    }

    /// Sets aside a row whose columns cannot be read.
    pub fn mark_corrupt(&self, rowid: i64, now: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET state = 'undecryptable', reason = 'corrupt row', updated_at_ms = ?2 WHERE rowid = ?1",
            params![rowid, now],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Sets aside an event whose payload cannot be opened (kept for requeue).
    pub fn mark_undecryptable(&self, id: &str, now: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET state = 'undecryptable', reason = 'payload cannot be decrypted with the outbox keys',
                    updated_at_ms = ?2 WHERE id = ?1",
            params![id, now],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Looks at event `id` again at `next_ms`, noting `reason` (no attempt made).
    pub fn defer(&self, id: &str, reason: &str, next_ms: i64, now: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET reason = ?4, next_at_ms = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![id, next_ms, now, reason],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Leases event `id` to `owner` until `until_ms` (also when it is due again).
    pub fn lease(&self, id: &str, owner: &str, until_ms: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET lease_owner = ?2, lease_until_ms = ?3, next_at_ms = ?3 WHERE id = ?1",
            params![id, owner, until_ms],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Releases `owner`'s lease on event `id` without an attempt: due at `now`.
    pub fn release(&self, id: &str, owner: &str, now: i64) -> Result<()> {
        exec(
            &self.tx,
            "UPDATE events SET lease_owner = NULL, lease_until_ms = NULL, next_at_ms = ?3 WHERE id = ?1 AND lease_owner = ?2",
            params![id, owner, now],
        )
        .map_err(self.err())?;
        Ok(())
    }

    /// Whether the order under `order_key` has delivered events (their payloads
    /// are erased, but old page copies may still be in the WAL).
    pub fn has_delivered(&self, order_key: &str) -> Result<bool> {
        self.tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE order_key = ?1 AND state = 'delivered')")
            .and_then(|mut s| s.query_row([order_key], |r| r.get::<_, bool>(0)))
            .map_err(self.err())
    }

    /// Deletes every event of the order under `order_key` that is not delivered
    /// (of `site`, when given: that site's events and those stored without a site,
    /// i.e. before schema 5, which belong to no site in particular); returns their
    /// (id, destination).
    pub fn purge_order(&self, order_key: &str, site: Option<&str>) -> Result<Vec<(String, String)>> {
        let err = self.err();
        let removed = {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "SELECT CAST(id AS TEXT), CAST(destination AS TEXT) FROM events
                     WHERE order_key = ?1 AND state != 'delivered' AND (?2 IS NULL OR site IS NULL OR site = ?2)",
                )
                .map_err(&err)?;
            let rows = stmt.query_map(params![order_key, site], |r| Ok((r.get(0)?, r.get(1)?))).map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?
        };
        exec(
            &self.tx,
            "DELETE FROM events WHERE order_key = ?1 AND state != 'delivered' AND (?2 IS NULL OR site IS NULL OR site = ?2)",
            params![order_key, site],
        )
        .map_err(&err)?;
        Ok(removed)
    }
}

impl Store {
    /// Puts a dead or undecryptable event with a payload (of `site`, when given, or
    /// stored without a site) back in the queue, due at `now` with no attempts;
    /// `false` when there is none.
    pub fn requeue(&mut self, id: &str, now: i64, site: Option<&str>) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE events SET state = 'queued', attempts = 0, next_at_ms = ?2, updated_at_ms = ?2, reason = NULL,
                        lease_owner = NULL, lease_until_ms = NULL
                 WHERE id = ?1 AND state IN ('dead', 'undecryptable') AND payload IS NOT NULL AND (?3 IS NULL OR site IS NULL OR site = ?3)",
                params![id, now, site],
            )
            .map_err(sql_error(&self.path))?;
        Ok(n > 0)
    }

    /// Deletes delivered events' metadata older than `cutoff_ms`.
    pub fn prune_delivered(&mut self, cutoff_ms: i64) -> Result<()> {
        exec(&self.conn, "DELETE FROM events WHERE state = 'delivered' AND delivered_at_ms < ?1", [cutoff_ms])
            .map_err(sql_error(&self.path))?;
        Ok(())
    }

    /// Queued events (due or not).
    pub fn count_queued(&mut self) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT COUNT(*) FROM events WHERE state = 'queued'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(sql_error(&self.path))
    }

    /// Everything status shows, at `now` (delivered events since `delivered_since_ms`).
    pub fn status_rows(&mut self, now: i64, delivered_since_ms: i64) -> Result<StatusRows> {
        let err = sql_error(&self.path);
        let mut out = StatusRows { erasure_pending: self.wal_state()?.1, ..StatusRows::default() };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT CAST(destination AS TEXT), CAST(state AS TEXT), COUNT(*), MIN(created_at_ms) FROM events
                 WHERE state != 'delivered' OR delivered_at_ms >= ?1 GROUP BY destination, state",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([delivered_since_ms], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u64>(2)?, r.get::<_, Option<i64>>(3)?))
            })
            .map_err(&err)?;
        for row in rows {
            let (dest, state, n, oldest) = row.map_err(&err)?;
            if let Some(state) = EventState::parse(&state) {
                out.counts.push((dest, state, n, oldest));
            }
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT destination, failures, opened_at_ms, probe_until_ms, last_success_ms, last_error, last_error_ms
                 FROM circuits",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                let c = CircuitRow { failures: r.get(1)?, opened_at_ms: r.get(2)?, probe_until_ms: r.get(3)? };
                let e: Option<String> = r.get(5)?;
                let e_at: Option<i64> = r.get(6)?;
                Ok((r.get::<_, String>(0)?, c, r.get::<_, Option<i64>>(4)?, e.map(|e| (e_at.unwrap_or(0), e))))
            })
            .map_err(&err)?;
        out.circuits = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT destination, since_ms FROM circuits WHERE opened_at_ms IS NOT NULL AND since_ms IS NOT NULL")
            .map_err(&err)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(&err)?;
        out.circuit_since = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT CAST(destination AS TEXT), at_ms, CAST(outcome AS TEXT), http_status, latency_ms FROM attempts
                 ORDER BY id DESC",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    AttemptRow { at_ms: r.get(1)?, outcome: r.get(2)?, http_status: r.get(3)?, latency_ms: r.get(4)? },
                ))
            })
            .map_err(&err)?;
        out.attempts = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT destination, paused_until_ms FROM limits WHERE paused_until_ms > ?1")
            .map_err(&err)?;
        let rows = stmt.query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(&err)?;
        out.paused = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT CAST(destination AS TEXT), CAST(lease_owner AS TEXT), COUNT(*), MAX(lease_until_ms) FROM events
                 WHERE state = 'queued' AND lease_until_ms > ?1 GROUP BY destination, lease_owner",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([now], |r| {
                Ok(LeaseRow { destination: r.get(0)?, owner: r.get(1)?, count: r.get(2)?, until_ms: r.get(3)? })
            })
            .map_err(&err)?;
        out.leases = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
        Ok(out)
    }

    /// Up to `limit` queued events of this node's local spool (the shared
    /// database was unreachable when they were accepted), oldest first.
    pub fn spooled(&mut self, limit: usize) -> Result<Vec<SpooledEvent>> {
        let err = sql_error(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, destination, order_id, event, key_id, payload, created_at_ms, site FROM events
                 WHERE state = 'queued' AND payload IS NOT NULL ORDER BY created_at_ms LIMIT ?1",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(SpooledEvent {
                    id: r.get(0)?,
                    destination: r.get(1)?,
                    order_id: r.get(2)?,
                    event: r.get(3)?,
                    key_id: r.get(4)?,
                    payload: r.get(5)?,
                    created_at_ms: r.get(6)?,
                    site: r.get(7)?,
                })
            })
            .map_err(&err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
    }

    /// Deletes spooled events `ids` (moved into the shared database).
    pub fn delete_spooled(&mut self, ids: &[String]) -> Result<()> {
        let err = sql_error(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        for id in ids {
            tx.prepare_cached("DELETE FROM events WHERE id = ?1 AND state = 'queued'")
                .and_then(|mut s| s.execute([id]))
                .map_err(&err)?;
        }
        tx.commit().map_err(&err)
    }
}
