//! Discovery: starting an attempt, the backoff, the episode's bundle, and
//! the result of an attempt.

use std::time::Duration;

use profile_schema::HostPort;

use super::Cx;
use crate::machine::events::{Action, BundleReason, DiscoverySuccess};
use crate::machine::state::{
    Assessing, DISCOVERY_FAILURES_FOR_BUNDLE, Discovering, DiscoveryWait, Episode, OpId, Phase,
    SessionInfo,
};
use crate::machine::transition::{PhaseName, Reason, Severity};
use crate::outcome::TargetOutcome;
use crate::targets;

impl Cx<'_> {
    /// Starts a discovery attempt (or goes idle when there is nothing to try).
    pub(super) fn start_discovery(&mut self, attempt: u32, from: PhaseName, reason: Reason) {
        let settings = self.settings;
        let sel = targets::discovery_targets(
            &self.s.persisted,
            settings.discovery_host.as_ref(),
            &settings.call_home_list,
            &settings.server_name_rules,
        );
        if sel.targets.is_empty() {
            self.s.phase = Phase::Idle;
            self.record(
                from,
                Reason::NoDiscoveryTarget {
                    refused: sel.refused,
                },
                Severity::Warn,
                None,
            );
            return;
        }
        let op = self.s.next_id();
        let first = sel.targets.first().cloned();
        self.actions.push(Action::StartDiscovery {
            op,
            session: self.s.last_session.clone(),
            targets: sel.targets,
            refused: sel.refused,
        });
        let episode = self.episode();
        self.s.phase = Phase::Discovering(Discovering {
            attempt,
            episode,
            wait: DiscoveryWait::InFlight(op),
        });
        let severity = match reason {
            Reason::DiscoveryRetry { .. } => Severity::Debug,
            _ => Severity::Info,
        };
        self.record(from, reason, severity, first);
    }

    /// Waits out the backoff for `attempt`, then discovers again.
    pub(super) fn retry_later(
        &mut self,
        attempt: u32,
        from: PhaseName,
        reason: impl FnOnce(Duration) -> Reason,
        psn: Option<HostPort>,
    ) {
        let backoff = self.settings.backoff();
        let jitter = self.s.rng.next_jitter();
        let delay = backoff.delay_jittered(attempt, jitter);
        let (timer, at) = self.arm(delay);
        let episode = self.episode();
        self.s.phase = Phase::Discovering(Discovering {
            attempt: attempt.saturating_add(1),
            episode,
            wait: DiscoveryWait::Backoff { timer, at },
        });
        self.record(from, reason(delay), Severity::Warn, psn);
    }

    /// The discovery episode under way, or a new one when the agent is not
    /// discovering yet (it comes from `idle`, `assessing` or `known`).
    pub(super) fn episode(&self) -> Episode {
        match &self.s.phase {
            Phase::Discovering(d) => d.episode,
            Phase::Idle | Phase::Assessing(_) | Phase::Known(_) => Episode::new(self.now),
        }
    }

    /// Counts a failed discovery attempt in the current episode and asks for
    /// the episode's one bundle when discovery keeps failing.
    fn discovery_failed(&mut self, last_error: impl FnOnce() -> String) {
        let Phase::Discovering(d) = &mut self.s.phase else {
            return;
        };
        let episode = &mut d.episode;
        episode.failures = episode.failures.saturating_add(1);
        if episode.bundled || episode.failures < DISCOVERY_FAILURES_FOR_BUNDLE {
            return;
        }
        episode.bundled = true;
        let reason = BundleReason::DiscoveryFailing {
            attempts: episode.failures,
            failing_for: self.now.saturating_since(episode.since),
            last_error: last_error(),
        };
        self.actions.push(Action::CollectBundle { reason });
    }

    pub(in crate::machine) fn on_discovery(
        &mut self,
        op: OpId,
        result: Result<DiscoverySuccess, Vec<TargetOutcome>>,
    ) -> bool {
        let attempt = match &self.s.phase {
            Phase::Discovering(Discovering {
                attempt,
                wait: DiscoveryWait::InFlight(current),
                ..
            }) if *current == op => *attempt,
            _ => return false,
        };
        let from = PhaseName::Discovering;
        let success = match result {
            Ok(success) => success,
            Err(outcomes) => {
                let last_error = outcomes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                self.retry_later(
                    attempt,
                    from,
                    |retry_in| Reason::DiscoveryFailed { outcomes, retry_in },
                    None,
                );
                self.discovery_failed(|| {
                    if last_error.is_empty() {
                        "no target could be tried".to_owned()
                    } else {
                        last_error
                    }
                });
                return true;
            }
        };
        let DiscoverySuccess {
            answered,
            discovery,
        } = success;
        let allowed = self
            .settings
            .server_name_rules
            .allows(discovery.psn.host.as_str());
        if !allowed {
            let psn = targets::assessment_target(&discovery.psn, &answered);
            self.retry_later(
                attempt,
                from,
                |retry_in| Reason::PsnNotAllowed {
                    psn: psn.clone(),
                    retry_in,
                },
                Some(psn.clone()),
            );
            self.discovery_failed(|| {
                format!("discovery named psn {psn}, which ServerNameRules do not allow")
            });
            return true;
        }
        // Remembered only once an assessment completes (`enter_known`): a
        // host that merely answered discovery is not preferred at the next
        // start.
        let psn = targets::assessment_target(&discovery.psn, &answered);
        let op = self.s.next_id();
        self.actions.push(Action::StartAssessment {
            op,
            session: discovery.session.clone(),
            psn: psn.clone(),
        });
        self.s.last_session = Some(discovery.session.clone());
        self.s.phase = Phase::Assessing(Assessing {
            info: SessionInfo {
                session: discovery.session,
                connected: discovery.psn,
                answered,
                psn_list: discovery.psn_list,
            },
            reported: discovery.posture,
            attempt,
            op,
        });
        self.record(
            from,
            Reason::Discovered {
                posture: discovery.posture,
            },
            Severity::Info,
            Some(psn),
        );
        true
    }
}
