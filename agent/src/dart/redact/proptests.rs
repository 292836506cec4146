//! Property tests: random secrets planted in every shape the redaction
//! knows, inside random benign text. No 4-byte piece of a secret may remain
//! in the output (unless the text around the secret holds it too: then it
//! proves nothing either way).

use proptest::prelude::*;

use super::{REDACTED, Redactor, redact, redact_profile};

/// Keys that name secrets, as a profile, a config file or a log writes them.
const KEYS: &[&str] = &[
    "password",
    "Password",
    "AdminPassword",
    "client_secret",
    "api_key",
    "ApiToken",
    "ProxyPass",
    "db_pass",
    "pw",
    "secret",
    "wpa_psk",
    "PreSharedKey",
    "passphrase",
    "private_key",
    "SimPin",
    "refresh-token",
];

/// Environment variable names that name secrets.
const ENV_KEYS: &[&str] = &[
    "DB_PASSWORD",
    "API_TOKEN",
    "CLIENT_SECRET",
    "SIM_PIN",
    "PROXY_PASS",
    "ADMIN_PW",
];

const PEM_LABELS: &[&str] = &[
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
];

/// Pieces of ordinary log and config text (none of them names a secret).
const BENIGN: &[&str] = &[
    "2026-11-21T21:00:35.000001Z",
    " INFO",
    "WARN",
    "posture_sync::daemon:",
    "known -> discovering",
    "(state sync probe answered Unknown;",
    "psn=127.0.0.1:8449)",
    "probe round blocked (timeout)",
    "<StateSyncProbeInterval>5</StateSyncProbeInterval>",
    "{\"at\":\"2026-11-21T20:56:00.000Z\",\"outcome\":\"blocked\"}",
    "host=psn1.lab.example",
    "compass=north",
    "bypass: on",
    "-----BEGIN CERTIFICATE-----",
    "https://psn1.lab.example:8443/auth/discovery",
    "key=StateSyncProbeInterval",
    "name: psn1",
];

/// Random benign text: known pieces and random words, spaces and newlines.
fn benign() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(BENIGN).prop_map(str::to_string),
            "[a-z]{1,9}",
            Just("\n".to_string()),
        ],
        0..12,
    )
    .prop_map(|words| words.join(" "))
}

/// A distinctive secret.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{12,24}"
}

/// A secret in base64 (key block bodies).
fn base64() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+/]{16,64}"
}

/// The last line of every input: ordinary text that must survive.
const END: &str = "end of text 2026-11-21T21:00:50Z psn=127.0.0.1:8449";

/// The number of shapes [`shape`] knows.
const SHAPES: usize = 27;

/// Shape `n` holding secrets `s` (and key `k`, env key `e`, PEM label
/// `pem`, base64 bodies `b`). Multi-line shapes start and end on their own
/// lines; the bool says whether the shape is XML (then it is also redacted
/// as a profile).
fn shape(n: usize, k: &str, e: &str, pem: &str, s: &[String], b: &[String]) -> (String, bool) {
    let (s0, s1, s2) = (&s[0], &s[1], &s[2]);
    let (b0, b1) = (&b[0], &b[1]);
    let xml = |t: String| (t, true);
    let text = |t: String| (t, false);
    match n {
        0 => xml(format!("<cfg {k}=\"{s0}\" mode=\"x\"/>")),
        1 => xml(format!("<{k} value=\"{s0}\"/>")),
        2 => xml(format!("<Setting name=\"{k}\" value=\"{s0}\"/>")),
        3 => xml(format!("<{k}>{s0} {s1}</{k}>")),
        4 => xml(format!("<Entry key=\"{k}\">{s0}</Entry>")),
        5 => xml(format!("<{k}><![CDATA[{s0}]]></{k}>")),
        6 => xml(format!(
            "<dict>\n<key>{k}</key>\n<string>{s0}</string>\n</dict>"
        )),
        7 => text(format!("{{\"{k}\":\"{s0}\\\"{s1}\",\"next\":\"ok\"}}")),
        8 => text(format!("{k}: {s0} {s1} {s2}")),
        9 => text(format!("{e}={s0}")),
        10 => text(format!("curl -u ann:{s0} https://psn1.lab/")),
        11 => text(format!("curl --user 'ann:{s0} {s1}' https://psn1.lab/")),
        12 => text(format!("proxy https://ann:{s0}@psn1.lab:8443/path")),
        13 => text(format!("Authorization: Basic {s0}")),
        14 => text(format!("Proxy-Authorization: Bearer {s0}")),
        15 => text(format!("authorization: {s0} {s1}")),
        16 => text(format!(
            "-----BEGIN {pem}-----\n{b0}\n{b1}\n-----END {pem}-----"
        )),
        17 => text(format!(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{b0}\n{b1}\n-----END PGP PRIVATE KEY BLOCK-----"
        )),
        18 => text(format!(
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ann\nPublic-Lines: 1\nAAAAC3NzaC1lZDI1NTE5\nPrivate-Lines: 2\n{b0}\n{b1}\nPrivate-MAC: {s0}"
        )),
        19 => text(format!("machine psn1.lab login ann password {s0}")),
        20 => text(format!("GET /cb?code=1&client_secret={s0}&state=2")),
        21 => text(format!("{{\"name\":\"{k}\",\"value\":\"{s0}\"}}")),
        22 => text(format!("{k}: |\n  {s0}\n  {s1}\nother: 1")),
        23 => text(format!("tool --password {s0} --host psn1")),
        24 => text(format!("env:\n  - name: {e}\n    value: {s0} {s1}")),
        25 => text(format!("{{\"{k}\": \"{s0}\", \"n\": 1}}")),
        _ => text(format!("-----BEGIN {pem}-----\n{b0}\n{b1}")),
    }
}

/// The first 4-byte piece of `secret` found in `out` but not in `context`
/// (the same text without the secrets) nor in the markers.
fn leaked(out: &str, context: &str, secret: &str) -> Option<String> {
    secret.as_bytes().windows(4).find_map(|w| {
        let w = std::str::from_utf8(w).ok()?;
        let explained = context.contains(w) || REDACTED.contains(w) || "[session-".contains(w);
        (out.contains(w) && !explained).then(|| w.to_string())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn no_piece_of_a_secret_survives_in_any_shape(
        n in 0..SHAPES,
        k in prop::sample::select(KEYS),
        e in prop::sample::select(ENV_KEYS),
        pem in prop::sample::select(PEM_LABELS),
        s in prop::collection::vec(secret(), 3),
        b in prop::collection::vec(base64(), 2),
        before in benign(),
        after in benign(),
        in_log_line in any::<bool>(),
    ) {
        let (planted, is_xml) = shape(n, k, e, pem, &s, &b);
        let empty = vec![String::new(); 3];
        let (skeleton, _) = shape(n, k, e, pem, &empty, &empty);
        // A one-line shape may sit inside a log line; every shape may sit
        // between lines of benign text.
        let lead = if in_log_line && !planted.contains('\n') {
            "2026-11-21T21:00:42.000001Z DEBUG posture_sync::x: loaded "
        } else {
            ""
        };
        let input = format!("{before}\n{lead}{planted}\n{after}\n{END}");
        let context = format!("{before}\n{lead}{skeleton}\n{after}\n{END}");
        let mut outs = vec![redact(&input)];
        if is_xml {
            outs.push(redact(&redact_profile(&input)));
        }
        for out in &outs {
            for secret in s.iter().chain(&b) {
                if !planted.contains(secret.as_str()) {
                    continue;
                }
                let piece = leaked(out, &context, secret);
                prop_assert!(
                    piece.is_none(),
                    "piece {:?} of secret {} left in:\n{}\n--- input:\n{}",
                    piece, secret, out, input
                );
            }
        }
        // The line after the shape survives (except after a truncated key
        // block: everything after its BEGIN line goes).
        if n != SHAPES - 1 {
            for out in &outs {
                prop_assert!(out.ends_with(&format!("\n{END}")), "{}", out);
            }
        }
    }

    #[test]
    fn session_ids_never_survive_and_keep_one_label_per_bundle(
        id in "[A-Za-z0-9][A-Za-z0-9._~-]{10,40}[A-Za-z0-9]",
        other in "[A-Za-z0-9]{12,20}",
        form in 0usize..7,
        before in benign(),
        after in benign(),
    ) {
        prop_assume!(!id.contains(&other) && !other.contains(&id));
        let mut r = Redactor::new();
        // What the bundle learns first: the status, then the PSN list.
        r.learn(&format!("{{\"phase\":\"known\",\"session_id\":\"{id}\"}}"));
        r.learn(&format!("{{\"psns\":[{{\"host\":\"psn2\",\"last_session_id\":\"{other}\"}}]}}"));
        let label = r.session_label(&id).unwrap_or_default();
        let other_label = r.session_label(&other).unwrap_or_default();
        prop_assert_eq!(&label, "[session-1]");
        prop_assert_eq!(&other_label, "[session-2]");
        let line = match form {
            0 => format!("2026-11-21T21:00:40Z ERROR posture_sync::daemon: known -> known (dacl misconfiguration; session={id}; psn=127.0.0.1:8449)"),
            1 => format!("{{\"at\":\"2026-11-21T21:00:40.000Z\",\"session\":\"{id}\",\"outcome\":\"status\"}}"),
            2 => format!("request headers: x-posture-session: {id}, accept: */*"),
            3 => format!("<discovery version=\"1\"><session id=\"{id}\"/></discovery>"),
            4 => format!("GET /auth/posturestatus?session={id} HTTP/1.1"),
            5 => format!("probing Some(SessionId(\"{id}\")) again"),
            _ => format!("<p>Session {id}</p>"),
        };
        for text in [
            format!("{before}\n{line}\n{after}"),
            format!("{line} and the last one was {other}."),
        ] {
            let out = r.redact(&text);
            // The labels are in the output by design: a piece of an id that
            // happens to spell part of "[session-1]" is not a leak.
            let context = format!(
                "{} {label} {other_label}",
                text.replace(&id, "").replace(&other, "")
            );
            for secret in [&id, &other] {
                let piece = leaked(&out, &context, secret);
                prop_assert!(piece.is_none(), "piece {:?} of {} left in:\n{}", piece, secret, out);
            }
            prop_assert!(out.contains(&label), "{}", out);
        }
        // Still the same labels after every part.
        prop_assert_eq!(r.session_label(&id), Some(label));
    }
}

proptest! {
    /// Any text, multi-byte characters next to every delimiter the rules
    /// look at: no panic, and the text outside the edits is kept in order.
    #[test]
    fn any_text_redacts_without_panicking(
        text in "[-<>=:\"'\\/@ \n\r\t|{}\\[\\]&?#a-zA-Z0-9é€😀]{0,400}",
        noise in any::<String>(),
    ) {
        for t in [&text, &noise, &format!("password={text}"), &format!("-----BEGIN €{text}")] {
            let _ = redact(t);
            let _ = redact_profile(t);
        }
    }
}

/// The free function numbers sessions per text; a [`Redactor`] keeps them
/// for a whole bundle.
#[test]
fn one_redactor_keeps_labels_across_parts() {
    let mut r = Redactor::new();
    r.learn("{\"session_id\":\"c0a80001Sess0001\"}");
    assert_eq!(
        r.redact("session=c0a80001Sess0002 then session=c0a80001Sess0001"),
        "session=[session-2] then session=[session-1]"
    );
    assert_eq!(
        r.redact("Session c0a80001Sess0002; Session c0a80001Sess0001"),
        "Session [session-2]; Session [session-1]"
    );
    // Too short to replace outside the places that name a session.
    let mut r = Redactor::new();
    assert_eq!(r.redact("session=s1 s1 s10"), "session=[session-1] s1 s10");
}
