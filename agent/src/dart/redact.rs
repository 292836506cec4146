//! Redaction: the one function every text part of a bundle goes through
//! before it is written, so that private keys, passwords, tokens and
//! authorization headers never reach a bundle mailed to support.
//!
//! It errs on the side of removing too much: any `key=value`, `key: value`
//! or `<key>...</key>` whose key names a password, passphrase, PIN, secret,
//! token, API key, credential, private key, pre-shared key or SNMP community
//! loses its value. An element loses ALL its content: text, CDATA and child
//! elements alike. The profile is redacted structurally first
//! ([`redact_profile`]: parsed as XML, so CDATA and nesting cannot hide a
//! value), then like every other text.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Key words that make a key's value secret: the regular expressions find
/// candidate keys with it, then [`is_secret_name`] decides (so that `pin`
/// matches `SimPin` or `pin_code` but not `PingArp` or `mapping`).
const SECRET_WORDS: &str = r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|credential|cookie|psk|pre-?shared|shared[_-]?key|community|pin)";

/// Secret words matched anywhere in a key (separators removed, lowercase).
const SECRET_SUBSTRINGS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credential",
    "cookie",
    "psk",
    "preshared",
    "sharedkey",
    "community",
];

/// Secret words matched only as a whole word of the key (split at
/// separators and lower-to-upper case changes): too short to match inside
/// other words.
const SECRET_TOKENS: &[&str] = &["pin", "pincode"];

/// Whether a key or element name names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let squashed: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if SECRET_SUBSTRINGS.iter().any(|w| squashed.contains(w)) {
        return true;
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut word));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.iter().any(|w| SECRET_TOKENS.contains(&w.as_str()))
}

struct Rules {
    pem: Regex,
    auth_header: Regex,
    bearer: Regex,
    url_userinfo: Regex,
    xml_open: Regex,
    key_value: Regex,
}

// The patterns are literals tested below, so building them cannot fail at
// run time once the tests pass.
#[allow(clippy::expect_used)]
static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("redaction pattern is a valid literal");
    Rules {
        // A whole PEM private key block, or a truncated one to the end.
        pem: re(
            r"(?s)-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        ),
        auth_header: re(
            r#"(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|digest|negotiate|token)\s+)?[^\s"'<>,;]+"#,
        ),
        bearer: re(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"),
        url_userinfo: re(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+):[^/\s@]+@"),
        xml_open: re(&format!(
            r"(?i)<([\w:.\-]*{SECRET_WORDS}[\w:.\-]*)(\s[^>]*)?>"
        )),
        key_value: re(&format!(
            r#"(?i)([\w.\-]*{SECRET_WORDS}[\w.\-]*)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&<>"']+)"#
        )),
    }
});

/// Returns `text` with every secret replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let r = &*RULES;
    let text = r.pem.replace_all(text, |c: &Captures<'_>| {
        format!(
            "-----BEGIN {k}----- {REDACTED} -----END {k}-----",
            k = &c[1]
        )
    });
    let text = r
        .auth_header
        .replace_all(&text, |c: &Captures<'_>| match c.get(2) {
            Some(scheme) => format!("{}{} {REDACTED}", &c[1], scheme.as_str()),
            None => format!("{}{REDACTED}", &c[1]),
        });
    let text = r
        .bearer
        .replace_all(&text, format!("Bearer {REDACTED}").as_str());
    let text = r
        .url_userinfo
        .replace_all(&text, format!("$1:{REDACTED}@").as_str());
    let text = redact_elements(&text, &r.xml_open);
    let text = r.key_value.replace_all(&text, |c: &Captures<'_>| {
        if !is_secret_name(&c[1]) {
            return c[0].to_string();
        }
        let value = &c[3];
        let quoted = match value.chars().next() {
            Some(q @ ('"' | '\'')) => format!("{q}{REDACTED}{q}"),
            _ => REDACTED.to_string(),
        };
        format!("{}{}{quoted}", &c[1], &c[2])
    });
    text.into_owned()
}

/// Text form of element redaction (logs, and profiles that do not parse):
/// from each opening tag of a secret element to the first closing tag of the
/// same name, everything goes (CDATA and child elements included); with no
/// closing tag, the rest of the line goes.
fn redact_elements(text: &str, open: &Regex) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(c) = open.captures_at(text, pos) {
        let (Some(whole), Some(name)) = (c.get(0), c.get(1)) else {
            break;
        };
        let self_closing = whole.as_str().ends_with("/>");
        if self_closing || !is_secret_name(name.as_str()) {
            out.push_str(&text[pos..whole.end()]);
            pos = whole.end();
            continue;
        }
        out.push_str(&text[pos..whole.end()]);
        out.push_str(REDACTED);
        let rest = &text[whole.end()..];
        let close = format!("</{}", name.as_str().to_ascii_lowercase());
        let end = match rest.to_ascii_lowercase().find(&close) {
            Some(i) => whole.end() + i,
            None => whole.end() + rest.find('\n').unwrap_or(rest.len()),
        };
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

/// Redacts a profile structurally: it is parsed as XML and every element
/// whose name names a secret ([`is_secret_name`]) loses all its content
/// (text, CDATA, child elements), whatever its layout. A profile that does
/// not parse is redacted as text instead. The result still goes through
/// [`redact`] like every part (comments, attributes).
pub fn redact_profile(text: &str) -> String {
    match secret_content_ranges(text) {
        Some(ranges) => {
            let mut out = String::with_capacity(text.len());
            let mut pos = 0;
            for (start, end) in ranges {
                out.push_str(&text[pos..start]);
                out.push_str(REDACTED);
                pos = end;
            }
            out.push_str(&text[pos..]);
            out
        }
        None => redact_elements(text, &RULES.xml_open),
    }
}

/// Byte ranges of the content of the outermost secret elements, or `None`
/// when `text` is not well-formed XML.
fn secret_content_ranges(text: &str) -> Option<Vec<(usize, usize)>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut ranges = Vec::new();
    // (depth inside the secret element, where its content starts)
    let mut inside: Option<(usize, usize)> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        let event = reader.read_event().ok()?;
        let after = usize::try_from(reader.buffer_position()).ok()?;
        match event {
            Event::Start(e) => match &mut inside {
                Some((depth, _)) => *depth += 1,
                None => {
                    let name = std::str::from_utf8(e.local_name().into_inner()).ok()?;
                    if is_secret_name(name) {
                        inside = Some((1, after));
                    }
                }
            },
            Event::End(_) => {
                if let Some((depth, start)) = &mut inside {
                    *depth -= 1;
                    if *depth == 0 {
                        ranges.push((*start, before));
                        inside = None;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Unclosed elements are a parse failure: fall back to text redaction.
    // The reader's offsets fall on tag boundaries (ASCII); checked anyway so
    // that slicing can never panic.
    let sliceable = ranges
        .iter()
        .all(|&(a, b)| a <= b && text.is_char_boundary(a) && text.is_char_boundary(b));
    if inside.is_some() || !sliceable {
        return None;
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_private_keys_go_whole_and_certificates_stay() {
        let text = "before\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIEC\n-----END EC PRIVATE KEY-----\n\
                    -----BEGIN RSA PRIVATE KEY-----\ntruncatedMIIEpA";
        let out = redact(text);
        assert!(!out.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
        assert!(!out.contains("MHcCAQEEIEC"));
        assert!(!out.contains("truncatedMIIEpA"));
        assert!(out.contains("MIIBcert"), "{out}");
        assert!(out.contains("-----BEGIN EC PRIVATE KEY----- [redacted]"));
        assert!(out.starts_with("before\n"));
    }

    #[test]
    fn passwords_tokens_and_headers_lose_their_values() {
        let cases = [
            (
                "password=hunter2 next",
                "hunter2",
                "password=[redacted] next",
            ),
            (
                "db_password: 'hunter2'",
                "hunter2",
                "db_password: '[redacted]'",
            ),
            (
                r#"{"api_token": "tok-123", "a": 1}"#,
                "tok-123",
                r#"{"api_token": "[redacted]", "a": 1}"#,
            ),
            (
                "Authorization: Bearer eyJhbGciOi.x.y",
                "eyJhbGciOi",
                "Authorization: Bearer [redacted]",
            ),
            (
                "authorization=Basic dXNlcjpwYXNz",
                "dXNlcjpwYXNz",
                "authorization=Basic [redacted]",
            ),
            (
                "sent header bearer abc.def-ghi",
                "abc.def-ghi",
                "sent header Bearer [redacted]",
            ),
            (
                "<AdminPassword>s3cr3t</AdminPassword>",
                "s3cr3t",
                "<AdminPassword>[redacted]</AdminPassword>",
            ),
            (
                "<cfg secret=\"xyz\"/>",
                "xyz",
                "<cfg secret=\"[redacted]\"/>",
            ),
            (
                "https://ann:pa55@psn.example/x",
                "pa55",
                "https://ann:[redacted]@psn.example/x",
            ),
            (
                "client_secret=abc&x=1",
                "abc",
                "client_secret=[redacted]&x=1",
            ),
        ];
        for (input, secret, want) in cases {
            let out = redact(input);
            assert!(!out.contains(secret), "{input} -> {out}");
            assert_eq!(out, want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let text = "2026-01-01T00:00:00Z  INFO known -> discovering (state sync probe answered Unknown; session=abc; psn=psn1:8449)\n\
                    <StateSyncProbeInterval>30</StateSyncProbeInterval>\n";
        assert_eq!(redact(text), text);
    }

    /// The leaks reproduced with `dart --profile`, plus one case per secret
    /// word: (input, secret that must go).
    const LEAKS: &[(&str, &str)] = &[
        (
            "<XPassword><![CDATA[hunter2cdata]]></XPassword>",
            "hunter2cdata",
        ),
        (
            "<AdminPassword><Value>nested-s3cret</Value></AdminPassword>",
            "nested-s3cret",
        ),
        ("<PreSharedKey>psk-visible</PreSharedKey>", "psk-visible"),
        ("<WpaPsk>psk-word-value</WpaPsk>", "psk-word-value"),
        (
            "<Pre-Shared>preshared-value</Pre-Shared>",
            "preshared-value",
        ),
        ("<SimPin>4711-pin</SimPin>", "4711-pin"),
        ("<pin_code>0815-pin</pin_code>", "0815-pin"),
        ("<shared_key>shared-value</shared_key>", "shared-value"),
        (
            "<SnmpCommunity>community-value</SnmpCommunity>",
            "community-value",
        ),
        ("<ClientSecret>secret-value</ClientSecret>", "secret-value"),
        ("<Credential>cred-value</Credential>", "cred-value"),
        ("<Passphrase>phrase-value</Passphrase>", "phrase-value"),
        ("<api-key>apikey-value</api-key>", "apikey-value"),
        ("<Private_Key>privkey-value</Private_Key>", "privkey-value"),
    ];

    #[test]
    fn secret_elements_lose_all_content_in_profiles_and_logs() {
        for (element, secret) in LEAKS {
            let profile = format!("<cfg>\n  {element}\n  <PingArp>1</PingArp>\n</cfg>\n");
            let out = redact(&redact_profile(&profile));
            assert!(!out.contains(secret), "profile: {element} -> {out}");
            assert!(out.contains(REDACTED), "{out}");
            assert!(out.contains("<PingArp>1</PingArp>"), "{out}");

            let log = format!("2026-11-21T21:00:00Z  INFO x: loaded {element} ok\nnext line\n");
            let out = redact(&log);
            assert!(!out.contains(secret), "log: {element} -> {out}");
            assert!(out.contains(" ok\nnext line\n"), "{out}");
        }
    }

    #[test]
    fn secret_keys_lose_their_values_for_every_word() {
        for key in [
            "psk",
            "wpa_psk",
            "pre-shared",
            "preshared_key",
            "pin",
            "sim_pin",
            "shared-key",
            "community",
            "client_secret",
            "credential",
            "passphrase",
            "api_key",
            "private-key",
        ] {
            let out = redact(&format!("{key}=value-of-{key} next"));
            assert_eq!(out, format!("{key}=[redacted] next"), "{key}");
        }
        // `pin` is a whole word only.
        for ordinary in ["mapping=1", "PingArp=2", "spinner=3", "pinned=4"] {
            assert_eq!(redact(ordinary), ordinary);
        }
    }

    #[test]
    fn a_profile_that_does_not_parse_is_redacted_as_text() {
        let broken = "<cfg>\n<AdminPassword><Value>nested-s3cret</Value></AdminPassword>\n<Open>\n<XPassword><![CDATA[cdata-value]]>\n";
        let out = redact(&redact_profile(broken));
        assert!(!out.contains("nested-s3cret"), "{out}");
        assert!(!out.contains("cdata-value"), "{out}");
        assert!(out.contains("<Open>"), "{out}");
    }

    #[test]
    fn structural_redaction_keeps_the_layout_of_everything_else() {
        let profile = "<?xml version=\"1.0\"?>\n<cfg a=\"1\">\n  <!-- keep -->\n  <ProxyPassword attr=\"x\">a<b>c</b>d</ProxyPassword>\n  <ProxyPassword/>\n  <Interval>5</Interval>\n</cfg>\n";
        assert_eq!(
            redact_profile(profile),
            "<?xml version=\"1.0\"?>\n<cfg a=\"1\">\n  <!-- keep -->\n  <ProxyPassword attr=\"x\">[redacted]</ProxyPassword>\n  <ProxyPassword/>\n  <Interval>5</Interval>\n</cfg>\n"
        );
    }
}
