//! The deliveries listing and the erasure of one event on MariaDB/MySQL (the
//! SQLite backend's `store::sqlite::deliveries`). The listing never selects
//! `payload` or `key_id`.
use mysql::prelude::Queryable as _;
use mysql::{Params, Value};

use super::{Store, Tx};
use crate::error::Result;
use crate::store::{DeliveryQuery, DeliveryRow};

/// [`DeliveryQuery::where_clause`] with MySQL values.
fn filter(q: &DeliveryQuery) -> (String, Vec<Value>) {
    let (sql, params) = q.where_clause(true);
    (sql, params.into_iter().map(Value::from).collect())
}

/// A listed row: id, destination, event, order id, state, attempts, HTTP status,
/// reason, created, last attempt, next, site.
type Row = (String, String, String, String, String, u32, Option<u16>, Option<String>, i64, Option<i64>, i64, Option<String>);

impl Store {
    /// The number of events matching `q` (ignoring paging) and the page of them,
    /// newest (or oldest) first by creation.
    pub fn deliveries(&mut self, q: &DeliveryQuery) -> Result<(u64, Vec<DeliveryRow>)> {
        let (where_sql, params) = filter(q);
        let count = self.sql(&format!("SELECT COUNT(*) FROM {{p}}events{where_sql}"));
        let err = super::db_error(&self.shown, &self.broken);
        let total: u64 = self.conn.exec_first(count, Params::Positional(params.clone())).map_err(&err)?.unwrap_or(0);
        if total == 0 || q.limit == 0 {
            return Ok((total, Vec::new()));
        }
        let dir = if q.ascending { "ASC" } else { "DESC" };
        let sql = self.sql(&format!(
            "SELECT id, destination, event, order_id, state, attempts, http_status, reason, created_at_ms,
                    CASE WHEN attempts = 0 THEN NULL ELSE COALESCE(delivered_at_ms, updated_at_ms) END, next_at_ms, site
             FROM {{p}}events{where_sql} ORDER BY created_at_ms {dir}, seq {dir} LIMIT ? OFFSET ?"
        ));
        let mut all = params;
        all.push(Value::from(q.limit));
        all.push(Value::from(q.offset));
        let rows: Vec<Row> = self.conn.exec(sql, Params::Positional(all)).map_err(&err)?;
        let rows = rows
            .into_iter()
            .map(|(id, destination, event, order_id, state, attempts, http_status, reason, created, last, next, site)| {
                DeliveryRow {
                    id,
                    destination,
                    event,
                    order_id,
                    site,
                    next_attempt_ms: (state == "queued").then_some(next),
                    state,
                    attempts,
                    http_status,
                    reason,
                    created_at_ms: created,
                    last_attempt_ms: last,
                }
            })
            .collect();
        Ok((total, rows))
    }
}

impl Tx<'_> {
    /// Deletes one event, whatever its state: its (destination, order id as
    /// sent), or `None` when there is no such event.
    pub fn purge_event(&self, id: &str) -> Result<Option<(String, String)>> {
        let select = self.sql("SELECT destination, order_id FROM {p}events WHERE id = ? FOR UPDATE");
        let delete = self.sql("DELETE FROM {p}events WHERE id = ?");
        self.run(|t| {
            let found: Option<(String, String)> = t.exec_first(select, (id,))?;
            if found.is_some() {
                t.exec_drop(delete, (id,))?;
            }
            Ok(found)
        })
    }
}
