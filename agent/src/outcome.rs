//! Classify first, decide second: every network exchange with one target
//! becomes a small [`Outcome`] here, in pure functions, before the state
//! machine sees it; [`judge_round`] then turns the outcomes of one probe round
//! into the [`RoundVerdict`] that the decision table acts on.
//!
//! The drivers own the sockets and call the classifiers:
//! [`classify_io_failure`] for an error before an HTTP reply exists (DNS,
//! connect, TLS handshake, request, reply read), [`classify_reply_head`] as soon
//! as the status line and `Content-Length` are in (so an oversized or useless
//! body is never read), and [`classify_probe_reply`] for a complete reply.

use std::fmt;
use std::io;

use posture_protocol::{MAX_REPLY_BYTES, PostureStatus, PostureStatusReply, SessionId};
pub use profile_schema::HostPort;
use serde::{Deserialize, Serialize};

/// The label of a target's outcome or of a round's verdict, as
/// `status --json` (`last_probe.outcome`), the probe history and bundles
/// spell it. Defined here once; everything that writes or reads the label
/// goes through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeOutcome {
    /// Every target was blocked.
    Blocked,
    /// A PSN answered a status (404 counts, as `Unknown`).
    Status,
    /// No answer and at least one failure (or no target at all).
    Failed,
}

impl ProbeOutcome {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeOutcome::Blocked => "blocked",
            ProbeOutcome::Status => "status",
            ProbeOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a target turned out to be unreachable in the way a dACL makes it:
/// the "blocked" row of the decision table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockedKind {
    /// The connection was refused (a `deny` answered with a TCP reset at connect).
    Refused,
    /// The connection was reset or aborted before the TLS handshake completed.
    Reset,
    /// The TCP connect timed out: what a switch's silent dACL `drop` looks like.
    ConnectTimeout,
    /// TCP was accepted but the TLS handshake never got an answer (a middlebox
    /// or psn-lab's `drop` emulation swallowing the traffic).
    SilentTimeout,
    /// The connect got an ICMP "host unreachable" back: what an ACL that
    /// rejects with ICMP ("administratively prohibited", which Linux reports
    /// as host unreachable) sends instead of a reset.
    HostUnreachable,
}

impl BlockedKind {
    /// Short label for logs and `last_probe.detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockedKind::Refused => "connection refused",
            BlockedKind::Reset => "connection reset",
            BlockedKind::ConnectTimeout => "connect timed out",
            BlockedKind::SilentTimeout => "tls handshake timed out",
            BlockedKind::HostUnreachable => "host unreachable (icmp)",
        }
    }
}

/// Why an exchange with a reachable (or unresolvable) target failed: the
/// "fault" row of the decision table. Never a state change on its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The host name did not resolve.
    Dns {
        /// The resolver's message.
        detail: String,
    },
    /// No route to the network, or no usable local address: the endpoint
    /// itself is off the network (an ICMP host unreachable is
    /// [`BlockedKind::HostUnreachable`] instead).
    Unreachable {
        /// The system's message.
        detail: String,
    },
    /// The TLS handshake failed (untrusted chain, name mismatch, protocol
    /// error): a security error, never retried with weaker settings.
    Tls {
        /// The TLS library's message.
        detail: String,
    },
    /// The TLS session was up but no (complete) HTTP reply came in time.
    ReplyTimeout,
    /// An HTTP status other than 200 and (where it has a meaning) 404;
    /// redirects included, they are never followed.
    HttpStatus(u16),
    /// The reply did not parse, or named another session.
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// The reply body exceeded 64 KiB.
    Oversized {
        /// The declared or observed size in bytes, at least [`MAX_REPLY_BYTES`] + 1.
        bytes: u64,
    },
    /// Anything else (connection lost after the handshake, an I/O error).
    Other {
        /// What happened.
        detail: String,
    },
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Dns { detail } => write!(f, "dns lookup failed: {detail}"),
            FailureKind::Unreachable { detail } => write!(f, "unreachable: {detail}"),
            FailureKind::Tls { detail } => write!(f, "tls failure: {detail}"),
            FailureKind::ReplyTimeout => f.write_str("no reply in time after the tls handshake"),
            FailureKind::HttpStatus(code) => write!(f, "http status {code}"),
            FailureKind::Malformed { detail } => write!(f, "malformed reply: {detail}"),
            FailureKind::Oversized { bytes } => write!(
                f,
                "reply of {bytes} bytes exceeds the {MAX_REPLY_BYTES}-byte limit"
            ),
            FailureKind::Other { detail } => f.write_str(detail),
        }
    }
}

impl FailureKind {
    /// Short machine-friendly label: `dns`, `unreachable`, `tls`, `timeout`,
    /// `http`, `malformed`, `oversized`, `other`.
    pub fn label(&self) -> &'static str {
        match self {
            FailureKind::Dns { .. } => "dns",
            FailureKind::Unreachable { .. } => "unreachable",
            FailureKind::Tls { .. } => "tls",
            FailureKind::ReplyTimeout => "timeout",
            FailureKind::HttpStatus(_) => "http",
            FailureKind::Malformed { .. } => "malformed",
            FailureKind::Oversized { .. } => "oversized",
            FailureKind::Other { .. } => "other",
        }
    }
}

/// What one exchange with one target came to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The port is unreachable the way a dACL makes it.
    Blocked(BlockedKind),
    /// HTTP 200 with a valid reply for our session.
    Answered(PostureStatus),
    /// HTTP 404: the PSN holds no such session (treated as `Unknown` when probing).
    NotFound,
    /// The exchange failed.
    Failed(FailureKind),
}

impl Outcome {
    /// A definitive answer ends a probe round: `Answered` or `NotFound`.
    pub fn is_definitive(&self) -> bool {
        matches!(self, Outcome::Answered(_) | Outcome::NotFound)
    }

    /// The label of this outcome (a 404 is a `status`: it stands for `Unknown`).
    pub fn kind(&self) -> ProbeOutcome {
        match self {
            Outcome::Blocked(_) => ProbeOutcome::Blocked,
            Outcome::Answered(_) | Outcome::NotFound => ProbeOutcome::Status,
            Outcome::Failed(_) => ProbeOutcome::Failed,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Blocked(kind) => write!(f, "blocked ({})", kind.as_str()),
            Outcome::Answered(status) => write!(f, "answered {status}"),
            Outcome::NotFound => f.write_str("answered 404 (no such session)"),
            Outcome::Failed(kind) => write!(f, "failed: {kind}"),
        }
    }
}

/// The classified result of one exchange with one target (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetOutcome {
    /// The target.
    pub target: HostPort,
    /// What happened.
    pub outcome: Outcome,
}

impl TargetOutcome {
    /// Pairs a target with its outcome.
    pub fn new(target: HostPort, outcome: Outcome) -> TargetOutcome {
        TargetOutcome { target, outcome }
    }
}

impl fmt::Display for TargetOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.outcome)
    }
}

/// Where in an exchange an I/O error happened; the same error kind means
/// different things at different stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Resolving the host name.
    Resolve,
    /// Establishing the TCP connection.
    Connect,
    /// The TLS handshake (TCP already accepted).
    TlsHandshake,
    /// Sending the request or reading the reply (TLS up).
    Exchange,
}

/// Classifies an I/O failure (including a timeout, reported as
/// [`io::ErrorKind::TimedOut`]) at `stage`. `detail` is the error's message.
///
/// A refusal, reset or timeout before the TLS session is up is `Blocked`:
/// that is what the dACL does to the state sync port. Once TLS is up the port
/// evidently is not blocked, so anything going wrong is a failure. A TLS
/// protocol or certificate error is not an I/O error: drivers build
/// `FailureKind::Tls` for it directly.
pub fn classify_io_failure(stage: Stage, kind: io::ErrorKind, detail: &str) -> Outcome {
    use io::ErrorKind as K;
    let detail = detail.to_owned();
    match stage {
        Stage::Resolve => Outcome::Failed(FailureKind::Dns { detail }),
        Stage::Connect => match kind {
            K::ConnectionRefused => Outcome::Blocked(BlockedKind::Refused),
            K::ConnectionReset | K::ConnectionAborted => Outcome::Blocked(BlockedKind::Reset),
            K::TimedOut | K::WouldBlock => Outcome::Blocked(BlockedKind::ConnectTimeout),
            // A rejecting ACL may answer with ICMP instead of a reset, and
            // the socket cannot tell "administratively prohibited" from
            // any other host unreachable. Either way the posture stays as
            // it is; counting it as a fault would warn on every round of a
            // correctly blocked endpoint.
            K::HostUnreachable => Outcome::Blocked(BlockedKind::HostUnreachable),
            K::NetworkUnreachable | K::AddrNotAvailable => {
                Outcome::Failed(FailureKind::Unreachable { detail })
            }
            _ => Outcome::Failed(FailureKind::Other { detail }),
        },
        Stage::TlsHandshake => match kind {
            K::TimedOut | K::WouldBlock => Outcome::Blocked(BlockedKind::SilentTimeout),
            K::ConnectionRefused | K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => {
                Outcome::Blocked(BlockedKind::Reset)
            }
            _ => Outcome::Failed(FailureKind::Tls { detail }),
        },
        Stage::Exchange => match kind {
            K::TimedOut | K::WouldBlock => Outcome::Failed(FailureKind::ReplyTimeout),
            _ => Outcome::Failed(FailureKind::Other { detail }),
        },
    }
}

/// Early classification from the status line and `Content-Length`, before
/// reading the body: `Some(outcome)` means "stop here, do not read the body".
///
/// `not_found_means_unknown` is true for the probe (404 = no such session)
/// and discovery (404 = try the next target); for requirements and report a
/// 404 is just a failed target.
pub fn classify_reply_head(
    status: u16,
    content_length: Option<u64>,
    not_found_means_unknown: bool,
) -> Option<Outcome> {
    match status {
        200 => match content_length {
            Some(len) if len > MAX_REPLY_BYTES as u64 => {
                Some(Outcome::Failed(FailureKind::Oversized { bytes: len }))
            }
            _ => None,
        },
        404 if not_found_means_unknown => Some(Outcome::NotFound),
        code => Some(Outcome::Failed(FailureKind::HttpStatus(code))),
    }
}

/// Classifies a complete probe reply (`GET /auth/posturestatus`).
///
/// The driver reads at most [`MAX_REPLY_BYTES`] + 1 bytes and passes what it
/// read: a longer body is `Oversized`. A reply naming another session than
/// `ours` is `Malformed` (it cannot be about this endpoint).
pub fn classify_probe_reply(status: u16, body: &[u8], ours: &SessionId) -> Outcome {
    if let Some(early) = classify_reply_head(status, None, true) {
        return early;
    }
    if body.len() > MAX_REPLY_BYTES {
        return Outcome::Failed(FailureKind::Oversized {
            bytes: body.len() as u64,
        });
    }
    match PostureStatusReply::from_xml(body) {
        Err(e) => Outcome::Failed(FailureKind::Malformed {
            detail: e.to_string(),
        }),
        Ok(reply) if reply.session != *ours => Outcome::Failed(FailureKind::Malformed {
            detail: format!(
                "reply is for session {} but the probe asked about {ours}",
                reply.session
            ),
        }),
        Ok(reply) => Outcome::Answered(reply.status),
    }
}

/// What the PSN said in a definitive answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// HTTP 200 with this status.
    Status(PostureStatus),
    /// HTTP 404: no such session, treated as `Unknown`.
    NotFound,
}

impl Answer {
    /// The status this answer stands for (404 stands for `Unknown`).
    pub fn status(self) -> PostureStatus {
        match self {
            Answer::Status(s) => s,
            Answer::NotFound => PostureStatus::Unknown,
        }
    }
}

/// The verdict on one probe round, fed to the decision table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoundVerdict {
    /// A target answered: the first definitive answer in the round decides.
    Answered {
        /// The target that answered.
        target: HostPort,
        /// What it said.
        answer: Answer,
    },
    /// Every target was blocked (refused, reset or timed out).
    Blocked {
        /// The first target (the connected PSN, normally).
        target: HostPort,
    },
    /// No answer and at least one target failed (possibly mixed with blocked
    /// ones); `target` is the first failed one.
    Fault {
        /// The first failed target.
        target: HostPort,
    },
    /// The round had no targets at all.
    Empty,
}

impl RoundVerdict {
    /// `last_probe.outcome` in `status --json`: `blocked`, `status` or `failed`
    /// (an empty round counts as failed).
    pub fn label(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The verdict's label as a type.
    pub fn kind(&self) -> ProbeOutcome {
        match self {
            RoundVerdict::Answered { .. } => ProbeOutcome::Status,
            RoundVerdict::Blocked { .. } => ProbeOutcome::Blocked,
            RoundVerdict::Fault { .. } | RoundVerdict::Empty => ProbeOutcome::Failed,
        }
    }

    /// With `Answered`: the status answered (`Unknown` for a 404).
    pub fn status(&self) -> Option<PostureStatus> {
        match self {
            RoundVerdict::Answered { answer, .. } => Some(answer.status()),
            _ => None,
        }
    }

    /// The target the verdict is about.
    pub fn target(&self) -> Option<&HostPort> {
        match self {
            RoundVerdict::Answered { target, .. }
            | RoundVerdict::Blocked { target }
            | RoundVerdict::Fault { target } => Some(target),
            RoundVerdict::Empty => None,
        }
    }
}

/// Judges one probe round. `outcomes` are in the order they completed.
///
/// - The first definitive answer (200 with a status, or 404) decides. The
///   driver ends a round at its first definitive answer, so normally there is
///   only one; if a slice holds two that disagree, the earlier one still wins:
///   it is what the agent acted on first, and a round never mixes verdicts.
/// - Otherwise, if every target was blocked, the round is `Blocked`.
/// - Otherwise (at least one failure, possibly alongside blocked targets) it
///   is a `Fault`. A mix cannot be a server-side change either, and the agent
///   stays `known` exactly as for a blocked round; it is reported as
///   `failed` because a target whose port was reachable enough to fail (a TLS
///   error, a 5xx) is one the dACL evidently does not block, or a broken PSN:
///   both are worth an administrator's look, while "blocked" reads as all is
///   well.
pub fn judge_round(outcomes: &[TargetOutcome]) -> RoundVerdict {
    if let Some(first) = outcomes.iter().find(|o| o.outcome.is_definitive()) {
        let answer = match first.outcome {
            Outcome::Answered(status) => Answer::Status(status),
            _ => Answer::NotFound,
        };
        return RoundVerdict::Answered {
            target: first.target.clone(),
            answer,
        };
    }
    if let Some(failed) = outcomes
        .iter()
        .find(|o| matches!(o.outcome, Outcome::Failed(_)))
    {
        return RoundVerdict::Fault {
            target: failed.target.clone(),
        };
    }
    match outcomes.first() {
        Some(first) => RoundVerdict::Blocked {
            target: first.target.clone(),
        },
        None => RoundVerdict::Empty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort::new(profile_schema::Host::parse(host).unwrap(), port)
    }

    fn session() -> SessionId {
        SessionId::new("c0a830e71FjmLTxwC_6BfWNqU3RwKrGfaDTw5krqr1QOzEm").unwrap()
    }

    fn reply(status: PostureStatus) -> Vec<u8> {
        PostureStatusReply {
            session: session(),
            status,
        }
        .to_xml()
        .into_bytes()
    }

    #[test]
    fn a_valid_200_reply_is_an_answer_for_every_status() {
        for s in PostureStatus::ALL {
            assert_eq!(
                classify_probe_reply(200, &reply(s), &session()),
                Outcome::Answered(s)
            );
        }
    }

    #[test]
    fn a_404_means_no_such_session() {
        assert_eq!(
            classify_probe_reply(404, b"whatever", &session()),
            Outcome::NotFound
        );
        assert_eq!(
            classify_reply_head(404, Some(10), true),
            Some(Outcome::NotFound)
        );
        assert_eq!(
            classify_reply_head(404, Some(10), false),
            Some(Outcome::Failed(FailureKind::HttpStatus(404)))
        );
    }

    #[test]
    fn other_status_codes_fail_the_target() {
        for code in [201, 204, 301, 302, 400, 403, 500, 502, 503] {
            assert_eq!(
                classify_probe_reply(code, &reply(PostureStatus::Unknown), &session()),
                Outcome::Failed(FailureKind::HttpStatus(code)),
                "status {code}"
            );
        }
    }

    #[test]
    fn oversized_replies_fail_by_header_or_by_body() {
        let limit = MAX_REPLY_BYTES as u64;
        assert_eq!(classify_reply_head(200, Some(limit), true), None);
        assert_eq!(
            classify_reply_head(200, Some(limit + 1), true),
            Some(Outcome::Failed(FailureKind::Oversized { bytes: limit + 1 }))
        );
        assert_eq!(classify_reply_head(200, None, true), None);
        let body = vec![b' '; MAX_REPLY_BYTES + 1];
        assert_eq!(
            classify_probe_reply(200, &body, &session()),
            Outcome::Failed(FailureKind::Oversized { bytes: limit + 1 })
        );
    }

    #[test]
    fn malformed_and_foreign_session_replies_fail() {
        assert!(matches!(
            classify_probe_reply(200, b"<nope", &session()),
            Outcome::Failed(FailureKind::Malformed { .. })
        ));
        assert!(matches!(
            classify_probe_reply(
                200,
                br#"<postureStatus session="x" status="Healthy"/>"#,
                &session()
            ),
            Outcome::Failed(FailureKind::Malformed { .. })
        ));
        let other = PostureStatusReply {
            session: SessionId::new("someone-else").unwrap(),
            status: PostureStatus::Compliant,
        }
        .to_xml();
        match classify_probe_reply(200, other.as_bytes(), &session()) {
            Outcome::Failed(FailureKind::Malformed { detail }) => {
                assert!(detail.contains("someone-else"), "{detail}");
            }
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn io_failures_before_tls_are_blocked_after_tls_are_failures() {
        use io::ErrorKind as K;
        let cases = [
            (
                Stage::Connect,
                K::ConnectionRefused,
                Outcome::Blocked(BlockedKind::Refused),
            ),
            (
                Stage::Connect,
                K::ConnectionReset,
                Outcome::Blocked(BlockedKind::Reset),
            ),
            (
                Stage::Connect,
                K::TimedOut,
                Outcome::Blocked(BlockedKind::ConnectTimeout),
            ),
            (
                Stage::TlsHandshake,
                K::TimedOut,
                Outcome::Blocked(BlockedKind::SilentTimeout),
            ),
            (
                Stage::TlsHandshake,
                K::ConnectionReset,
                Outcome::Blocked(BlockedKind::Reset),
            ),
            (
                Stage::TlsHandshake,
                K::UnexpectedEof,
                Outcome::Blocked(BlockedKind::Reset),
            ),
            (
                Stage::Exchange,
                K::TimedOut,
                Outcome::Failed(FailureKind::ReplyTimeout),
            ),
        ];
        for (stage, kind, want) in cases {
            assert_eq!(
                classify_io_failure(stage, kind, "x"),
                want,
                "{stage:?} {kind:?}"
            );
        }
        assert!(matches!(
            classify_io_failure(Stage::Resolve, K::Other, "no such host"),
            Outcome::Failed(FailureKind::Dns { .. })
        ));
        // ICMP admin-prohibited arrives as host unreachable: a rejecting ACL.
        assert_eq!(
            classify_io_failure(Stage::Connect, K::HostUnreachable, "no route to host"),
            Outcome::Blocked(BlockedKind::HostUnreachable)
        );
        assert!(matches!(
            classify_io_failure(
                Stage::Connect,
                K::NetworkUnreachable,
                "network is unreachable"
            ),
            Outcome::Failed(FailureKind::Unreachable { .. })
        ));
        assert!(matches!(
            classify_io_failure(Stage::TlsHandshake, K::InvalidData, "bad cert"),
            Outcome::Failed(FailureKind::Tls { .. })
        ));
        assert!(matches!(
            classify_io_failure(Stage::Exchange, K::ConnectionReset, "reset"),
            Outcome::Failed(FailureKind::Other { .. })
        ));
    }

    fn to(host: &str, outcome: Outcome) -> TargetOutcome {
        TargetOutcome::new(hp(host, 8449), outcome)
    }

    #[test]
    fn verdict_table() {
        use BlockedKind::*;
        let tls = || Outcome::Failed(FailureKind::Tls { detail: "x".into() });
        let answered = |host: &str, s| RoundVerdict::Answered {
            target: hp(host, 8449),
            answer: Answer::Status(s),
        };
        let cases: Vec<(Vec<TargetOutcome>, RoundVerdict)> = vec![
            (vec![], RoundVerdict::Empty),
            (
                vec![
                    to("a", Outcome::Blocked(Refused)),
                    to("b", Outcome::Blocked(ConnectTimeout)),
                    to("c", Outcome::Blocked(SilentTimeout)),
                ],
                RoundVerdict::Blocked {
                    target: hp("a", 8449),
                },
            ),
            (
                vec![
                    to("a", tls()),
                    to("b", Outcome::Failed(FailureKind::HttpStatus(503))),
                ],
                RoundVerdict::Fault {
                    target: hp("a", 8449),
                },
            ),
            (
                vec![to("a", Outcome::Blocked(Reset)), to("b", tls())],
                RoundVerdict::Fault {
                    target: hp("b", 8449),
                },
            ),
            (
                vec![
                    to("a", Outcome::Blocked(Refused)),
                    to("b", Outcome::Answered(PostureStatus::Unknown)),
                ],
                answered("b", PostureStatus::Unknown),
            ),
            (
                vec![to("a", tls()), to("b", Outcome::NotFound)],
                RoundVerdict::Answered {
                    target: hp("b", 8449),
                    answer: Answer::NotFound,
                },
            ),
            (
                vec![
                    to("a", Outcome::Answered(PostureStatus::Compliant)),
                    to("b", Outcome::Answered(PostureStatus::Unknown)),
                ],
                answered("a", PostureStatus::Compliant),
            ),
        ];
        for (outcomes, want) in cases {
            assert_eq!(judge_round(&outcomes), want, "{outcomes:?}");
        }
    }

    #[test]
    fn verdict_labels_match_the_status_contract() {
        assert_eq!(RoundVerdict::Empty.label(), "failed");
        assert_eq!(
            RoundVerdict::Blocked { target: hp("a", 1) }.label(),
            "blocked"
        );
        assert_eq!(RoundVerdict::Fault { target: hp("a", 1) }.label(), "failed");
        assert_eq!(
            RoundVerdict::Answered {
                target: hp("a", 1),
                answer: Answer::NotFound
            }
            .label(),
            "status"
        );
        assert_eq!(Answer::NotFound.status(), PostureStatus::Unknown);
    }

    fn any_outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Blocked(BlockedKind::Refused)),
            Just(Outcome::Blocked(BlockedKind::SilentTimeout)),
            Just(Outcome::NotFound),
            Just(Outcome::Failed(FailureKind::ReplyTimeout)),
            proptest::sample::select(PostureStatus::ALL.to_vec()).prop_map(Outcome::Answered),
        ]
    }

    proptest! {
        #[test]
        fn judge_round_is_total_and_consistent(
            outcomes in proptest::collection::vec(any_outcome(), 0..6)
        ) {
            let round: Vec<TargetOutcome> = outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| to(&format!("psn{i}"), o.clone()))
                .collect();
            let verdict = judge_round(&round);
            let first_definitive = round.iter().position(|o| o.outcome.is_definitive());
            match (&verdict, first_definitive) {
                (RoundVerdict::Answered { target, .. }, Some(i)) => {
                    prop_assert_eq!(target, &round[i].target);
                }
                (RoundVerdict::Blocked { .. }, None) => {
                    prop_assert!(round.iter().all(|o| matches!(o.outcome, Outcome::Blocked(_))));
                    prop_assert!(!round.is_empty());
                }
                (RoundVerdict::Fault { .. }, None) => {
                    prop_assert!(round.iter().any(|o| matches!(o.outcome, Outcome::Failed(_))));
                }
                (RoundVerdict::Empty, None) => prop_assert!(round.is_empty()),
                _ => prop_assert!(false, "inconsistent verdict {:?}", verdict),
            }
        }

        #[test]
        fn classify_probe_reply_never_panics(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = classify_probe_reply(status, &body, &session());
        }
    }
}
