//! The `status --json` object (docs: `cli.md`) built from the machine's state,
//! and the human summary `posture-sync status` prints without `--json`.
//!
//! The keys of cli.md always exist (a `null` where the contract allows one);
//! extra keys (`version`, `sync.interval_secs`, `sync.next_probe_in_ms`,
//! `sync.stopped_psn`, `last_probe.status`, `last_probe.detail`,
//! `last_probe.targets`) may be absent when reading an older agent's report.
//! Pure: the caller passes both clocks' current readings, and probe times are
//! converted from the monotonic clock to wall-clock time here.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use posture_protocol::{PostureStatus, SessionId};
use serde::{Deserialize, Serialize};

use crate::machine::Stage;
use crate::machine::{PhaseName, State};
use crate::outcome::{Answer, RoundVerdict};
use crate::requirement_result::RequirementResult;
use crate::targets::TargetSource;
use crate::timing::MonoTime;

/// What the daemon publishes after every step for the status socket: the
/// machine's state and both clocks at that moment, shared rather than
/// copied. The report is built only when someone asks: building and
/// dropping it after every step was a tenth of the instructions of a probe
/// round (docs/benchmarks.md). What a client reads is the same as before:
/// the state and clocks of the last step.
#[derive(Debug, Clone)]
pub struct Snapshot(Snap);

#[derive(Debug, Clone)]
enum Snap {
    Fixed(Arc<serde_json::Value>),
    State {
        state: Arc<State>,
        now: MonoTime,
        wall_now: SystemTime,
    },
}

impl Snapshot {
    /// A report given in advance: `null` before the daemon's first step, or
    /// a test's sample.
    pub fn fixed(value: serde_json::Value) -> Snapshot {
        Snapshot(Snap::Fixed(Arc::new(value)))
    }

    /// The daemon's state at the monotonic `now` and wall-clock `wall_now`.
    pub fn of(state: Arc<State>, now: MonoTime, wall_now: SystemTime) -> Snapshot {
        Snapshot(Snap::State {
            state,
            now,
            wall_now,
        })
    }

    /// The machine's state with the monotonic and wall-clock readings of its
    /// step; `None` for a report given in advance. For readers that need a
    /// few fields after every step (the service manager's status line, the
    /// fleet files' triggers) without building the whole report.
    pub fn state(&self) -> Option<(&State, MonoTime, SystemTime)> {
        match &self.0 {
            Snap::State {
                state,
                now,
                wall_now,
            } => Some((state, *now, *wall_now)),
            Snap::Fixed(_) => None,
        }
    }

    /// The `status --json` object.
    pub fn to_value(&self) -> serde_json::Value {
        self.to_value_with(&AgentInfo::default())
    }

    /// The `status --json` object with the facts of this run added (the
    /// control server's answer).
    pub fn to_value_with(&self, info: &AgentInfo) -> serde_json::Value {
        let profile = info.profile.as_ref().map(|p| p.display().to_string());
        match &self.0 {
            Snap::Fixed(value) => {
                let mut value = (**value).clone();
                if let (Some(object), Some(profile)) = (value.as_object_mut(), profile) {
                    object
                        .entry("profile")
                        .or_insert(serde_json::Value::String(profile));
                }
                value
            }
            Snap::State {
                state,
                now,
                wall_now,
            } => {
                let mut r = report(state, *now, *wall_now);
                r.profile = profile;
                serde_json::to_value(r).unwrap_or_else(|e| {
                    // Unreachable in practice: the report is plain data.
                    serde_json::json!({ "error": format!("cannot serialise the status report: {e}") })
                })
            }
        }
    }
}

/// What the running agent knows about itself beyond the machine's state:
/// fixed for the run, added to every report by the control server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentInfo {
    /// The profile the agent runs with, as an absolute path (`profile` in
    /// `status --json`; `dart` bundles it when not given `--profile`).
    pub profile: Option<PathBuf>,
}

/// The `status --json` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `idle`, `discovering`, `assessing` or `known`.
    pub phase: PhaseName,
    /// The posture as the agent holds it (`Unknown` before an assessment).
    pub posture: PostureStatus,
    /// The session, in `assessing` and `known`.
    pub session_id: Option<SessionId>,
    /// The connected PSN's state sync endpoint `host:port`, in `assessing` and `known`.
    pub connected_psn: Option<String>,
    /// State sync.
    pub sync: SyncReport,
    /// The last probe round; `null` before the first.
    pub last_probe: Option<ProbeReport>,
    /// Counters.
    pub counters: CountersReport,
    /// How the agent found its current (or last) session; `null` before the
    /// first discovery (extra key).
    #[serde(default)]
    pub discovery: Option<DiscoveryReport>,
    /// The last assessment the PSN decided: each requirement's result,
    /// reason and remediation; `null` before the first (extra key).
    #[serde(default)]
    pub assessment: Option<AssessmentReport>,
    /// The agent's version (extra key; set by the control server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The absolute path of the profile the agent runs with (extra key; set
    /// by the control server from [`AgentInfo`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Whether probing is in force: the profile enables it and it has not
    /// stopped. `false` exactly when `stopped_reason` is set, or before any
    /// profile was applied.
    pub enabled: bool,
    /// Why probing is not in force.
    pub stopped_reason: Option<StoppedReason>,
    /// The profile's StateSyncProbeInterval in seconds; `null` when disabled (extra key).
    #[serde(default)]
    pub interval_secs: Option<u64>,
    /// Milliseconds until the next probe round, if one is scheduled (extra key).
    #[serde(default)]
    pub next_probe_in_ms: Option<u64>,
    /// With `misconfiguration`: the PSN whose state sync port was reachable (extra key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_psn: Option<String>,
}

/// `sync.stopped_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoppedReason {
    /// A confirmed dACL misconfiguration: stopped until the agent restarts.
    Misconfiguration,
    /// The profile disables state sync (interval 0 or absent).
    DisabledByProfile,
}

impl StoppedReason {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StoppedReason::Misconfiguration => "misconfiguration",
            StoppedReason::DisabledByProfile => "disabled-by-profile",
        }
    }
}

/// `last_probe.outcome` (defined once, in [`crate::outcome`]).
pub use crate::outcome::ProbeOutcome;

/// `last_probe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// When the round finished, RFC 3339 (UTC).
    pub at: String,
    /// The deciding target `host:port`: the one that answered, the first
    /// failed one, or the first blocked one.
    pub target: String,
    /// The verdict.
    pub outcome: ProbeOutcome,
    /// With `status`: the status answered (`Unknown` for a 404) (extra key).
    #[serde(default)]
    pub status: Option<PostureStatus>,
    /// What happened at `target`, in words (extra key).
    #[serde(default)]
    pub detail: String,
    /// Every target's outcome in completion order (extra key).
    #[serde(default)]
    pub targets: Vec<TargetReport>,
}

/// One target in `last_probe.targets`: the same record as a target in the
/// probe history.
pub type TargetReport = crate::record::TargetRecord;

/// `discovery`: the last discovery that found a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryReport {
    /// When, RFC 3339 (UTC).
    pub at: String,
    /// The stage that answered: 1 (the gateway, the last PSN, DiscoveryHost,
    /// in parallel) or 2 (CallHomeList, backup list, remembered PSNs, in
    /// order).
    pub stage: u8,
    /// Which target answered.
    pub source: TargetSource,
    /// The target that answered discovery, `host:port` (where the
    /// redirect led, for the gateway).
    pub answered: String,
    /// With `gateway`: the PSN host the switch's redirect led to.
    #[serde(default)]
    pub redirected_to: Option<String>,
}

/// `assessment`: the last assessment the PSN decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentReport {
    /// When it finished, RFC 3339 (UTC).
    pub at: String,
    /// The session it was for.
    pub session: SessionId,
    /// Each requirement's result, in the server's order.
    pub requirements: Vec<RequirementResult>,
}

/// `counters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountersReport {
    /// Finished probe rounds.
    pub probe_rounds: u64,
    /// Discoveries restarted by a probe.
    pub discovery_restarts: u64,
    /// Confirmed dACL misconfigurations.
    pub misconfigurations: u64,
}

/// Converts a monotonic reading to wall-clock time, given both clocks' readings now.
fn wall_clock(at: MonoTime, now: MonoTime, wall_now: SystemTime) -> SystemTime {
    let ago = now.saturating_since(at);
    wall_now.checked_sub(ago).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Builds the report from the machine's state. `now` and `wall_now` are the
/// monotonic and the wall clock read at the same moment.
pub fn report(state: &State, now: MonoTime, wall_now: SystemTime) -> StatusReport {
    let settings = state.settings();
    let interval = settings.and_then(|s| s.sync);
    let stopped_reason = if state.sync_stop().is_some() {
        Some(StoppedReason::Misconfiguration)
    } else if settings.is_some() && interval.is_none() {
        Some(StoppedReason::DisabledByProfile)
    } else {
        None
    };
    let enabled = interval.is_some() && stopped_reason.is_none();
    let connected = state.connected_psn().map(|p| p.to_string());
    let last_probe = state.last_probe().map(|lp| {
        let target = lp
            .verdict
            .target()
            .map(ToString::to_string)
            .or_else(|| connected.clone())
            .unwrap_or_default();
        let deciding = lp
            .verdict
            .target()
            .and_then(|t| lp.outcomes.iter().find(|o| &o.target == t));
        let detail = match (&lp.verdict, deciding) {
            (RoundVerdict::Empty, _) => "no target".to_owned(),
            (
                RoundVerdict::Answered {
                    answer: Answer::NotFound,
                    ..
                },
                _,
            ) => "404: the psn knows no such session (counts as Unknown)".to_owned(),
            (_, Some(o)) => o.outcome.to_string(),
            (_, None) => String::new(),
        };
        ProbeReport {
            at: humantime::format_rfc3339_millis(wall_clock(lp.at, now, wall_now)).to_string(),
            target,
            outcome: lp.verdict.kind(),
            status: lp.verdict.status(),
            detail,
            targets: lp.outcomes.iter().map(TargetReport::of).collect(),
        }
    });
    let discovery = state.last_discovery().map(|d| DiscoveryReport {
        at: humantime::format_rfc3339_millis(wall_clock(d.at, now, wall_now)).to_string(),
        stage: match d.stage {
            Stage::One => 1,
            Stage::Two => 2,
        },
        source: d.source,
        answered: d.answered.to_string(),
        redirected_to: d.redirected_to.clone(),
    });
    let assessment = state.last_assessment().map(|a| AssessmentReport {
        at: humantime::format_rfc3339_millis(wall_clock(a.at, now, wall_now)).to_string(),
        session: a.session.clone(),
        requirements: a.requirements.to_vec(),
    });
    let counters = state.counters();
    StatusReport {
        phase: state.phase().name(),
        posture: state.posture(),
        session_id: state.session().cloned(),
        connected_psn: connected,
        sync: SyncReport {
            enabled,
            stopped_reason,
            interval_secs: interval.map(|i| i.get().as_secs()),
            next_probe_in_ms: state
                .next_probe_at()
                .map(|at| u64::try_from(at.saturating_since(now).as_millis()).unwrap_or(u64::MAX)),
            stopped_psn: state.sync_stop().map(|s| s.psn.to_string()),
        },
        last_probe,
        counters: CountersReport {
            probe_rounds: counters.probe_rounds,
            discovery_restarts: counters.discovery_restarts,
            misconfigurations: counters.misconfigurations,
        },
        discovery,
        assessment,
        version: None,
        profile: None,
    }
}

/// The `requirements:` line of the summary and one line per failed
/// requirement with its reason and the server's remediation.
pub fn requirements_summary(a: &AssessmentReport) -> String {
    let mut out = String::new();
    let total = a.requirements.len();
    let failed: Vec<&RequirementResult> = a.requirements.iter().filter(|r| !r.passed).collect();
    if failed.is_empty() {
        let _ = writeln!(out, "requirements: all {total} passed (assessed {})", a.at);
        return out;
    }
    let _ = writeln!(
        out,
        "requirements: {} of {total} failed (assessed {})",
        failed.len(),
        a.at
    );
    for r in failed {
        let optional = if r.mandatory { "" } else { " (optional)" };
        let _ = writeln!(out, "  FAILED {}{optional}: {}", r.id, r.reason);
        if let Some(fix) = &r.remediation {
            let _ = writeln!(out, "    what to do: {fix}");
        }
    }
    out
}

/// A few readable lines for `posture-sync status` without `--json`.
pub fn summary(r: &StatusReport) -> String {
    let mut out = String::new();
    let none = "-";
    let _ = writeln!(out, "phase:       {}", r.phase);
    let _ = writeln!(out, "posture:     {}", r.posture);
    if let Some(a) = &r.assessment {
        out.push_str(&requirements_summary(a));
    }
    let _ = writeln!(
        out,
        "session:     {}",
        r.session_id.as_ref().map_or(none, SessionId::as_str)
    );
    let _ = writeln!(
        out,
        "psn:         {}",
        r.connected_psn.as_deref().unwrap_or(none)
    );
    let sync = match (r.sync.stopped_reason, r.sync.enabled) {
        (Some(StoppedReason::Misconfiguration), _) => format!(
            "STOPPED: dacl misconfiguration ({} reachable on its state sync port); restart the agent after fixing the dacl",
            r.sync.stopped_psn.as_deref().unwrap_or("a psn")
        ),
        (Some(StoppedReason::DisabledByProfile), _) => {
            "disabled by the profile (StateSyncProbeInterval 0 or absent)".to_owned()
        }
        (None, true) => {
            let mut s = match r.sync.interval_secs {
                Some(i) => format!("enabled, every {i} s"),
                None => "enabled".to_owned(),
            };
            if let Some(ms) = r.sync.next_probe_in_ms {
                let next = humantime::format_duration(Duration::from_secs(ms.div_ceil(1000)));
                let _ = write!(s, ", next probe in {next}");
            }
            s
        }
        (None, false) => "not configured (no profile applied)".to_owned(),
    };
    let _ = writeln!(out, "state sync:  {sync}");
    if let Some(d) = &r.discovery {
        let via = match &d.redirected_to {
            Some(host) => format!("{} to {host} ({})", d.source.as_str(), d.answered),
            None => format!("{} {}", d.source.as_str(), d.answered),
        };
        let _ = writeln!(out, "discovery:   {} stage {} via {via}", d.at, d.stage);
    }
    match &r.last_probe {
        None => {
            let _ = writeln!(out, "last probe:  none yet");
        }
        Some(p) => {
            let outcome = p.outcome.as_str();
            // The detail usually starts with the outcome already ("blocked
            // (connection reset)", "failed: tls ...", "answered Compliant"):
            // then it says it all and the outcome word is not repeated.
            let said = p.detail.starts_with(outcome)
                || (p.outcome == ProbeOutcome::Status && p.detail.starts_with("answered"));
            let what = match (p.detail.is_empty(), said) {
                (true, _) => outcome.to_owned(),
                (false, true) => p.detail.clone(),
                (false, false) => format!("{outcome} ({})", p.detail),
            };
            let _ = writeln!(out, "last probe:  {} {} {what}", p.at, p.target);
        }
    }
    let _ = writeln!(
        out,
        "counters:    probe rounds {}, discovery restarts {}, misconfigurations {}",
        r.counters.probe_rounds, r.counters.discovery_restarts, r.counters.misconfigurations
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{DiscoverySuccess, Event, Settings, step};
    use crate::outcome::{BlockedKind, HostPort, Outcome, TargetOutcome};
    use crate::timing::ProbeInterval;
    use posture_protocol::{Discovery, PsnRef};
    use serde_json::Value;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort::new(profile_schema::Host::parse(host).unwrap(), port)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn mono(s: u64) -> MonoTime {
        MonoTime::from_elapsed(secs(s))
    }

    /// 2026-11-21T22:00:00Z
    fn wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + secs(1_795_298_400)
    }

    /// Idle -> known (Compliant) -> one blocked round, unless sync is disabled.
    fn known_after_blocked_round(interval: Option<u64>) -> State {
        let mut state = State::new(vec![], 3);
        {
            let state = &mut state;
            let settings = Settings::minimal(
                interval.map(|s| ProbeInterval::try_new(secs(s)).unwrap()),
                hp("ise.lab.test", 8443),
            );
            let s = step(state, Event::ProfileApplied(settings), mono(0));
            *state = s.state;
            let op = match &s.actions[0] {
                crate::machine::Action::StartDiscovery { op, .. } => *op,
                other => panic!("{other:?}"),
            };
            let s = step(
                state,
                Event::DiscoveryFinished {
                    op,
                    result: Ok(DiscoverySuccess {
                        answered: hp("ise.lab.test", 8443),
                        discovery: Discovery {
                            session: SessionId::new("sess-1").unwrap(),
                            posture: PostureStatus::Unknown,
                            psn: PsnRef {
                                host: posture_protocol::Host::parse("psn1.lab.test").unwrap(),
                                state_sync_port: 8449,
                            },
                            psn_list: vec![],
                        },
                        redirected: false,
                    }),
                },
                mono(1),
            );
            *state = s.state;
            let op = s
                .actions
                .iter()
                .find_map(|a| match a {
                    crate::machine::Action::StartAssessment { op, .. } => Some(*op),
                    _ => None,
                })
                .unwrap();
            let s = step(
                state,
                Event::AssessmentFinished {
                    op,
                    evaluated_in: std::time::Duration::ZERO,
                    result: Ok(PostureStatus::Compliant),
                    reassess_after: None,
                    requirements: sample_requirements(),
                },
                mono(2),
            );
            *state = s.state;
            let Some(crate::machine::Action::ArmTimer { timer, .. }) = s
                .actions
                .iter()
                .find(|a| matches!(a, crate::machine::Action::ArmTimer { .. }))
                .cloned()
            else {
                return state.clone();
            };
            let s = step(state, Event::TimerFired { timer }, mono(5));
            *state = s.state;
            let op = match &s.actions[0] {
                crate::machine::Action::StartProbeRound { op, .. } => *op,
                other => panic!("{other:?}"),
            };
            let s = step(
                state,
                Event::ProbeRoundFinished {
                    op,
                    outcomes: vec![TargetOutcome::new(
                        hp("psn1.lab.test", 8449),
                        Outcome::Blocked(BlockedKind::ConnectTimeout),
                    )],
                },
                mono(6),
            );
            *state = s.state;
        }
        state
    }

    #[test]
    fn a_fresh_agent_reports_every_contract_key() {
        let r = report(&State::new(vec![], 1), mono(0), wall());
        let v: Value = serde_json::to_value(&r).unwrap();
        for key in [
            "phase",
            "posture",
            "session_id",
            "connected_psn",
            "sync",
            "last_probe",
            "counters",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["phase"], "idle");
        assert_eq!(v["posture"], "Unknown");
        assert_eq!(v["session_id"], Value::Null);
        assert_eq!(v["connected_psn"], Value::Null);
        assert_eq!(v["last_probe"], Value::Null);
        assert_eq!(v["sync"]["enabled"], false);
        assert_eq!(v["sync"]["stopped_reason"], Value::Null);
        assert_eq!(
            v["counters"],
            serde_json::json!({"probe_rounds": 0, "discovery_restarts": 0, "misconfigurations": 0})
        );
    }

    #[test]
    fn a_known_agent_reports_its_last_probe_in_wall_clock_time() {
        let state = known_after_blocked_round(Some(60));
        // The report is taken 4 s after the round finished (mono 6 -> 10).
        let r = report(&state, mono(10), wall());
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["phase"], "known");
        assert_eq!(v["posture"], "Compliant");
        assert_eq!(v["session_id"], "sess-1");
        assert_eq!(v["connected_psn"], "psn1.lab.test:8449");
        assert_eq!(v["sync"]["enabled"], true);
        assert_eq!(v["sync"]["stopped_reason"], Value::Null);
        assert_eq!(v["sync"]["interval_secs"], 60);
        let next = v["sync"]["next_probe_in_ms"].as_u64().unwrap();
        // Due (54, 60] s after the round started, 4 s ago.
        assert!((49_000..=56_000).contains(&next), "{next}");
        assert_eq!(v["last_probe"]["at"], "2026-11-21T21:59:56.000Z");
        assert_eq!(v["last_probe"]["target"], "psn1.lab.test:8449");
        assert_eq!(v["last_probe"]["outcome"], "blocked");
        assert_eq!(v["last_probe"]["detail"], "blocked (connect timed out)");
        assert_eq!(v["counters"]["probe_rounds"], 1);
        // The report reads back (the status client parses it).
        let back: StatusReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let text = summary(&r);
        assert!(text.contains("phase:       known"), "{text}");
        assert!(text.contains("psn1.lab.test:8449"), "{text}");
        assert!(text.contains("enabled, every 60 s"), "{text}");
        assert!(
            text.contains(
                "last probe:  2026-11-21T21:59:56.000Z psn1.lab.test:8449 blocked (connect timed out)\n"
            ),
            "the outcome word once, then why: {text}"
        );
        assert!(text.contains("probe rounds 1"), "{text}");
    }

    #[test]
    fn the_control_server_adds_the_profile_path() {
        let info = AgentInfo {
            profile: Some(PathBuf::from("/etc/posture-sync/ISEPostureCFG.xml")),
        };
        let snap = Snapshot::of(Arc::new(State::new(vec![], 1)), mono(0), wall());
        let v = snap.to_value_with(&info);
        assert_eq!(v["profile"], "/etc/posture-sync/ISEPostureCFG.xml");
        let back: StatusReport = serde_json::from_value(v).unwrap();
        assert_eq!(
            back.profile.as_deref(),
            Some("/etc/posture-sync/ISEPostureCFG.xml")
        );
        // Without it (an older agent) the key is absent, not null.
        assert!(snap.to_value().get("profile").is_none());
        // A fixed sample gets it too, unless it has its own.
        let fixed = Snapshot::fixed(serde_json::json!({"phase": "idle"}));
        assert_eq!(
            fixed.to_value_with(&info)["profile"],
            "/etc/posture-sync/ISEPostureCFG.xml"
        );
    }

    fn sample_requirements() -> crate::requirement_result::RequirementResults {
        vec![
            RequirementResult {
                id: "os".into(),
                mandatory: true,
                passed: true,
                reason: "the OS is Debian GNU/Linux 12 (bookworm) (debian 12), within debian 12 or later".into(),
                remediation: None,
            },
            RequirementResult {
                id: "disk".into(),
                mandatory: false,
                passed: false,
                reason: "disk is not encrypted: / is on /dev/vda1, not on a LUKS volume".into(),
                remediation: Some("Reinstall with an encrypted disk (LUKS)".into()),
            },
        ]
        .into()
    }

    #[test]
    fn failed_requirements_are_shown_with_reason_and_remediation() {
        let state = known_after_blocked_round(Some(5));
        let r = report(&state, mono(10), wall());
        let a = r.assessment.as_ref().expect("the last assessment");
        assert_eq!(a.session.as_str(), "sess-1");
        assert_eq!(a.requirements, sample_requirements().to_vec());
        let text = summary(&r);
        assert!(
            text.contains(
                "requirements: 1 of 2 failed (assessed 2026-11-21T21:59:52.000Z)\n  \
                 FAILED disk (optional): disk is not encrypted: / is on /dev/vda1, not on a LUKS volume\n    \
                 what to do: Reinstall with an encrypted disk (LUKS)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("FAILED os"), "{text}");
        // The JSON keeps every requirement, passed ones too.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["assessment"]["requirements"][1]["remediation"],
            "Reinstall with an encrypted disk (LUKS)"
        );
        assert!(
            v["assessment"]["requirements"][0]
                .get("remediation")
                .is_none()
        );
        let back: StatusReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        // An agent that has not assessed yet shows no requirements line.
        let fresh = report(&State::new(vec![], 1), mono(0), wall());
        assert!(fresh.assessment.is_none());
        assert!(!summary(&fresh).contains("requirements:"));
    }

    #[test]
    fn sync_disabled_by_profile_is_reported() {
        let state = known_after_blocked_round(None);
        let r = report(&state, mono(10), wall());
        assert_eq!(r.phase, PhaseName::Known);
        assert!(!r.sync.enabled);
        assert_eq!(
            r.sync.stopped_reason,
            Some(StoppedReason::DisabledByProfile)
        );
        assert!(r.last_probe.is_none());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["sync"]["stopped_reason"], "disabled-by-profile");
        assert!(summary(&r).contains("disabled by the profile"));
    }

    #[test]
    fn a_minimal_report_from_the_contract_parses() {
        let text = r#"{"phase":"known","posture":"Compliant","session_id":"abc",
            "connected_psn":"psn1:8449","sync":{"enabled":false,"stopped_reason":"misconfiguration"},
            "last_probe":{"at":"2026-01-01T00:00:00Z","target":"psn1:8449","outcome":"status"},
            "counters":{"probe_rounds":2,"discovery_restarts":0,"misconfigurations":1}}"#;
        let r: StatusReport = serde_json::from_str(text).unwrap();
        assert_eq!(r.sync.stopped_reason, Some(StoppedReason::Misconfiguration));
        assert_eq!(r.last_probe.as_ref().unwrap().outcome, ProbeOutcome::Status);
        let s = summary(&r);
        assert!(
            s.contains("last probe:  2026-01-01T00:00:00Z psn1:8449 status\n"),
            "{s}"
        );
        assert!(s.contains("STOPPED: dacl misconfiguration"), "{s}");
        assert!(s.contains("misconfigurations 1"), "{s}");
    }
}
