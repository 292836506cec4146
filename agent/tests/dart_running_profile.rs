//! `posture-sync dart` without `--profile` next to a running agent bundles
//! the profile that agent runs with (it asks the agent over the status
//! socket), says so in `bundle.json`, and `--profile` still wins.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod dart_fixture;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use dart_fixture::unzip;

const BIN: &str = env!("CARGO_BIN_EXE_posture-sync");
const MAC: &str = "02:00:5e:00:53:01";

fn cmd(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", home)
        .stdin(Stdio::null());
    c
}

/// Kills the agent when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dart(home: &Path, cwd: &Path, out: &Path, state: &Path, extra: &[&Path]) -> Output {
    let mut c = cmd(home);
    c.current_dir(cwd).arg("dart").arg("-o").arg(out);
    c.arg("--state-dir").arg(state);
    for (flag, value) in ["--profile"].iter().zip(extra) {
        c.arg(flag).arg(value);
    }
    c.output().unwrap()
}

#[test]
fn dart_bundles_the_running_agents_profile_unless_given_one() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let agent_dir = tmp.path().join("agent");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&agent_dir).unwrap();
    // A marker only this profile holds.
    std::fs::write(
        agent_dir.join("running.xml"),
        "<?xml version=\"1.0\"?>\n<cfg>\n  <StateSyncProbeInterval>7</StateSyncProbeInterval>\n  \
         <CallHomeList>127.0.0.1:1</CallHomeList>\n</cfg>\n",
    )
    .unwrap();
    let state = tmp.path().join("state");
    // Started with a relative --profile from its own working directory:
    // the agent reports the absolute path.
    let _agent = Running(
        cmd(&home)
            .current_dir(&agent_dir)
            .args(["run", "--profile", "running.xml", "--mac", MAC])
            .arg("--state-dir")
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Written by the probe, shown on timeout.
    let last = std::cell::RefCell::new(None);
    let status: serde_json::Value = test_support::wait_until(
        "the agent's status",
        || {
            let o = cmd(&home)
                .args(["status", "--json", "--state-dir"])
                .arg(&state)
                .output()
                .unwrap();
            let status = o
                .status
                .success()
                .then(|| serde_json::from_slice(&o.stdout).unwrap());
            *last.borrow_mut() = Some(o);
            status
        },
        || format!("last answer: {:?}", last.borrow()),
    );
    let running = agent_dir.join("running.xml");
    assert_eq!(status["profile"], running.display().to_string());

    // No --profile: the running agent's, from another working directory.
    let out = tmp.path().join("bundle.zip");
    let o = dart(&home, tmp.path(), &out, &state, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stderr.contains(&format!(
            "profile {} (from the running agent)",
            running.display()
        )),
        "{stderr}"
    );
    let files = unzip(&out);
    let get = |n: &str| {
        files
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("{n} missing from the bundle"))
    };
    assert!(
        get("profile.xml").contains("<StateSyncProbeInterval>7</StateSyncProbeInterval>"),
        "{}",
        get("profile.xml")
    );
    let info: serde_json::Value = serde_json::from_str(&get("bundle.json")).unwrap();
    assert_eq!(info["profile"]["source"], "from the running agent");
    assert_eq!(info["profile"]["path"], running.display().to_string());

    // --profile still wins.
    let other = tmp.path().join("other.xml");
    std::fs::write(
        &other,
        "<cfg><StateSyncProbeInterval>9</StateSyncProbeInterval></cfg>\n",
    )
    .unwrap();
    let out = tmp.path().join("bundle2.zip");
    let o = dart(&home, tmp.path(), &out, &state, &[&other]);
    assert!(o.status.success(), "{o:?}");
    let files = unzip(&out);
    let profile = &files.iter().find(|(n, _)| n == "profile.xml").unwrap().1;
    assert!(profile.contains(">9<"), "{profile}");
    let info = &files.iter().find(|(n, _)| n == "bundle.json").unwrap().1;
    let info: serde_json::Value = serde_json::from_str(info).unwrap();
    assert_eq!(info["profile"]["source"], "--profile");
}
