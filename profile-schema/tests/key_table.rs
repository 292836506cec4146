//! Tests of the key table itself: it drives parsing, defaults, docs and schema.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashSet;

use profile_schema::{KEYS, KeyType, Profile, schema_json};

#[test]
fn key_names_are_unique_even_ignoring_case() {
    let mut seen = HashSet::new();
    for k in KEYS {
        assert!(
            seen.insert(k.name.to_ascii_lowercase()),
            "duplicate key {}",
            k.name
        );
    }
}

#[test]
fn key_names_are_plain_xml_names() {
    for k in KEYS {
        assert!(
            k.name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic()),
            "{}",
            k.name
        );
        assert!(
            k.name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{}",
            k.name
        );
    }
}

#[test]
fn every_key_is_documented() {
    for k in KEYS {
        assert!(k.doc.len() >= 20, "{} needs a real doc text", k.name);
        assert!(k.doc.ends_with('.'), "{}: doc is a sentence", k.name);
        assert!(
            !k.note.ends_with('.'),
            "{}: note is a phrase without a period",
            k.name
        );
    }
}

#[test]
fn numeric_defaults_are_within_range_and_ranges_are_ordered() {
    for k in KEYS {
        if let Some((min, max)) = k.ty.range() {
            assert!(min <= max, "{}", k.name);
            let d: u32 = k
                .default
                .parse()
                .unwrap_or_else(|_| panic!("{} default", k.name));
            assert!(
                (min..=max).contains(&d),
                "{} default {d} outside {min}-{max}",
                k.name
            );
        }
    }
}

#[test]
fn every_default_parses_as_a_value_of_its_key() {
    for k in KEYS {
        let xml = format!("<cfg><{0}>{1}</{0}></cfg>", k.name, k.default);
        let loaded = Profile::parse(&xml).unwrap_or_else(|e| panic!("{}: {e:?}", k.name));
        assert!(loaded.notes.is_empty(), "{}", k.name);
        assert_eq!(loaded.profile.get(k.name), Some(k.default));
    }
}

#[test]
fn the_issue_keys_are_all_known_with_the_specified_ranges() {
    let find = |n: &str| {
        KEYS.iter()
            .find(|k| k.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(
        find("StateSyncProbeInterval").ty,
        KeyType::Seconds { min: 0, max: 300 }
    );
    assert_eq!(
        find("NetworkTransitionDelay").ty,
        KeyType::Seconds { min: 2, max: 30 }
    );
    assert_eq!(find("NetworkTransitionDelay").default, "3");
    assert_eq!(
        find("RemediationTimer").ty,
        KeyType::Minutes { min: 1, max: 300 }
    );
    assert_eq!(find("RemediationTimer").default, "4");
    assert_eq!(find("DartCount").default, "3");
    assert_eq!(find("LogFileSize").default, "5");
    assert_eq!(
        find("PostureProbingBackupList").ty,
        KeyType::HostList { default_port: 8449 }
    );
    for name in [
        "CallHomeList",
        "DiscoveryHost",
        "ServerNameRules",
        "OperateOnNonDot1XWireless",
        "NonCompliantButtonText",
        "GracePeriodStartDescriptionDetails",
        "DhcpRenewDelay",
        "WarningTimer",
        "PRARetransmissionTime",
        "EnableAgentIpRefresh",
        "CwaByodProbingInterval",
        "NonCompliantTitle",
        "NonCompliantDescriptionDetails",
        "PingArp",
        "DhcpReleaseDelay",
        "StealthWithNotification",
        "NonCompliantButtonLink",
        "SignatureCheck",
        "GracePeriodStartDescription",
        "EnableRescanButton",
        "VlanDetectInterval",
        "DisableUAC",
    ] {
        find(name);
    }
}

#[test]
fn schema_lists_every_key_with_its_range_and_default() {
    let schema = schema_json();
    assert_eq!(schema["root"], "cfg");
    let keys = schema["keys"].as_array().expect("keys array");
    assert_eq!(keys.len(), KEYS.len());
    for (json, k) in keys.iter().zip(KEYS) {
        assert_eq!(json["name"], k.name);
        assert_eq!(json["type"], k.ty.name());
        assert_eq!(json["meaning"], k.doc);
        match k.ty.range() {
            Some((min, max)) => {
                assert_eq!(json["min"], min);
                assert_eq!(json["max"], max);
                assert_eq!(
                    json["default"],
                    k.default.parse::<u32>().expect("numeric default")
                );
            }
            None => {
                assert!(json.get("min").is_none());
                assert_eq!(json["default"], k.default);
            }
        }
    }
    let sync = &keys[0];
    assert_eq!(sync["name"], "StateSyncProbeInterval");
    assert_eq!(sync["unit"], "s");
    assert_eq!(sync["max"], 300);
    let pretty = profile_schema::schema_json_pretty();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&pretty).expect("pretty is JSON"),
        schema
    );
    assert!(
        pretty.find("\"name\"") < pretty.find("\"default\""),
        "name comes first"
    );
    let backup = keys
        .iter()
        .find(|k| k["name"] == "PostureProbingBackupList")
        .expect("backup");
    assert_eq!(backup["default_port"], 8449);
}

/// `used` decides how strict parsing is, so it must say exactly which keys
/// the agent reads (agent/src/machine/settings.rs, cmd/run.rs: state sync,
/// discovery, name rules, bundles, log size). Change this list together with
/// the agent.
#[test]
fn used_marks_exactly_the_keys_the_agent_reads_and_they_come_first() {
    let used: Vec<&str> = KEYS.iter().filter(|k| k.used).map(|k| k.name).collect();
    assert_eq!(
        used,
        vec![
            "StateSyncProbeInterval",
            "PostureProbingBackupList",
            "NetworkTransitionDelay",
            "DartCount",
            "CallHomeList",
            "DiscoveryHost",
            "ServerNameRules",
            "ServerPorts",
            "ContentCheckPaths",
            "LogFileSize",
        ]
    );
    let first_unused = KEYS.iter().position(|k| !k.used).expect("vendor keys");
    assert!(
        KEYS[first_unused..].iter().all(|k| !k.used),
        "used keys first"
    );
}

#[test]
fn schema_says_which_keys_are_used_and_what_a_bad_value_is() {
    let schema = schema_json();
    assert!(
        schema["unused_keys"]
            .as_str()
            .is_some_and(|s| s.contains("warning")),
        "{schema}"
    );
    for (json, k) in schema["keys"].as_array().expect("keys").iter().zip(KEYS) {
        assert_eq!(json["used_by_posture_sync"], k.used, "{}", k.name);
        let want = if k.used { "error" } else { "warning" };
        assert_eq!(json["invalid_value"], want, "{}", k.name);
    }
}

#[test]
fn a_value_outside_the_range_is_an_error_exactly_for_used_keys() {
    for k in KEYS {
        let Some((_, max)) = k.ty.range() else {
            continue;
        };
        let xml = format!("<cfg><{0}>{1}</{0}></cfg>", k.name, u64::from(max) + 1);
        match (Profile::parse(&xml), k.used) {
            (Err(e), true) => assert_eq!(e[0].key.as_deref(), Some(k.name)),
            (Ok(l), false) => {
                assert_eq!(
                    l.profile.get(k.name),
                    Some((u64::from(max) + 1).to_string().as_str())
                );
                assert!(
                    l.profile
                        .lint()
                        .iter()
                        .any(|d| d.key.as_deref() == Some(k.name)
                            && d.message.contains("the agent does not use this key"))
                );
            }
            (r, used) => panic!("{}: used {used}, got {r:?}", k.name),
        }
    }
}
