//! Discovery: starting an attempt, the backoff, the episode's bundle, and
//! the result of an attempt.

use std::time::Duration;

use profile_schema::HostPort;

use super::Cx;
use crate::machine::events::{Action, BundleReason, DiscoverySuccess, Stage};
use crate::machine::state::{
    Assessing, DISCOVERY_FAILURES_FOR_BUNDLE, Discovering, DiscoveryRecord, DiscoveryWait, Episode,
    OpId, Phase, SessionInfo,
};
use crate::machine::transition::{PhaseName, Reason, Severity};
use crate::outcome::TargetOutcome;
use crate::targets::{self, RefusedTarget, TargetSource};

impl Cx {
    /// Starts a discovery attempt at its first non-empty stage (or goes
    /// idle when there is nothing to try).
    pub(super) fn start_discovery(&mut self, attempt: u32, from: PhaseName, reason: Reason) {
        let stages = self.stages();
        let (stage, targets, refused) = if stages.gateway || !stages.one.targets.is_empty() {
            (Stage::One, stages.one.targets, stages.one.refused)
        } else if !stages.two.targets.is_empty() {
            // An empty stage is skipped; its refused targets are still
            // reported.
            let mut refused = stages.one.refused;
            refused.extend(stages.two.refused);
            (Stage::Two, stages.two.targets, refused)
        } else {
            let mut refused = stages.one.refused;
            refused.extend(stages.two.refused);
            self.phase = Phase::Idle;
            self.record(
                from,
                Reason::NoDiscoveryTarget { refused },
                Severity::Warn,
                None,
            );
            return;
        };
        let first = targets.first().cloned();
        let op = self.discover(
            stage,
            stages.gateway && stage == Stage::One,
            targets,
            refused,
        );
        let episode = self.episode();
        self.phase = Phase::Discovering(Discovering {
            attempt,
            episode,
            wait: DiscoveryWait::InFlight(op),
            stage,
            missed: Vec::new(),
        });
        let severity = match reason {
            Reason::DiscoveryRetry { .. } => Severity::Debug,
            _ => Severity::Info,
        };
        self.record(from, reason, severity, first);
    }

    /// Starts a discovery attempt after a random delay below `spread` (the
    /// start spread, [`Settings::start_spread`](crate::machine::Settings),
    /// or less), or at once when it is zero or there is nothing to discover. The
    /// delay is waited out as a backoff of attempt 0, so a result or timer
    /// of what ran before is stale and the wait ends in an ordinary attempt.
    pub(super) fn start_discovery_spread(
        &mut self,
        from: PhaseName,
        reason: Reason,
        spread: Duration,
    ) {
        let stages = self.stages();
        let nothing =
            !stages.gateway && stages.one.targets.is_empty() && stages.two.targets.is_empty();
        if spread.is_zero() || nothing {
            self.start_discovery(0, from, reason);
            return;
        }
        let delay = self.s.rng.below(spread);
        self.discover_after(0, delay);
        self.record(
            from,
            Reason::StartSpread {
                cause: Box::new(reason),
                delay,
            },
            Severity::Info,
            None,
        );
    }

    /// The discovery stages under the settings in force and the PSNs
    /// remembered now.
    fn stages(&self) -> targets::DiscoveryStages {
        let settings = &self.settings;
        targets::discovery_stages(
            settings.gateway_discovery,
            &self.s.persisted,
            settings.discovery_host.as_ref(),
            &settings.call_home_list,
            &settings.probing_backup_list,
            &settings.server_name_rules,
        )
    }

    /// Asks the driver to run one stage; returns the operation's id.
    fn discover(
        &mut self,
        stage: Stage,
        gateway: bool,
        targets: Vec<HostPort>,
        refused: Vec<RefusedTarget>,
    ) -> OpId {
        let op = self.s.next_id();
        self.actions.push(Action::StartDiscovery {
            op,
            stage,
            gateway,
            session: self.s.last_session.clone(),
            targets,
            refused,
        });
        op
    }

    /// Which target answered `stage` with `answered` (not redirected).
    fn source_of(&self, stage: Stage, answered: &HostPort) -> TargetSource {
        let settings = &self.settings;
        let last = self.s.persisted.first();
        match stage {
            Stage::One if last.is_some_and(|l| targets::same_target(l, answered)) => {
                TargetSource::LastPsn
            }
            Stage::One => TargetSource::DiscoveryHost,
            Stage::Two
                if settings
                    .call_home_list
                    .iter()
                    .any(|t| targets::same_target(t, answered)) =>
            {
                TargetSource::CallHomeList
            }
            Stage::Two
                if answered.port() == posture_protocol::DEFAULT_DISCOVERY_PORT
                    && settings
                        .probing_backup_list
                        .iter()
                        .any(|t| t.host() == answered.host()) =>
            {
                TargetSource::ProbingBackupList
            }
            Stage::Two => TargetSource::Persisted,
        }
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
        self.discover_after(attempt.saturating_add(1), delay);
        self.record(from, reason(delay), Severity::Warn, psn);
    }

    /// Discovers again (attempt `attempt`) once `delay` has passed: the
    /// phase waits in `discovering` on a backoff timer, in the episode
    /// under way or a new one.
    pub(super) fn discover_after(&mut self, attempt: u32, delay: Duration) {
        let (timer, at) = self.arm(delay);
        let episode = self.episode();
        self.phase = Phase::Discovering(Discovering {
            attempt,
            episode,
            wait: DiscoveryWait::Backoff { timer, at },
            stage: Stage::One,
            missed: Vec::new(),
        });
    }

    /// The discovery episode under way, or a new one when the agent is not
    /// discovering yet (it comes from `idle`, `assessing` or `known`).
    pub(super) fn episode(&self) -> Episode {
        match &self.phase {
            Phase::Discovering(d) => d.episode,
            Phase::Idle | Phase::Assessing(_) | Phase::Known(_) => Episode::new(self.now),
        }
    }

    /// Counts a failed discovery attempt in the current episode and asks for
    /// the episode's one bundle when discovery keeps failing.
    fn discovery_failed(&mut self, last_error: impl FnOnce() -> String) {
        let Phase::Discovering(d) = &mut self.phase else {
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
        let (attempt, stage, mut missed) = match &self.phase {
            Phase::Discovering(Discovering {
                attempt,
                wait: DiscoveryWait::InFlight(current),
                stage,
                missed,
                ..
            }) if *current == op => (*attempt, *stage, missed.clone()),
            _ => return false,
        };
        let from = PhaseName::Discovering;
        let success = match result {
            Ok(success) => success,
            Err(outcomes) if stage == Stage::One => {
                let two = self.stages().two;
                if two.targets.is_empty() {
                    self.attempt_failed(attempt, outcomes);
                    return true;
                }
                // Stage 1 failing is part of the attempt: stage 2 starts at
                // once, without backoff.
                let first = two.targets.first().cloned();
                let op = self.discover(Stage::Two, false, two.targets, two.refused);
                if let Phase::Discovering(d) = &mut self.phase {
                    d.wait = DiscoveryWait::InFlight(op);
                    d.stage = Stage::Two;
                    d.missed = outcomes.clone();
                }
                self.record(
                    from,
                    Reason::DiscoveryStageFailed { outcomes },
                    Severity::Debug,
                    first,
                );
                return true;
            }
            Err(outcomes) => {
                missed.extend(outcomes);
                self.attempt_failed(attempt, missed);
                return true;
            }
        };
        self.on_discovered(attempt, stage, success);
        true
    }

    /// The attempt failed in its last stage: every target's `outcomes`.
    fn attempt_failed(&mut self, attempt: u32, outcomes: Vec<TargetOutcome>) {
        let last_error = outcomes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        self.retry_later(
            attempt,
            PhaseName::Discovering,
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
    }

    /// A stage of the attempt found the session.
    fn on_discovered(&mut self, attempt: u32, stage: Stage, success: DiscoverySuccess) {
        let from = PhaseName::Discovering;
        let DiscoverySuccess {
            answered,
            discovery,
            redirected,
        } = success;
        let rules = &self.settings.server_name_rules;
        // The gateway's redirect is untrusted: the driver checked it with
        // `redirect_target`, and the machine holds it to ServerNameRules
        // again so that no driver bug can aim the assessment elsewhere.
        let allowed = rules.allows(discovery.psn.host.as_str())
            && (!redirected || rules.allows(answered.host().as_str()));
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
            return;
        }
        let source = if redirected {
            TargetSource::Gateway
        } else {
            self.source_of(stage, &answered)
        };
        let redirected_to = redirected.then(|| answered.host().as_str().to_owned());
        self.s.last_discovery = Some(DiscoveryRecord {
            stage,
            source,
            answered: answered.clone(),
            redirected_to: redirected_to.clone(),
            at: self.now,
        });
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
        self.phase = Phase::Assessing(Assessing {
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
                stage,
                source,
                redirected_to,
            },
            Severity::Info,
            Some(psn),
        );
    }
}
