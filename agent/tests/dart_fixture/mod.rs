//! A state dir as a running agent leaves it after a confirmed dACL
//! misconfiguration, seeded with secrets in logs, profile and CA file, and a
//! real status socket serving the agent's status.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde_json::{Value, json};

/// Secrets seeded into the inputs; none may reach a bundle.
pub const SECRETS: &[&str] = &[
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7seeded",
    "hunter2-profile-password",
    "eyJhbGciOiJIUzI1NiJ9.seeded-bearer",
    "tok_live_51seededtoken",
    "sup3r-s3cret-client",
    "Basic-dXNlcjpzZWVkZWQ",
    // Element forms that once leaked (CDATA, child elements, words beyond
    // "password"); seeded into the profile and a log (SEEDED_ELEMENTS).
    "hunter2cdata",
    "nested-s3cret",
    "psk-visible",
    "wpa-psk-seeded",
    "4711-sim-pin",
    "snmp-community-seeded",
    "shared-key-seeded",
    "passphrase-seeded",
    "credential-seeded",
    "api-key-seeded",
    "private-key-seeded",
    // key=value forms of the new words, seeded into a log.
    "psk-kv-seeded",
    "pin-kv-seeded",
    "community-kv-seeded",
    // Issue 11 item 4: shapes that reached bundles (SEEDED_SHAPES, and the
    // profile's attributes).
    "attr-seeded-9Qx",
    "selfclose-seeded-7Rk",
    "entry-seeded-4Zp",
    "json-esc-seeded",
    "tail-seeded-5Tq",
    "correcthorse-seeded",
    "battery-seeded-77",
    "curl-seeded-6Lk",
    "userinfo-seeded-8Xc",
    "proxy-auth-seeded",
    "pass-seeded-1",
    "pw-seeded-2",
    "pgp-body-seeded",
    "putty-body-seeded",
    "putty-mac-seeded",
    "openssh-body-seeded",
    "netrc-seeded-3",
    "plist-seeded-5",
    "profile-attr-seeded",
    "profile-entry-seeded",
];

/// The session ids the agent saw (status, history, logs; the PSN list's
/// last session): none may reach a bundle, each becomes `[session-N]`.
pub const SESSION: &str = "c0a80001000a1b2c";
/// The PSN list's last session id, different from the current one.
pub const LAST_SESSION: &str = "c0a80002ffee0011";

/// Secret shapes seeded into the newest log, one a line (issue 11 item 4).
pub const SEEDED_SHAPES: &[&str] = &[
    "2026-11-21T21:00:44.000001Z DEBUG posture_sync::x: <Setting name=\"Password\" value=\"attr-seeded-9Qx\"/> <Password value=\"selfclose-seeded-7Rk\"/> <Entry key=\"secret\">entry-seeded-4Zp</Entry>",
    r#"2026-11-21T21:00:45.000001Z DEBUG posture_sync::x: body {"password":"json-esc-seeded\"tail-seeded-5Tq","user":"ann"}"#,
    "password: correcthorse-seeded battery-seeded-77",
    "2026-11-21T21:00:46.000001Z DEBUG posture_sync::x: ran curl -u ann:curl-seeded-6Lk https://userinfo:userinfo-seeded-8Xc@proxy.lab/x",
    "2026-11-21T21:00:47.000001Z DEBUG posture_sync::x: Proxy-Authorization: Basic proxy-auth-seeded",
    "2026-11-21T21:00:48.000001Z DEBUG posture_sync::x: pass=pass-seeded-1 pw=pw-seeded-2",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "",
    "lQOYBGpgp-body-seeded",
    "-----END PGP PRIVATE KEY BLOCK-----",
    "PuTTY-User-Key-File-3: ssh-ed25519",
    "Public-Lines: 1",
    "AAAAC3NzaC1lZDI1NTE5",
    "Private-Lines: 1",
    "AAAAputty-body-seeded",
    "Private-MAC: putty-mac-seeded",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaopenssh-body-seeded",
    "-----END OPENSSH PRIVATE KEY-----",
    "machine psn1.lab login ann password netrc-seeded-3",
    "<key>Password</key><string>plist-seeded-5</string>",
    "2026-11-21T21:00:49.000001Z DEBUG posture_sync::transport: request headers: x-posture-session: c0a80001000a1b2c",
];

/// Secret elements seeded into both the profile and the newest log.
pub const SEEDED_ELEMENTS: &str = "<XPassword><![CDATA[hunter2cdata]]></XPassword>\n  \
<AdminPassword><Value>nested-s3cret</Value></AdminPassword>\n  \
<PreSharedKey>psk-visible</PreSharedKey>\n  <WpaPsk>wpa-psk-seeded</WpaPsk>\n  \
<SimPin>4711-sim-pin</SimPin>\n  <SnmpCommunity>snmp-community-seeded</SnmpCommunity>\n  \
<shared_key>shared-key-seeded</shared_key>\n  <Passphrase>passphrase-seeded</Passphrase>\n  \
<Credential>credential-seeded</Credential>\n  <api-key>api-key-seeded</api-key>\n  \
<Private_Key>private-key-seeded</Private_Key>";

/// The seeded inputs.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub profile: PathBuf,
    pub ca_file: PathBuf,
    pub ca_fingerprint: String,
    pub ca_key_line: String,
    pub status: Value,
}

pub fn status() -> Value {
    json!({
        "phase": "known",
        "posture": "Compliant",
        "session_id": SESSION,
        "connected_psn": "127.0.0.1:8443",
        "sync": { "enabled": true, "stopped_reason": "misconfiguration" },
        "last_probe": { "at": "2026-11-21T21:00:40Z", "target": "127.0.0.1:8449", "outcome": "status" },
        "counters": { "probe_rounds": 260, "discovery_restarts": 1, "misconfigurations": 1 }
    })
}

/// A probe-rounds line as the agent writes it (`posture_sync::record::RoundRecord`).
fn round(at: &str, outcome: &str, detail: &str) -> String {
    let status = (outcome == "status").then_some("Compliant");
    json!({
        "v": posture_sync::record::RECORD_VERSION,
        "at": at, "session": SESSION, "outcome": outcome,
        "target": "127.0.0.1:8449", "status": status, "took_ms": 3,
        "targets": [{ "target": "127.0.0.1:8449", "outcome": outcome, "detail": detail }]
    })
    .to_string()
}

/// A transitions line as the agent writes it (`posture_sync::record::TransitionRecord`).
fn transition(
    at: &str,
    from: &str,
    to: &str,
    kind: &str,
    reason: &str,
    psn: Option<&str>,
) -> String {
    json!({
        "v": posture_sync::record::RECORD_VERSION,
        "at": at, "from": from, "to": to, "kind": kind, "reason": reason,
        "session": (from == "known" || to == "known").then_some(SESSION), "psn": psn
    })
    .to_string()
}

/// The reason of an automatic bundle for the fixture's misconfiguration,
/// with `text` as its line.
pub fn misconfiguration(text: &str) -> posture_sync::record::BundleReasonRecord {
    posture_sync::record::BundleReasonRecord {
        cause: posture_sync::record::BundleCause::Misconfiguration {
            psn: "127.0.0.1:8449".into(),
            status: posture_protocol::PostureStatus::Compliant,
            session: SESSION.into(),
        },
        text: text.into(),
    }
}

pub fn build() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let logs = state.join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    let log = |lines: &[&str]| lines.join("\n") + "\n";
    std::fs::write(
        logs.join("posture-sync.log.2"),
        log(&[
            "2026-11-21T20:55:00.000001Z  INFO posture_sync::daemon: idle -> discovering (profile applied)",
            "2026-11-21T20:55:01.000001Z  INFO posture_sync::daemon: discovering -> assessing (psn answered; psn=127.0.0.1:8443)",
            "2026-11-21T20:55:01.500000Z DEBUG posture_sync::transport: request headers: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.seeded-bearer",
        ]),
    )
    .unwrap();
    std::fs::write(
        logs.join("posture-sync.log.1"),
        log(&[
            "2026-11-21T20:55:03.000001Z  INFO posture_sync::daemon: assessing -> known (posture Compliant; session=c0a80001000a1b2c; psn=127.0.0.1:8443)",
            "2026-11-21T20:55:04.000001Z  WARN posture_sync::cmd::run: loaded key -----BEGIN PRIVATE KEY-----",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7seeded",
            "-----END PRIVATE KEY-----",
            "2026-11-21T20:55:05.000001Z  INFO proxy: url=https://ann:sup3r-s3cret-client@proxy.lab/ authorization=Basic-dXNlcjpzZWVkZWQ",
        ]),
    )
    .unwrap();
    std::fs::write(
        logs.join("posture-sync.log"),
        log(&[
            "2026-11-21T21:00:35.000001Z  WARN posture_sync::daemon: known -> known (state sync probe got through and answered Compliant: the dacl may not block the state sync port; confirming in 3 s; psn=127.0.0.1:8449)",
            "2026-11-21T21:00:40.000001Z ERROR posture_sync::daemon: known -> known (dacl misconfiguration: the state sync port is reachable although the posture is Compliant; session=c0a80001000a1b2c; psn=127.0.0.1:8449)",
            "2026-11-21T21:00:41.000001Z  INFO posture_sync::store: api_token=tok_live_51seededtoken saved",
            &format!("2026-11-21T21:00:42.000001Z DEBUG posture_sync::x: profile fragment {SEEDED_ELEMENTS}"),
            "2026-11-21T21:00:43.000001Z DEBUG posture_sync::x: wlan psk=psk-kv-seeded sim pin: pin-kv-seeded snmp community=\"community-kv-seeded\"",
            &SEEDED_SHAPES.join("\n"),
        ]),
    )
    .unwrap();
    std::fs::write(
        state.join("known-psns.json"),
        format!(r#"{{"version":1,"psns":[{{"host":"127.0.0.1","discovery_port":8443,"state_sync_port":8449,"last_session_id":"{LAST_SESSION}"}}]}}"#),
    )
    .unwrap();
    let mut rounds = Vec::new();
    for i in 0..250 {
        let (m, s) = (i / 60, i % 60);
        rounds.push(round(
            &format!("2026-11-21T20:{:02}:{s:02}.000Z", 56 + m.min(3)),
            "blocked",
            "blocked (timeout)",
        ));
    }
    rounds.push("garbage line".to_string());
    rounds.push(round(
        "2026-11-21T21:00:35.000Z",
        "status",
        "answered Compliant",
    ));
    rounds.push(round(
        "2026-11-21T21:00:40.000Z",
        "status",
        "answered Compliant",
    ));
    std::fs::write(state.join("probe-rounds.jsonl"), rounds.join("\n") + "\n").unwrap();
    let transitions = [
        transition(
            "2026-11-21T20:55:00.000Z",
            "idle",
            "discovering",
            "profile-applied",
            "profile applied",
            None,
        ),
        transition(
            "2026-11-21T20:55:01.000Z",
            "discovering",
            "assessing",
            "discovered",
            "session found, server posture Unknown",
            Some("127.0.0.1:8443"),
        ),
        transition(
            "2026-11-21T20:55:03.000Z",
            "assessing",
            "known",
            "assessed",
            "assessment complete: Compliant",
            Some("127.0.0.1:8443"),
        ),
        transition(
            "2026-11-21T21:00:35.000Z",
            "known",
            "known",
            "misconfiguration-suspected",
            "state sync probe got through and answered Compliant: the dacl may not block the state sync port; confirming in 3s",
            Some("127.0.0.1:8449"),
        ),
        transition(
            "2026-11-21T21:00:40.000Z",
            "known",
            "known",
            "misconfiguration-confirmed",
            "dacl misconfiguration: the state sync port is reachable although the posture is Compliant",
            Some("127.0.0.1:8449"),
        ),
    ];
    std::fs::write(
        state.join("transitions.jsonl"),
        transitions.join("\n") + "\n",
    )
    .unwrap();

    let profile = dir.path().join("ISEPostureCFG.xml");
    std::fs::write(
        &profile,
        format!("<cfg>\n  <!-- proxy password=hunter2-profile-password -->\n  <DiscoveryHost>127.0.0.1</DiscoveryHost>\n  <ProxyPassword>hunter2-profile-password</ProxyPassword>\n  {SEEDED_ELEMENTS}\n  <Setting name=\"Password\" value=\"profile-attr-seeded\"/>\n  <Entry key=\"client_secret\">profile-entry-seeded</Entry>\n  <StateSyncProbeInterval>5</StateSyncProbeInterval>\n</cfg>\n"),
    )
    .unwrap();

    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["psn1.lab".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Posture Lab CA");
    let cert = params.self_signed(&key).unwrap();
    let ca_file = dir.path().join("ca.pem");
    // An administrator's mistake: the CA's key pasted into the CA bundle.
    std::fs::write(&ca_file, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    let ca_key_line = key.serialize_pem().lines().nth(1).unwrap().to_string();
    let ca_fingerprint = posture_sync::dart::trust::fingerprint(cert.der());

    Fixture {
        dir,
        state,
        profile,
        ca_file,
        ca_fingerprint,
        ca_key_line,
        status: status(),
    }
}

/// Serves `status` on `<state>/agent.sock` with the agent's own control
/// server until the returned sender is dropped.
pub fn serve_status(state: &Path, status: Value) -> mpsc::Sender<()> {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel();
    let socket = state.join("agent.sock");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (_tx, rx) =
                tokio::sync::watch::channel(posture_sync::status_report::Snapshot::fixed(status));
            let server = posture_sync::control::serve(&socket, rx).unwrap();
            ready_tx.send(()).unwrap();
            // Wait for the test to finish without blocking the runtime.
            let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
            server.shutdown();
        });
    });
    ready_rx.recv_timeout(test_support::wait_bound()).unwrap();
    stop_tx
}

/// Every file of a zip: name -> text.
pub fn unzip(path: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(path).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).unwrap();
        out.push((f.name().unwrap().to_string(), text));
    }
    out
}
