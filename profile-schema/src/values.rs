//! Typed profile values: host and port, host lists, server name rules,
//! numbers and flags, parsed from profile text ("parse, don't validate").

pub use crate::host::HostPort;

use crate::keys::{KeyDef, KeyType};

/// Parse a comma-separated host list. Empty entries (`a,,b`, a trailing comma)
/// are skipped; every bad entry is reported.
pub fn parse_host_list(text: &str, default_port: u16) -> Result<Vec<HostPort>, Vec<String>> {
    let mut hosts = Vec::new();
    let mut errors = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match HostPort::parse(entry, default_port) {
            Ok(h) => hosts.push(h),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(hosts)
    } else {
        Err(errors)
    }
}

/// The profile's ServerNameRules: which PSN host names the agent accepts.
///
/// Comma-separated patterns; `*` matches any run of characters (dots
/// included); comparison ignores ASCII case and a trailing dot. No patterns,
/// or a lone `*`, accepts any host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerNameRules {
    patterns: Vec<String>,
    /// Derived from the hosts a profile names (its ServerNameRules key was
    /// empty): then no patterns means no host, not any host.
    derived: bool,
}

impl ServerNameRules {
    /// Parse the rules; an error names the first bad pattern.
    pub fn parse(text: &str) -> Result<ServerNameRules, Vec<String>> {
        let mut patterns = Vec::new();
        let mut errors = Vec::new();
        for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if p.len() > 253 {
                errors.push(format!(
                    "pattern `{}…` is longer than a host name (253 characters)",
                    p.chars().take(20).collect::<String>()
                ));
                continue;
            }
            if let Some(c) = p.chars().find(|c| {
                !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | ':' | '[' | ']'))
            }) {
                errors.push(format!(
                    "pattern `{p}`: `{c}` is not allowed (use host name characters and `*`)"
                ));
                continue;
            }
            patterns.push(normalize(p));
        }
        if errors.is_empty() {
            Ok(ServerNameRules {
                patterns,
                derived: false,
            })
        } else {
            Err(errors)
        }
    }

    /// The rules an empty ServerNameRules stands for: the hosts the profile
    /// names and the other hosts of their DNS domains. A name of three or
    /// more labels allows its parent domain (`psn1.corp.example` gives
    /// `*.corp.example`), a two-label name itself and its subdomains, a
    /// one-label name and an IP address only themselves. No hosts give rules
    /// that accept no host at all: a PSN can then never lead the agent to a
    /// host the administrator did not name.
    pub fn derived<'a>(hosts: impl IntoIterator<Item = &'a str>) -> ServerNameRules {
        let mut patterns: Vec<String> = Vec::new();
        let mut add = |p: String| {
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        };
        for host in hosts {
            let host = normalize_host(host);
            if host.is_empty() {
                continue;
            }
            if host.parse::<std::net::IpAddr>().is_ok() {
                add(host);
                continue;
            }
            let labels: Vec<&str> = host.split('.').collect();
            match labels.len() {
                1 => add(host.clone()),
                2 => {
                    add(host.clone());
                    add(format!("*.{host}"));
                }
                _ => add(format!("*.{}", labels[1..].join("."))),
            }
        }
        ServerNameRules {
            patterns,
            derived: true,
        }
    }

    /// Whether the rules were derived from the profile's hosts
    /// ([`ServerNameRules::derived`]) rather than written in the profile.
    pub fn is_derived(&self) -> bool {
        self.derived
    }

    /// The patterns, lowercased, in profile order.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether every host is accepted (no patterns written, or a lone `*`).
    pub fn allows_any(&self) -> bool {
        (self.patterns.is_empty() && !self.derived)
            || self.patterns.iter().any(|p| p.chars().all(|c| c == '*'))
    }

    /// Whether `host` (a name or address, no port) matches a pattern.
    ///
    /// `*` matches within one DNS label (never across a dot), so `psn*`
    /// does not accept `psn.attacker.net`; a leading `*.` label matches one
    /// or more labels (`*.corp.example.com` accepts `a.corp.example.com` and
    /// `a.b.corp.example.com`, not `corp.example.com`). An IP address matches
    /// only a pattern naming the same address (or a lone `*`).
    pub fn allows(&self, host: &str) -> bool {
        if self.allows_any() {
            return true;
        }
        let host = normalize_host(host);
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return self
                .patterns
                .iter()
                .any(|p| unbracket(p).parse::<std::net::IpAddr>() == Ok(ip));
        }
        self.patterns.iter().any(|p| labels_match(p, &host))
    }
}

fn unbracket(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

/// Label-wise match of a host name against a pattern (both normalized).
fn labels_match(pattern: &str, host: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let host: Vec<&str> = host.split('.').collect();
    let (fixed, host_tail) = match pattern.split_first() {
        // `*.rest`: one or more leading labels, then `rest` label by label.
        Some((&"*", rest)) if !rest.is_empty() => {
            if host.len() <= rest.len() {
                return false;
            }
            (rest, &host[host.len() - rest.len()..])
        }
        _ => {
            if host.len() != pattern.len() {
                return false;
            }
            (&pattern[..], &host[..])
        }
    };
    fixed
        .iter()
        .zip(host_tail)
        .all(|(p, h)| wildcard_match(p.as_bytes(), h.as_bytes()))
}

fn normalize(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()
}

/// A host as the agent compares it: brackets around an IPv6 address removed,
/// a trailing dot removed, lower case. Every comparison of host names (rules,
/// targets, the connected PSN) goes through it.
pub fn normalize_host(host: &str) -> String {
    normalize(unbracket(host))
}

/// Whether two hosts name the same PSN: equal after [`normalize_host`], or
/// the same IP address however written (`2001:DB8:0::13` = `[2001:db8::13]`).
pub fn same_host(a: &str, b: &str) -> bool {
    let (a, b) = (normalize_host(a), normalize_host(b));
    if a == b {
        return true;
    }
    match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Glob match with `*` only, linear in practice: backtrack to the last star.
fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The profile's ServerPorts: which TCP ports a PSN may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRanges {
    ranges: Vec<(u16, u16)>,
}

impl PortRanges {
    /// Parse `8000-8999, 443`; every error names the bad entry.
    pub fn parse(text: &str) -> Result<PortRanges, Vec<String>> {
        let mut ranges = Vec::new();
        let mut errors = Vec::new();
        let port = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
                Ok(n) => Err(format!("port {n} is out of range 1-65535")),
                Err(_) => Err(format!("`{}` is not a port number", t.trim())),
            }
        };
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let parsed = match entry.split_once('-') {
                Some((a, b)) => match (port(a), port(b)) {
                    (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                    (Ok(a), Ok(b)) => {
                        Err(format!("range `{entry}` ends ({b}) before it starts ({a})"))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(format!("range `{entry}`: {e}")),
                },
                None => port(entry).map(|p| (p, p)),
            };
            match parsed {
                Ok(r) => ranges.push(r),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(PortRanges { ranges })
        } else {
            Err(errors)
        }
    }

    /// No port at all.
    pub fn none() -> PortRanges {
        PortRanges { ranges: Vec::new() }
    }

    /// Whether `port` lies in one of the ranges.
    pub fn allows(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&port))
    }

    /// The ranges in profile order.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }
}

impl std::fmt::Display for PortRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// Parse comma-separated absolute path prefixes (ContentCheckPaths). A
/// prefix must be absolute (`/…` or a Windows drive `C:\…`), without `..`
/// components, and never a network path (`\\host\share`, `\\?\`,
/// `\\.\`): the allowlist widens what checks may read, so it must name
/// local places unambiguously.
pub fn parse_path_list(text: &str) -> Result<Vec<String>, Vec<String>> {
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bytes = entry.as_bytes();
        let drive = bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && (bytes[2] == b'\\' || bytes[2] == b'/');
        if entry.starts_with("\\\\") || entry.starts_with("//") {
            errors.push(format!(
                "`{entry}` is a network or device path; allowed are local absolute paths"
            ));
        } else if !(entry.starts_with('/') || drive) {
            errors.push(format!("`{entry}` is not an absolute path"));
        } else if entry.split(['/', '\\']).any(|c| c == "..") {
            errors.push(format!(
                "`{entry}` contains `..`; write the path it stands for"
            ));
        } else {
            paths.push(entry.to_owned());
        }
    }
    if errors.is_empty() {
        Ok(paths)
    } else {
        Err(errors)
    }
}

/// A known key's value after type checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Number(u32),
    Text,
    Hosts(Vec<HostPort>),
    Host(Option<HostPort>),
    Rules(ServerNameRules),
    Ports(PortRanges),
    Paths(Vec<String>),
}

/// Type-check `text` (already trimmed) against `def`. Empty text means the
/// default. Errors start with the key name and say what is allowed.
pub(crate) fn parse_value(def: &KeyDef, text: &str) -> Result<Value, Vec<String>> {
    let text = if text.is_empty() { def.default } else { text };
    let key = def.name;
    match def.ty {
        KeyType::Text => Ok(Value::Text),
        KeyType::HostList { default_port } => parse_host_list(text, default_port)
            .map(Value::Hosts)
            .map_err(|es| es.into_iter().map(|e| format!("{key}: {e}")).collect()),
        KeyType::HostPort { default_port } => {
            if text.contains(',') {
                return Err(vec![format!(
                    "{key}: `{text}` names several hosts; allowed is one `host` or `host:port`"
                )]);
            }
            if text.is_empty() {
                return Ok(Value::Host(None));
            }
            HostPort::parse(text, default_port)
                .map(|h| Value::Host(Some(h)))
                .map_err(|e| vec![format!("{key}: {e}")])
        }
        KeyType::NamePatterns => ServerNameRules::parse(text)
            .map(Value::Rules)
            .map_err(|es| es.into_iter().map(|e| format!("{key}: {e}")).collect()),
        KeyType::PortRanges => PortRanges::parse(text)
            .map(Value::Ports)
            .map_err(|es| es.into_iter().map(|e| format!("{key}: {e}")).collect()),
        KeyType::PathList => parse_path_list(text)
            .map(Value::Paths)
            .map_err(|es| es.into_iter().map(|e| format!("{key}: {e}")).collect()),
        ty => {
            let (min, max) = ty.range().unwrap_or((0, u32::MAX));
            let what = match ty {
                KeyType::Bool01 => {
                    if text == "0" || text == "1" {
                        return Ok(Value::Number(u32::from(text == "1")));
                    }
                    return Err(vec![format!("{key}: `{text}` is not allowed; use 0 or 1")]);
                }
                KeyType::Seconds { .. } => " of seconds",
                KeyType::Minutes { .. } => " of minutes",
                KeyType::Megabytes { .. } => " of megabytes",
                _ => "",
            };
            if !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(vec![format!(
                    "{key}: `{text}` is not a whole number{what} (allowed {min}-{max})"
                )]);
            }
            // All digits: only overflow can fail, and that is out of range too.
            match text.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Value::Number(n)),
                _ => Err(vec![format!("{key}: {text} is out of range {min}-{max}")]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort::new(crate::Host::parse(host).unwrap(), port)
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(HostPort::parse("psn1", 8449), Ok(hp("psn1", 8449)));
        assert_eq!(
            HostPort::parse(" PSN1.Corp.Example:9000 ", 8449),
            Ok(hp("psn1.corp.example", 9000))
        );
        assert_eq!(
            HostPort::parse("10.0.0.1:8443", 8449),
            Ok(hp("10.0.0.1", 8443))
        );
        assert_eq!(HostPort::parse("[::1]:8450", 8449), Ok(hp("::1", 8450)));
        assert_eq!(HostPort::parse("[fe80::1]", 8449), Ok(hp("fe80::1", 8449)));
        assert_eq!(
            HostPort::parse("2001:db8::5", 8449),
            Ok(hp("2001:db8::5", 8449))
        );
        // Equality ignores case: the text shows the normalised form.
        let hp_text = |t: &str| HostPort::parse(t, 8449).unwrap().host().as_str().to_owned();
        assert_eq!(hp_text(" PSN1.Corp.Example:9000 "), "psn1.corp.example");
        assert_eq!(hp_text("[FE80::1]"), "fe80::1");
        assert_eq!(hp_text("psn1.example.com.:1"), "psn1.example.com.");
        assert_eq!(hp("::1", 8449).to_string(), "[::1]:8449");
        assert_eq!(hp("psn", 1).to_string(), "psn:1");
    }

    #[test]
    fn host_port_errors_say_what_is_allowed() {
        let e = HostPort::parse("psn:99999", 8449).unwrap_err().to_string();
        assert!(e.contains("port 99999 is out of range 1-65535"), "{e}");
        assert!(
            HostPort::parse("psn:0", 8449)
                .unwrap_err()
                .to_string()
                .contains("out of range")
        );
        assert!(
            HostPort::parse("psn:http", 8449)
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(
            HostPort::parse("ps n", 8449)
                .unwrap_err()
                .to_string()
                .contains("not a valid host name")
        );
        assert!(
            HostPort::parse("[::1", 8449)
                .unwrap_err()
                .to_string()
                .contains("closing")
        );
        assert!(
            HostPort::parse("[zz]:1", 8449)
                .unwrap_err()
                .to_string()
                .contains("not an IPv6")
        );
        assert!(HostPort::parse("-bad-.com", 8449).is_err());
        assert!(HostPort::parse("a..b", 8449).is_err());
        assert!(
            HostPort::parse("999.1.1.1", 8449)
                .unwrap_err()
                .to_string()
                .contains("not a valid IPv4 address")
        );
        assert!(HostPort::parse("10.1", 8449).is_err());
    }

    #[test]
    fn host_list_skips_empty_entries_and_reports_each_bad_one() {
        assert_eq!(
            parse_host_list("a, b:1,,", 8449),
            Ok(vec![hp("a", 8449), hp("b", 1)])
        );
        assert_eq!(parse_host_list("", 8449), Ok(vec![]));
        assert_eq!(parse_host_list("a:x, b:0", 8449).unwrap_err().len(), 2);
    }

    #[test]
    fn server_name_rules_match_wildcards_without_case() {
        let r = ServerNameRules::parse("*.corp.example.com, psn-x").unwrap();
        assert!(r.allows("PSN1.Corp.Example.com"));
        assert!(r.allows("a.b.corp.example.com."));
        assert!(!r.allows("corp.example.com"));
        assert!(!r.allows("evil.example.com"));
        assert!(r.allows("psn-x"));
        assert!(!r.allows_any());
        assert!(ServerNameRules::parse("").unwrap().allows_any());
        assert!(ServerNameRules::parse("*").unwrap().allows_any());
        assert!(
            ServerNameRules::parse(" a , * ")
                .unwrap()
                .allows("anything")
        );
        let mid = ServerNameRules::parse("ise*.example.com").unwrap();
        assert!(mid.allows("ise-psn-01.example.com"));
        assert!(!mid.allows("psn.example.com"));
        assert!(!mid.allows("ise.attacker.net.example.com"));
        assert!(!mid.allows("ise.x.example.com"));
        assert!(ServerNameRules::parse("a b").is_err());
        assert!(ServerNameRules::parse(&"*a".repeat(200)).is_err());
    }

    #[test]
    fn a_star_stays_within_one_label() {
        let r = ServerNameRules::parse("psn*").unwrap();
        assert!(r.allows("psn1"));
        assert!(r.allows("PSN"));
        assert!(!r.allows("psn.attacker.net"));
        assert!(!r.allows("psn1.corp.example.com"));
        let r = ServerNameRules::parse("psn*.corp.example.com").unwrap();
        assert!(r.allows("psn-7.corp.example.com"));
        assert!(!r.allows("psn.attacker.net.corp.example.com"));
        assert!(!r.allows("psn.evil.example"));
        let r = ServerNameRules::parse("*.corp.example.com").unwrap();
        assert!(r.allows("a.corp.example.com"));
        assert!(r.allows("a.b.corp.example.com"));
        assert!(!r.allows("corp.example.com"));
        assert!(!r.allows("corp.example.com.attacker.net"));
        assert!(!r.allows("acorp.example.com"));
    }

    #[test]
    fn ip_addresses_match_only_the_same_address() {
        let r = ServerNameRules::parse("10.0.0.*, *.corp.example.com, [2001:db8::13]").unwrap();
        assert!(!r.allows("10.0.0.5"));
        assert!(r.allows("2001:DB8:0::13"));
        assert!(r.allows("[2001:db8::13]"));
        assert!(!r.allows("2001:db8::14"));
        let r = ServerNameRules::parse("10.0.0.5, psn*").unwrap();
        assert!(r.allows("10.0.0.5"));
        assert!(!r.allows("10.0.0.50"));
        assert!(ServerNameRules::parse("*").unwrap().allows("192.0.2.1"));
    }

    #[test]
    fn hosts_compare_without_case_brackets_or_trailing_dot() {
        assert_eq!(normalize_host("[2001:DB8::13]"), "2001:db8::13");
        assert_eq!(normalize_host("PSN1.Example.com."), "psn1.example.com");
        assert!(same_host("psn1.example.com.", "PSN1.example.COM"));
        assert!(same_host("[2001:db8::13]", "2001:DB8:0::13"));
        assert!(!same_host("psn1.example.com", "psn2.example.com"));
        assert!(!same_host("10.0.0.1", "10.0.0.10"));
    }

    #[test]
    fn wildcard_backtracks() {
        assert!(wildcard_match(b"*a*b*c", b"xxaxxbxxbxc"));
        assert!(!wildcard_match(b"*a*b*c", b"xxaxxbxxbx"));
        assert!(wildcard_match(b"**", b""));
        assert!(!wildcard_match(b"a", b""));
    }
    #[test]
    fn derived_rules_allow_the_named_hosts_and_their_domains_only() {
        let r = ServerNameRules::derived([
            "psn1.lab.test",
            "10.0.0.5",
            "ise",
            "corp.example",
            "[2001:db8::1]",
        ]);
        assert!(r.is_derived());
        assert_eq!(
            r.patterns(),
            [
                "*.lab.test",
                "10.0.0.5",
                "ise",
                "corp.example",
                "*.corp.example",
                "2001:db8::1"
            ]
        );
        for ok in [
            "psn1.lab.test",
            "psn2.lab.test",
            "a.b.lab.test",
            "10.0.0.5",
            "ISE",
            "corp.example",
            "x.corp.example",
            "2001:db8:0::1",
        ] {
            assert!(r.allows(ok), "{ok}");
        }
        for refused in [
            "lab.test",
            "evil.example",
            "10.0.0.6",
            "127.0.0.1",
            "ise.attacker.net",
            "psn1.lab.test.attacker.net",
        ] {
            assert!(!r.allows(refused), "{refused}");
        }
        assert!(!r.allows_any());
    }

    #[test]
    fn derived_rules_from_no_host_accept_no_host() {
        let r = ServerNameRules::derived([]);
        assert!(r.patterns().is_empty());
        assert!(!r.allows_any());
        assert!(!r.allows("psn1.lab.test"));
        assert!(!r.allows("127.0.0.1"));
        // An empty written value alone still means "any" as a raw value;
        // the profile's accessor never hands that to the agent.
        assert!(ServerNameRules::parse("").unwrap().allows_any());
    }

    #[test]
    fn port_ranges_parse_and_match() {
        let p = PortRanges::parse("8000-8999, 443,9443").unwrap();
        assert_eq!(p.ranges(), [(8000, 8999), (443, 443), (9443, 9443)]);
        assert_eq!(p.to_string(), "8000-8999, 443, 9443");
        for ok in [8000, 8449, 8999, 443, 9443] {
            assert!(p.allows(ok), "{ok}");
        }
        for refused in [22, 80, 7999, 9000, 445, 65535] {
            assert!(!p.allows(refused), "{refused}");
        }
        let errors = PortRanges::parse("0, 70000, ssh, 9000-8000, 1-x").unwrap_err();
        assert_eq!(
            errors,
            [
                "port 0 is out of range 1-65535",
                "port 70000 is out of range 1-65535",
                "`ssh` is not a port number",
                "range `9000-8000` ends (8000) before it starts (9000)",
                "range `1-x`: `x` is not a port number",
            ]
        );
        assert!(!PortRanges::none().allows(8449));
    }

    #[test]
    fn path_lists_take_local_absolute_prefixes_only() {
        assert_eq!(
            parse_path_list("/etc/ssh/, C:\\ProgramData\\Vendor, /opt/edr").unwrap(),
            ["/etc/ssh/", "C:\\ProgramData\\Vendor", "/opt/edr"]
        );
        assert_eq!(parse_path_list("").unwrap(), Vec::<String>::new());
        let errors =
            parse_path_list("etc/x, /etc/../root, \\\\host\\share, \\\\?\\C:\\x, //host/share")
                .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].contains("not an absolute path"));
        assert!(errors[1].contains("`..`"));
        assert!(errors[2].contains("network or device path"));
    }
}
