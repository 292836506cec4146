//! Property tests: the writer round-trips any valid profile, and no input
//! makes the parser panic.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
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
        KeyType::PortRanges => proptest::collection::vec((1u16..=65535, 0u16..=100), 1..4)
            .prop_map(|v| {
                v.iter()
                    .map(|&(a, w)| match a.checked_add(w) {
                        Some(b) if w > 0 => format!("{a}-{b}"),
                        _ => a.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .boxed(),
        KeyType::PathList => {
            proptest::collection::vec("/[a-z0-9_-][a-z0-9_.-]{0,7}(/[a-z0-9_-]{1,8}){0,3}/?", 0..4)
                .prop_map(|v| v.join(", "))
                .boxed()
        }
        ty => {
            let (min, max) = ty.range().unwrap_or((0, 0));
            (min..=max).prop_map(|n| n.to_string()).boxed()
        }
    };
    prop_oneof![1 => Just(String::new()), 6 => v].boxed()
}

/// Text that fits no numeric key's range or type: too large, negative, words.
fn unfit_number(def: &'static KeyDef) -> BoxedStrategy<String> {
    let max = def.ty.range().map_or(0, |r| r.1);
    prop_oneof![
        (u64::from(max) + 1..=u64::MAX).prop_map(|n| n.to_string()),
        "-[1-9][0-9]{0,3}",
        "[a-z]{1,8}",
    ]
    .boxed()
}

/// Well-formed inner XML holding at least one element: elements with
/// attributes, nested one level, text with references, comments, CDATA.
fn markup() -> impl Strategy<Value = String> {
    let text = "[a-z0-9 .]{0,8}(&amp;|&lt;|&#x41;)?[a-z ]{0,4}";
    let attr = proptest::option::of(("[a-z]{1,4}", "[a-z0-9 ]{0,6}"))
        .prop_map(|a| a.map_or(String::new(), |(k, v)| format!(" {k}=\"{v}\"")));
    let leaf = ("[A-Z][A-Za-z0-9]{0,6}", attr.clone(), text).prop_map(|(n, a, t)| {
        if t.is_empty() {
            format!("<{n}{a}/>")
        } else {
            format!("<{n}{a}>{t}</{n}>")
        }
    });
    let element = prop_oneof![
        3 => leaf.clone(),
        1 => ("[A-Z][a-z]{0,6}", attr, proptest::collection::vec(leaf, 1..3))
            .prop_map(|(n, a, kids)| format!("<{n}{a}>\n  {}\n</{n}>", kids.concat())),
    ];
    let extra = prop_oneof![
        Just(String::new()),
        Just("<!-- vendor note -->".to_owned()),
        Just("<![CDATA[a < b && c]]>".to_owned()),
        Just("<?vendor x?>".to_owned()),
        "[a-z ]{1,6}",
    ];
    (proptest::collection::vec(element, 1..4), extra).prop_map(|(els, extra)| {
        let mut s = els.join("\n    ");
        s.push_str(&extra);
        s
    })
}

/// One generated entry of a profile.
#[derive(Debug, Clone)]
struct Gen {
    key: String,
    /// Text (escaped when written) or, with `markup`, inner XML as is.
    value: String,
    markup: bool,
    /// Attributes of an unknown element, as written.
    attributes: String,
    /// A known unused key whose value does not fit: accepted, linted.
    unfit: bool,
}

impl Gen {
    fn text(key: &str, value: String) -> Gen {
        Gen {
            key: key.to_owned(),
            value,
            markup: false,
            attributes: String::new(),
            unfit: false,
        }
    }
}

/// Known keys (each at most once; unused numeric ones sometimes with values
/// that do not fit, unused ones sometimes holding elements) and unknown
/// vendor keys (possibly repeated, some with attributes, some holding
/// elements) mixed in, in random order.
fn entries() -> impl Strategy<Value = Vec<Gen>> {
    let known = proptest::sample::subsequence(KEYS.iter().collect::<Vec<_>>(), 0..=KEYS.len())
        .prop_flat_map(|defs| {
            defs.into_iter()
                .map(|d| {
                    let fit = value_for(d).prop_map(move |v| Gen::text(d.name, v));
                    if d.used {
                        return fit.boxed();
                    }
                    let nested = markup().prop_map(move |m| Gen {
                        markup: true,
                        unfit: true,
                        ..Gen::text(d.name, m)
                    });
                    if d.ty.range().is_none() {
                        return prop_oneof![4 => fit, 1 => nested].boxed();
                    }
                    let unfit = unfit_number(d).prop_map(move |v| Gen {
                        unfit: true,
                        ..Gen::text(d.name, v)
                    });
                    prop_oneof![4 => fit, 2 => unfit, 1 => nested].boxed()
                })
                .collect::<Vec<_>>()
        });
    let attributes = prop_oneof![
        2 => Just(String::new()),
        1 => "[a-m]{1,5}=\"[a-z0-9 ]{0,6}\"( [n-z]{1,5}='&amp;[a-z]{0,3}')?",
    ];
    let unknown = proptest::collection::vec(
        (
            "Vendor[A-Za-z0-9]{0,10}",
            prop_oneof![
                3 => "[^\u{0}-\u{1f}\u{fffe}\u{ffff}]{0,20}".prop_map(|v| (v, false)),
                1 => markup().prop_map(|m| (m, true)),
            ],
            attributes,
        )
            .prop_map(|(key, (value, markup), attributes)| Gen {
                key,
                value,
                markup,
                attributes,
                unfit: false,
            }),
        0..8,
    );
    (known, unknown).prop_flat_map(|(k, u)| {
        let mut all: Vec<Gen> = k;
        all.extend(u);
        Just(all).prop_shuffle()
    })
}

fn to_input(entries: &[Gen], style: u8) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<!-- generated -->\n<cfg>");
    for g in entries {
        let k = &g.key;
        let open = if g.attributes.is_empty() {
            k.clone()
        } else {
            format!("{k} {}", g.attributes)
        };
        let v = if g.markup {
            g.value.clone()
        } else {
            escape(&g.value)
        };
        match (style % 3, v.is_empty()) {
            (0, true) => s.push_str(&format!("<{open}/>")),
            (1, _) => s.push_str(&format!("\n  <{open}>  {v}\n  </{k}>")),
            _ => s.push_str(&format!("<{open}>{v}</{k}>")),
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
        // Every entry kept, in order, with its trimmed text (inner XML as
        // written for elements holding elements), and attributes of unknown
        // elements.
        prop_assert_eq!(p.entries().len(), entries.len());
        for (entry, g) in p.entries().iter().zip(&entries) {
            prop_assert_eq!(entry.key(), g.key.as_str());
            prop_assert_eq!(entry.text(), xml_trim(&g.value));
            prop_assert_eq!(entry.holds_elements(), g.markup);
            prop_assert_eq!(entry.attributes(), g.attributes.as_str());
        }
        // Each value that does not fit an unused key is one warning.
        let unfit = entries.iter().filter(|g| g.unfit).count();
        let warned = p
            .lint()
            .iter()
            .filter(|d| d.message.ends_with("the agent does not use this key; ISE may"))
            .count();
        prop_assert_eq!(warned, unfit);
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
