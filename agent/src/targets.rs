//! Pure target selection: which PSNs discovery tries, which PSNs a probe round
//! asks, and which PSNs are remembered for the next start. Every target passes
//! the profile's ServerNameRules; a refused one is reported with the reason so
//! the driver can log a warning naming it.

use std::fmt;

use posture_protocol::PsnRef;
use profile_schema::{HostPort, PortRanges, ServerNameRules};

use crate::outcome::spelled;
use crate::store::MAX_KNOWN_PSNS;

/// Where a target came from (for logs: an administrator wants to know which
/// profile key or which server named a refused host). In `status --json`
/// (`discovery.source`) in kebab case: `gateway`, `last-psn`,
/// `discovery-host`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetSource {
    /// The endpoint's default gateway (`GET http://<gateway>/auth/discovery`,
    /// answered by the switch's URL redirect); the driver resolves it.
    Gateway,
    /// The PSN that served this endpoint last (the first persisted PSN).
    LastPsn,
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

spelled! {
    /// The name an administrator recognises.
    TargetSource {
        Gateway => "default gateway redirect",
        LastPsn => "last connected psn",
        Persisted => "persisted psn list",
        DiscoveryHost => "DiscoveryHost",
        CallHomeList => "CallHomeList",
        ProbingBackupList => "PostureProbingBackupList",
        ConnectedPsn => "discovery reply <psn>",
        PsnList => "discovery reply <psnList>",
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

/// The two stages of one discovery attempt (`docs/behaviour.md`,
/// "Discovery"), each filtered by ServerNameRules and deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DiscoveryStages {
    /// Whether stage 1 asks the default gateway (the switch's redirect).
    pub gateway: bool,
    /// Stage 1, asked in parallel (first success wins): the PSN that served
    /// this endpoint last, then the profile's DiscoveryHost.
    pub one: Selection,
    /// Stage 2, asked in order: the CallHomeList, the
    /// PostureProbingBackupList hosts on the discovery port, then the other
    /// remembered PSNs; nothing stage 1 already asks.
    pub two: Selection,
}

/// Discovery targets by stage. `persisted` are the remembered PSNs, the one
/// that served this endpoint last first; `backup_list` entries are asked on
/// the discovery port ([`posture_protocol::DEFAULT_DISCOVERY_PORT`]), since
/// the PSNs of one deployment share their portal port and the list names
/// their state sync port.
pub fn discovery_stages(
    gateway: bool,
    persisted: &[HostPort],
    discovery_host: Option<&HostPort>,
    call_home_list: &[HostPort],
    backup_list: &[HostPort],
    rules: &ServerNameRules,
) -> DiscoveryStages {
    let mut one = Selection::default();
    if let Some(t) = persisted.first() {
        one.push(rules, t.clone(), TargetSource::LastPsn);
    }
    if let Some(t) = discovery_host {
        one.push(rules, t.clone(), TargetSource::DiscoveryHost);
    }
    // Stage 2 starts from stage 1's targets so that it never asks one of
    // them again, then drops them.
    let mut two = Selection {
        targets: one.targets.clone(),
        refused: one.refused.clone(),
    };
    for t in call_home_list {
        two.push(rules, t.clone(), TargetSource::CallHomeList);
    }
    for t in backup_list {
        let on_discovery_port =
            HostPort::new(t.host().clone(), posture_protocol::DEFAULT_DISCOVERY_PORT);
        two.push(rules, on_discovery_port, TargetSource::ProbingBackupList);
    }
    for t in persisted.iter().skip(1) {
        two.push(rules, t.clone(), TargetSource::Persisted);
    }
    two.targets.drain(..one.targets.len());
    two.refused.drain(..one.refused.len());
    DiscoveryStages { gateway, one, two }
}

/// Where the default gateway's redirect leads: the PSN portal to run the
/// ordinary discovery with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    /// The PSN portal's host and port (443 when the URL names none).
    pub target: HostPort,
    /// The URL's path and query, kept as the switch wrote them (the query
    /// carries the switch's session reference).
    pub path_and_query: String,
}

/// Why a redirect from the gateway is not followed. Each message names the
/// rule and what an administrator can change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefusal {
    /// Not a URL the agent can parse.
    #[error("the redirect location is not a valid absolute url: {0}")]
    Malformed(String),
    /// Not `https://`: the endpoint never talks to a PSN in the clear.
    #[error(
        "the redirect leads to scheme `{0}`, not https; the agent follows redirects to the psn's https portal only"
    )]
    NotHttps(String),
    /// The URL carries `user@` before the host.
    #[error(
        "the redirect url carries user information (`user@host`); refused, a switch never sends one"
    )]
    Userinfo,
    /// The URL names no host.
    #[error("the redirect url names no host")]
    NoHost,
    /// The host is not a valid DNS name or address.
    #[error("the redirect names host `{host}`, which is not a valid host name: {detail}")]
    BadHost {
        /// The host as written.
        host: String,
        /// What is wrong with it.
        detail: String,
    },
    /// ServerNameRules do not allow the host.
    #[error(
        "the redirect leads to {0}, which ServerNameRules do not allow; add the psn to ServerNameRules if it is yours"
    )]
    ServerNameRules(String),
    /// The port is neither in ServerPorts nor the discovery port.
    #[error(
        "the redirect leads to port {port} on {host}, outside ServerPorts ({allowed}) and not the discovery port {discovery}"
    )]
    ServerPorts {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// ServerPorts as written.
        allowed: String,
        /// The discovery port.
        discovery: u16,
    },
}

/// The one rule for following the gateway's redirect: only
/// `https://host[:port]/...` (port 443 when absent), no `user@`, a host
/// ServerNameRules allow and a port in ServerPorts or the discovery port
/// (8443); the path and query are kept. Everything else is refused with a
/// typed reason. Pure: the driver calls it on the `Location` header of the
/// gateway's plain-HTTP answer, which it trusts for nothing else.
pub fn redirect_target(
    location: &str,
    rules: &ServerNameRules,
    ports: &PortRanges,
) -> Result<RedirectTarget, RedirectRefusal> {
    let location = location.trim();
    let uri: http::Uri = location
        .parse()
        .map_err(|e: http::uri::InvalidUri| RedirectRefusal::Malformed(e.to_string()))?;
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| RedirectRefusal::Malformed("no scheme".to_owned()))?;
    if !scheme.eq_ignore_ascii_case("https") {
        return Err(RedirectRefusal::NotHttps(scheme.to_ascii_lowercase()));
    }
    let authority = uri.authority().ok_or(RedirectRefusal::NoHost)?;
    if authority.as_str().contains('@') {
        return Err(RedirectRefusal::Userinfo);
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(RedirectRefusal::NoHost);
    }
    let port = match authority.port_u16() {
        Some(p) => p,
        None if authority.as_str().ends_with(':') => {
            return Err(RedirectRefusal::Malformed("empty port".to_owned()));
        }
        None => 443,
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let parsed = profile_schema::Host::parse(bare).map_err(|e| RedirectRefusal::BadHost {
        host: host.to_owned(),
        detail: e.to_string(),
    })?;
    let target = HostPort::new(parsed, port);
    if !rules.allows(target.host().as_str()) {
        return Err(RedirectRefusal::ServerNameRules(target.host().to_string()));
    }
    let discovery = posture_protocol::DEFAULT_DISCOVERY_PORT;
    if port != discovery && !ports.allows(port) {
        return Err(RedirectRefusal::ServerPorts {
            host: target.host().to_string(),
            port,
            allowed: ports.to_string(),
            discovery,
        });
    }
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    Ok(RedirectTarget {
        target,
        path_and_query,
    })
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
    use crate::machine::testkit::{hp, psn};
    use proptest::prelude::*;

    fn rules(text: &str) -> ServerNameRules {
        ServerNameRules::parse(text).unwrap()
    }

    fn ise_ports() -> PortRanges {
        PortRanges::parse("8000-8999").unwrap()
    }

    /// Both stages without the gateway, stage 1 then stage 2: every target
    /// an attempt may ask, in the order it may ask them.
    fn discovery_targets(
        persisted: &[HostPort],
        discovery_host: Option<&HostPort>,
        call_home_list: &[HostPort],
        rules: &ServerNameRules,
    ) -> Selection {
        let st = discovery_stages(false, persisted, discovery_host, call_home_list, &[], rules);
        let mut sel = st.one;
        sel.targets.extend(st.two.targets);
        sel.refused.extend(st.two.refused);
        sel
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
                source: TargetSource::LastPsn,
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

    #[test]
    fn stage_two_is_call_home_then_backup_list_on_the_discovery_port_then_remembered() {
        let st = discovery_stages(
            true,
            &[hp("psn2", 8443), hp("psn4", 8443), hp("psn1", 8443)],
            Some(&hp("ise", 8443)),
            &[hp("psn1", 8443), hp("psn2", 8443)],
            &[hp("psn3", 8449), hp("ise", 8449)],
            &rules(""),
        );
        assert!(st.gateway);
        assert_eq!(st.one.targets, [hp("psn2", 8443), hp("ise", 8443)]);
        // psn2 and ise are stage 1's; psn1 comes once, from the CallHomeList.
        assert_eq!(
            st.two.targets,
            [hp("psn1", 8443), hp("psn3", 8443), hp("psn4", 8443)]
        );
    }

    #[test]
    fn a_redirect_to_the_psn_portal_is_followed_with_its_query() {
        let t = redirect_target(
            "https://psn1.lab.test:8443/auth/discovery?sessionId=c0a8&portal=1",
            &rules("*.lab.test"),
            &ise_ports(),
        )
        .unwrap();
        assert_eq!(t.target, hp("psn1.lab.test", 8443));
        assert_eq!(t.path_and_query, "/auth/discovery?sessionId=c0a8&portal=1");
        let t = redirect_target("HTTPS://[2001:db8::13]:8905/x", &rules(""), &ise_ports()).unwrap();
        assert_eq!(t.target, hp("2001:db8::13", 8905));
    }

    #[test]
    fn a_redirect_without_a_port_means_443_which_server_ports_must_allow() {
        let refused = redirect_target("https://psn1.lab.test/auth", &rules(""), &ise_ports());
        assert!(matches!(
            refused,
            Err(RedirectRefusal::ServerPorts { port: 443, .. })
        ));
        let all = PortRanges::parse("1-65535").unwrap();
        let t = redirect_target("https://psn1.lab.test/auth", &rules(""), &all).unwrap();
        assert_eq!(t.target.port(), 443);
        // The discovery port is always allowed.
        let none = PortRanges::none();
        assert!(redirect_target("https://psn1:8443/", &rules(""), &none).is_ok());
    }

    #[test]
    fn redirects_anywhere_else_are_refused_with_a_reason() {
        let r = rules("*.lab.test");
        let p = ise_ports();
        type Expect = fn(&RedirectRefusal) -> bool;
        let cases: [(&str, Expect); 7] = [
            ("http://psn1.lab.test:8443/", |e| {
                matches!(e, RedirectRefusal::NotHttps(_))
            }),
            ("ftp://psn1.lab.test/", |e| {
                matches!(e, RedirectRefusal::NotHttps(_))
            }),
            ("https://admin@psn1.lab.test:8443/", |e| {
                matches!(e, RedirectRefusal::Userinfo)
            }),
            ("https://psn1.evil.example:8443/", |e| {
                matches!(e, RedirectRefusal::ServerNameRules(_))
            }),
            ("https://psn1.lab.test:22/", |e| {
                matches!(e, RedirectRefusal::ServerPorts { .. })
            }),
            ("/auth/discovery", |e| {
                matches!(e, RedirectRefusal::Malformed(_))
            }),
            ("https://psn!1.lab.test:8443/", |e| {
                matches!(
                    e,
                    RedirectRefusal::Malformed(_) | RedirectRefusal::BadHost { .. }
                )
            }),
        ];
        for (location, expected) in cases {
            let err = redirect_target(location, &r, &p).unwrap_err();
            assert!(expected(&err), "{location}: {err:?}");
            let text = err.to_string();
            assert!(
                !text.ends_with('.') && text.starts_with(char::is_lowercase),
                "{text}"
            );
        }
        assert_eq!(
            redirect_target("https://psn1.evil.example:8443/", &r, &p)
                .unwrap_err()
                .to_string(),
            "the redirect leads to psn1.evil.example, which ServerNameRules do not allow; add the psn to ServerNameRules if it is yours"
        );
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

        /// Stage 1 is the last PSN and the DiscoveryHost only; stage 2
        /// keeps the CallHomeList order, then the backup list, then the
        /// remembered PSNs, never repeating stage 1.
        #[test]
        fn stages_hold_their_targets_in_their_order(
            persisted in proptest::collection::vec((host(), 8443u16..8445), 0..5),
            dh in proptest::option::of(host()),
            call_home in proptest::collection::vec((host(), 8443u16..8445), 0..5),
            backup in proptest::collection::vec(host(), 0..4),
        ) {
            let p: Vec<HostPort> = persisted.iter().map(|(h, port)| hp(h, *port)).collect();
            let c: Vec<HostPort> = call_home.iter().map(|(h, port)| hp(h, *port)).collect();
            let b: Vec<HostPort> = backup.iter().map(|h| hp(h, 8449)).collect();
            let dh = dh.map(|h| hp(&h, 8443));
            let st = discovery_stages(true, &p, dh.as_ref(), &c, &b, &rules(""));
            let stage_one: Vec<HostPort> = p.first().into_iter().chain(dh.as_ref()).cloned().collect();
            for t in &st.one.targets {
                prop_assert!(stage_one.iter().any(|s| same_target(s, t)));
            }
            for t in &st.two.targets {
                prop_assert!(!st.one.targets.iter().any(|s| same_target(s, t)));
            }
            // The order: the index of each target's first source entry grows.
            let rank = |t: &HostPort| -> usize {
                if let Some(i) = c.iter().position(|s| same_target(s, t)) { return i; }
                if let Some(i) = b.iter().position(|s| s.host() == t.host() && t.port() == 8443) { return 100 + i; }
                200 + p.iter().position(|s| same_target(s, t)).unwrap_or(usize::MAX - 300)
            };
            let ranks: Vec<usize> = st.two.targets.iter().map(rank).collect();
            prop_assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{:?}", ranks);
        }

        #[test]
        fn a_redirect_never_panics(location in any::<String>()) {
            let _ = redirect_target(&location, &rules("*.lab.test"), &ise_ports());
        }

        /// Whatever follows, a plain-http URL, one with `user@` and one to
        /// a host the rules refuse are never followed.
        #[test]
        fn a_redirect_never_goes_to_http_userinfo_or_a_refused_host(
            host in host(),
            port in proptest::option::of(1u16..),
            rest in "[ -~]{0,40}",
            user in "[a-z:%]{1,8}",
        ) {
            let r = rules("*.lab.test");
            let all = PortRanges::parse("1-65535").unwrap();
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let http = format!("http://{host}{port}/{rest}");
            prop_assert!(redirect_target(&http, &r, &all).is_err());
            let userinfo = format!("https://{user}@{host}{port}/{rest}");
            prop_assert!(redirect_target(&userinfo, &r, &all).is_err());
            if let Ok(t) = redirect_target(&format!("https://{host}{port}/{rest}"), &r, &all) {
                prop_assert!(r.allows(t.target.host().as_str()));
                prop_assert!(host.ends_with(".lab.test"));
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
