//! Property tests: the writer round-trips any valid profile, and no input
//! makes the parser panic.

use proptest::prelude::*;

use profile_schema::{HostPort, KEYS, KeyDef, KeyType, Profile, ServerNameRules};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9]{0,8}(\\.[a-z][a-z0-9-]{0,6}[a-z0-9]){0,3}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        "[0-9a-f]{1,4}(:[0-9a-f]{1,4}){7}".prop_map(|v6| format!("[{v6}]")),
        Just("[::1]".to_owned()),
    ]
}

fn host_port() -> impl Strategy<Value = String> {
    (host(), proptest::option::of(1u16..=u16::MAX)).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

/// Profile text for a valid value of `def` (sometimes empty: the default).
fn value_for(def: &'static KeyDef) -> BoxedStrategy<String> {
    let v: BoxedStrategy<String> = match def.ty {
        KeyType::Text => "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\r\u{fffe}\u{ffff}]{0,40}".boxed(),
        KeyType::Bool01 => prop_oneof![Just("0".to_owned()), Just("1".to_owned())].boxed(),
        KeyType::HostList { .. } => proptest::collection::vec(host_port(), 0..4)
            .prop_map(|v| v.join(", "))
            .boxed(),
        KeyType::HostPort { .. } => host_port().boxed(),
        KeyType::NamePatterns => {
            proptest::collection::vec("(\\*\\.)?[a-z]{1,8}(\\.[a-z]{2,4})?|\\*", 0..4)
                .prop_map(|v| v.join(","))
                .boxed()
        }
        ty => {
            let (min, max) = ty.range().unwrap_or((0, 0));
            (min..=max).prop_map(|n| n.to_string()).boxed()
        }
    };
    prop_oneof![1 => Just(String::new()), 6 => v].boxed()
}

/// A list of (key, value text) with each known key at most once and unknown
/// vendor keys (possibly repeated) mixed in, in random order.
fn entries() -> impl Strategy<Value = Vec<(String, String)>> {
    let known = proptest::sample::subsequence(KEYS.iter().collect::<Vec<_>>(), 0..=KEYS.len())
        .prop_flat_map(|defs| {
            defs.into_iter()
                .map(|d| value_for(d).prop_map(move |v| (d.name.to_owned(), v)))
                .collect::<Vec<_>>()
        });
    let unknown = proptest::collection::vec(
        (
            "Vendor[A-Za-z0-9]{0,10}",
            "[^\u{0}-\u{1f}\u{fffe}\u{ffff}]{0,20}",
        ),
        0..8,
    );
    (known, unknown).prop_flat_map(|(k, u)| {
        let mut all: Vec<(String, String)> = k;
        all.extend(u);
        Just(all).prop_shuffle()
    })
}

fn to_input(entries: &[(String, String)], style: u8) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<!-- generated -->\n<cfg>");
    for (k, v) in entries {
        match (style % 3, v.is_empty()) {
            (0, true) => s.push_str(&format!("<{k}/>")),
            (1, _) => s.push_str(&format!("\n  <{k}>  {}\n  </{k}>", escape(v))),
            _ => s.push_str(&format!("<{k}>{}</{k}>", escape(v))),
        }
    }
    s.push_str("\n</cfg>\n");
    s
}

fn xml_trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_write_parse_is_identity(entries in entries(), style in 0u8..3) {
        let input = to_input(&entries, style);
        let first = Profile::parse(&input)
            .unwrap_or_else(|e| panic!("generated profile must be valid: {e:?}\n{input}"));
        let p = first.profile;
        // Every entry kept, in order, with its trimmed text.
        prop_assert_eq!(p.entries().len(), entries.len());
        for (entry, (k, v)) in p.entries().iter().zip(&entries) {
            prop_assert_eq!(entry.key(), k.as_str());
            prop_assert_eq!(entry.text(), xml_trim(v));
        }
        let written = p.to_xml();
        let second = Profile::parse(&written)
            .unwrap_or_else(|e| panic!("written profile must parse: {e:?}\n{written}"));
        prop_assert_eq!(&second.profile, &p);
        prop_assert_eq!(second.notes.len(), first.notes.len());
        // Writing is stable.
        prop_assert_eq!(second.profile.to_xml(), written);
    }

    #[test]
    fn arbitrary_text_never_panics_and_valid_results_round_trip(s in "\\PC{0,300}") {
        if let Ok(l) = Profile::parse(&s) {
            prop_assert_eq!(Profile::parse(&l.profile.to_xml()).map(|l| l.profile).ok(), Some(l.profile.clone()));
            let _ = l.profile.lint();
        }
    }

    #[test]
    fn xml_shaped_noise_never_panics(tokens in proptest::collection::vec(prop_oneof![
        Just("<cfg>"), Just("</cfg>"), Just("<cfg/>"), Just("<DartCount>"), Just("</DartCount>"),
        Just("<CallHomeList>"), Just("</CallHomeList>"), Just("<V a='1'>"), Just("</V>"), Just("<V/>"),
        Just("&amp;"), Just("&#x41;"), Just("&#0;"), Just("&bad;"), Just("&"), Just("<!--"), Just("-->"),
        Just("<![CDATA["), Just("]]>"), Just("<?xml version='1.0'?>"), Just("<!DOCTYPE cfg>"),
        Just("3"), Just("psn:8443"), Just(" "), Just("\n"), Just("\r\n"), Just("é"), Just("<"), Just(">"),
    ], 0..40)) {
        let s: String = tokens.concat();
        match Profile::parse(&s) {
            Ok(l) => {
                let again = Profile::parse(&l.profile.to_xml()).map(|l| l.profile);
                prop_assert_eq!(again.ok(), Some(l.profile));
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for d in &errors {
                    prop_assert!(d.line >= 1 && d.column >= 1);
                    prop_assert!(!d.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn host_port_display_parses_back(h in host_port(), default in 1u16..=u16::MAX) {
        let parsed = HostPort::parse(&h, default).expect("generated host is valid");
        prop_assert_eq!(HostPort::parse(&parsed.to_string(), 1), Ok(parsed.clone()));
    }

    #[test]
    fn a_rule_naming_a_host_allows_it_and_its_wildcard_allows_subdomains(
        name in "[a-z][a-z0-9]{0,8}\\.[a-z]{2,5}", sub in "[a-z]{1,6}", other in "[a-z]{1,6}\\.invalid"
    ) {
        let exact = ServerNameRules::parse(&name.to_uppercase()).expect("valid pattern");
        prop_assert!(exact.allows(&name));
        prop_assert!(!exact.allows(&other));
        let wild = ServerNameRules::parse(&format!("*.{name}")).expect("valid pattern");
        let sub_host = format!("{sub}.{name}");
        prop_assert!(wild.allows(&sub_host));
        prop_assert!(!wild.allows(&name));
        // `*.` covers one or more labels, but only in front of the suffix.
        let deeper = format!("{other}.{sub_host}");
        let after = format!("{sub_host}.{other}");
        prop_assert!(wild.allows(&deeper));
        prop_assert!(!wild.allows(&after));
    }

    #[test]
    fn a_star_inside_a_label_never_crosses_a_dot(
        prefix in "[a-z]{1,6}", middle in "[a-z0-9-]{0,6}", domain in "[a-z]{1,6}\\.[a-z]{2,5}",
        attacker in "[a-z]{1,6}\\.[a-z]{2,5}"
    ) {
        let rules = ServerNameRules::parse(&format!("{prefix}*.{domain}")).expect("valid pattern");
        let inside = format!("{prefix}{middle}.{domain}");
        let across = format!("{prefix}.{attacker}.{domain}");
        let appended = format!("{prefix}{middle}.{domain}.{attacker}");
        prop_assert!(rules.allows(&inside));
        prop_assert!(!rules.allows(&across));
        prop_assert!(!rules.allows(&appended));
        let bare = ServerNameRules::parse(&format!("{prefix}*")).expect("valid pattern");
        let one_label = format!("{prefix}{middle}");
        let more_labels = format!("{prefix}{middle}.{attacker}");
        prop_assert!(bare.allows(&one_label));
        prop_assert!(!bare.allows(&more_labels));
    }
}
