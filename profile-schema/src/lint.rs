//! Lint: valid profiles that are probably not what the administrator wants,
//! including values of keys the agent does not use that do not fit the key
//! table (accepted, see `profile.rs`). Every finding is a warning with a
//! `help` the administrator can act on.

use crate::diagnostic::{Diagnostic, Pos, Severity};
use crate::profile::{Check, Profile};
use crate::values::HostPort;

/// Below this interval (seconds) the probe load is worth a warning.
pub const SHORT_INTERVAL_SECS: u64 = 30;
/// NetworkTransitionDelay below this (seconds) risks the CSCwd58316 false alarm.
pub const SAFE_TRANSITION_DELAY_SECS: u64 = 10;
/// Targets probed per round when the profile has no backup list: the
/// connected PSN plus up to two from discovery.
const DEFAULT_PROBE_TARGETS: usize = 3;
/// Hosts per list checked against ServerNameRules.
const MAX_HOSTS_CHECKED: usize = 100;
/// Refused hosts reported per list.
const MAX_REFUSED_REPORTED: usize = 10;
/// The fleet size the probe-load figure is given for.
const FLEET: u64 = 10_000;

impl Profile {
    /// Warnings (with help text) about a valid profile, in key order.
    pub fn lint(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let warn = |key: &str, message: String, help: String| {
            Diagnostic::new(Severity::Warning, self.pos_of(key), message)
                .with_key(key)
                .with_help(help)
        };

        match self.state_sync_interval() {
            None => out.push(warn(
                "StateSyncProbeInterval",
                "StateSyncProbeInterval: posture state sync is disabled (0 or absent)".into(),
                "set StateSyncProbeInterval to 1-300 seconds (60 is common) and deny tcp port 8449 to the PSNs in the dACL of compliant endpoints; otherwise an endpoint whose posture the server lost stays restricted until its next network change".into(),
            )),
            Some(interval) => {
                let secs = interval.as_secs();
                if secs < SHORT_INTERVAL_SECS {
                    let targets = match self.probing_backup_list().len() {
                        0 => DEFAULT_PROBE_TARGETS,
                        n => n,
                    } as u64;
                    let rounds = FLEET as f64 / secs as f64;
                    out.push(warn(
                        "StateSyncProbeInterval",
                        format!(
                            "StateSyncProbeInterval: {secs} s is a short interval: every 10,000 endpoints send {} probe rounds per second, up to {} TCP connections per second to the PSNs",
                            group(rounds.round() as u64),
                            group((rounds * targets as f64).round() as u64),
                        ),
                        format!("an interval of {SHORT_INTERVAL_SECS}-300 s (60 is common) still notices a server-side posture reset quickly at a fraction of the load"),
                    ));
                }
                let delay = self.network_transition_delay().as_secs();
                if delay < SAFE_TRANSITION_DELAY_SECS {
                    out.push(warn(
                        "NetworkTransitionDelay",
                        format!("NetworkTransitionDelay: {delay} s is under {SAFE_TRANSITION_DELAY_SECS} s while state sync is enabled"),
                        format!("a probe sent before the switch applies the new dACL gets through and looks like a dACL misconfiguration (false alarm, Cisco bug CSCwd58316); set NetworkTransitionDelay to {SAFE_TRANSITION_DELAY_SECS}"),
                    ));
                }
            }
        }

        let call_home = self.call_home_list();
        let discovery = self.discovery_host();
        let rules = self.server_name_rules();
        if call_home.is_empty() && discovery.is_none() {
            // The switch's redirect is then the only way to a PSN, and it is
            // followed only to hosts the rules allow.
            if rules.patterns().is_empty() {
                out.push(warn(
                    "CallHomeList",
                    "nothing to discover: neither CallHomeList nor DiscoveryHost names a PSN, and with ServerNameRules empty the switch's URL redirect can lead to no host".into(),
                    "set ServerNameRules to your PSNs' names (e.g. `*.corp.example.com`) so that the agent follows the switch's redirect to them, or set DiscoveryHost or CallHomeList".into(),
                ));
            } else {
                out.push(warn(
                    "CallHomeList",
                    "neither CallHomeList nor DiscoveryHost names a PSN: the agent finds its PSN only through the switch's URL redirect on the default gateway (and the PSNs that served this endpoint before)".into(),
                    "that needs a URL-redirect ACL on the switch for this endpoint; without one, set DiscoveryHost or CallHomeList to your PSNs".into(),
                ));
            }
        }

        if rules.is_derived() {
            // Not a mistake: the safe default. Said as a note so that the
            // administrator sees which hosts a PSN may lead the agent to.
            let message = if rules.patterns().is_empty() {
                "ServerNameRules: empty and the profile names no host, so the agent follows no host a PSN names (only the PSNs remembered from earlier sessions are tried, and they too must match)".to_owned()
            } else {
                format!(
                    "ServerNameRules: empty, so the agent accepts only the hosts this profile names and their domains: `{}`",
                    rules.patterns().join(", ")
                )
            };
            out.push(
                Diagnostic::new(Severity::Note, self.pos_of("ServerNameRules"), message)
                    .with_key("ServerNameRules")
                    .with_help("write ServerNameRules explicitly, e.g. `*.corp.example.com`, to allow other PSN names; `*` accepts any host (not recommended)".to_owned()),
            );
        }
        if rules.allows_any() {
            let shown = match self.get("ServerNameRules") {
                Some(t) if !t.is_empty() => format!("`{t}`"),
                _ => "empty".to_owned(),
            };
            out.push(warn(
                "ServerNameRules",
                format!("ServerNameRules: {shown} accepts any host name"),
                "list your PSNs' names, e.g. `*.corp.example.com`, so that the agent talks only to your PSNs".into(),
            ));
        } else if !rules.is_derived() {
            // `*` never matches inside an IP address (a wildcard that spans
            // networks is a host-name idea): say so instead of letting the
            // administrator wonder why `10.20.0.*` refuses 10.20.0.13.
            for p in rules
                .patterns()
                .iter()
                .filter(|p| looks_like_ip_wildcard(p))
            {
                out.push(warn(
                    "ServerNameRules",
                    format!("ServerNameRules: pattern `{p}` matches no address: IP addresses match only a pattern naming the same address"),
                    "list each PSN address in full, e.g. `10.20.0.13`".into(),
                ));
            }
            let lists: [(&str, Vec<HostPort>); 3] = [
                ("DiscoveryHost", discovery.into_iter().collect()),
                ("CallHomeList", call_home),
                ("PostureProbingBackupList", self.probing_backup_list()),
            ];
            for (key, hosts) in lists {
                // Bounded so that a hostile profile (thousands of hosts and
                // patterns) cannot make the lint slow or its output huge.
                let refused = hosts
                    .iter()
                    .take(MAX_HOSTS_CHECKED)
                    .filter(|h| !rules.allows(h.host().as_str()));
                for h in refused.take(MAX_REFUSED_REPORTED) {
                    out.push(warn(
                        key,
                        format!("{key}: {h} is refused by ServerNameRules (`{}`)", rules.patterns().join(", ")),
                        format!("add a pattern matching {} to ServerNameRules, or correct the host name", h.host()),
                    ));
                }
            }
        }

        for (key, hosts) in [
            ("CallHomeList", self.call_home_list()),
            ("PostureProbingBackupList", self.probing_backup_list()),
        ] {
            let checked = &hosts[..hosts.len().min(MAX_HOSTS_CHECKED)];
            let mut reported = Vec::new();
            for (i, h) in checked.iter().enumerate() {
                if checked[..i].contains(h) && !reported.contains(&h) {
                    reported.push(h);
                    out.push(warn(
                        key,
                        format!("{key}: {h} is listed more than once"),
                        "remove the repeated entry; a repeated PSN is contacted twice and gives no extra redundancy".into(),
                    ));
                }
            }
        }

        out.extend(self.unused_key_findings());

        if self.dart_count() == 0 {
            out.push(warn(
                "DartCount",
                "DartCount: 0 keeps no automatically collected diagnostic bundles".into(),
                "a dACL misconfiguration is then logged without a bundle to send to support; 3 is the default".into(),
            ));
        }

        out.sort_by_key(|d| (d.line, d.column));
        out
    }
}

impl Profile {
    /// Warnings about keys the agent does not use: values that do not fit the
    /// table, elements where a value belongs, repeats. Such a profile is
    /// accepted (ISE may know better) and the value is kept as written.
    fn unused_key_findings(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        // A handful of keys: a list is cheaper than hashing.
        let mut first_seen: Vec<(&str, Pos)> = Vec::new();
        for (entry, pos) in self.positioned_entries() {
            let Some(def) = entry.def().filter(|d| !d.used) else {
                continue;
            };
            if let Check::Unfit(messages) = entry.check() {
                let origin = if def.note.is_empty() {
                    format!("the vendor documents {}", def.ty.allowed())
                } else {
                    format!("{}, ISE may allow more", def.note)
                };
                for m in messages {
                    out.push(
                        Diagnostic::new(
                            Severity::Warning,
                            pos,
                            format!("{m}; the agent does not use this key; ISE may"),
                        )
                        .with_key(def.name)
                        .with_help(format!(
                            "the profile is accepted and the value kept as written ({origin}); correct the value in the ISE posture profile only if it is a mistake"
                        )),
                    );
                }
            }
            match first_seen.iter().find(|(name, _)| *name == def.name) {
                Some((_, first)) => out.push(
                    Diagnostic::new(
                        Severity::Warning,
                        pos,
                        format!(
                            "{}: duplicate key (first at {}:{}); the agent does not use this key; ISE may",
                            def.name, first.line, first.column
                        ),
                    )
                    .with_key(def.name)
                    .with_help(
                        "both are kept as written; remove one: which one the vendor's agent reads is not documented",
                    ),
                ),
                None => first_seen.push((def.name, pos)),
            }
        }
        out
    }
}

/// 12345 -> "12,345".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A `*` pattern made of address characters only (`10.20.0.*`, `2001:db8::*`).
fn looks_like_ip_wildcard(pattern: &str) -> bool {
    pattern.contains('*')
        && pattern != "*"
        && !pattern.starts_with("*.")
        && (pattern.contains(':')
            || pattern
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '*'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_inserts_thousands_separators() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(1234567), "1,234,567");
    }

    fn discovery_lint(xml: &str) -> String {
        let loaded = crate::Profile::parse(xml).unwrap();
        loaded
            .profile
            .lint()
            .into_iter()
            .find(|d| d.key.as_deref() == Some("CallHomeList"))
            .map(|d| format!("{} | {}", d.message, d.help.unwrap_or_default()))
            .unwrap_or_default()
    }

    #[test]
    fn a_profile_without_hosts_relies_on_the_switch_redirect_which_needs_rules() {
        let redirect_only =
            discovery_lint("<cfg><ServerNameRules>*.corp.example</ServerNameRules></cfg>");
        assert!(
            redirect_only.contains("only through the switch's URL redirect"),
            "{redirect_only}"
        );
        let nowhere = discovery_lint("<cfg></cfg>");
        assert!(
            nowhere.contains("nothing to discover") && nowhere.contains("set ServerNameRules"),
            "{nowhere}"
        );
        assert_eq!(
            discovery_lint("<cfg><DiscoveryHost>psn.corp.example</DiscoveryHost></cfg>"),
            ""
        );
    }
}
