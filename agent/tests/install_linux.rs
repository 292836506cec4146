//! `posture-sync install` / `uninstall` with the real binary against a
//! temporary HOME and XDG dirs, and the rendered systemd unit checked by the
//! real `systemd-analyze verify` where it exists.
// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_os = "linux")]
// A test harness: it runs the binary under test and systemd-analyze.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use posture_sync::install::render::{self, InstallSpec};

const BIN: &str = env!("CARGO_BIN_EXE_posture-sync");
const PROFILE: &str = "<cfg>\n  <DiscoveryHost>psn1.lab</DiscoveryHost>\n  <StateSyncProbeInterval>30</StateSyncProbeInterval>\n</cfg>\n";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        Home { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn config(&self) -> PathBuf {
        self.path().join("config dir")
    }
    /// The binary with a scrubbed environment: this HOME, these XDG dirs,
    /// and a runtime dir without a user manager, so that `systemctl --user`
    /// finds none and the real user's session is never touched.
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("XDG_RUNTIME_DIR", self.path().join("run"))
            .current_dir(self.path())
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn install_and_uninstall_round_trip_without_a_user_manager() {
    let home = Home::new();
    std::fs::write(home.path().join("ISE profile.xml"), PROFILE).unwrap();
    let entry = home.config().join("autostart/posture-sync.desktop");

    let o = home.cmd(&["install", "--profile", "ISE profile.xml"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).starts_with(&format!("wrote {}\n", entry.display())),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("no systemd user manager is running"));
    // Root is told that a per-user install is root's own (the deployment
    // tool's mistake), anyone else is not.
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).contains(
            "running as root, this registers root's own login only; `posture-sync install --system` registers every user"
        ),
        rustix::process::geteuid().is_root(),
        "{o:?}"
    );
    let text = std::fs::read_to_string(&entry).unwrap();
    let bin = std::fs::canonicalize(BIN).unwrap();
    assert!(
        text.contains(&format!(
            "Exec=\"{}\" \"run\" \"--profile\" \"{}\"\n",
            bin.display(),
            home.path().join("ISE profile.xml").display()
        )),
        "{text}"
    );
    assert!(!text.contains("X-systemd-skip"));

    // Idempotent: the second install changes nothing.
    let o = home.cmd(&["install", "--profile", "ISE profile.xml"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).starts_with(&format!("unchanged {}\n", entry.display())),
        "{}",
        stdout(&o)
    );

    let o = home.cmd(&["uninstall"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), format!("removed {}\n", entry.display()));
    assert!(!entry.exists());
    let o = home.cmd(&["uninstall"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).starts_with("nothing to remove"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn install_refuses_an_invalid_or_missing_profile() {
    let home = Home::new();
    std::fs::write(
        home.path().join("bad.xml"),
        "<cfg><StateSyncProbeInterval>400</StateSyncProbeInterval></cfg>",
    )
    .unwrap();
    let o = home.cmd(&["install", "--profile", "bad.xml"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.xml"), "{err}");
    assert!(err.contains("posture-sync profile check"), "{err}");
    assert!(!home.config().join("autostart").exists());

    let o = home.cmd(&["install"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no profile to run with"), "{err}");
    assert!(
        err.contains(
            &home
                .config()
                .join("posture-sync/ISEPostureCFG.xml")
                .display()
                .to_string()
        ),
        "{err}"
    );
}

/// Runs `systemd-analyze --user verify` on `unit`; returns the diagnostics
/// that mention the unit file, or None when systemd-analyze is absent.
fn verify(home: &Home, unit: &Path) -> Option<Vec<String>> {
    let out = Command::new("systemd-analyze")
        // The man page named in Documentation= comes with the package, not
        // with a test build.
        .args(["--user", "verify", "--man=no"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", home.path().join("run"))
        .env("HOME", home.path())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            // CI sets POSTURE_SYNC_REQUIRE_ALL: a missing tool must fail, not skip.
            if std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_some() {
                panic!(
                    "systemd-analyze is not available ({e}), and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
                );
            }
            eprintln!("SKIPPED: systemd-analyze is not available ({e})");
            return None;
        }
    };
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains(&name))
        .map(str::to_string)
        .collect();
    if !out.status.success() {
        lines.push(format!("exit {}: {stderr}", out.status));
    }
    Some(lines)
}

#[test]
fn rendered_units_pass_systemd_analyze_verify() {
    let home = Home::new();
    let profile = home.path().join("my profiles/100% ISE.xml");
    std::fs::create_dir_all(profile.parent().unwrap()).unwrap();
    std::fs::write(&profile, PROFILE).unwrap();
    let spec = InstallSpec {
        binary: std::fs::canonicalize(BIN).unwrap(),
        profile,
        launchd_log_dir: PathBuf::new(),
    };
    let dir = home.path().join("units");
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join(render::UNIT_NAME);
    std::fs::write(&unit, render::systemd_unit(&spec)).unwrap();
    let Some(problems) = verify(&home, &unit) else {
        return;
    };
    assert!(problems.is_empty(), "{problems:#?}");

    // The check itself can fail: a broken unit is reported.
    let broken = dir.join("broken.service");
    std::fs::write(
        &broken,
        render::systemd_unit(&spec).replace("Restart=on-failure", "Restart=sometimes"),
    )
    .unwrap();
    let problems = verify(&home, &broken).unwrap();
    assert!(
        problems
            .iter()
            .any(|l| l.to_lowercase().contains("restart")),
        "{problems:#?}"
    );
}

#[test]
fn uninstall_names_the_state_it_keeps_and_purge_removes_it() {
    let home = Home::new();
    let state = home.path().join("state/posture-sync");
    std::fs::create_dir_all(state.join("bundles")).unwrap();
    std::fs::write(state.join("bundles/old.zip"), "zip").unwrap();

    let o = home.cmd(&["uninstall"]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.starts_with("nothing to remove"), "{out}");
    assert!(
        out.contains(&format!(
            "\nkept {} (state, logs and bundles; `posture-sync uninstall --purge` removes them)\n",
            state.display()
        )),
        "{out}"
    );
    assert!(state.join("bundles/old.zip").is_file());

    let o = home.cmd(&["uninstall", "--purge"]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).contains(&format!("\nremoved {}\n", state.display())),
        "{}",
        stdout(&o)
    );
    assert!(!state.exists());
}

#[test]
fn install_system_as_a_user_is_refused_with_a_clear_error() {
    let home = Home::new();
    let as_root = rustix::process::geteuid().is_root();
    if as_root && Command::new("setpriv").arg("--version").output().is_err() {
        if std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_some() {
            panic!(
                "setpriv is not available, and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
            );
        }
        eprintln!("SKIPPED: setpriv is not available");
        return;
    }
    // As root, drop to nobody: the refusal is what a user sees.
    let user_cmd = || {
        let mut c = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
            c
        } else {
            Command::new(BIN)
        };
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .current_dir("/");
        c
    };
    for args in [&["install", "--system"][..], &["uninstall", "--system"]] {
        let o = user_cmd().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!(
                "`posture-sync {}` changes files of every user and must run as root",
                args.join(" ")
            )),
            "{err}"
        );
    }
}
