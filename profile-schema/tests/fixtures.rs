//! The fixtures: a full realistic profile, a minimal one, the vendor's real
//! fragment, and one file per error class.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::{Path, PathBuf};
use std::time::Duration;

use profile_schema::{Diagnostic, Host, HostPort, LoadError, Loaded, Profile, Severity};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> Loaded {
    Profile::load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn errors(name: &str) -> Vec<Diagnostic> {
    match Profile::load(&fixture(name)) {
        Err(LoadError::Invalid { errors, path }) => {
            assert_eq!(path, fixture(name));
            assert!(errors.iter().all(|d| d.severity == Severity::Error));
            errors
        }
        other => panic!("{name}: expected invalid, got {other:?}"),
    }
}

/// (line, column, message) of each error, for compact assertions.
fn lcm(errors: &[Diagnostic]) -> Vec<(u32, u32, &str)> {
    errors
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect()
}

fn hp(host: &str, port: u16) -> HostPort {
    HostPort::new(Host::parse(host).unwrap(), port)
}

#[test]
fn full_profile_has_40_plus_keys_and_typed_values() {
    let loaded = load("full.xml");
    let p = &loaded.profile;
    assert!(p.entries().len() >= 40, "{}", p.entries().len());
    assert_eq!(p.state_sync_interval(), Some(Duration::from_secs(60)));
    assert_eq!(p.network_transition_delay(), Duration::from_secs(10));
    assert_eq!(p.server_ports().to_string(), "8443-8449");
    assert_eq!(
        p.content_check_paths(),
        ["/etc/ssh/sshd_config", "/opt/edr/etc/"]
    );
    assert_eq!(
        p.probing_backup_list(),
        vec![
            hp("psn1.corp.example.com", 8449),
            hp("psn2.corp.example.com", 8449),
            hp("10.20.0.13", 8449)
        ]
    );
    assert_eq!(
        p.call_home_list(),
        vec![
            hp("psn1.corp.example.com", 8443),
            hp("psn2.corp.example.com", 8443),
            hp("2001:db8::13", 8443)
        ]
    );
    assert_eq!(p.call_home_list()[2].to_string(), "[2001:db8::13]:8443");
    assert_eq!(p.discovery_host(), Some(hp("psn1.corp.example.com", 8443)));
    let rules = p.server_name_rules();
    assert!(rules.allows("PSN9.corp.example.com"));
    assert!(!rules.allows("psn.evil.example"));
    assert_eq!(p.dart_count(), 3);
    assert_eq!(p.log_file_size_bytes(), 5 * 1024 * 1024);
    assert_eq!(p.get("RemediationTimer"), Some("12")); // not used: kept as text
    // Text: references resolved, surrounding whitespace trimmed, inner kept.
    assert_eq!(
        p.get("GracePeriodStartDescriptionDetails"),
        Some(
            "Your device is outside policy. You have <b>4 hours</b> to update it before network access is restricted. During the grace period you keep full access, but the agent will remind you every 30 minutes. Updates are installed from the patch portal (https://patch.corp.example.com); antivirus definitions update automatically once the device can reach the update servers. Devices that are still outside policy when the grace period ends are moved to the remediation network until every required check passes."
        )
    );
    let details = p.get("NonCompliantDescriptionDetails").expect("details");
    assert!(
        details.starts_with("Your computer does not meet"),
        "{details}"
    );
    assert!(
        details.ends_with("contact the service desk (x4357) & quote the ticket number shown."),
        "{details}"
    );
    assert_eq!(p.get("GracePeriodStartDescription"), Some(""));
    assert_eq!(p.get("AgentLanguage"), Some("en-US")); // CDATA
    assert_eq!(p.get("RetryDetection"), Some("3"));
    assert_eq!(p.get("NoSuchKey"), None);
}

#[test]
fn full_profile_keeps_unknown_keys_in_order_as_notes_and_lints_clean() {
    let loaded = load("full.xml");
    let unknown: Vec<&str> = loaded
        .profile
        .entries()
        .iter()
        .filter(|e| !e.is_known())
        .map(|e| e.key())
        .collect();
    assert_eq!(unknown.first(), Some(&"RetryDetection"));
    assert_eq!(unknown.last(), Some(&"AgentLanguage"));
    assert_eq!(unknown.len(), 15);
    for k in profile_schema::KEYS {
        assert!(
            loaded.profile.get(k.name).is_some(),
            "full.xml lacks {}",
            k.name
        );
    }
    assert_eq!(loaded.notes.len(), 15);
    assert!(loaded.notes.iter().all(|n| n.severity == Severity::Note));
    assert_eq!(loaded.notes[0].key.as_deref(), Some("RetryDetection"));
    assert_eq!((loaded.notes[0].line, loaded.notes[0].column), (37, 5));
    assert_eq!(
        loaded.profile.lint(),
        vec![],
        "a well-made profile has no warnings"
    );
}

#[test]
fn ip_wildcard_patterns_are_linted_and_refuse_addresses() {
    let p = Profile::parse(
        "<cfg><DiscoveryHost>10.20.0.13</DiscoveryHost><ServerNameRules>*.corp.example.com, 10.20.0.*</ServerNameRules></cfg>",
    )
    .expect("valid")
    .profile;
    assert!(!p.server_name_rules().allows("10.20.0.13"));
    let lint = p.lint();
    assert!(
        lint.iter()
            .any(|d| d.message.contains("pattern `10.20.0.*` matches no address")),
        "{lint:?}"
    );
    assert!(
        lint.iter().any(|d| d
            .message
            .contains("10.20.0.13:8443 is refused by ServerNameRules")),
        "{lint:?}"
    );
}

#[test]
fn full_profile_round_trips_through_the_writer() {
    let loaded = load("full.xml");
    let written = loaded.profile.to_xml();
    let again = Profile::parse(&written).expect("written profile parses");
    assert_eq!(again.profile, loaded.profile);
    assert_eq!(again.notes.len(), loaded.notes.len());
    let keys = |p: &Profile| {
        p.entries()
            .iter()
            .map(|e| e.key().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&again.profile), keys(&loaded.profile));
    assert!(written.contains("<GracePeriodStartDescription/>"));
    assert!(written.contains("&lt;b&gt;4 hours&lt;/b&gt;"));
}

#[test]
fn minimal_profile_uses_defaults() {
    let loaded = load("minimal.xml");
    let p = &loaded.profile;
    assert!(loaded.notes.is_empty());
    assert_eq!(p.entries().len(), 4);
    assert_eq!(p.dart_count(), 3);
    assert_eq!(p.log_file_size_bytes(), 5 << 20);
    assert_eq!(p.probing_backup_list(), vec![]);
    assert_eq!(p.discovery_host(), None);
    assert_eq!(p.call_home_list(), vec![hp("psn1.lab.example", 8443)]);
    assert_eq!(p.lint(), vec![]);
}

#[test]
fn empty_cfg_is_a_valid_profile_with_sync_disabled() {
    let loaded = Profile::parse("<cfg/>").expect("valid");
    let p = &loaded.profile;
    assert_eq!(p.state_sync_interval(), None);
    assert_eq!(p.network_transition_delay(), Duration::from_secs(3));
    // Empty ServerNameRules and no named host: the agent follows no host
    // a server names (docs/agent.md, "What a PSN can learn").
    let rules = p.server_name_rules();
    assert!(rules.is_derived() && rules.patterns().is_empty());
    assert!(!rules.allows_any());
    assert!(!rules.allows("psn1.corp.example.com"));
    assert!(p.server_ports().allows(8449) && !p.server_ports().allows(22));
    assert!(p.content_check_paths().is_empty());
    let lint = p.lint();
    let keys: Vec<&str> = lint
        .iter()
        .map(|d| d.key.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        vec!["StateSyncProbeInterval", "CallHomeList", "ServerNameRules"]
    );
    // Absent keys are reported at the <cfg> element.
    assert!(lint.iter().all(|d| (d.line, d.column) == (1, 1)));
}

#[test]
fn seed_fragment_from_the_vendor_note_is_valid_and_linted() {
    let loaded = load("seed.xml");
    let p = &loaded.profile;
    assert!(
        loaded.notes.is_empty(),
        "every key of the real fragment is known: {:?}",
        loaded.notes
    );
    assert_eq!(p.entries().len(), 27);
    assert_eq!(p.state_sync_interval(), Some(Duration::from_secs(10)));
    assert_eq!(p.network_transition_delay(), Duration::from_secs(10));
    assert_eq!(p.get("RemediationTimer"), Some("12")); // not used: kept as text
    let lint = p.lint();
    let keys: Vec<_> = lint.iter().map(|d| d.key.as_deref()).collect();
    assert_eq!(
        keys,
        vec![
            Some("ServerNameRules"),
            Some("CallHomeList"),
            Some("StateSyncProbeInterval")
        ]
    );
    assert!(
        lint.iter()
            .all(|d| d.severity == Severity::Warning && d.help.is_some())
    );
    assert!(
        lint[1]
            .message
            .contains("only through the switch's URL redirect"),
        "{}",
        lint[1].message
    );
    let short = &lint[2];
    assert_eq!((short.line, short.column), (25, 5));
    assert!(
        short.message.contains("1,000 probe rounds per second"),
        "{}",
        short.message
    );
    assert!(
        short.message.contains("3,000 TCP connections per second"),
        "{}",
        short.message
    );
    assert!(lint[0].message.contains("`*` accepts any host name"));
    // The seed's delay is exactly the vendor's workaround: no CSCwd58316 warning.
    assert!(
        !lint
            .iter()
            .any(|d| d.message.contains("NetworkTransitionDelay"))
    );
}

#[test]
fn malformed_xml_names_line_and_column() {
    let e = errors("err-malformed.xml");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].column), (4, 19));
    assert!(
        e[0].message.starts_with("malformed XML:"),
        "{}",
        e[0].message
    );
    assert!(e[0].message.contains("</LogFileSize>"), "{}", e[0].message);
    assert_eq!(e[0].key.as_deref(), Some("LogFileSize"));
}

#[test]
fn wrong_root_is_refused() {
    assert_eq!(
        lcm(&errors("err-root.xml")),
        vec![(
            2,
            1,
            "root element is <config>; a profile's root element is <cfg>"
        )]
    );
}

#[test]
fn duplicate_key_names_both_places() {
    let e = errors("err-duplicate.xml");
    assert_eq!(
        lcm(&e),
        vec![(
            4,
            5,
            "StateSyncProbeInterval: duplicate key (first at 2:5); a key may appear once"
        )]
    );
    assert_eq!(e[0].key.as_deref(), Some("StateSyncProbeInterval"));
}

#[test]
fn wrong_type_says_what_is_allowed() {
    let e = errors("err-type.xml");
    assert_eq!(
        lcm(&e),
        vec![(
            3,
            5,
            "DartCount: `three` is not a whole number (allowed 0-100)"
        )]
    );
    assert_eq!(e[0].key.as_deref(), Some("DartCount"));
}

#[test]
fn out_of_range_says_the_range() {
    let e = errors("err-range.xml");
    assert_eq!(
        lcm(&e),
        vec![(2, 5, "StateSyncProbeInterval: 400 is out of range 0-300")]
    );
    assert_eq!(
        Profile::load(&fixture("err-range.xml"))
            .unwrap_err()
            .to_string(),
        format!(
            "invalid profile {}: 2:5: StateSyncProbeInterval: 400 is out of range 0-300",
            fixture("err-range.xml").display()
        )
    );
}

#[test]
fn nested_elements_are_an_error_naming_the_key() {
    let e = errors("err-nested.xml");
    assert_eq!(
        lcm(&e),
        vec![(
            4,
            9,
            "CallHomeList: element <Host> inside <CallHomeList>; this key holds plain text: comma-separated `host` or `host:port`"
        )]
    );
    assert_eq!(e[0].key.as_deref(), Some("CallHomeList"));
}

#[test]
fn dtd_is_refused_before_any_entity_is_expanded() {
    let e = errors("err-dtd.xml");
    assert_eq!(
        lcm(&e),
        vec![(
            2,
            1,
            "a DTD (<!DOCTYPE ...>) is not allowed in a profile; remove it"
        )]
    );
}

#[test]
fn undeclared_entities_are_refused() {
    let e = errors("err-entity.xml");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].column), (2, 24));
    assert!(
        e[0].message.starts_with("unknown entity `&company;`"),
        "{}",
        e[0].message
    );
}

#[test]
fn every_bad_host_in_a_list_is_reported() {
    let e = errors("err-host.xml");
    assert_eq!(e.len(), 2);
    assert!(
        e[0].message.contains("port 84490 is out of range 1-65535"),
        "{}",
        e[0].message
    );
    assert!(
        e[1].message.contains("`psn 2` is not a valid host name"),
        "{}",
        e[1].message
    );
    assert!(
        e.iter()
            .all(|d| d.key.as_deref() == Some("PostureProbingBackupList"))
    );
}

#[test]
fn truncated_file_says_what_is_not_closed() {
    assert_eq!(
        lcm(&errors("err-unclosed.xml")),
        vec![(3, 1, "unexpected end of file: <cfg> is not closed")]
    );
}

#[test]
fn all_errors_are_collected_before_failing() {
    // `<DisableUAC>yes</DisableUAC>` (line 5) is no error: the agent does not
    // use DisableUAC, so its value is only linted.
    assert_eq!(
        lcm(&errors("err-several.xml")),
        vec![
            (2, 5, "StateSyncProbeInterval: 400 is out of range 0-300"),
            (3, 5, "NetworkTransitionDelay: 1 is out of range 2-30"),
            (
                6,
                5,
                "NetworkTransitionDelay: duplicate key (first at 3:5); a key may appear once"
            ),
        ]
    );
}

#[test]
fn missing_file_is_no_profile_not_an_invalid_one() {
    let path = fixture("does-not-exist.xml");
    match Profile::load(&path) {
        Err(e @ LoadError::Read { .. }) => {
            assert!(
                e.to_string()
                    .starts_with(&format!("no profile at {}", path.display())),
                "{e}"
            );
        }
        other => panic!("expected Read, got {other:?}"),
    }
}

#[test]
fn default_profile_equals_an_empty_cfg() {
    let empty = Profile::parse("<cfg/>").expect("valid").profile;
    assert_eq!(Profile::default(), empty);
    assert_eq!(Profile::default().lint(), empty.lint());
    assert_eq!(
        Profile::default().to_xml(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cfg>\n</cfg>\n"
    );
}

#[test]
fn lint_reports_refused_and_repeated_hosts_and_the_cscwd58316_window() {
    let text = "<cfg>
  <StateSyncProbeInterval>120</StateSyncProbeInterval>
  <NetworkTransitionDelay>3</NetworkTransitionDelay>
  <ServerNameRules>*.corp.example.com</ServerNameRules>
  <CallHomeList>psn1.corp.example.com, PSN1.corp.example.com:8443, psn9.lab.example</CallHomeList>
  <PostureProbingBackupList>psn1.corp.example.com,10.0.0.7:8449</PostureProbingBackupList>
  <DartCount>0</DartCount>
</cfg>";
    let lint = Profile::parse(text).expect("valid").profile.lint();
    let shown: Vec<String> = lint.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "3:3: warning: NetworkTransitionDelay: 3 s is under 10 s while state sync is enabled",
            "5:3: warning: CallHomeList: psn9.lab.example:8443 is refused by ServerNameRules (`*.corp.example.com`)",
            "5:3: warning: CallHomeList: psn1.corp.example.com:8443 is listed more than once",
            "6:3: warning: PostureProbingBackupList: 10.0.0.7:8449 is refused by ServerNameRules (`*.corp.example.com`)",
            "7:3: warning: DartCount: 0 keeps no automatically collected diagnostic bundles",
        ]
    );
    assert!(
        lint[0]
            .help
            .as_deref()
            .is_some_and(|h| h.contains("CSCwd58316"))
    );
    assert!(lint.iter().all(|d| d.help.is_some() && d.key.is_some()));
}

/// A profile as ISE deploys it: the vendor's real fragment with state sync
/// on, dozens of keys, vendor values outside posture-sync's ranges, and vendor
/// sections holding elements, attributes, comments and CDATA.
#[test]
fn real_ise_profile_with_nested_sections_and_vendor_values_is_accepted() {
    let loaded = load("ise-nested.xml");
    let p = &loaded.profile;
    assert_eq!(p.entries().len(), 42);
    // What the agent uses is read as usual.
    assert_eq!(p.state_sync_interval(), Some(Duration::from_secs(60)));
    assert_eq!(p.network_transition_delay(), Duration::from_secs(10));
    assert_eq!(
        p.probing_backup_list(),
        vec![
            hp("psn1.corp.example.com", 8449),
            hp("psn2.corp.example.com", 8449)
        ]
    );
    assert_eq!(p.discovery_host(), Some(hp("psn1.corp.example.com", 8443)));
    assert_eq!(p.dart_count(), 3);
    // Vendor values are kept as written, in range or not.
    for (key, value) in [
        ("WarningTimer", "2000"),
        ("PingArp", "3"),
        ("SignatureCheck", "2"),
        ("VlanDetectInterval", "1000"),
        ("RemediationTimer", "12"),
        ("AgentLanguage", "ja-JP"),
        ("AgentBranding", "Example Corp  IT"),
    ] {
        assert_eq!(p.get(key), Some(value), "{key}");
    }
    // The only warnings are about the vendor values, each naming the key,
    // its place and the range.
    let lint: Vec<String> = p.lint().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        lint,
        vec![
            "16:5: warning: WarningTimer: 2000 is out of range 0-1440; the agent does not use this key; ISE may",
            "24:5: warning: PingArp: 3 is out of range 0-2; the agent does not use this key; ISE may",
            "28:5: warning: SignatureCheck: `2` is not allowed; use 0 or 1; the agent does not use this key; ISE may",
            "33:5: warning: VlanDetectInterval: 1000 is out of range 0-900; the agent does not use this key; ISE may",
        ]
    );
    // Unknown keys, nested or not, are notes, never errors.
    assert!(loaded.notes.iter().all(|n| n.severity == Severity::Note));
    assert_eq!(loaded.notes.len(), 14, "{:?}", loaded.notes);
    let nested: Vec<(&str, &str)> = p
        .entries()
        .iter()
        .filter(|e| e.holds_elements())
        .map(|e| (e.key(), e.attributes()))
        .collect();
    assert_eq!(
        nested,
        vec![
            ("RemediationActions", "version=\"2\""),
            ("PsnFailover", ""),
            ("UiStrings", "lang=\"en\"")
        ]
    );
    let actions = p.get("RemediationActions").expect("kept");
    assert!(
        actions.starts_with("<Action id=\"av-update\" type=\"link\">"),
        "{actions}"
    );
    assert!(actions.contains("<!-- a second action is added by the 3.2 profile editor -->"));
    assert!(actions.contains("<Label>ウイルス定義を更新 &amp; 再スキャン</Label>"));
    assert!(actions.ends_with("</Action>"), "{actions}");
}

#[test]
fn real_ise_profile_round_trips_with_its_nested_sections_byte_for_byte() {
    let loaded = load("ise-nested.xml");
    let source = std::fs::read_to_string(fixture("ise-nested.xml")).expect("fixture");
    let written = loaded.profile.to_xml();
    // Each vendor section is written back exactly as it was in the file.
    for key in ["RemediationActions", "PsnFailover", "UiStrings"] {
        let start = source.find(&format!("<{key}")).expect("in source");
        let end_tag = format!("</{key}>");
        let end = source.find(&end_tag).expect("closed") + end_tag.len();
        let original = &source[start..end];
        let inner_start = original.find('>').expect("start tag") + 1;
        let inner = original[inner_start..original.len() - end_tag.len()].trim();
        let expected = format!("{}{inner}{end_tag}", &original[..inner_start]);
        assert!(
            written.contains(&expected),
            "{key}:\n{expected}\nnot in\n{written}"
        );
    }
    assert!(written.contains("<AgentBranding theme=\"dark\">Example Corp  IT</AgentBranding>"));
    assert!(written.contains("<VlanDetectInterval>1000</VlanDetectInterval>"));
    let again = Profile::parse(&written).expect("written profile parses");
    assert_eq!(again.profile, loaded.profile);
    assert_eq!(again.profile.to_xml(), written, "writing is stable");
    let messages = |p: &Profile| {
        p.lint()
            .into_iter()
            .map(|d| (d.key, d.message, d.help))
            .collect::<Vec<_>>()
    };
    assert_eq!(messages(&again.profile), messages(&loaded.profile));
}
