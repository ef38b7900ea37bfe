//! The deliveries listing and the erasure of one event: their SQL. The listing
//! never selects `payload` or `key_id`. `events.site` is used when the database
//! has it (a site filter matches nothing otherwise); a site filter also matches events stored
//! without a site.
use rusqlite::types::Value as SqlValue;
use rusqlite::OptionalExtension as _;

use super::{Store, Tx};
use crate::error::Result;
use crate::store::{DeliveryQuery, DeliveryRow};

/// [`DeliveryQuery::where_clause`] with SQLite values.
fn filter(q: &DeliveryQuery, has_site: bool) -> (String, Vec<SqlValue>) {
    let (sql, params) = q.where_clause(has_site);
    (sql, params.into_iter().map(SqlValue::Text).collect())
}

impl Store {
    /// The number of events matching `q` (ignoring paging) and the page of them,
    /// newest (or oldest) first by creation.
    pub fn deliveries(&mut self, q: &DeliveryQuery) -> Result<(u64, Vec<DeliveryRow>)> {
        let err = super::sql_error(&self.path);
        let has_site: bool = self
            .conn
            .prepare_cached("SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'site'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(&err)?;
        if q.site.is_some() && !has_site {
            return Ok((0, Vec::new()));
        }
        let (where_sql, params) = filter(q, has_site);
        let total: u64 = self
            .conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM events{where_sql}"))
            .and_then(|mut s| s.query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0)))
            .map_err(&err)?;
        if total == 0 || q.limit == 0 {
            return Ok((total, Vec::new()));
        }
        let dir = if q.ascending { "ASC" } else { "DESC" };
        let site = if has_site { "CAST(site AS TEXT)" } else { "NULL" };
        let sql = format!(
            "SELECT CAST(id AS TEXT), CAST(destination AS TEXT), CAST(event AS TEXT), CAST(order_id AS TEXT),
                    CAST(state AS TEXT), attempts, http_status, reason, created_at_ms, updated_at_ms, delivered_at_ms,
                    next_at_ms, {site}
             FROM events{where_sql} ORDER BY created_at_ms {dir}, rowid {dir} LIMIT ? OFFSET ?"
        );
        let mut all = params;
        all.push(SqlValue::Integer(i64::from(q.limit)));
        all.push(SqlValue::Integer(i64::try_from(q.offset).unwrap_or(i64::MAX)));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(all.iter()), |r| {
                let state: String = r.get(4)?;
                let attempts: u32 = r.get(5)?;
                let updated: i64 = r.get(9)?;
                let delivered: Option<i64> = r.get(10)?;
                let next: i64 = r.get(11)?;
                let last = match (attempts, delivered) {
                    (0, _) => None,
                    (_, Some(t)) => Some(t),
                    (_, None) => Some(updated),
                };
                Ok(DeliveryRow {
                    id: r.get(0)?,
                    destination: r.get(1)?,
                    event: r.get(2)?,
                    order_id: r.get(3)?,
                    site: r.get(12)?,
                    next_attempt_ms: (state == "queued").then_some(next),
                    state,
                    attempts,
                    http_status: r.get(6)?,
                    reason: r.get(7)?,
                    created_at_ms: r.get(8)?,
                    last_attempt_ms: last,
                })
            })
            .map_err(&err)?;
        let rows = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)?;
        Ok((total, rows))
    }
}

impl Tx<'_> {
    /// Deletes one event, whatever its state: its (destination, order id as
    /// sent), or `None` when there is no such event.
    pub fn purge_event(&self, id: &str) -> Result<Option<(String, String)>> {
        self.tx
            .prepare_cached("DELETE FROM events WHERE id = ?1 RETURNING CAST(destination AS TEXT), CAST(order_id AS TEXT)")
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(self.err())
    }
}
