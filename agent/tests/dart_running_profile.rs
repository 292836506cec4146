//! `posture-sync dart` without `--profile` next to a running agent bundles
//! the profile that agent runs with (it asks the agent over the status
//! socket), says so in `bundle.json`, and `--profile` still wins.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]
// A test harness: it runs the binary under test.
#![allow(clippy::disallowed_methods)]

mod cli_fixture;
mod dart_fixture;

use std::path::Path;
use std::process::{Output, Stdio};

use cli_fixture::{MAC, Running, posture_sync as cmd, wait_status};
use dart_fixture::unzip;

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
            .args([
                "--gateway",
                "off",
                "--network-watch",
                "off",
                "--start-spread",
                "0",
            ])
            .arg("--state-dir")
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let status = wait_status(&home, &state, "the agent's status", |_| true);
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
