//! The rate limit on reassessments a server provokes: a leaky bucket of
//! evaluation time.
//!
//! A PSN decides when the agent reassesses: a probe that answers `Unknown`
//! (or another posture) makes the agent rediscover and evaluate the
//! requirements again. A compromised PSN could do that after every probe and
//! keep a core busy. Every evaluation pours its time into the bucket, which
//! drains at [`DUTY`] of wall-clock time; while the bucket holds more than
//! [`BURST`], a provoked rediscovery waits until it has drained to
//! [`BURST`]. The wait grows with what the server made the endpoint spend,
//! so a server that keeps provoking gets backed off further each time, while
//! ordinary CoAs (an evaluation costs milliseconds) are never delayed.

use std::time::Duration;

use crate::timing::MonoTime;

/// The long-run share of one core that provoked evaluations may take.
pub const DUTY: f64 = 0.05;

/// Evaluation time the bucket holds before provoked rediscoveries wait:
/// four evaluations that spend the whole time budget.
pub const BURST: Duration = Duration::from_secs(20);

/// The bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvaluationAccount {
    level: Duration,
    at: MonoTime,
}

impl EvaluationAccount {
    /// The level at `now`, after draining since the last change.
    pub fn level(&self, now: MonoTime) -> Duration {
        let drained = now.saturating_since(self.at).mul_f64(DUTY);
        self.level.saturating_sub(drained)
    }

    /// Pours an evaluation's time into the bucket.
    pub fn spend(&mut self, now: MonoTime, spent: Duration) {
        self.level = self.level(now).saturating_add(spent);
        self.at = now;
    }

    /// How long a provoked rediscovery at `now` waits: zero while the level
    /// is at most [`BURST`], else the time the excess takes to drain.
    pub fn wait(&self, now: MonoTime) -> Duration {
        let excess = self.level(now).saturating_sub(BURST);
        excess.div_f64(DUTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> MonoTime {
        MonoTime::from_elapsed(Duration::from_secs(secs))
    }

    #[test]
    fn cheap_evaluations_never_wait() {
        let mut a = EvaluationAccount::default();
        for i in 0..1000 {
            a.spend(at(i), Duration::from_millis(5));
            assert_eq!(a.wait(at(i)), Duration::ZERO);
        }
    }

    #[test]
    fn expensive_evaluations_wait_for_the_excess_to_drain() {
        let mut a = EvaluationAccount::default();
        for _ in 0..4 {
            a.spend(at(0), Duration::from_secs(5));
        }
        assert_eq!(a.wait(at(0)), Duration::ZERO, "a burst of four is free");
        a.spend(at(0), Duration::from_secs(5));
        assert_eq!(a.wait(at(0)), Duration::from_secs(100));
        assert_eq!(a.wait(at(40)), Duration::from_secs(60));
        assert_eq!(a.wait(at(100)), Duration::ZERO);
        // Waiting as told and spending again keeps the long-run share.
        a.spend(at(100), Duration::from_secs(5));
        assert_eq!(a.wait(at(100)), Duration::from_secs(100));
    }

    proptest! {
        /// Whatever a server provokes, an agent that waits as told spends
        /// at most the burst plus the duty share of the elapsed time.
        #[test]
        fn an_obedient_agent_keeps_the_duty(costs in proptest::collection::vec(0u64..=5_000, 1..200)) {
            let mut a = EvaluationAccount::default();
            let mut now = Duration::ZERO;
            let mut total = Duration::ZERO;
            for ms in costs {
                let t = MonoTime::from_elapsed(now);
                now += a.wait(t);
                let t = MonoTime::from_elapsed(now);
                let spent = Duration::from_millis(ms);
                a.spend(t, spent);
                total += spent;
                now += spent;
            }
            let bound = BURST + Duration::from_secs(5) + now.mul_f64(DUTY);
            prop_assert!(total <= bound, "{total:?} > {bound:?} over {now:?}");
        }
    }
}
