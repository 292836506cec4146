//! Assessment: its result, and entering `known`.

use std::time::Duration;

use posture_protocol::PostureStatus;
use profile_schema::HostPort;

use super::Cx;
use crate::machine::events::{Action, TimerSlot};
use crate::machine::state::{
    Known, LastAssessment, OpId, Phase, Probing, REASSESS_MAX, REASSESS_MIN, Reassess,
    RoundPurpose, SessionInfo,
};
use crate::machine::transition::{PhaseName, Reason, Severity};
use crate::outcome::TargetOutcome;
use crate::requirement_result::RequirementResults;
use crate::targets;

impl Cx {
    pub(in crate::machine) fn on_assessment(
        &mut self,
        op: OpId,
        result: Result<PostureStatus, TargetOutcome>,
        evaluated_in: Duration,
        reassess_after: Option<Duration>,
        requirements: RequirementResults,
    ) -> bool {
        let assessing = match &self.phase {
            Phase::Assessing(a) if a.op == op => a.clone(),
            _ => return false,
        };
        self.s.evaluation.spend(self.now, evaluated_in);
        if !requirements.is_empty() {
            self.s.last_assessment = Some(LastAssessment {
                at: self.now,
                session: assessing.info.session.clone(),
                requirements,
            });
        }
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
            Ok(posture) => self.enter_known(assessing.info, posture, psn, reassess_after),
        }
        true
    }

    fn enter_known(
        &mut self,
        info: SessionInfo,
        posture: PostureStatus,
        psn: HostPort,
        reassess_after: Option<Duration>,
    ) {
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
        // A PSN may ask for a periodic reassessment, within bounds: it
        // cannot make the endpoint reassess constantly (nor schedule one
        // for a date no endpoint lives to see).
        let reassess = reassess_after
            .filter(|every| (REASSESS_MIN..=REASSESS_MAX).contains(every))
            .map(|every| {
                let (timer, at) = self.arm_slot(TimerSlot::Reassess, every);
                Reassess { timer, at, every }
            });
        self.phase = Phase::Known(Known {
            info,
            posture,
            since: self.now,
            probing,
            reassess,
        });
        self.record(
            from,
            Reason::Assessed { posture },
            Severity::Info,
            Some(psn),
        );
    }
}
