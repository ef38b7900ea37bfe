//! The retry schedule: when a failed event is attempted again.
use std::time::Duration;

use ring::rand::SecureRandom as _;

/// Longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Delay before the next attempt after `failures` failed attempts (1-based), or
/// `None` when the schedule is exhausted (the event goes dead).
///
/// The schedule's delay gets ±20 % jitter (`jitter` in 0..=1, 0.5 = none); a
/// `Retry-After` is honoured, clamped to [jittered delay, [`MAX_RETRY_AFTER`]].
pub fn retry_delay(schedule: &[u64], failures: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(failures).ok()?.checked_sub(1)?;
    let base = Duration::from_secs(*schedule.get(index)?);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.5 };
    let jittered = base.mul_f64(0.8 + 0.4 * jitter);
    Some(match retry_after {
        Some(ra) => ra.min(MAX_RETRY_AFTER).max(jittered),
        None => jittered,
    })
}

pub(super) fn jitter_unit() -> f64 {
    let mut b = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_and_exhaustion() {
        let s = crate::config::DEFAULT_RETRY_SCHEDULE;
        assert_eq!(retry_delay(&s, 1, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay(&s, 2, None, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(retry_delay(&s, 9, None, 0.5), Some(Duration::from_secs(86_400)));
        assert_eq!(retry_delay(&s, 10, None, 0.5), None);
        assert_eq!(retry_delay(&s, 0, None, 0.5), None);
        assert_eq!(retry_delay(&[], 1, None, 0.5), None);
        assert_eq!(retry_delay(&[0, 0, 0], 3, None, 0.9), Some(Duration::ZERO));
    }

    #[test]
    fn jitter_is_bounded() {
        let s = [100];
        assert_eq!(retry_delay(&s, 1, None, 0.0), Some(Duration::from_secs(80)));
        assert_eq!(retry_delay(&s, 1, None, 1.0), Some(Duration::from_secs(120)));
        assert_eq!(retry_delay(&s, 1, None, f64::NAN), Some(Duration::from_secs(100)));
        for _ in 0..100 {
            let d = retry_delay(&s, 1, None, jitter_unit()).unwrap();
            assert!(d >= Duration::from_secs(80) && d <= Duration::from_secs(120), "{d:?}");
        }
    }

    #[test]
    fn retry_after_is_clamped() {
        let s = [5];
        // Longer than the schedule: honoured.
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(60)), 0.5), Some(Duration::from_secs(60)));
        // Shorter than the schedule: the schedule wins.
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(1)), 0.5), Some(Duration::from_secs(5)));
        // Absurd: capped at 24 h.
        assert_eq!(retry_delay(&s, 1, Some(Duration::from_secs(10_000_000)), 0.5), Some(MAX_RETRY_AFTER));
        // A schedule step longer than 24 h is not shortened.
        assert_eq!(retry_delay(&[200_000], 1, Some(Duration::from_secs(10)), 0.5), Some(Duration::from_secs(200_000)));
    }
}
