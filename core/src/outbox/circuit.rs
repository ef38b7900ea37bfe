//! The per-destination circuit breaker, shared by all processes through the
//! `circuits` table: after [`CIRCUIT_THRESHOLD`] consecutive retryable failures
//! the circuit opens and `submit` only enqueues; after [`CIRCUIT_COOLDOWN_MS`] it
//! is half-open and one `submit` may probe inline. A delivery closes it.
use crate::store::CircuitRow;

/// Consecutive retryable failures that open a destination's circuit.
pub const CIRCUIT_THRESHOLD: u32 = 5;
/// How long an open circuit stays open before one inline probe is allowed.
pub const CIRCUIT_COOLDOWN_MS: i64 = 30_000;

/// What a destination's circuit says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CircuitState {
    /// Inline attempts allowed.
    Closed,
    /// Cool-down over: one inline probe allowed.
    HalfOpen,
    /// Enqueue only.
    Open,
}

impl CircuitState {
    /// `closed`, `half-open` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half-open",
            CircuitState::Open => "open",
        }
    }
}

/// A destination's circuit, as stored in the `circuits` table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circuit {
    /// Consecutive retryable failures.
    pub failures: u32,
    /// When it (re)opened.
    pub opened_at_ms: Option<i64>,
    /// A half-open probe is in flight until then.
    pub probe_until_ms: Option<i64>,
}

impl Circuit {
    /// The state at `now`.
    pub fn state(&self, now_ms: i64) -> CircuitState {
        match self.opened_at_ms {
            None => CircuitState::Closed,
            Some(t) if now_ms < t.saturating_add(CIRCUIT_COOLDOWN_MS) => CircuitState::Open,
            Some(_) => CircuitState::HalfOpen,
        }
    }

    /// Whether `submit` may attempt inline now. Half-open admits one probe at a
    /// time (marked in flight until `now + lease_ms`).
    pub fn admit(&mut self, now_ms: i64, lease_ms: i64) -> bool {
        match self.state(now_ms) {
            CircuitState::Closed => true,
            CircuitState::Open => false,
            CircuitState::HalfOpen => {
                if self.probe_until_ms.is_some_and(|p| p > now_ms) {
                    false
                } else {
                    self.probe_until_ms = Some(now_ms.saturating_add(lease_ms));
                    true
                }
            }
        }
    }

    /// A delivery closes the circuit.
    pub fn on_success(&mut self) {
        *self = Circuit::default();
    }

    /// A retryable failure; the threshold-th (and any failed probe) (re)opens it.
    pub fn on_failure(&mut self, now_ms: i64) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= CIRCUIT_THRESHOLD {
            self.opened_at_ms = Some(now_ms);
            self.probe_until_ms = None;
        }
    }
}

impl From<CircuitRow> for Circuit {
    fn from(r: CircuitRow) -> Circuit {
        Circuit { failures: r.failures, opened_at_ms: r.opened_at_ms, probe_until_ms: r.probe_until_ms }
    }
}

impl From<Circuit> for CircuitRow {
    fn from(c: Circuit) -> CircuitRow {
        CircuitRow { failures: c.failures, opened_at_ms: c.opened_at_ms, probe_until_ms: c.probe_until_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_transitions() {
        let lease = 40_000;
        let mut c = Circuit::default();
        assert_eq!(c.state(0), CircuitState::Closed);
        for i in 1..CIRCUIT_THRESHOLD {
            c.on_failure(1000);
            assert_eq!(c.state(1000), CircuitState::Closed, "after {i}");
            assert!(c.admit(1000, lease));
        }
        c.on_failure(1000);
        assert_eq!(c.state(1000), CircuitState::Open);
        assert!(!c.admit(1000, lease));
        assert!(!c.admit(1000 + CIRCUIT_COOLDOWN_MS - 1, lease));
        // Half-open: exactly one probe until its lease runs out.
        let t = 1000 + CIRCUIT_COOLDOWN_MS;
        assert_eq!(c.state(t), CircuitState::HalfOpen);
        assert!(c.admit(t, lease));
        assert!(!c.admit(t + 1, lease));
        assert!(c.admit(t + lease + 1, lease), "a crashed probe does not wedge the circuit");
        // Failed probe: open again for a full cool-down.
        c.on_failure(t + 10);
        assert_eq!(c.state(t + 10), CircuitState::Open);
        assert!(!c.admit(t + 10, lease));
        // Success closes.
        c.on_success();
        assert_eq!(c, Circuit::default());
        assert!(c.admit(t + 11, lease));
        assert!(CircuitState::Open > CircuitState::HalfOpen && CircuitState::HalfOpen > CircuitState::Closed);
    }
}
