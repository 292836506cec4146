//! Assessment: its result, and entering `known`.

use std::time::Duration;

use posture_protocol::PostureStatus;
use profile_schema::HostPort;

use super::Cx;
use crate::machine::events::Action;
use crate::machine::state::{Known, OpId, Phase, Probing, RoundPurpose, SessionInfo};
use crate::machine::transition::{PhaseName, Reason, Severity};
use crate::outcome::TargetOutcome;
use crate::targets;

impl Cx {
    pub(in crate::machine) fn on_assessment(
        &mut self,
        op: OpId,
        result: Result<PostureStatus, TargetOutcome>,
        evaluated_in: Duration,
    ) -> bool {
        let assessing = match &self.phase {
            Phase::Assessing(a) if a.op == op => a.clone(),
            _ => return false,
        };
        self.s.evaluation.spend(self.now, evaluated_in);
        let from = PhaseName::Assessing;
        let psn = targets::assessment_target(&assessing.info.connected, &assessing.info.answered);
        match result {
            Err(outcome) => {
                let psn = Some(outcome.target.clone());
                self.retry_later(
                    assessing.attempt,
                    from,
                    |retry_in| Reason::AssessmentFailed { outcome, retry_in },
                    psn,
                );
            }
            Ok(posture @ (PostureStatus::Unknown | PostureStatus::Pending)) => {
                self.retry_later(
                    assessing.attempt,
                    from,
                    |retry_in| Reason::AssessmentInconclusive { posture, retry_in },
                    Some(psn),
                );
            }
            Ok(posture) => self.enter_known(assessing.info, posture, psn),
        }
        true
    }

    fn enter_known(&mut self, info: SessionInfo, posture: PostureStatus, psn: HostPort) {
        let from = self.phase.name();
        let persisted =
            targets::merge_persisted(&self.s.persisted, &info.connected, &info.answered);
        if persisted != self.s.persisted {
            self.s.persisted = persisted.clone();
            self.actions.push(Action::PersistPsns(persisted));
        }
        let (sync, delay) = (self.settings.sync, self.settings.transition_delay.get());
        let probing = if self.s.sync_stop.is_some() {
            Probing::Stopped
        } else if sync.is_none() {
            Probing::Disabled
        } else {
            let (timer, at) = self.arm(delay);
            Probing::Waiting {
                timer,
                at,
                purpose: RoundPurpose::First,
            }
        };
        self.phase = Phase::Known(Known {
            info,
            posture,
            since: self.now,
            probing,
        });
        self.record(
            from,
            Reason::Assessed { posture },
            Severity::Info,
            Some(psn),
        );
    }
}
