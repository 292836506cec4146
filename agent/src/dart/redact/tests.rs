//! Unit tests of the redaction rules, one per shape.

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
        // An unquoted value loses the rest of its line (it used to keep
        // " next": a value with blanks leaked all but its first word).
        ("password=hunter2 next", "hunter2", "password=[redacted]"),
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
            "sent header bearer [redacted]",
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
            // The whole userinfo goes: user names in URLs are often tokens.
            "https://[redacted]@psn.example/x",
        ),
        // Outside a query string `&` may be part of the value.
        ("client_secret=abc&x=1", "abc", "client_secret=[redacted]"),
        (
            "GET /cb?client_secret=abc&x=1",
            "abc",
            "GET /cb?client_secret=[redacted]&x=1",
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
    let text = "2026-01-01T00:00:00Z  INFO known -> discovering (state sync probe answered Unknown; psn=psn1:8449)\n\
                <StateSyncProbeInterval>30</StateSyncProbeInterval>\n\
                -----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n\
                compass=north bypass=1 passive=yes PingArp=2 host=psn1.lab.example\n";
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
        assert_eq!(out, format!("{key}=[redacted]"), "{key}");
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

// ---- Issue 11 item 4: shapes that reached bundles. ----

/// Redacts `input` as a log line and, for XML, as a profile; every secret
/// must be gone from both.
fn assert_gone(input: &str, secrets: &[&str]) -> String {
    let out = redact(input);
    for s in secrets {
        assert!(!out.contains(s), "{s} left in:\n{out}\n(input: {input})");
    }
    let profile = redact(&redact_profile(input));
    for s in secrets {
        assert!(!profile.contains(s), "{s} left in profile:\n{profile}");
    }
    out
}

#[test]
fn attributes_and_self_closing_elements_lose_their_values() {
    let out = assert_gone(
        "<cfg><Setting name=\"Password\" value=\"attrVal9Q2x\"/><Interval>5</Interval></cfg>",
        &["attrVal9Q2x"],
    );
    assert!(out.contains("name=\"Password\""), "{out}");
    assert!(out.contains("<Interval>5</Interval>"), "{out}");
    assert_gone(
        "<cfg><Password value=\"selfClose7Rk\"/></cfg>",
        &["selfClose7Rk"],
    );
    assert_gone("<Password value='single9Qs' />", &["single9Qs"]);
    assert_gone(
        "<cfg><Entry key=\"secret\">entryText4Zp</Entry></cfg>",
        &["entryText4Zp"],
    );
    assert_gone(
        "<appSettings><add key=\"DbPassword\" value=\"addVal3Mn\"/></appSettings>",
        &["addVal3Mn"],
    );
    assert_gone(
        "<Setting name=\"ApiToken\" value=\"a>gtInside5Jq\"/>",
        &["gtInside5Jq"],
    );
    assert_gone(
        "<Entry key=\"Passphrase\"><![CDATA[cdataSib2Wq]]></Entry>",
        &["cdataSib2Wq"],
    );
    let out = assert_gone(
        "<dict>\n  <key>Password</key>\n  <string>plistVal8Ws</string>\n  <key>Host</key>\n  <string>psn1</string>\n</dict>",
        &["plistVal8Ws"],
    );
    assert!(out.contains("<string>psn1</string>"), "{out}");
}

#[test]
fn every_private_key_block_goes_and_certificates_stay() {
    let text = "a\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGPgpBody1\n=Ab12\n-----END PGP PRIVATE KEY BLOCK-----\n\
        -----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFencBody2\n-----END ENCRYPTED PRIVATE KEY-----\n\
        -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaBody3\n-----END OPENSSH PRIVATE KEY-----\n\
        -----BEGIN DSA PRIVATE KEY-----\nMIIBuDsaBody4\n-----END DSA PRIVATE KEY-----\n\
        ---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nP2/56wSsh2Body5\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n\
        PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ann\nPublic-Lines: 2\nAAAAC3pub\nAAAApub2\n\
        Private-Lines: 1\nAAAAIPuttyBody6\nPrivate-MAC: 0123puttyMac7\n\
        -----BEGIN CERTIFICATE-----\nMIIBcertKeep\n-----END CERTIFICATE-----\nafter\n";
    let out = assert_gone(
        text,
        &[
            "lQOYBGPgpBody1",
            "=Ab12",
            "MIIFencBody2",
            "b3BlbnNzaBody3",
            "MIIBuDsaBody4",
            "P2/56wSsh2Body5",
            "AAAAIPuttyBody6",
            "0123puttyMac7",
        ],
    );
    assert!(out.contains("MIIBcertKeep"), "{out}");
    assert!(out.ends_with("after\n"), "{out}");
    // A PuTTY fragment without its header.
    assert_gone(
        "Private-Lines: 2\nAAAAfragBody8\nAAAAfragBody9\nnext line",
        &["AAAAfragBody8", "AAAAfragBody9"],
    );
}

#[test]
fn escaped_quotes_do_not_end_a_json_value() {
    let out = assert_gone(
        r#"{"password":"ab\"cdEsc5Tq","user":"ann"}"#,
        &["cdEsc5Tq", "ab\\\"cd"],
    );
    assert!(out.contains(r#""user":"ann""#), "{out}");
    assert_gone(r#"msg="{\"password\":\"nested7Yh\"}""#, &["nested7Yh"]);
    assert_gone("password: 'it''s quoteTail3'", &["quoteTail3"]);
}

#[test]
fn unquoted_values_lose_the_rest_of_the_line() {
    let out = assert_gone(
        "password: correct horse battery\nnext: kept",
        &["correct", "horse", "battery"],
    );
    assert!(out.ends_with("next: kept"), "{out}");
    assert_gone("DB_PASSWORD=two words", &["two", "words"]);
    // In a comment, the closing `-->` stays (the profile stays XML).
    let out = assert_gone(
        "<!-- proxy password=in comment -->\n<a/>",
        &["in", "comment"],
    );
    assert_eq!(out, "<!-- proxy password=[redacted] -->\n<a/>");
    assert_gone(
        "[db]\nPassword = alpha beta gamma\n",
        &["alpha", "beta", "gamma"],
    );
}

#[test]
fn curl_userinfo_and_authorization_headers_lose_their_credentials() {
    assert_gone("curl -u ann:curlPw6Lk https://h/", &["curlPw6Lk"]);
    assert_gone("curl --user ann:curlPw7Lk https://h/", &["curlPw7Lk"]);
    assert_gone("curl --user=ann:curlPw8Lk https://h/", &["curlPw8Lk"]);
    assert_gone("curl -uann:attachedPw9 https://h/", &["attachedPw9"]);
    assert_gone(
        "curl --proxy-user 'ann:quoted Pw1' https://h/",
        &["quoted Pw1", "Pw1"],
    );
    assert_gone("proxy https://ann:urlPw8Xc@h.example/x", &["urlPw8Xc"]);
    assert_gone("proxy https://ann:p@ss2Xc@h.example/x", &["ss2Xc"]);
    assert_gone("git https://tokUser9Vb@h.example/x", &["tokUser9Vb"]);
    let out = assert_gone("Proxy-Authorization: Basic proxyB64Zz", &["proxyB64Zz"]);
    assert_eq!(out, "Proxy-Authorization: Basic [redacted]");
    assert_gone(
        "Authorization: Digest username=\"ann\", response=\"digestResp4Rt\"",
        &["digestResp4Rt"],
    );
    assert_gone("authorization: sso anyScheme5Tt", &["anyScheme5Tt"]);
    assert_gone(
        r#"headers: {"Authorization": "Bearer jsonBearer6", "accept": "*/*"}"#,
        &["jsonBearer6"],
    );
    assert_gone(
        "<Authorization>Basic xmlAuth7Qq</Authorization>",
        &["xmlAuth7Qq"],
    );
}

#[test]
fn short_keys_are_secret_as_whole_words_only() {
    for (input, secret) in [
        ("pass=shortPass1", "shortPass1"),
        ("pw=shortPw2", "shortPw2"),
        ("db_pass=dbPass3", "dbPass3"),
        ("ADMIN_PW=adminPw4", "adminPw4"),
        ("ProxyPass: proxyPass5", "proxyPass5"),
        ("rootpw secretRoot6", "secretRoot6"),
        ("-storepass ksPw7 -keypass ksPw8", "ksPw7"),
        ("-storepass ksPw7 -keypass ksPw8", "ksPw8"),
    ] {
        assert_gone(input, &[secret]);
    }
    for kept in [
        "compass=north",
        "bypass=1",
        "passive=yes",
        "passed=3",
        "BypassProxy=on",
    ] {
        assert_eq!(redact(kept), kept);
    }
}

#[test]
fn session_ids_become_pseudonyms() {
    let id = "c0a8000Sess1FjmLTxwC_6Bf";
    let other = "c0a8000Sess2QzRwKrGfaD";
    let text = format!(
        "a -> b (reason; session={id}; psn=psn1:8449)\n\
         {{\"session\":\"{id}\",\"outcome\":\"status\"}}\n\
         x-posture-session: {id}\n\
         {{\"host\":\"psn1\",\"last_session_id\":\"{other}\"}}\n\
         <discovery><session id=\"{id}\"/></discovery>\n\
         probing Some(SessionId(\"{other}\"))\n\
         GET /auth/posturestatus?session={id}\n\
         \"session_id\": \"{id}\"\n\
         free text mentions {id} and {other}.\n"
    );
    let out = assert_gone(&text, &[id, other, "Sess1", "Sess2"]);
    assert!(out.contains("session=[session-1]; psn=psn1:8449"), "{out}");
    assert!(out.contains("\"last_session_id\":\"[session-2]\""), "{out}");
    assert!(
        out.contains("free text mentions [session-1] and [session-2]."),
        "{out}"
    );
    assert!(out.contains("<session id=\"[session-1]\"/>"), "{out}");
}

#[test]
fn other_secret_shapes_lose_their_values() {
    assert_gone(
        "machine psn1 login ann password netrcPw5 account netrcAcct6",
        &["netrcPw5", "netrcAcct6"],
    );
    assert_gone(
        "machine psn1\n  login ann\n  password netrcPw7\n",
        &["netrcPw7"],
    );
    assert_gone("tool --password cliPw8 --host h", &["cliPw8"]);
    assert_gone("tool --client-secret=cliSecret9", &["cliSecret9"]);
    let out = assert_gone(
        "db:\n  password: |\n    blockPw1\n    blockPw2\n  host: h\n",
        &["blockPw1", "blockPw2"],
    );
    assert!(out.contains("  host: h"), "{out}");
    assert_gone(
        "env:\n  - name: DB_PASSWORD\n    value: k8sPw3\n  - name: HOST\n    value: h\n",
        &["k8sPw3"],
    );
    assert_gone(r#"[{"name":"api_key","value":"jsonSib4"}]"#, &["jsonSib4"]);
    assert_gone(r#"[{"value":"jsonSib5","key":"Secret"}]"#, &["jsonSib5"]);
    assert_gone(
        "{\n  \"credentials\": {\n    \"value\": \"nestedObj6\"\n  },\n  \"a\": 1\n}",
        &["nestedObj6"],
    );
    assert_gone("Cookie: a=1; sid=cookieVal7", &["cookieVal7"]);
    assert_gone("\"pin\": 12345678,", &["12345678"]);
    assert_gone("https://h/x?sv=1&sig=sasSig8%3D&se=2", &["sasSig8"]);
}

/// A JSON part is redacted string by string: a secret quoted inside a
/// string (a requirement's reason) goes, and the object stays JSON with
/// every other value, so `dart --summary FILE.zip` can read it back.
#[test]
fn json_is_redacted_value_by_value_and_stays_json() {
    let text = r#"{"session_id":"c0a8000100aa","assessment":{"requirements":[{"id":"conf","reason":"/etc/a.conf does not match \"^api_key=jsonReason1\"","passed":false},{"id":"disk","reason":"/ is on /dev/vda1"}]},"password":"topLevel2"}"#;
    let mut r = Redactor::new();
    r.learn(text);
    let json = r.redact_json(text);
    let out = r.redact(&json);
    assert!(
        !out.contains("jsonReason1") && !out.contains("topLevel2"),
        "{out}"
    );
    assert!(!out.contains("c0a8000100aa"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
    assert_eq!(v["session_id"], "[session-1]");
    assert_eq!(
        v["assessment"]["requirements"][1]["reason"],
        "/ is on /dev/vda1"
    );
    assert_eq!(v["assessment"]["requirements"][0]["passed"], false);
    // Redacted as a whole only, the string's closing quote goes too.
    assert!(serde_json::from_str::<serde_json::Value>(&Redactor::new().redact(text)).is_err());
    // Not JSON: returned as it is.
    assert_eq!(r.redact_json("not json"), "not json");
}
