//! One serde record per fact the agent writes out and reads back: a probe
//! round ([`RoundRecord`], a line of `probe-rounds.jsonl`), a decision of the
//! machine ([`TransitionRecord`], a line of `transitions.jsonl`) and the
//! reason for an automatic bundle ([`BundleReasonRecord`]).
//!
//! Writers build a record from the machine's own values and readers
//! deserialise the same type: no reader recovers a fact from text written
//! for people (a log line, an outcome's wording). Every record carries
//! human text too (`detail`, `reason`, `text`), for people only.
//!
//! Readers are tolerant: unknown fields are ignored, and a line without
//! [`RECORD_VERSION`] (written by an older agent) still reads where it can
//! (its `v` is 0, its typed facts absent) so a bundle can say so.

use std::fmt::Display;
use std::time::{Duration, SystemTime};

use posture_protocol::PostureStatus;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use crate::machine::{BundleReason, LastProbe, PhaseName, ReasonKind, Transition};
use crate::outcome::{ProbeOutcome, TargetOutcome};

/// The transitions file in the state directory, next to the probe history.
pub const TRANSITIONS_FILE: &str = "transitions.jsonl";

/// The format of the records this build writes (`v`). A line without it was
/// written by an older agent (`v` reads as 0).
pub const RECORD_VERSION: u32 = 2;

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn parse_time(at: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(at.trim_end_matches('Z')).ok()
}

/// One target's result in a round (`last_probe.targets` in `status --json`,
/// `targets` in the probe history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// `host:port`.
    pub target: String,
    /// `blocked`, `status` or `failed`.
    pub outcome: ProbeOutcome,
    /// In words, for people (e.g. `answered Compliant`, `blocked (timeout)`).
    pub detail: String,
    /// With `failed`: what kind of failure (absent in an older agent's
    /// lines), so a reader can tell a TLS trust failure without reading
    /// `detail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureClass>,
}

/// The kind of a failed probe, as records carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// The host name did not resolve.
    Dns,
    /// The endpoint is off the network.
    Unreachable,
    /// The TLS handshake failed: an untrusted chain, a name mismatch, a
    /// protocol error.
    Tls,
    /// TLS was up but no complete reply came in time.
    ReplyTimeout,
    /// An HTTP status other than 200 and 404.
    HttpStatus,
    /// A reply that did not parse or named another session.
    Malformed,
    /// A reply over the size limit.
    Oversized,
    /// Anything else.
    Other,
}

impl FailureClass {
    /// The class of a failed outcome; `None` for any other.
    pub fn of_outcome(outcome: &crate::outcome::Outcome) -> Option<FailureClass> {
        match outcome {
            crate::outcome::Outcome::Failed(kind) => Some(FailureClass::of(kind)),
            _ => None,
        }
    }

    /// The class of `kind`.
    pub fn of(kind: &crate::outcome::FailureKind) -> FailureClass {
        use crate::outcome::FailureKind as K;
        match kind {
            K::Dns { .. } => FailureClass::Dns,
            K::Unreachable { .. } => FailureClass::Unreachable,
            K::Tls { .. } => FailureClass::Tls,
            K::ReplyTimeout => FailureClass::ReplyTimeout,
            K::HttpStatus(_) => FailureClass::HttpStatus,
            K::Malformed { .. } => FailureClass::Malformed,
            K::Oversized { .. } => FailureClass::Oversized,
            K::Other { .. } => FailureClass::Other,
        }
    }
}

impl TargetRecord {
    /// The record of one target's outcome.
    pub fn of(o: &TargetOutcome) -> TargetRecord {
        TargetRecord {
            target: o.target.to_string(),
            outcome: o.outcome.kind(),
            detail: o.outcome.to_string(),
            failure: FailureClass::of_outcome(&o.outcome),
        }
    }
}

/// One finished probe round: a line of `probe-rounds.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// The record format ([`RECORD_VERSION`]; 0 for an older agent's line).
    #[serde(default)]
    pub v: u32,
    /// RFC 3339 (UTC) time the round finished.
    pub at: String,
    /// The session probed.
    #[serde(default)]
    pub session: String,
    /// The round's verdict.
    pub outcome: ProbeOutcome,
    /// The target the verdict is about (`None` for a round without targets).
    #[serde(default)]
    pub target: Option<String>,
    /// With `status`: the posture answered (`Unknown` for a 404). Absent in
    /// an older agent's lines.
    #[serde(default)]
    pub status: Option<PostureStatus>,
    /// From the round's start to its result, in milliseconds.
    #[serde(default)]
    pub took_ms: Option<u64>,
    /// Every target's result, in completion order.
    #[serde(default)]
    pub targets: Vec<TargetRecord>,
}

impl RoundRecord {
    /// The record of the machine's last round, finished at `at` (wall clock)
    /// for `session`.
    pub fn of(at: SystemTime, session: &str, round: &LastProbe) -> RoundRecord {
        RoundRecord {
            v: RECORD_VERSION,
            at: rfc3339(at),
            session: session.to_string(),
            outcome: round.verdict.kind(),
            target: round.verdict.target().map(ToString::to_string),
            status: round.verdict.status(),
            took_ms: Some(millis(round.took)),
            targets: round.outcomes.iter().map(TargetRecord::of).collect(),
        }
    }

    /// The record of the machine's last round as a value that serialises
    /// to exactly the JSON of [`RoundRecord::of`], written straight from
    /// the machine's values: the daemon writes one per round, and building
    /// the record first made a dozen strings only to copy them again
    /// (docs/benchmarks.md).
    pub fn borrowed<'a>(at: SystemTime, session: &'a str, round: &'a LastProbe) -> RoundLine<'a> {
        RoundLine { at, session, round }
    }

    /// When the round finished, if the time parses.
    pub fn time(&self) -> Option<SystemTime> {
        parse_time(&self.at)
    }

    /// Whether the line was written by an older agent.
    pub fn is_old_format(&self) -> bool {
        self.v < RECORD_VERSION
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A round as [`RoundRecord`] serialises it, borrowed from the machine's
/// state ([`RoundRecord::borrowed`]). Write-only: readers deserialise a
/// [`RoundRecord`].
#[derive(Debug, Clone, Copy)]
pub struct RoundLine<'a> {
    at: SystemTime,
    session: &'a str,
    round: &'a LastProbe,
}

/// A `Display` value as a JSON string, escaped as it is written (no
/// intermediate `String` with serde_json).
struct Shown<T>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// The targets of a round as `[TargetRecord]`.
struct TargetLines<'a>(&'a [TargetOutcome]);

impl Serialize for TargetLines<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(TargetLine))
    }
}

/// One target as [`TargetRecord`] serialises it.
struct TargetLine<'a>(&'a TargetOutcome);

impl Serialize for TargetLine<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The fields of `TargetRecord`, in its order.
        let o = self.0;
        let failure = FailureClass::of_outcome(&o.outcome);
        let mut s = serializer.serialize_struct("TargetRecord", 4)?;
        s.serialize_field("target", &Shown(&o.target))?;
        s.serialize_field("outcome", &o.outcome.kind())?;
        s.serialize_field("detail", &Shown(&o.outcome))?;
        if let Some(failure) = failure {
            s.serialize_field("failure", &failure)?;
        } else {
            s.skip_field("failure")?;
        }
        s.end()
    }
}

impl Serialize for RoundLine<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The fields of `RoundRecord`, in its order, with its values
        // (`RoundRecord::of`); the tests compare both byte for byte.
        let r = self.round;
        let mut s = serializer.serialize_struct("RoundRecord", 8)?;
        s.serialize_field("v", &RECORD_VERSION)?;
        s.serialize_field("at", &Shown(humantime::format_rfc3339_millis(self.at)))?;
        s.serialize_field("session", self.session)?;
        s.serialize_field("outcome", &r.verdict.kind())?;
        s.serialize_field("target", &r.verdict.target().map(Shown))?;
        s.serialize_field("status", &r.verdict.status())?;
        s.serialize_field("took_ms", &Some(millis(r.took)))?;
        s.serialize_field("targets", &TargetLines(&r.outcomes))?;
        s.end()
    }
}

/// One decision of the machine: a line of `transitions.jsonl`, written by
/// the daemon next to the log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// The record format ([`RECORD_VERSION`]).
    #[serde(default)]
    pub v: u32,
    /// RFC 3339 (UTC) time of the decision.
    pub at: String,
    /// The phase before.
    pub from: PhaseName,
    /// The phase after (the same for a decision inside a phase).
    pub to: PhaseName,
    /// What kind of decision.
    pub kind: ReasonKind,
    /// The reason in words, as the log line gives it.
    #[serde(default)]
    pub reason: String,
    /// The session concerned, if any.
    #[serde(default)]
    pub session: Option<String>,
    /// The PSN concerned (`host:port`), if any.
    #[serde(default)]
    pub psn: Option<String>,
}

impl TransitionRecord {
    /// The record of `t`, decided at `at` (wall clock).
    pub fn of(at: SystemTime, t: &Transition) -> TransitionRecord {
        TransitionRecord {
            v: RECORD_VERSION,
            at: rfc3339(at),
            from: t.from,
            to: t.to,
            kind: t.reason.kind(),
            reason: t.reason.to_string(),
            session: t.session.as_ref().map(ToString::to_string),
            psn: t.psn.as_ref().map(ToString::to_string),
        }
    }

    /// When it was decided, if the time parses.
    pub fn time(&self) -> Option<SystemTime> {
        parse_time(&self.at)
    }
}

/// Why an automatic bundle was collected, with its facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BundleCause {
    /// A confirmed dACL misconfiguration.
    Misconfiguration {
        /// The PSN whose state sync port answered (`host:port`).
        psn: String,
        /// The known posture it answered.
        status: PostureStatus,
        /// The session.
        session: String,
    },
    /// Discovery kept failing.
    DiscoveryFailing {
        /// Consecutive failed attempts.
        attempts: u32,
        /// How long discovery has been failing, in seconds.
        failing_for_secs: u64,
        /// What the last attempt met, in words.
        last_error: String,
    },
}

/// The reason for an automatic bundle: its typed cause and the line people
/// read (which also names the bundle file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleReasonRecord {
    /// What happened.
    #[serde(flatten)]
    pub cause: BundleCause,
    /// One line in words.
    pub text: String,
}

impl BundleReasonRecord {
    /// Whether the bundle is about a dACL misconfiguration.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(self.cause, BundleCause::Misconfiguration { .. })
    }

    /// Whether the bundle is about discovery failing.
    pub fn is_discovery_failing(&self) -> bool {
        matches!(self.cause, BundleCause::DiscoveryFailing { .. })
    }
}

impl From<&BundleReason> for BundleReasonRecord {
    fn from(reason: &BundleReason) -> BundleReasonRecord {
        let cause = match reason {
            BundleReason::Misconfiguration(stop) => BundleCause::Misconfiguration {
                psn: stop.psn.to_string(),
                status: stop.status,
                session: stop.session.to_string(),
            },
            BundleReason::DiscoveryFailing {
                attempts,
                failing_for,
                last_error,
            } => BundleCause::DiscoveryFailing {
                attempts: *attempts,
                failing_for_secs: failing_for.as_secs(),
                last_error: last_error.clone(),
            },
        };
        BundleReasonRecord {
            cause,
            text: reason.to_string(),
        }
    }
}

/// The runs file in the state directory: one [`RunRecord`] per start, stop
/// and failed start of the agent, so a bundle shows history across
/// restarts and the errors of starts that never reached the log.
pub const RUNS_FILE: &str = "runs.jsonl";

/// What happened to the agent's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RunEvent {
    /// The agent started: logging runs, the state dir is locked.
    Started {
        /// Its process id.
        pid: u32,
        /// Its version.
        version: String,
    },
    /// The agent stopped by itself and said so (a crash or a kill leaves
    /// no such record: the next `Started` follows a `Started`).
    Stopped {
        /// Its exit code.
        exit: u8,
    },
    /// The agent gave up before it ran: a bad profile, no MAC address, a
    /// directory refused, ... (what it printed on stderr, which may never
    /// have reached a log file).
    FailedStart {
        /// Its exit code.
        exit: u8,
        /// What it printed, every line.
        message: String,
    },
}

/// One line of [`RUNS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The record format ([`RECORD_VERSION`]).
    #[serde(default)]
    pub v: u32,
    /// RFC 3339 (UTC) time.
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub event: RunEvent,
}

impl RunRecord {
    /// The record of `event` at `at` (wall clock).
    pub fn of(at: SystemTime, event: RunEvent) -> RunRecord {
        RunRecord {
            v: RECORD_VERSION,
            at: rfc3339(at),
            event,
        }
    }

    /// When it happened, if the time parses.
    pub fn time(&self) -> Option<SystemTime> {
        parse_time(&self.at)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use posture_protocol::SessionId;

    use super::*;
    use crate::machine::{Reason, Severity};
    use crate::outcome::{BlockedKind, HostPort, Outcome, judge_round};
    use crate::timing::MonoTime;

    fn hp(host: &str) -> HostPort {
        HostPort::new(profile_schema::Host::parse(host).unwrap(), 8449)
    }

    #[test]
    fn a_round_record_carries_the_typed_answer_and_the_time_it_took() {
        let outcomes = vec![
            TargetOutcome::new(hp("psn1"), Outcome::Blocked(BlockedKind::Refused)),
            TargetOutcome::new(hp("psn2"), Outcome::NotFound),
        ];
        let round = LastProbe {
            at: MonoTime::from_elapsed(Duration::from_secs(9)),
            verdict: judge_round(&outcomes),
            outcomes,
            took: Duration::from_millis(1500),
        };
        let r = RoundRecord::of(SystemTime::UNIX_EPOCH, "s1", &round);
        let line = serde_json::to_string(&r).unwrap();
        let back: RoundRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.outcome, ProbeOutcome::Status);
        assert_eq!(back.status, Some(PostureStatus::Unknown));
        assert_eq!(back.target.as_deref(), Some("psn2:8449"));
        assert_eq!(back.took_ms, Some(1500));
        assert_eq!(back.targets[0].outcome, ProbeOutcome::Blocked);
        assert!(!back.is_old_format());
    }

    /// Rounds of every verdict, with text that needs escaping (quotes, a
    /// backslash, a control character, non-ASCII) and an IPv6 target.
    fn rounds_of_every_kind() -> Vec<LastProbe> {
        use crate::outcome::FailureKind;
        let round = |outcomes: Vec<TargetOutcome>, took_ms: u64| LastProbe {
            at: MonoTime::from_elapsed(Duration::from_secs(3)),
            verdict: judge_round(&outcomes),
            outcomes,
            took: Duration::from_millis(took_ms),
        };
        let failed = |detail: &str| {
            Outcome::Failed(FailureKind::Tls {
                detail: detail.to_owned(),
            })
        };
        vec![
            round(vec![], 0),
            round(
                vec![TargetOutcome::new(
                    hp("psn1"),
                    Outcome::Failed(FailureKind::HttpStatus(500)),
                )],
                7,
            ),
            round(
                vec![
                    TargetOutcome::new(hp("psn1"), Outcome::Blocked(BlockedKind::Refused)),
                    TargetOutcome::new(hp("::1"), Outcome::Answered(PostureStatus::Compliant)),
                ],
                251,
            ),
            round(
                vec![TargetOutcome::new(
                    hp("psn2"),
                    failed("bad \"cert\" \\ \u{1b}[31m \u{e9}t\u{e9}\n"),
                )],
                u64::MAX,
            ),
            round(
                vec![TargetOutcome::new(
                    hp("psn1"),
                    Outcome::Blocked(BlockedKind::Refused),
                )],
                1000,
            ),
        ]
    }

    #[test]
    fn a_borrowed_round_line_is_the_record_byte_for_byte() {
        // The probe history is written from `RoundRecord::borrowed`; readers
        // parse `RoundRecord`: the two must never drift apart.
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_771_234_567);
        for round in rounds_of_every_kind() {
            for session in ["s1", "", "quote\"d"] {
                let record = serde_json::to_string(&RoundRecord::of(at, session, &round)).unwrap();
                let line =
                    serde_json::to_string(&RoundRecord::borrowed(at, session, &round)).unwrap();
                assert_eq!(line, record);
                let back: RoundRecord = serde_json::from_str(&line).unwrap();
                assert_eq!(back, RoundRecord::of(at, session, &round));
            }
        }
    }

    #[test]
    fn a_transition_record_carries_the_reason_kind() {
        let t = Transition {
            from: PhaseName::Known,
            to: PhaseName::Known,
            reason: Reason::MisconfigurationConfirmed {
                status: PostureStatus::Compliant,
            },
            severity: Severity::Error,
            session: Some(SessionId::new("c0a80001").unwrap()),
            psn: Some(hp("psn1")),
        };
        let r = TransitionRecord::of(SystemTime::UNIX_EPOCH, &t);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["kind"], "misconfiguration-confirmed");
        assert_eq!(v["from"], "known");
        assert_eq!(v["psn"], "psn1:8449");
        assert_eq!(v["session"], "c0a80001");
        let back: TransitionRecord = serde_json::from_value(v).unwrap();
        assert!(back.kind.is_misconfiguration());
        assert_eq!(back.time(), Some(SystemTime::UNIX_EPOCH));
    }

    #[test]
    fn a_bundle_reason_record_is_typed() {
        let r = BundleReason::DiscoveryFailing {
            attempts: 5,
            failing_for: Duration::from_secs(90),
            last_error: "psn1:8443: blocked (timeout)".into(),
        };
        let rec = BundleReasonRecord::from(&r);
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["kind"], "discovery-failing");
        assert_eq!(v["attempts"], 5);
        assert_eq!(v["failing_for_secs"], 90);
        assert_eq!(v["text"], r.to_string());
        let back: BundleReasonRecord = serde_json::from_value(v).unwrap();
        assert!(back.is_discovery_failing() && !back.is_misconfiguration());
    }
}
