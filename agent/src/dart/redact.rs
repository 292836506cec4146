//! Redaction: the one function every text part of a bundle goes through
//! before it is written, so that private keys, passwords, tokens and
//! authorization headers never reach a bundle mailed to support.
//!
//! It errs on the side of removing too much: any `key=value`, `key: value`
//! or `<key>value</key>` whose key names a password, secret, token, API key,
//! credential or private key loses its value.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Key words that make a key's value secret.
const SECRET_WORDS: &str = r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|private[_-]?key|credential|cookie)";

struct Rules {
    pem: Regex,
    auth_header: Regex,
    bearer: Regex,
    url_userinfo: Regex,
    xml_element: Regex,
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
        xml_element: re(&format!(
            r"(?is)<([\w:.\-]*{SECRET_WORDS}[\w:.\-]*)(\s[^>]*)?>([^<]*)</([\w:.\-]+)>"
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
    let text = r.xml_element.replace_all(&text, |c: &Captures<'_>| {
        if c[1].eq_ignore_ascii_case(&c[4]) {
            let attrs = c.get(2).map_or("", |m| m.as_str());
            format!("<{}{attrs}>{REDACTED}</{}>", &c[1], &c[4])
        } else {
            c[0].to_string()
        }
    });
    let text = r.key_value.replace_all(&text, |c: &Captures<'_>| {
        let value = &c[3];
        let quoted = match value.chars().next() {
            Some(q @ ('"' | '\'')) => format!("{q}{REDACTED}{q}"),
            _ => REDACTED.to_string(),
        };
        format!("{}{}{quoted}", &c[1], &c[2])
    });
    text.into_owned()
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
}
