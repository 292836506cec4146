//! Pure target selection: which PSNs discovery tries, which PSNs a probe round
//! asks, and which PSNs are remembered for the next start. Every target passes
//! the profile's ServerNameRules; a refused one is reported with the reason so
//! the driver can log a warning naming it.

use std::fmt;

use posture_protocol::PsnRef;
use profile_schema::{HostPort, PortRanges, ServerNameRules};

use crate::store::MAX_KNOWN_PSNS;

/// Where a target came from (for logs: an administrator wants to know which
/// profile key or which server named a refused host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetSource {
    /// A PSN that served this endpoint before (persisted in the state dir).
    Persisted,
    /// The profile's `DiscoveryHost`.
    DiscoveryHost,
    /// The profile's `CallHomeList`.
    CallHomeList,
    /// The profile's `PostureProbingBackupList`.
    ProbingBackupList,
    /// The PSN named in the discovery reply (`<psn>`).
    ConnectedPsn,
    /// The discovery reply's `<psnList>`.
    PsnList,
}

impl TargetSource {
    /// The name an administrator recognises.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSource::Persisted => "persisted psn list",
            TargetSource::DiscoveryHost => "DiscoveryHost",
            TargetSource::CallHomeList => "CallHomeList",
            TargetSource::ProbingBackupList => "PostureProbingBackupList",
            TargetSource::ConnectedPsn => "discovery reply <psn>",
            TargetSource::PsnList => "discovery reply <psnList>",
        }
    }
}

impl fmt::Display for TargetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which local rule refused a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// ServerNameRules do not allow its host.
    ServerNameRules,
    /// A server named it on a port outside ServerPorts (shown as written,
    /// e.g. `8000-8999`).
    ServerPorts(String),
}

/// A target left out because a local rule does not allow it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefusedTarget {
    /// The refused target.
    pub target: HostPort,
    /// Where it came from.
    pub source: TargetSource,
    /// Which rule refused it.
    pub why: Refusal,
}

impl fmt::Display for RefusedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.why {
            Refusal::ServerNameRules => write!(
                f,
                "{} (from {}) is not allowed by ServerNameRules; skipped",
                self.target, self.source
            ),
            Refusal::ServerPorts(allowed) => write!(
                f,
                "{} (from {}) names port {}, outside ServerPorts ({allowed}); skipped: a PSN may not aim the endpoint at other ports",
                self.target,
                self.source,
                self.target.port()
            ),
        }
    }
}

/// A selection: allowed targets in order, and the refused ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    /// Allowed targets, in order of preference, without duplicates.
    pub targets: Vec<HostPort>,
    /// Targets refused by ServerNameRules (each reported once).
    pub refused: Vec<RefusedTarget>,
}

impl Selection {
    fn push(&mut self, rules: &ServerNameRules, target: HostPort, source: TargetSource) {
        if self.targets.iter().any(|t| same_target(t, &target))
            || self.refused.iter().any(|r| same_target(&r.target, &target))
        {
            return;
        }
        if rules.allows(target.host().as_str()) {
            self.targets.push(target);
        } else {
            self.refused.push(RefusedTarget {
                target,
                source,
                why: Refusal::ServerNameRules,
            });
        }
    }

    /// A target a server named: its port must be in `ports` too.
    fn push_named(
        &mut self,
        rules: &ServerNameRules,
        ports: &PortRanges,
        target: HostPort,
        source: TargetSource,
    ) {
        if !ports.allows(target.port())
            && !self.refused.iter().any(|r| same_target(&r.target, &target))
        {
            self.refused.push(RefusedTarget {
                target,
                source,
                why: Refusal::ServerPorts(ports.to_string()),
            });
            return;
        }
        self.push(rules, target, source);
    }
}

/// Host names compare without case, brackets and a trailing dot, IP
/// addresses however written ([`profile_schema::Host`]'s equality).
pub fn same_target(a: &HostPort, b: &HostPort) -> bool {
    a == b
}

/// Discovery targets in order of preference: the PSNs that served this
/// endpoint before, the profile's DiscoveryHost, then the CallHomeList;
/// deduplicated, filtered by ServerNameRules.
pub fn discovery_targets(
    persisted: &[HostPort],
    discovery_host: Option<&HostPort>,
    call_home_list: &[HostPort],
    rules: &ServerNameRules,
) -> Selection {
    let mut sel = Selection::default();
    for t in persisted {
        sel.push(rules, t.clone(), TargetSource::Persisted);
    }
    if let Some(t) = discovery_host {
        sel.push(rules, t.clone(), TargetSource::DiscoveryHost);
    }
    for t in call_home_list {
        sel.push(rules, t.clone(), TargetSource::CallHomeList);
    }
    sel
}

/// How many PSNs of the discovery reply's psnList join the connected PSN as
/// probe targets when the profile names no backup list.
pub const PSN_LIST_PROBE_TARGETS: usize = 2;

/// Probe targets: the profile's PostureProbingBackupList if it names PSNs;
/// otherwise the connected PSN (first) plus up to two PSNs from the last
/// discovery's psnList. Filtered by ServerNameRules, deduplicated; the
/// PSNs a server named must also use a port of `ports` (ServerPorts), so a
/// PSN cannot turn the fleet into a port scanner. The backup list is the
/// local profile's and keeps its ports.
///
/// The two psnList PSNs are the first two allowed ones (refused entries do
/// not use up a slot), so a fleet probes in a predictable order that an
/// administrator can match against the dACL.
pub fn probe_targets(
    backup_list: &[HostPort],
    connected: &PsnRef,
    psn_list: &[PsnRef],
    rules: &ServerNameRules,
    ports: &PortRanges,
) -> Selection {
    let mut sel = Selection::default();
    if !backup_list.is_empty() {
        for t in backup_list {
            sel.push(rules, t.clone(), TargetSource::ProbingBackupList);
        }
        return sel;
    }
    sel.push_named(
        rules,
        ports,
        state_sync_target(connected),
        TargetSource::ConnectedPsn,
    );
    let limit = sel.targets.len() + PSN_LIST_PROBE_TARGETS;
    for psn in psn_list {
        if sel.targets.len() >= limit {
            break;
        }
        sel.push_named(rules, ports, state_sync_target(psn), TargetSource::PsnList);
    }
    sel
}

/// A PSN's state sync endpoint (`host:stateSyncPort`).
pub fn state_sync_target(psn: &PsnRef) -> HostPort {
    HostPort::new(psn.host.clone(), psn.state_sync_port)
}

/// Where the assessment (requirements, report) goes: the connected PSN's host
/// on the port of the discovery target that answered. The discovery reply
/// names only the state sync port, and the PSNs of one deployment share their
/// portal port, so the port that reached discovery is the one to use.
pub fn assessment_target(connected: &PsnRef, answered: &HostPort) -> HostPort {
    HostPort::new(connected.host.clone(), answered.port())
}

/// The PSN list to persist after a successful discovery: the connected PSN
/// (on the discovery port), then the target that answered discovery (if it
/// was another, e.g. a load balancer name), then the previously persisted
/// ones; deduplicated and bounded by [`MAX_KNOWN_PSNS`], the store's cap.
pub fn merge_persisted(
    previous: &[HostPort],
    connected: &PsnRef,
    answered: &HostPort,
) -> Vec<HostPort> {
    let mut out: Vec<HostPort> = Vec::new();
    let first = assessment_target(connected, answered);
    for t in [first, answered.clone()]
        .into_iter()
        .chain(previous.iter().cloned())
    {
        if out.len() == MAX_KNOWN_PSNS {
            break;
        }
        if !out.iter().any(|o| same_target(o, &t)) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort::new(profile_schema::Host::parse(host).unwrap(), port)
    }

    fn psn(host: &str) -> PsnRef {
        PsnRef {
            host: posture_protocol::Host::parse(host).unwrap(),
            state_sync_port: 8449,
        }
    }

    fn rules(text: &str) -> ServerNameRules {
        ServerNameRules::parse(text).unwrap()
    }

    fn ise_ports() -> PortRanges {
        PortRanges::parse("8000-8999").unwrap()
    }

    #[test]
    fn discovery_order_is_persisted_then_discovery_host_then_call_home() {
        let sel = discovery_targets(
            &[hp("psn2.lab.test", 8443)],
            Some(&hp("ise.lab.test", 8443)),
            &[
                hp("psn1.lab.test", 8443),
                hp("PSN2.lab.test.", 8443),
                hp("psn3.lab.test", 8443),
            ],
            &rules(""),
        );
        assert_eq!(
            sel.targets,
            [
                hp("psn2.lab.test", 8443),
                hp("ise.lab.test", 8443),
                hp("psn1.lab.test", 8443),
                hp("psn3.lab.test", 8443)
            ]
        );
        assert!(sel.refused.is_empty());
    }

    #[test]
    fn discovery_targets_are_filtered_by_server_name_rules() {
        let sel = discovery_targets(
            &[hp("evil.example", 8443)],
            Some(&hp("ise.lab.test", 8443)),
            &[hp("psn1.lab.test", 9443)],
            &rules("*.lab.test"),
        );
        assert_eq!(
            sel.targets,
            [hp("ise.lab.test", 8443), hp("psn1.lab.test", 9443)]
        );
        assert_eq!(
            sel.refused,
            [RefusedTarget {
                target: hp("evil.example", 8443),
                source: TargetSource::Persisted,
                why: Refusal::ServerNameRules,
            }]
        );
        assert!(sel.refused[0].to_string().contains("evil.example:8443"));
    }

    #[test]
    fn same_host_on_another_port_is_another_target() {
        let sel = discovery_targets(&[], Some(&hp("a", 8443)), &[hp("a", 9443)], &rules(""));
        assert_eq!(sel.targets.len(), 2);
    }

    #[test]
    fn probe_targets_prefer_the_backup_list() {
        let sel = probe_targets(
            &[hp("b1", 8449), hp("b2", 8500)],
            &psn("psn1"),
            &[psn("psn2"), psn("psn3")],
            &rules(""),
            &ise_ports(),
        );
        assert_eq!(sel.targets, [hp("b1", 8449), hp("b2", 8500)]);
    }

    #[test]
    fn probe_targets_default_to_connected_plus_two_from_psn_list() {
        let sel = probe_targets(
            &[],
            &psn("psn1"),
            &[psn("psn1"), psn("psn2"), psn("psn3"), psn("psn4")],
            &rules(""),
            &ise_ports(),
        );
        assert_eq!(
            sel.targets,
            [hp("psn1", 8449), hp("psn2", 8449), hp("psn3", 8449)]
        );
    }

    #[test]
    fn refused_psn_list_entries_do_not_use_up_a_slot() {
        let sel = probe_targets(
            &[],
            &psn("psn1.lab.test"),
            &[
                psn("rogue.example"),
                psn("psn2.lab.test"),
                psn("psn3.lab.test"),
            ],
            &rules("*.lab.test"),
            &ise_ports(),
        );
        assert_eq!(
            sel.targets,
            [
                hp("psn1.lab.test", 8449),
                hp("psn2.lab.test", 8449),
                hp("psn3.lab.test", 8449)
            ]
        );
        assert_eq!(sel.refused.len(), 1);
        assert_eq!(sel.refused[0].source, TargetSource::PsnList);
    }

    #[test]
    fn a_refused_connected_psn_is_reported() {
        let sel = probe_targets(
            &[],
            &psn("rogue.example"),
            &[],
            &rules("*.lab.test"),
            &ise_ports(),
        );
        assert!(sel.targets.is_empty());
        assert_eq!(sel.refused[0].source, TargetSource::ConnectedPsn);
    }

    /// The review's port scanner: a psnList entry naming `127.0.0.1:22` was
    /// probed by every endpoint every interval.
    #[test]
    fn a_server_cannot_aim_probes_at_ports_outside_server_ports() {
        let on = |host: &str, port: u16| PsnRef {
            host: posture_protocol::Host::parse(host).unwrap(),
            state_sync_port: port,
        };
        let sel = probe_targets(
            &[],
            &on("psn1.lab.test", 22),
            &[
                on("127.0.0.1", 22),
                on("psn2.lab.test", 445),
                on("psn3.lab.test", 8449),
            ],
            &rules(""),
            &ise_ports(),
        );
        assert_eq!(sel.targets, [hp("psn3.lab.test", 8449)]);
        assert_eq!(sel.refused.len(), 3);
        assert_eq!(sel.refused[0].source, TargetSource::ConnectedPsn);
        assert_eq!(
            sel.refused[1].to_string(),
            "127.0.0.1:22 (from discovery reply <psnList>) names port 22, outside ServerPorts (8000-8999); skipped: a PSN may not aim the endpoint at other ports"
        );
        // The profile's own backup list keeps its ports.
        let sel = probe_targets(
            &[hp("b1", 22)],
            &on("psn1", 22),
            &[],
            &rules(""),
            &ise_ports(),
        );
        assert_eq!(sel.targets, [hp("b1", 22)]);
    }

    #[test]
    fn assessment_goes_to_the_connected_host_on_the_discovery_port() {
        assert_eq!(
            assessment_target(&psn("psn1"), &hp("ise-vip", 9443)),
            hp("psn1", 9443)
        );
    }

    #[test]
    fn persisted_list_puts_the_latest_first_and_is_bounded() {
        let previous: Vec<HostPort> = (0..10).map(|i| hp(&format!("old{i}"), 8443)).collect();
        let merged = merge_persisted(&previous, &psn("psn1"), &hp("vip", 8443));
        assert_eq!(merged.len(), MAX_KNOWN_PSNS);
        assert_eq!(merged[0], hp("psn1", 8443));
        assert_eq!(merged[1], hp("vip", 8443));
        assert_eq!(merged[2], hp("old0", 8443));
        let again = merge_persisted(&merged, &psn("psn1"), &hp("psn1", 8443));
        assert_eq!(again[0], hp("psn1", 8443));
        assert_eq!(again.iter().filter(|t| *t.host() == "psn1").count(), 1);
    }

    fn host() -> impl Strategy<Value = String> {
        "[a-c]{1,2}(\\.lab\\.test|\\.example)?"
    }

    proptest! {
        #[test]
        fn selections_are_unique_allowed_and_complete(
            persisted in proptest::collection::vec((host(), 8443u16..8445), 0..5),
            call_home in proptest::collection::vec((host(), 8443u16..8445), 0..5),
            restrict in any::<bool>(),
        ) {
            let r = if restrict { rules("*.lab.test") } else { rules("") };
            let p: Vec<HostPort> = persisted.iter().map(|(h, port)| hp(h, *port)).collect();
            let c: Vec<HostPort> = call_home.iter().map(|(h, port)| hp(h, *port)).collect();
            let sel = discovery_targets(&p, None, &c, &r);
            for (i, a) in sel.targets.iter().enumerate() {
                prop_assert!(r.allows(a.host().as_str()));
                for b in &sel.targets[i + 1..] {
                    prop_assert!(!same_target(a, b));
                }
            }
            for t in p.iter().chain(&c) {
                let kept = sel.targets.iter().any(|s| same_target(s, t));
                let refused = sel.refused.iter().any(|s| same_target(&s.target, t));
                prop_assert!(kept != refused, "{} must be kept xor refused", t);
            }
        }

        #[test]
        fn probe_targets_never_exceed_three_without_backup_list(
            list in proptest::collection::vec(host(), 0..8)
        ) {
            let psns: Vec<PsnRef> = list.iter().map(|h| psn(h)).collect();
            let sel = probe_targets(&[], &psn("conn.lab.test"), &psns, &rules(""), &ise_ports());
            prop_assert!(sel.targets.len() <= 1 + PSN_LIST_PROBE_TARGETS);
            prop_assert_eq!(&sel.targets[0], &hp("conn.lab.test", 8449));
        }
    }
}
