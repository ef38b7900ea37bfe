//! The rows of the deliveries listing (`secure_forward_deliveries()`), in storage
//! terms: what to select and what comes back. Facts only: no payload column is
//! ever read.
use super::EventState;

/// What to list. Every `Some` narrows; `limit`/`offset` page, newest or oldest
/// first by creation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Normalised order id ([`super::order_key`]).
    pub order_key: Option<String>,
    /// Destination name.
    pub destination: Option<String>,
    /// State.
    pub state: Option<EventState>,
    /// Event name.
    pub event: Option<String>,
    /// The site events came from (events stored without a site match every site).
    pub site: Option<String>,
    /// Rows at most.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
    /// Oldest first (else newest first).
    pub ascending: bool,
}

impl DeliveryQuery {
    /// The `WHERE` clause of the query and its parameters, for either backend: fixed
    /// fragments only (every value is a bound `?` parameter). With `with_site` false
    /// (a database without `events.site`) the site is not filtered on.
    pub fn where_clause(&self, with_site: bool) -> (String, Vec<String>) {
        let mut clauses: Vec<&str> = Vec::new();
        let mut params: Vec<String> = Vec::new();
        let mut add = |clause: &'static str, v: Option<String>| {
            if let Some(v) = v {
                clauses.push(clause);
                params.push(v);
            }
        };
        add("order_key = ?", self.order_key.clone());
        add("destination = ?", self.destination.clone());
        add("state = ?", self.state.map(|s| s.as_str().to_owned()));
        add("event = ?", self.event.clone());
        if with_site {
            // Like purge and requeue: events stored without a site (before schema 5)
            // belong to no site in particular, so every site sees them.
            add("(site IS NULL OR site = ?)", self.site.clone());
        }
        let sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        (sql, params)
    }
}

/// One event, as facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Event id.
    pub id: String,
    /// Destination name.
    pub destination: String,
    /// Event name.
    pub event: String,
    /// Order id as the shop sent it.
    pub order_id: String,
    /// The site it came from, when recorded.
    pub site: Option<String>,
    /// State as stored (`queued`, `delivered`, `dead`, `undecryptable`).
    pub state: String,
    /// Attempts made (since the last requeue).
    pub attempts: u32,
    /// HTTP status of the last attempt.
    pub http_status: Option<u16>,
    /// Last failure reason.
    pub reason: Option<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last attempt (none before the first).
    pub last_attempt_ms: Option<i64>,
    /// Unix ms the next attempt is due (queued events only).
    pub next_attempt_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_clause_binds_every_value_and_names_only_columns() {
        let q = DeliveryQuery {
            order_key: Some("7".into()),
            destination: Some("crm'; DROP TABLE events; --".into()),
            state: Some(EventState::Dead),
            event: None,
            site: Some("s".into()),
            limit: 5,
            offset: 0,
            ascending: false,
        };
        let (sql, params) = q.where_clause(false);
        assert_eq!(sql, " WHERE order_key = ? AND destination = ? AND state = ?");
        assert_eq!(params.len(), 3);
        assert_eq!(params[1], "crm'; DROP TABLE events; --");
        let (sql, params) = q.where_clause(true);
        assert_eq!(sql, " WHERE order_key = ? AND destination = ? AND state = ? AND (site IS NULL OR site = ?)");
        assert_eq!(params.len(), 4);
        assert_eq!(DeliveryQuery::default().where_clause(true).0, "");
    }
}
