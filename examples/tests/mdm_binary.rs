//! The real binaries: `mdm-lab serve` and `ctl`, `psn-lab mdm test` (exit
//! codes, printed URL without the password, diagnoses, a DNS failure inside a
//! network namespace of its own), and `psn-lab serve` with an "mdm" section
//! polling mdm-lab, logging a bad reply, and refusing an invalid form.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: spawning the binaries under test is the point of this file.
#![allow(clippy::disallowed_methods)]

mod served;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use psn_lab::mdmlab::server::MdmReady;
use serde_json::{Value, json};
use served::{MDM_LAB as MDM, PSN_LAB as LAB, Served, ctl_json};
use test_support::wait_until;

const MAC: &str = "02:00:5e:00:53:01";

fn mdm_lab(dir: &Path) -> (Served, MdmReady) {
    std::fs::create_dir_all(dir).unwrap();
    let inventory = dir.join("inventory.json");
    std::fs::write(
        &inventory,
        json!({ "devices": [{ "mac": MAC, "compliant": true }] }).to_string(),
    )
    .unwrap();
    let child = Command::new(MDM)
        .args(["serve", "--dir"])
        .arg(dir)
        .arg("--inventory")
        .arg(&inventory)
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served(child);
    let ready = wait_until("mdm-ready.json", || MdmReady::read(dir).ok(), String::new);
    (served, ready)
}

fn mdm_ctl(dir: &Path, args: &[&str]) -> Value {
    ctl_json(MDM, dir, args)
}

fn mdm_section(ready: &MdmReady, password: &str) -> Value {
    json!({
        "name": "JAMF_LAB", "host": "localhost", "port": ready.listen.port(),
        "instance": ready.instance, "username": "ise", "password": password,
        "ca_file": "ca.pem", "polling_interval": "1s", "compliance_cache_expiration": "1s",
        "lab_fast": true, "device_compliance_timeout_ms": 5000
    })
}

fn write_config(dir: &Path, mdm: Value) -> PathBuf {
    let path = dir.join("lab.json");
    std::fs::write(&path, json!({ "mdm": mdm }).to_string()).unwrap();
    path
}

fn mdm_test(config: &Path) -> Output {
    Command::new(LAB)
        .args(["mdm", "test", "--config"])
        .arg(config)
        .env_clear()
        .output()
        .unwrap()
}

#[test]
fn mdm_test_succeeds_and_explains_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let (_mdm, ready) = mdm_lab(&dir);

    let out = mdm_test(&write_config(&dir, mdm_section(&ready, "lab-password")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("connection succeeded") && text.contains("version 3"),
        "{text}"
    );

    let out = mdm_test(&write_config(&dir, mdm_section(&ready, "Wrong-Pa55")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("401") && text.contains("basic authentication"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "https://ise@localhost:{}/networkIntegrationEndpoint/lab/ciscoise/mdminfo/",
            ready.listen.port()
        )),
        "{text}"
    );
    assert!(
        !text.contains("Wrong-Pa55"),
        "the password is never shown: {text}"
    );

    let mut wrong = mdm_section(&ready, "lab-password");
    wrong["instance"] = json!("");
    let out = mdm_test(&write_config(&dir, wrong));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("404") && text.contains("instance name"),
        "{text}"
    );

    mdm_ctl(&dir, &["fault", "slow", "--slow-ms", "3000"]);
    let mut slow = mdm_section(&ready, "lab-password");
    slow["device_compliance_timeout_ms"] = json!(300);
    let out = mdm_test(&write_config(&dir, slow));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("device compliance timeout"));
    mdm_ctl(&dir, &["fault", "none"]);

    // An invalid form is refused before any connection, naming the key.
    let mut bad = mdm_section(&ready, "lab-password");
    bad["lab_fast"] = json!(false);
    let out = mdm_test(&write_config(&dir, bad));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("mdm.polling_interval") && err.contains("lab_fast"),
        "{err}"
    );
}

#[test]
fn a_dns_failure_is_diagnosed_inside_a_network_namespace() {
    // A name lookup would leave the machine; inside a new network namespace
    // (only a down loopback) it fails at once without any traffic.
    let probe = Command::new("unshare").args(["-rn", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        // CI sets POSTURE_SYNC_REQUIRE_ALL: an environment that cannot run this must fail, not skip.
        if std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_some() {
            panic!(
                "cannot create a network namespace (unshare -rn), and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
            );
        }
        eprintln!("SKIPPED: cannot create a network namespace (unshare -rn)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("lab.json");
    psn_lab::certs::create(&psn_lab::certs::CertRequest {
        dir: tmp.path().to_owned(),
        ..Default::default()
    })
    .unwrap();
    std::fs::write(
        &config,
        json!({ "mdm": {
            "name": "JAMF_PRO", "host": "mdm.does-not-exist.invalid", "instance": "/networkIntegrationEndpoint/ID",
            "username": "ise", "password": "s3cret-pw", "ca_file": "ca.pem"
        }})
        .to_string(),
    )
    .unwrap();
    let out = Command::new("unshare")
        .args(["-rn", LAB, "mdm", "test", "--config"])
        .arg(&config)
        .env_clear()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("(Dns)") && text.contains("does not resolve") && text.contains("IP address"),
        "{text}"
    );
    assert!(
        text.contains("https://ise@mdm.does-not-exist.invalid:443/networkIntegrationEndpoint/ID"),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"));
}

#[test]
fn serve_polls_the_mdm_and_logs_bad_replies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let (_mdm, ready) = mdm_lab(&dir);
    let mut section = mdm_section(&ready, "lab-password");
    section["compliance_cache_expiration"] = json!("1s");
    let config = dir.join("lab.json");
    std::fs::write(
        &config,
        json!({ "mdm": section, "sessions": [{ "mac": MAC, "status": "Compliant", "id": "mdm-session-1" }] }).to_string(),
    )
    .unwrap();
    let log = tmp.path().join("psn-lab.log");
    let (_lab, _) = served::psn_lab(
        &dir,
        &[
            "--config",
            config.to_str().unwrap(),
            "--node",
            "psn1=127.0.0.1:0:0",
        ],
        Stdio::null(),
        std::fs::File::create(&log).unwrap().into(),
    );
    let lab_ctl = |args: &[&str]| -> Value { ctl_json(LAB, &dir, args) };
    let lab_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "a Compliant verdict",
        || {
            let v = lab_ctl(&["mdm"]);
            (v["verdicts"][0]["verdict"] == "Compliant").then_some(())
        },
        lab_log,
    );

    mdm_ctl(&dir, &["fault", "malformed", "--scope", "devices"]);
    mdm_ctl(
        &dir,
        &["compliance", MAC, "false", "--reason", "FileVault is off"],
    );
    wait_until(
        "the failed poll in the log",
        || lab_log().contains("MDM poll failed").then_some(()),
        lab_log,
    );
    let v = lab_ctl(&["mdm"]);
    assert!(
        v["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("malformed XML"),
        "{v}"
    );
    assert_eq!(
        lab_ctl(&["session", "mdm-session-1"])["status"],
        "Compliant",
        "a bad reply changes nothing"
    );

    mdm_ctl(&dir, &["fault", "none"]);
    wait_until(
        "the CoA",
        || (lab_ctl(&["session", "mdm-session-1"])["status"] == "Unknown").then_some(()),
        lab_log,
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("CoA from the MDM verdict") && text.contains("FileVault is off"),
        "{text}"
    );
    assert!(
        !text.contains("lab-password"),
        "the password is never logged"
    );
}
