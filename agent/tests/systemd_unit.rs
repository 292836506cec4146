//! The rendered systemd unit under the real `systemd-analyze`: it verifies,
//! and `systemd-analyze security` scores its sandbox below
//! [`EXPOSURE_BOUND`] (docs/install.md, Under systemd).
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]
// A test harness: it runs systemd-analyze.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use posture_sync::install::render::{self, InstallSpec};

const BIN: &str = env!("CARGO_BIN_EXE_posture-sync");

/// The highest overall exposure `systemd-analyze security` may give the
/// unit (0 = fully sandboxed, 10 = not at all; systemd calls below 2
/// "OK"). The unit scores 1.8 with systemd 252: what remains is what the
/// agent needs (TCP to the PSNs, netlink for routes and interfaces, a unix
/// socket for `status`, the user's home for its state dir, running as the
/// user who logs in) and `PrivateUsers=`, left out on purpose (the unit
/// would not start where user namespaces are unavailable). A change that
/// opens the sandbox further fails here.
const EXPOSURE_BOUND: f64 = 2.0;

/// Runs `systemd-analyze ARGS UNIT` as for a user manager; `None` (with a
/// notice) when systemd-analyze is missing, unless CI requires every test.
fn analyze(tmp: &Path, args: &[&str], unit: &Path) -> Option<Output> {
    let run = tmp.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &run)
        .env("HOME", tmp)
        .output();
    match out {
        Ok(o) => Some(o),
        Err(e) => {
            // CI sets POSTURE_SYNC_REQUIRE_ALL: a missing tool must fail, not skip.
            assert!(
                std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_none(),
                "systemd-analyze is not available ({e}), and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
            );
            eprintln!("SKIPPED: systemd-analyze is not available ({e}); install systemd");
            None
        }
    }
}

/// The unit as `install` writes it, for the binary under test.
fn write_unit(tmp: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let profile = tmp.join("ISEPostureCFG.xml");
    std::fs::write(&profile, "<cfg></cfg>\n").unwrap();
    let spec = InstallSpec {
        binary: std::fs::canonicalize(BIN).unwrap(),
        profile,
        launchd_log_dir: PathBuf::new(),
    };
    let dir = tmp.join("units");
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join(name);
    std::fs::write(&unit, edit(render::systemd_unit(&spec))).unwrap();
    unit
}

/// The overall exposure `systemd-analyze security --offline=yes` gives `unit`.
fn exposure(tmp: &Path, unit: &Path) -> Option<f64> {
    let o = analyze(tmp, &["security", "--user", "--offline=yes"], unit)?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure in: {o:?}"));
    let score = line
        .rsplit_once(": ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure from {line:?}"));
    Some(score)
}

#[test]
fn the_unit_verifies_and_its_sandbox_scores_below_the_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = write_unit(tmp.path(), render::UNIT_NAME, |u| u);
    let Some(o) = analyze(tmp.path(), &["--user", "verify", "--man=no"], &unit) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{o:?}");
    assert!(!stderr.contains(render::UNIT_NAME), "{stderr}");

    let score = exposure(tmp.path(), &unit).unwrap();
    assert!(
        score < EXPOSURE_BOUND,
        "exposure {score} is not below {EXPOSURE_BOUND}"
    );

    // The measurement can fail: the same unit without its sandbox scores
    // far worse.
    let bare = write_unit(tmp.path(), "bare.service", |u| {
        u.lines()
            .filter(|l| {
                [
                    "Type=",
                    "Exec",
                    "Restart",
                    "Watchdog",
                    "Notify",
                    "Description",
                    "Documentation",
                    "Condition",
                    "WantedBy",
                    "[",
                    "#",
                ]
                .iter()
                .any(|k| l.starts_with(k))
                    || l.is_empty()
            })
            .map(|l| format!("{l}\n"))
            .collect()
    });
    let bare_score = exposure(tmp.path(), &bare).unwrap();
    assert!(bare_score > EXPOSURE_BOUND * 2.0, "{bare_score}");
}

#[test]
fn the_unit_is_notify_with_a_watchdog_and_no_restart_on_configuration_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(write_unit(tmp.path(), render::UNIT_NAME, |u| u)).unwrap();
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        &format!("WatchdogSec={}", render::WATCHDOG_SECS),
        "RestartPreventExitStatus=4 66 78",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "StateDirectory=posture-sync",
        "StateDirectoryMode=0700",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        // One malloc arena: the idle RSS stays flat (docs/benchmarks.md).
        "Environment=MALLOC_ARENA_MAX=1",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "{line:?} missing from:\n{unit}"
        );
    }
}
