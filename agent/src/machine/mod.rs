//! The agent's pure state machine: the only writer of the agent's state.
//!
//! `step(&State, Event, now) -> Step { state, actions, transition }` decides;
//! the driver (`daemon`) is its only caller and the only place actions run.
//! No I/O, no clock, no randomness: `now` is passed in, jitter comes from a
//! generator seeded once and carried in the state.
//!
//! Every operation the machine starts (a discovery, an assessment, a probe
//! round) and every timer it arms carries an [`OpId`]; a result or a timer
//! whose id is not the one the current phase waits for is stale (from a
//! cancelled round, an abandoned discovery, a replaced timer) and is ignored
//! without any change. See `docs/behaviour.md` for the decision table.

pub mod evaluation;
mod events;
mod handlers;
mod settings;
mod state;
mod transition;

#[doc(hidden)]
pub mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trigger_tests;

pub use evaluation::EvaluationAccount;
pub use events::{Action, BundleReason, DiscoverySuccess, Event, Stage, Step, TimerSlot};
pub use settings::{NETWORK_CHANGE_SPREAD_MAX, START_SPREAD_DEFAULT, START_SPREAD_MAX, Settings};
pub use state::{
    Assessing, Counters, DISCOVERY_FAILURES_FOR_BUNDLE, Discovering, DiscoveryRecord,
    DiscoveryWait, Episode, Known, LastAssessment, LastProbe, OpId, Phase, Probing, REASSESS_MAX,
    REASSESS_MIN, Reassess, RoundPurpose, SessionInfo, Settle, State, SyncStop,
};
pub use transition::{PhaseName, Reason, ReasonKind, RescanDeclined, Severity, Transition};

use crate::timing::MonoTime;
use handlers::Cx;

/// The machine: the new state, the actions to run and the transition to log
/// after `event` happened at `now`.
pub fn step(state: &State, event: Event, now: MonoTime) -> Step {
    match event {
        Event::ProfileApplied(settings) => {
            let mut cx = Cx::new(state, state.phase().clone(), settings, now);
            cx.on_profile();
            cx.finish()
        }
        Event::DiscoveryFinished { op, result } => {
            under_profile(state, now, |cx| cx.on_discovery(op, result))
        }
        Event::AssessmentFinished {
            op,
            result,
            evaluated_in,
            reassess_after,
            requirements,
        } => under_profile(state, now, |cx| {
            cx.on_assessment(op, result, evaluated_in, reassess_after, requirements)
        }),
        Event::ProbeRoundFinished { op, outcomes } => {
            under_profile(state, now, |cx| cx.on_round(op, outcomes))
        }
        Event::TimerFired { timer } => under_profile(state, now, |cx| cx.on_timer(timer)),
        Event::NetworkChanged => under_profile(state, now, |cx| cx.on_network_change(false)),
        Event::Resumed { .. } => under_profile(state, now, |cx| cx.on_network_change(true)),
        Event::RescanRequested => match &state.run {
            Some(_) => under_profile(state, now, |cx| {
                cx.on_rescan();
                true
            }),
            // Nothing to rescan with: say so, so the CLI can show it.
            None => Step {
                state: state.clone(),
                actions: Vec::new(),
                transition: Some(Transition {
                    from: PhaseName::Idle,
                    to: PhaseName::Idle,
                    reason: Reason::RescanDeclined {
                        why: RescanDeclined::NoProfile,
                    },
                    severity: Severity::Info,
                    session: None,
                    psn: None,
                }),
                stale: false,
            },
        },
    }
}

/// Runs the handler of a result or a timer in the current [`Run`](state::Run);
/// the handler returns whether the event was current.
fn under_profile(state: &State, now: MonoTime, handle: impl FnOnce(&mut Cx) -> bool) -> Step {
    // Before the first profile nothing was started and no timer armed, so
    // every result and timer is stale: not a missing-settings fallback, the
    // answer the decision table gives.
    let Some(run) = &state.run else {
        return Step::stale(state);
    };
    let mut cx = Cx::new(state, run.phase.clone(), run.settings.clone(), now);
    if handle(&mut cx) {
        cx.finish()
    } else {
        Step::stale(state)
    }
}
