//! The handlers of one step, by concern: the working set [`Cx`] and the
//! profile and timer handlers here, discovery, assessment and probing in
//! their own files. Every handler of a result returns whether the result was
//! the one the phase waits for (`false`: stale, the step changes nothing).

mod assessment;
mod discovery;
mod probing;
mod triggers;

use std::time::Duration;

use profile_schema::HostPort;

use super::events::{Action, Step, TimerSlot};
use super::settings::Settings;
use super::state::{
    Discovering, DiscoveryWait, Known, Memory, OpId, Phase, Probing, RoundPurpose, Run, State,
};
use super::transition::{PhaseName, Reason, Severity, Transition};
use crate::timing::MonoTime;

/// One step's working set: a [`Run`] taken apart, so that handlers change
/// the phase while reading the settings it runs under.
pub(super) struct Cx {
    phase: Phase,
    /// The settings in force: the ones just applied when handling
    /// `Event::ProfileApplied`.
    settings: Settings,
    s: Memory,
    now: MonoTime,
    actions: Vec<Action>,
    transition: Option<Transition>,
}

impl Cx {
    /// Starts a step of `state` in `phase` under `settings`.
    pub(super) fn new(state: &State, phase: Phase, settings: Settings, now: MonoTime) -> Cx {
        Cx {
            phase,
            settings,
            s: state.memory.clone(),
            now,
            actions: Vec::new(),
            transition: None,
        }
    }

    /// The step's result for a current event.
    pub(super) fn finish(self) -> Step {
        Step {
            state: State {
                run: Some(Run {
                    settings: self.settings,
                    phase: self.phase,
                }),
                memory: self.s,
            },
            actions: self.actions,
            transition: self.transition,
            stale: false,
        }
    }

    fn record(
        &mut self,
        from: PhaseName,
        reason: Reason,
        severity: Severity,
        psn: Option<HostPort>,
    ) {
        self.transition = Some(Transition {
            from,
            to: self.phase.name(),
            reason,
            severity,
            session: self.phase.session().cloned(),
            psn,
        });
    }

    /// Arms the phase's timer.
    fn arm(&mut self, after: Duration) -> (OpId, MonoTime) {
        self.arm_slot(TimerSlot::Phase, after)
    }

    fn arm_slot(&mut self, slot: TimerSlot, after: Duration) -> (OpId, MonoTime) {
        let timer = self.s.next_id();
        let at = self.now + after;
        self.actions.push(Action::ArmTimer { timer, at, slot });
        (timer, at)
    }

    // ---- profile ---------------------------------------------------------

    pub(super) fn on_profile(&mut self) {
        let sync = self.settings.sync;
        let delay = self.settings.transition_delay.get();
        let from = self.phase.name();
        match &mut self.phase {
            Phase::Idle => self.start_discovery_spread(
                from,
                Reason::ProfileApplied,
                self.settings.start_spread,
            ),
            // New targets and backoff cap apply from the next attempt.
            Phase::Discovering(_) | Phase::Assessing(_) => {}
            Phase::Known(known) => match (&known.probing, sync) {
                (Probing::Stopped, _) => {}
                (Probing::Disabled, None) => {}
                (Probing::Disabled, Some(_)) => {
                    let (timer, at) = self.arm(delay);
                    if let Phase::Known(known) = &mut self.phase {
                        known.probing = Probing::Waiting {
                            timer,
                            at,
                            purpose: RoundPurpose::First,
                        };
                    }
                    let psn = self.phase.connected_psn();
                    self.record(from, Reason::SyncEnabledByProfile, Severity::Info, psn);
                }
                (Probing::InFlight { op, .. }, None) => {
                    let op = *op;
                    known.probing = Probing::Disabled;
                    self.actions.push(Action::Cancel { op });
                    let psn = self.phase.connected_psn();
                    self.record(from, Reason::SyncDisabledByProfile, Severity::Info, psn);
                }
                (Probing::Waiting { .. }, None) => {
                    known.probing = Probing::Disabled;
                    let psn = self.phase.connected_psn();
                    self.record(from, Reason::SyncDisabledByProfile, Severity::Info, psn);
                }
                // Still enabled: a new interval applies from the next schedule,
                // new targets from the next round.
                (Probing::InFlight { .. } | Probing::Waiting { .. }, Some(_)) => {}
            },
        }
    }

    // ---- timers ----------------------------------------------------------

    pub(super) fn on_timer(&mut self, timer: OpId) -> bool {
        if self.s.settle.is_some_and(|s| s.timer == timer) {
            self.on_settled();
            return true;
        }
        match &self.phase {
            Phase::Discovering(Discovering {
                attempt,
                wait: DiscoveryWait::Backoff { timer: t, .. },
                ..
            }) if *t == timer => {
                let attempt = *attempt;
                self.start_discovery(
                    attempt,
                    PhaseName::Discovering,
                    Reason::DiscoveryRetry { attempt },
                );
                true
            }
            Phase::Known(Known {
                probing:
                    Probing::Waiting {
                        timer: t, purpose, ..
                    },
                ..
            }) if *t == timer => {
                let purpose = purpose.clone();
                self.start_round(purpose);
                true
            }
            Phase::Known(Known {
                reassess: Some(r), ..
            }) if r.timer == timer => {
                let every = r.every;
                self.on_reassess_due(every);
                true
            }
            _ => false,
        }
    }
}
