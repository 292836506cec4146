//! End to end through an MDM: the agent is Compliant and its probes are
//! blocked; mdm-lab flips the device non-compliant; psn-lab's MDM poller sees
//! the changed verdict and changes the session (a CoA to Unknown, logged with
//! its reason); the probe gets through, the agent rediscovers and re-assesses,
//! and the PSN decides NonCompliant because the MDM says so. Flipping the
//! device back brings the agent back to Compliant the same way.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: starting mdm-lab (a binary of psn-lab's package) is the point.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use e2e_tests::{Agent, Lab, MAC, ProfileSpec, binaries, counter, is_known, wait_until};
use serde_json::{Value, json};

/// `mdm-lab`, built with psn-lab's binaries (`cargo build -p psn-lab --bins`).
fn mdm_lab_bin() -> PathBuf {
    binaries()
        .lab
        .with_file_name(format!("mdm-lab{}", std::env::consts::EXE_SUFFIX))
}

struct MdmLab {
    dir: PathBuf,
    ready: Value,
    log: PathBuf,
    child: Child,
}

impl Drop for MdmLab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MdmLab {
    /// Starts mdm-lab in `root/lab` (psn-lab's lab directory: one lab CA).
    fn start(root: &Path) -> MdmLab {
        let dir = root.join("lab");
        std::fs::create_dir_all(&dir).unwrap();
        let inventory = root.join("inventory.json");
        std::fs::write(
            &inventory,
            json!({ "devices": [{ "mac": MAC, "compliant": true }] }).to_string(),
        )
        .unwrap();
        let log = root.join("mdm-lab.log");
        let child = Command::new(mdm_lab_bin())
            .args(["serve", "--dir"])
            .arg(&dir)
            .arg("--inventory")
            .arg(&inventory)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .env_clear()
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("mdm-lab starts");
        let ready_path = dir.join("mdm-ready.json");
        let ready = wait_until(
            "mdm-lab's mdm-ready.json",
            || serde_json::from_str::<Value>(&std::fs::read_to_string(&ready_path).ok()?).ok(),
            || std::fs::read_to_string(&log).unwrap_or_default(),
        );
        MdmLab {
            dir,
            ready,
            log,
            child,
        }
    }

    fn ctl(&self, args: &[&str]) -> Value {
        let out = Command::new(mdm_lab_bin())
            .args(["ctl", "--dir"])
            .arg(&self.dir)
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mdm-lab ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// psn-lab's config file with an "mdm" section for this mdm-lab (fast lab polling).
    fn psn_config(&self, root: &Path) -> PathBuf {
        let port: u16 = self.ready["listen"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let path = root.join("psn-lab.json");
        let config = json!({ "mdm": {
            "name": "JAMF_LAB", "host": "localhost", "port": port,
            "instance": self.ready["instance"], "username": "ise", "password": "lab-password",
            "ca_file": "lab/ca.pem", "polling_interval": "1s", "compliance_cache_expiration": "1s",
            "lab_fast": true
        }});
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }
}

#[test]
fn an_mdm_verdict_reaches_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let mdm = MdmLab::start(tmp.path());
    let config = mdm.psn_config(tmp.path());
    let lab = Lab::start(
        tmp.path(),
        &["psn1"],
        &["--config", config.to_str().unwrap()],
    );
    lab.dacl("psn1", "reject");
    let psn1 = lab.node("psn1");
    let mut agent = Agent::start(tmp.path(), &lab, &ProfileSpec::fast(&psn1.discovery));
    let status = agent.wait_for("Compliant with blocked probe rounds", |s| {
        is_known(s, "Compliant")
            && counter(s, "probe_rounds") >= 2
            && s["last_probe"]["outcome"] == "blocked"
    });
    let session = status["session_id"].as_str().unwrap().to_owned();
    let restarts = counter(&status, "discovery_restarts");
    wait_until(
        "psn-lab to hold the MDM's Compliant verdict",
        || {
            let v = lab.ctl(&["mdm"]);
            v["verdicts"]
                .as_array()?
                .iter()
                .any(|d| d["verdict"] == "Compliant")
                .then_some(())
        },
        || lab.log(),
    );

    mdm.ctl(&["compliance", MAC, "false", "--reason", "FileVault is off"]);
    wait_until(
        "psn-lab's CoA from the MDM verdict",
        || lab.log().contains("CoA from the MDM verdict").then_some(()),
        || {
            format!(
                "{}\n{}",
                lab.log(),
                std::fs::read_to_string(&mdm.log).unwrap_or_default()
            )
        },
    );
    let status = agent.wait_for(
        "a rediscovery and NonCompliant after the re-assessment",
        |s| counter(s, "discovery_restarts") > restarts && is_known(s, "NonCompliant"),
    );
    assert_eq!(status["session_id"], session.as_str());
    assert_eq!(lab.session(&session)["status"], "NonCompliant");
    let log = lab.log();
    assert!(
        log.contains("FileVault is off"),
        "the CoA is logged with its reason:\n{log}"
    );
    assert!(
        log.contains("the MDM holds the device non-compliant"),
        "{log}"
    );
    assert!(lab.alarms().is_empty(), "no probe reached a known posture");

    // Compliant again at the MDM: the agent comes back to Compliant the same way.
    let restarts = counter(&status, "discovery_restarts");
    mdm.ctl(&["compliance", MAC, "true"]);
    agent.wait_for("Compliant after the MDM's change of mind", |s| {
        counter(s, "discovery_restarts") > restarts && is_known(s, "Compliant")
    });
    assert_eq!(lab.session(&session)["status"], "Compliant");
    assert_eq!(counter(&agent.status().unwrap(), "misconfigurations"), 0);
}
