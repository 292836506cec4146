//! The client-side triggers: a network change or a resume (debounced by
//! NetworkTransitionDelay), a rescan request, and the periodic reassessment
//! a PSN asked for.

use std::time::Duration;

use super::Cx;
use crate::machine::NETWORK_CHANGE_SPREAD_MAX;
use crate::machine::events::{Action, TimerSlot};
use crate::machine::state::{Discovering, DiscoveryWait, Known, Phase, Probing, Settle};
use crate::machine::transition::{Reason, RescanDeclined, Severity};

impl Cx {
    /// A network change or a resume: (re)arms the one debounce timer, so a
    /// burst of changes restarts discovery once, NetworkTransitionDelay
    /// after the last of them.
    pub(in crate::machine) fn on_network_change(&mut self, resumed: bool) -> bool {
        let delay = self.settings.transition_delay.get();
        let (changes, before) = self.s.settle.map_or((0, false), |s| (s.changes, s.resumed));
        let (timer, at) = self.arm_slot(TimerSlot::Settle, delay);
        self.s.settle = Some(Settle {
            timer,
            at,
            changes: changes.saturating_add(1),
            resumed: before || resumed,
        });
        true
    }

    /// The network has been quiet for NetworkTransitionDelay.
    pub(super) fn on_settled(&mut self) {
        let Some(settle) = self.s.settle.take() else {
            return;
        };
        // Idle under a profile: nothing to discover, and a network change
        // does not change that (only a new profile does).
        if matches!(self.phase, Phase::Idle) {
            return;
        }
        self.rediscover_now(
            Reason::NetworkChanged {
                changes: settle.changes,
                resumed: settle.resumed,
            },
            true,
        );
    }

    /// `posture-sync reassess`: rediscover now, except while an assessment
    /// runs (its result is the fresh posture asked for).
    pub(in crate::machine) fn on_rescan(&mut self) {
        if let Phase::Assessing(_) = &self.phase {
            let from = self.phase.name();
            let psn = self.phase.connected_psn();
            self.record(
                from,
                Reason::RescanDeclined {
                    why: RescanDeclined::AssessmentRunning,
                },
                Severity::Info,
                psn,
            );
            return;
        }
        // Someone is waiting for this one: no spread.
        self.rediscover_now(Reason::Rescan, false);
    }

    /// The periodic reassessment is due: rediscover (and so reassess),
    /// under the same rate limit as a reassessment a probe provokes, since
    /// the PSN chose the interval.
    pub(super) fn on_reassess_due(&mut self, every: Duration) {
        let psn = self.phase.connected_psn();
        self.cancel_running();
        self.rediscover_limited(Reason::PeriodicReassessment { every }, psn);
    }

    /// An endpoint-side restart: drops what the phase runs and starts a
    /// fresh attempt, with the backoff reset (not rate limited: the
    /// endpoint, not a server, asked for it): at once, or after a spread
    /// when `spread` (a network change: every endpoint behind a rebooted
    /// switch sees it at the same moment). That spread is the start spread
    /// capped at [`NETWORK_CHANGE_SPREAD_MAX`]: the endpoint has waited out
    /// NetworkTransitionDelay already, and the time-to-rediscover goal
    /// (docs/benchmarks.md) allows one second after it.
    fn rediscover_now(&mut self, reason: Reason, spread: bool) {
        let from = self.phase.name();
        let session = self.phase.session().cloned();
        let psn = self.phase.connected_psn();
        self.cancel_running();
        if spread {
            let cap = self.settings.start_spread.min(NETWORK_CHANGE_SPREAD_MAX);
            self.start_discovery_spread(from, reason, cap);
        } else {
            self.start_discovery(0, from, reason);
        }
        if let Some(t) = &mut self.transition {
            if t.session.is_none() {
                t.session = session;
            }
            if psn.is_some() {
                t.psn = psn;
            }
        }
    }

    /// Cancels the operation the phase waits for, if one is under way.
    fn cancel_running(&mut self) {
        let op = match &self.phase {
            Phase::Discovering(Discovering {
                wait: DiscoveryWait::InFlight(op),
                ..
            }) => Some(*op),
            Phase::Assessing(a) => Some(a.op),
            Phase::Known(Known {
                probing: Probing::InFlight { op, .. },
                ..
            }) => Some(*op),
            _ => None,
        };
        if let Some(op) = op {
            self.actions.push(Action::Cancel { op });
        }
    }
}
