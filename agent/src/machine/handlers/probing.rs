//! State sync probing: starting and scheduling rounds, judging a round,
//! restarting discovery when the server-side posture changed, and
//! confirming a dACL misconfiguration.

use std::time::Duration;

use posture_protocol::PostureStatus;
use profile_schema::HostPort;

use super::Cx;
use crate::machine::events::{Action, BundleReason};
use crate::machine::state::{Known, LastProbe, OpId, Phase, Probing, RoundPurpose, SyncStop};
use crate::machine::transition::{PhaseName, Reason, Severity};
use crate::outcome::{RoundVerdict, TargetOutcome, judge_round};
use crate::targets;
use crate::timing::ProbeStagger;

impl Cx {
    pub(super) fn start_round(&mut self, purpose: RoundPurpose) {
        let Phase::Known(known) = &self.phase else {
            return;
        };
        let settings = &self.settings;
        let sel = targets::probe_targets(
            &settings.probing_backup_list,
            &known.info.connected,
            &known.info.psn_list,
            &settings.server_name_rules,
            &settings.server_ports,
        );
        if sel.targets.is_empty() {
            // Nothing may be probed: skip the round (a confirmation cannot
            // happen either) and try again next interval; the profile may
            // change meanwhile.
            self.schedule_regular();
            let psn = self.phase.connected_psn();
            self.record(
                PhaseName::Known,
                Reason::NoProbeTarget {
                    refused: sel.refused,
                },
                Severity::Warn,
                psn,
            );
            return;
        }
        let session = known.info.session.clone();
        // A confirmation round under a profile that just disabled sync has
        // no interval: the drivers' own limits apply.
        let within = settings.sync.map_or(Duration::MAX, |i| i.get());
        let op = self.s.next_id();
        self.actions.push(Action::StartProbeRound {
            op,
            session,
            targets: sel.targets,
            refused: sel.refused,
            stagger: ProbeStagger::DEFAULT.get(),
            within,
        });
        let started = self.now;
        if let Phase::Known(known) = &mut self.phase {
            known.probing = Probing::InFlight {
                op,
                purpose,
                started,
            };
        }
    }

    /// Schedules the next regular round the jittered interval after the
    /// start of the round that just finished (at once if that moment has
    /// passed), or after now when no round is finishing; or notes sync as
    /// disabled when the profile no longer has an interval.
    fn schedule_regular(&mut self) {
        let sync = self.settings.sync;
        let from = match &self.phase {
            Phase::Known(Known {
                probing: Probing::InFlight { started, .. },
                ..
            }) => *started,
            _ => self.now,
        };
        let probing = match sync {
            None => Probing::Disabled,
            Some(interval) => {
                let jitter = self.s.rng.next_jitter();
                let due = from + interval.jittered(jitter);
                let (timer, at) = self.arm(due.saturating_since(self.now));
                Probing::Waiting {
                    timer,
                    at,
                    purpose: RoundPurpose::Regular,
                }
            }
        };
        if let Phase::Known(known) = &mut self.phase {
            known.probing = probing;
        }
    }

    pub(in crate::machine) fn on_round(&mut self, op: OpId, outcomes: Vec<TargetOutcome>) -> bool {
        let (known, purpose, started) = match &self.phase {
            Phase::Known(
                k @ Known {
                    probing:
                        Probing::InFlight {
                            op: current,
                            purpose,
                            started,
                        },
                    ..
                },
            ) if *current == op => (k.clone(), purpose.clone(), *started),
            _ => return false,
        };
        let verdict = judge_round(&outcomes);
        self.s.counters.probe_rounds += 1;
        self.s.last_probe = Some(LastProbe {
            at: self.now,
            verdict: verdict.clone(),
            outcomes,
            took: self.now.saturating_since(started),
        });
        let from = PhaseName::Known;
        match verdict {
            RoundVerdict::Answered { target, answer } => {
                let theirs = answer.status();
                let ours = known.posture;
                if matches!(theirs, PostureStatus::Unknown | PostureStatus::Pending) {
                    self.restart_discovery(Reason::ServerLostPosture { answer }, target);
                } else if theirs != ours {
                    self.restart_discovery(Reason::ServerPostureChanged { ours, theirs }, target);
                } else if !theirs.is_known() {
                    // NotApplicable on both sides: in step, and no dACL is
                    // expected to block the port for it. Keep probing.
                    self.schedule_regular();
                } else if let RoundPurpose::Confirm { .. } = purpose {
                    self.confirm_misconfiguration(&known, target, theirs);
                } else {
                    let delay = self.settings.transition_delay.get();
                    let (timer, at) = self.arm(delay);
                    if let Phase::Known(k) = &mut self.phase {
                        k.probing = Probing::Waiting {
                            timer,
                            at,
                            purpose: RoundPurpose::Confirm {
                                psn: target.clone(),
                                status: theirs,
                            },
                        };
                    }
                    self.record(
                        from,
                        Reason::MisconfigurationSuspected {
                            status: theirs,
                            confirm_in: delay,
                        },
                        Severity::Warn,
                        Some(target),
                    );
                }
            }
            RoundVerdict::Blocked { target } => {
                self.schedule_regular();
                if let RoundPurpose::Confirm { .. } = purpose {
                    self.record(from, Reason::LateDacl, Severity::Info, Some(target));
                }
            }
            RoundVerdict::Fault { target } => {
                self.schedule_regular();
                if let RoundPurpose::Confirm { .. } = purpose {
                    self.record(
                        from,
                        Reason::ConfirmationInconclusive,
                        Severity::Warn,
                        Some(target),
                    );
                }
            }
            RoundVerdict::Empty => {
                self.schedule_regular();
                if let RoundPurpose::Confirm { .. } = purpose {
                    self.record(from, Reason::ConfirmationInconclusive, Severity::Warn, None);
                }
            }
        }
        true
    }

    fn restart_discovery(&mut self, reason: Reason, psn: HostPort) {
        self.s.counters.discovery_restarts += 1;
        self.rediscover_limited(reason, Some(psn));
    }

    /// Leaves `known` for discovery on a server's word (a probe's answer, a
    /// periodic reassessment): at once, or once the evaluation the server
    /// provoked has drained ([`crate::machine::evaluation`]).
    pub(super) fn rediscover_limited(&mut self, reason: Reason, psn: Option<HostPort>) {
        let from = self.phase.name();
        // The transition names the session that was lost and the PSN that
        // said so; record it before the phase drops the session.
        let session = self.phase.session().cloned();
        let wait = self.s.evaluation.wait(self.now);
        if wait.is_zero() {
            self.start_discovery(0, from, reason);
        } else {
            // The server has made this endpoint evaluate more than its share
            // (machine/evaluation.rs): rediscover once that has drained.
            self.discover_after(0, wait);
            self.record(
                from,
                Reason::ReassessmentRateLimited {
                    cause: Box::new(reason),
                    wait,
                },
                Severity::Warn,
                None,
            );
        }
        if let Some(t) = &mut self.transition {
            t.session = session;
            t.psn = psn;
        }
    }

    fn confirm_misconfiguration(&mut self, known: &Known, psn: HostPort, status: PostureStatus) {
        let stop = SyncStop {
            psn: psn.clone(),
            status,
            session: known.info.session.clone(),
            at: self.now,
        };
        self.s.counters.misconfigurations += 1;
        self.s.sync_stop = Some(stop.clone());
        if let Phase::Known(k) = &mut self.phase {
            k.probing = Probing::Stopped;
        }
        self.actions.push(Action::CollectBundle {
            reason: BundleReason::Misconfiguration(stop),
        });
        self.record(
            PhaseName::Known,
            Reason::MisconfigurationConfirmed { status },
            Severity::Error,
            Some(psn),
        );
    }
}
