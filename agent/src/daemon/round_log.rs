//! Which probe round lines the log gets.
//!
//! At a short probe interval a PSN that keeps failing the same way (or a
//! dACL that keeps blocking) writes the same line every round: 86,400 lines
//! a day at 1 s, and a wakeup of the log writer's thread per round, which
//! costs more CPU than the agent's own work around the probe
//! (docs/benchmarks.md, "CPU per answered round"). So a round that ends
//! exactly like the last one written (same session, same verdict, the same
//! outcome for each target in the same order) less than
//! [`REPEAT_LOG_INTERVAL`] after it is counted, not written; the next line
//! written says how many were skipped (`unlogged=N`). At the default probe
//! intervals (a minute or more) every round is written, as before. The
//! probe history (`probe-rounds.jsonl`) and `status` still record every
//! round.

use std::time::Duration;

use tokio::time::Instant;

use crate::outcome::{ProbeOutcome, TargetOutcome};

/// The longest a run of identical rounds goes without a line: a `tail -f`
/// of the log still shows the agent probing once a minute.
pub const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The last round line written, and the identical rounds since.
#[derive(Debug, Default)]
pub struct RoundLog {
    last: Option<Written>,
    unlogged: u64,
}

#[derive(Debug)]
struct Written {
    session: String,
    verdict: ProbeOutcome,
    outcomes: Vec<TargetOutcome>,
    at: Instant,
}

impl RoundLog {
    /// Whether the round that just ended is written: `Some(n)`, where `n`
    /// rounds identical to the previous line were skipped before it, or
    /// `None` when it is one of them.
    pub fn decide(
        &mut self,
        session: &str,
        verdict: ProbeOutcome,
        outcomes: &[TargetOutcome],
        now: Instant,
    ) -> Option<u64> {
        if let Some(w) = &self.last
            && w.session == session
            && w.verdict == verdict
            && w.outcomes == outcomes
            && now.saturating_duration_since(w.at) < REPEAT_LOG_INTERVAL
        {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(Written {
            session: session.to_owned(),
            verdict,
            outcomes: outcomes.to_vec(),
            at: now,
        });
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{FailureKind, Outcome};
    use profile_schema::HostPort;

    fn failed(host: &str, status: u16) -> TargetOutcome {
        TargetOutcome::new(
            HostPort::parse(host, 8449).unwrap(),
            Outcome::Failed(FailureKind::HttpStatus(status)),
        )
    }

    #[test]
    fn identical_rounds_within_a_minute_are_counted_then_named() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut log = RoundLog::default();
        let a = [failed("psn1", 500)];
        assert_eq!(log.decide("s1", ProbeOutcome::Failed, &a, s(0)), Some(0));
        for n in 1..=3 {
            assert_eq!(log.decide("s1", ProbeOutcome::Failed, &a, s(n)), None);
        }
        // Another status: written at once, naming the three skipped.
        let b = [failed("psn1", 503)];
        assert_eq!(log.decide("s1", ProbeOutcome::Failed, &b, s(4)), Some(3));
        assert_eq!(log.decide("s1", ProbeOutcome::Failed, &b, s(5)), None);
        // The same again a minute after the last line: written.
        assert_eq!(
            log.decide("s1", ProbeOutcome::Failed, &b, s(4) + REPEAT_LOG_INTERVAL),
            Some(1)
        );
    }

    #[test]
    fn another_session_verdict_target_or_order_is_written() {
        let t = Instant::now();
        let mut log = RoundLog::default();
        let ab = [failed("psn1", 500), failed("psn2", 500)];
        let ba = [failed("psn2", 500), failed("psn1", 500)];
        assert_eq!(log.decide("s1", ProbeOutcome::Failed, &ab, t), Some(0));
        assert_eq!(log.decide("s2", ProbeOutcome::Failed, &ab, t), Some(0));
        assert_eq!(log.decide("s2", ProbeOutcome::Failed, &ba, t), Some(0));
        assert_eq!(log.decide("s2", ProbeOutcome::Failed, &ba[..1], t), Some(0));
        assert_eq!(
            log.decide("s2", ProbeOutcome::Blocked, &ba[..1], t),
            Some(0)
        );
        assert_eq!(log.decide("s2", ProbeOutcome::Blocked, &ba[..1], t), None);
    }
}
