//! One state sync probe round: `GET /auth/posturestatus?session=ID` to every
//! target concurrently, started [`crate::timing::ProbeStagger`] apart (the connected PSN
//! first), until the first definitive answer.
//!
//! A dACL `deny` usually drops silently, so a blocked target costs a whole
//! timeout. Running the targets concurrently means one silent target does not
//! hold up the round when another answers: the first definitive answer (a
//! status or a 404) ends the round and cancels the rest. Otherwise the round
//! ends when every target has an outcome, each bounded by
//! [`PROBE_TIMEOUTS`], and in any case by [`round_deadline`].
//!
//! The verdict is the core's ([`crate::outcome::judge_round`]); this driver
//! only collects the classified outcomes, in completion order.

use std::time::Duration;

use posture_protocol::{SessionId, paths};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::outcome::{FailureKind, HostPort, Outcome, TargetOutcome, classify_probe_reply};
use crate::transport::deadline::Deadline;
use crate::transport::{Timeouts, Transport};

/// Time limits of one probe. The connect limit is the general one (a silent
/// drop on a switch ends here); once TCP is up, a PSN answers a probe in
/// milliseconds, so 5 s for TLS + reply is generous, and keeps a round that
/// meets an accept-and-drop middlebox shorter than the 10 s general limit.
pub const PROBE_TIMEOUTS: Timeouts = Timeouts {
    connect: crate::transport::CONNECT_TIMEOUT,
    exchange: Duration::from_secs(5),
};

/// The hard end of a round with `targets` targets: the last target's start
/// plus its whole time budget, plus a second of slack. Each probe is bounded
/// by its own timeouts already; this is the backstop that guarantees a round
/// always ends.
pub fn round_deadline(targets: usize, stagger: Duration, timeouts: Timeouts) -> Duration {
    let last_start =
        stagger.saturating_mul(u32::try_from(targets.saturating_sub(1)).unwrap_or(u32::MAX));
    last_start + timeouts.connect + timeouts.exchange + Duration::from_secs(1)
}

/// A finished round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// One outcome per target that finished, in completion order. A round
    /// ended by a definitive answer holds that answer last and leaves out the
    /// targets it cancelled.
    pub outcomes: Vec<TargetOutcome>,
    /// How long the round took.
    pub took: Duration,
}

/// The transport's limits with each stage capped at `within`.
pub fn capped(timeouts: Timeouts, within: Duration) -> Timeouts {
    Timeouts {
        connect: timeouts.connect.min(within),
        exchange: timeouts.exchange.min(within),
    }
}

/// Probes `targets` (connected PSN first) for `session`, starting them
/// `stagger` apart (the agent uses [`crate::timing::ProbeStagger::DEFAULT`]).
///
/// The transport's own timeouts apply, each stage capped at `within` (the
/// probe interval: a target silent for a whole interval is blocked, see
/// `Action::StartProbeRound`); pass a transport built with
/// [`PROBE_TIMEOUTS`] for the agent's settings.
pub async fn run_round(
    transport: &Transport,
    targets: &[HostPort],
    session: &SessionId,
    stagger: Duration,
    within: Duration,
) -> Round {
    let limits = capped(transport.timeouts(), within);
    let capped_transport;
    let transport = if limits == transport.timeouts() {
        transport
    } else {
        capped_transport = transport.clone().with_timeouts(limits);
        &capped_transport
    };
    let started = Instant::now();
    // The backstop is due a second after every probe's own limit, so it is
    // cancelled long before: a tokio timer, free to make and cancel, where
    // a kernel timer cost five system calls per round (`transport::deadline`).
    let mut deadline =
        Deadline::backstop(started + round_deadline(targets.len(), stagger, transport.timeouts()));
    let mut tasks = JoinSet::new();
    for (i, target) in targets.iter().enumerate() {
        let transport = transport.clone();
        let target = target.clone();
        let session = session.clone();
        let start_at = started + stagger.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        tasks.spawn(async move {
            // The first target starts now: no timer for it.
            if i > 0 {
                tokio::time::sleep_until(start_at).await;
            }
            let outcome = probe_one(&transport, &target, &session).await;
            TargetOutcome::new(target, outcome)
        });
    }
    let mut outcomes = Vec::with_capacity(targets.len());
    loop {
        match deadline.guard(tasks.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok(done))) => {
                log_target(session, &done);
                let definitive = done.outcome.is_definitive();
                outcomes.push(done);
                if definitive {
                    // First definitive answer wins; dropping the set cancels the rest.
                    break;
                }
            }
            Ok(Some(Err(join_error))) => {
                // A probe task cannot panic on input (errors are values); if
                // one did anyway, the round goes on without it.
                tracing::error!(error = %join_error, "a probe task ended abnormally");
            }
            Err(_) => {
                for target in targets {
                    if !outcomes.iter().any(|o| &o.target == target) {
                        outcomes.push(TargetOutcome::new(
                            target.clone(),
                            Outcome::Failed(FailureKind::Other {
                                detail: "no outcome before the round deadline".to_owned(),
                            }),
                        ));
                    }
                }
                break;
            }
        }
    }
    tasks.abort_all();
    Round {
        outcomes,
        took: started.elapsed(),
    }
}

/// One probe, classified.
pub async fn probe_one(transport: &Transport, target: &HostPort, session: &SessionId) -> Outcome {
    let query = format!("{}?session={}", paths::POSTURE_STATUS, session);
    match transport.get(target, &query, Some(session)).await {
        Ok(reply) => classify_probe_reply(reply.status, &reply.body, session),
        Err(e) => e.outcome,
    }
}

fn log_target(session: &SessionId, done: &TargetOutcome) {
    match &done.outcome {
        Outcome::Failed(FailureKind::Tls { detail }) => tracing::error!(
            session = %session,
            psn = %done.target,
            reason = ?detail,
            "security: state sync target failed TLS verification; not retried with weaker settings"
        ),
        // The round's line (daemon) names every target's failure at `warn`;
        // a second line per target doubled the logging cost of a fault round
        // (docs/benchmarks.md).
        Outcome::Failed(kind) => tracing::debug!(
            session = %session,
            psn = %done.target,
            // Debug: a malformed reply's detail quotes server text.
            reason = ?kind.to_string(),
            "state sync probe failed"
        ),
        other => tracing::debug!(
            session = %session,
            psn = %done.target,
            outcome = %other,
            "state sync probe target done"
        ),
    }
}

#[cfg(test)]
mod tests;
