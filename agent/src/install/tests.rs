//! The install flows of all three platforms, run against a temporary home
//! with a runner that records the service-manager commands and answers them
//! as the real tools do.

use std::collections::HashMap;
use std::ffi::OsString;

use super::*;

#[derive(Debug)]
struct FakeEnv {
    home: PathBuf,
    vars: HashMap<String, OsString>,
}

impl Env for FakeEnv {
    fn home_dir(&self) -> Option<PathBuf> {
        Some(self.home.clone())
    }
    fn var_os(&self, name: &str) -> Option<OsString> {
        self.vars.get(name).cloned()
    }
    fn current_dir(&self) -> Option<PathBuf> {
        Some(self.home.clone())
    }
}

/// Records every command; answers from `answers` (command line -> Ran),
/// anything else succeeds with no output.
#[derive(Debug, Default)]
struct Recorder {
    ran: Vec<String>,
    answers: HashMap<String, Ran>,
}

impl Recorder {
    fn answer(mut self, cmd: &str, stdout: &str, success: bool) -> Self {
        self.answers.insert(
            cmd.to_string(),
            Ran {
                success,
                stdout: stdout.to_string(),
                stderr: if success {
                    String::new()
                } else {
                    format!("{cmd}: failed\n")
                },
            },
        );
        self
    }
}

impl Runner for Recorder {
    fn run(&mut self, program: &str, args: &[&str]) -> io::Result<Ran> {
        let line = command_line(program, args);
        self.ran.push(line.clone());
        Ok(self.answers.get(&line).cloned().unwrap_or(Ran {
            success: true,
            ..Ran::default()
        }))
    }
}

const PROFILE: &str = "<cfg><DiscoveryHost>psn1.lab</DiscoveryHost><StateSyncProbeInterval>30</StateSyncProbeInterval></cfg>\n";

struct Fixture {
    _dir: tempfile::TempDir,
    env: FakeEnv,
    binary: PathBuf,
    profile: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home dir ö");
    std::fs::create_dir_all(&home).unwrap();
    let mut vars = HashMap::new();
    vars.insert(
        "XDG_CONFIG_HOME".to_string(),
        home.join("xdg config").into_os_string(),
    );
    let binary = dir.path().join("bin").join("posture-sync");
    std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
    std::fs::write(&binary, "").unwrap();
    std::fs::write(binary.with_file_name(render::WINDOWS_LAUNCHER), "").unwrap();
    let profile = home.join("ISE profile.xml");
    std::fs::write(&profile, PROFILE).unwrap();
    Fixture {
        env: FakeEnv { home, vars },
        binary,
        profile,
        _dir: dir,
    }
}

fn ctx<'a>(f: &'a Fixture, platform: Platform, runner: &'a mut Recorder) -> Context<'a> {
    Context {
        platform,
        env: &f.env,
        binary: f.binary.clone(),
        runner,
    }
}

#[test]
fn linux_with_user_manager_writes_unit_enables_it_and_round_trips() {
    let f = fixture();
    let unit = f
        .env
        .home
        .join("xdg config/systemd/user/posture-sync.service");
    let autostart = f.env.home.join("xdg config/autostart/posture-sync.desktop");
    // A leftover autostart entry from a session without systemd.
    std::fs::create_dir_all(autostart.parent().unwrap()).unwrap();
    std::fs::write(&autostart, "old").unwrap();

    let mut r = Recorder::default().answer("systemctl --user is-system-running", "running\n", true);
    let changes = install(
        &mut ctx(&f, Platform::Xdg, &mut r),
        Some(Path::new("ISE profile.xml")),
    )
    .unwrap();
    assert_eq!(
        changes,
        vec![
            Change::Wrote(unit.clone()),
            Change::Removed(autostart.clone()),
            Change::Ran("systemctl --user daemon-reload".into()),
            Change::Ran("systemctl --user enable posture-sync.service".into()),
            Change::Ran("systemctl --user restart posture-sync.service".into()),
        ]
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("\"{}\"", f.profile.display())),
        "{text}"
    );
    assert!(!autostart.exists());

    // Second install: nothing to change, nothing restarted.
    let mut r = Recorder::default()
        .answer("systemctl --user is-system-running", "degraded\n", false)
        .answer(
            "systemctl --user is-enabled posture-sync.service",
            "enabled\n",
            true,
        )
        .answer(
            "systemctl --user is-active posture-sync.service",
            "active\n",
            true,
        );
    let changes = install(&mut ctx(&f, Platform::Xdg, &mut r), Some(&f.profile)).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::Unchanged(unit.clone()),
            Change::Note("posture-sync.service is already enabled and running".into()),
        ]
    );
    assert!(
        r.ran
            .iter()
            .all(|c| !c.contains("enable") || c.contains("is-enabled"))
    );

    let mut r = Recorder::default().answer("systemctl --user is-system-running", "running\n", true);
    let changes = uninstall(&mut ctx(&f, Platform::Xdg, &mut r)).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::Ran("systemctl --user disable --now posture-sync.service".into()),
            Change::Removed(unit.clone()),
            Change::Ran("systemctl --user daemon-reload".into()),
        ]
    );
    let mut r = Recorder::default();
    let changes = uninstall(&mut ctx(&f, Platform::Xdg, &mut r)).unwrap();
    assert!(matches!(&changes[..], [Change::Note(n)] if n.starts_with("nothing to remove")));
    assert!(r.ran.is_empty(), "{:?}", r.ran);
}

#[test]
fn linux_without_user_manager_writes_an_autostart_entry() {
    let f = fixture();
    let autostart = f.env.home.join("xdg config/autostart/posture-sync.desktop");
    // systemctl cannot reach a user manager: prints nothing, fails.
    let mut r = Recorder::default().answer("systemctl --user is-system-running", "", false);
    let changes = install(&mut ctx(&f, Platform::Xdg, &mut r), Some(&f.profile)).unwrap();
    assert_eq!(changes[0], Change::Wrote(autostart.clone()));
    let text = std::fs::read_to_string(&autostart).unwrap();
    assert!(text.contains("Exec=\""));
    assert!(!text.contains("X-systemd-skip"));
    assert_eq!(r.ran, vec!["systemctl --user is-system-running"]);
    let mut r = Recorder::default().answer("systemctl --user is-system-running", "", false);
    let changes = uninstall(&mut ctx(&f, Platform::Xdg, &mut r)).unwrap();
    assert_eq!(changes, vec![Change::Removed(autostart)]);
}

#[test]
fn a_failing_systemctl_is_an_error_naming_the_command() {
    let f = fixture();
    let mut r = Recorder::default()
        .answer("systemctl --user is-system-running", "running\n", true)
        .answer("systemctl --user daemon-reload", "", false);
    let err = install(&mut ctx(&f, Platform::Xdg, &mut r), Some(&f.profile)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`systemctl --user daemon-reload` failed: systemctl --user daemon-reload: failed"
    );
}

#[test]
fn profile_is_required_valid_and_found_in_the_config_dir() {
    let f = fixture();
    let mut r = Recorder::default();
    let err = install(&mut ctx(&f, Platform::MacOs, &mut r), None).unwrap_err();
    assert!(matches!(err, InstallError::NoProfile { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("Library/Application Support/posture-sync/ISEPostureCFG.xml")
    );

    let bad = f.env.home.join("bad.xml");
    std::fs::write(
        &bad,
        "<cfg><StateSyncProbeInterval>9999</StateSyncProbeInterval></cfg>",
    )
    .unwrap();
    let err = install(&mut ctx(&f, Platform::Xdg, &mut r), Some(&bad)).unwrap_err();
    assert!(matches!(err, InstallError::Profile(_)), "{err}");
    assert!(r.ran.is_empty());

    let cfg = config_dir(Platform::Xdg, &f.env).unwrap();
    assert_eq!(cfg, f.env.home.join("xdg config/posture-sync"));
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join(PROFILE_FILE), PROFILE).unwrap();
    let mut r = Recorder::default();
    install(&mut ctx(&f, Platform::Xdg, &mut r), None).unwrap();
    let text = std::fs::read_to_string(user_autostart_path(&f.env).unwrap()).unwrap();
    assert!(
        text.contains("xdg config/posture-sync/ISEPostureCFG.xml"),
        "{text}"
    );
}

#[test]
fn macos_writes_the_plist_and_bootstraps_it_once() {
    let f = fixture();
    let plist = f
        .env
        .home
        .join("Library/LaunchAgents/org.posture-sync.agent.plist");
    let mut r = Recorder::default().answer("id -u", "501\n", true).answer(
        "launchctl print gui/501/org.posture-sync.agent",
        "",
        false,
    );
    let changes = install(&mut ctx(&f, Platform::MacOs, &mut r), Some(&f.profile)).unwrap();
    let bootstrap = format!("launchctl bootstrap gui/501 {}", plist.display());
    assert_eq!(
        changes,
        vec![Change::Wrote(plist.clone()), Change::Ran(bootstrap.clone())]
    );
    assert!(f.env.home.join("Library/Logs/posture-sync").is_dir());
    let v: plist::Value = plist::from_file(&plist).unwrap();
    assert_eq!(
        v.as_dictionary().unwrap()["StandardOutPath"]
            .as_string()
            .unwrap(),
        f.env
            .home
            .join("Library/Logs/posture-sync/launchd-stdout.log")
            .to_str()
            .unwrap()
    );

    let mut r = Recorder::default().answer("id -u", "501\n", true);
    let changes = install(&mut ctx(&f, Platform::MacOs, &mut r), Some(&f.profile)).unwrap();
    assert_eq!(changes[0], Change::Unchanged(plist.clone()));
    assert!(!r.ran.iter().any(|c| c.contains("bootstrap")));

    let mut r = Recorder::default().answer("id -u", "501\n", true);
    let changes = uninstall(&mut ctx(&f, Platform::MacOs, &mut r)).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::Ran("launchctl bootout gui/501/org.posture-sync.agent".into()),
            Change::Removed(plist),
        ]
    );
}

#[test]
fn windows_sets_and_deletes_the_run_value_idempotently() {
    let f = fixture();
    let query = format!("reg query {WINDOWS_RUN_KEY} /v {WINDOWS_RUN_NAME}");
    let mut r = Recorder::default().answer(&query, "", false);
    let changes = install(&mut ctx(&f, Platform::Windows, &mut r), Some(&f.profile)).unwrap();
    let spec = spec_for(
        &ctx(&f, Platform::Windows, &mut Recorder::default()),
        Some(&f.profile),
    )
    .unwrap();
    let (_, _, value) = render::windows_run_value(&spec);
    assert_eq!(
        changes[0],
        Change::Ran(format!(
            "reg add {WINDOWS_RUN_KEY} /v {WINDOWS_RUN_NAME} /t REG_SZ /d {value} /f"
        ))
    );

    let listing = format!(
        "\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\r\n    posture-sync    REG_SZ    {value}\r\n\r\n"
    );
    let mut r = Recorder::default().answer(&query, &listing, true);
    let changes = install(&mut ctx(&f, Platform::Windows, &mut r), Some(&f.profile)).unwrap();
    assert!(
        matches!(&changes[..], [Change::Note(n)] if n.starts_with("unchanged")),
        "{changes:?}"
    );

    let mut r = Recorder::default().answer(&query, &listing, true);
    let changes = uninstall(&mut ctx(&f, Platform::Windows, &mut r)).unwrap();
    assert_eq!(
        changes,
        vec![Change::Ran(format!(
            "reg delete {WINDOWS_RUN_KEY} /v {WINDOWS_RUN_NAME} /f"
        ))]
    );

    std::fs::remove_file(f.binary.with_file_name(render::WINDOWS_LAUNCHER)).unwrap();
    let err = install(
        &mut ctx(&f, Platform::Windows, &mut Recorder::default()),
        Some(&f.profile),
    )
    .unwrap_err();
    assert!(matches!(err, InstallError::LauncherMissing { .. }), "{err}");
}

#[test]
fn the_packaged_example_profile_loads_cleanly() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/examples/ISEPostureCFG.xml");
    let loaded = profile_schema::Profile::load(&path).unwrap();
    assert_eq!(loaded.profile.dart_count(), 3);
    assert!(loaded.profile.state_sync_interval().is_some());
    assert_eq!(
        loaded.profile.lint(),
        Vec::new(),
        "the example must not warn"
    );
}

#[test]
fn packaged_entries_run_the_system_profile_and_skip_systemd_sessions() {
    let spec = packaged_spec();
    assert!(render::systemd_unit(&spec).contains(
        "ExecStart=\"/usr/bin/posture-sync\" \"run\" \"--profile\" \"/etc/posture-sync/ISEPostureCFG.xml\"\n"
    ));
    assert!(render::xdg_autostart(&spec, true).ends_with("X-systemd-skip=true\n"));
}

// ---- install --system / uninstall --system / --purge ------------------------

/// Unix only: they check modes, owners and links.
#[cfg(unix)]
mod system_wide {
    use super::*;
    use system::{
        PACKAGED_UNIT, SYSTEM_AUTOSTART, SYSTEM_UNIT, SYSTEM_UNIT_WANTS, SystemTarget,
        install_system, uninstall_system,
    };

    /// A temporary root the system paths are below, trusted like `/`.
    fn system_target(f: &Fixture) -> SystemTarget {
        let root = f._dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        SystemTarget {
            root,
            is_admin: true,
            trusted_uid: rustix::process::geteuid().as_raw(),
        }
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn system_install_registers_every_user_and_round_trips() {
        let f = fixture();
        let t = system_target(&f);
        let mut r = Recorder::default();
        let changes = install_system(
            &mut ctx(&f, Platform::Xdg, &mut r),
            &t,
            Some(Path::new("ISE profile.xml")),
        )
        .unwrap();
        let profile = t.path(SYSTEM_PROFILE);
        assert_eq!(
            changes[..4],
            [
                Change::Wrote(profile.clone()),
                Change::Wrote(t.path(SYSTEM_UNIT)),
                Change::Wrote(t.path(SYSTEM_UNIT_WANTS)),
                Change::Wrote(t.path(SYSTEM_AUTOSTART)),
            ]
        );
        // No per-user action: nothing ran in the installing user's session.
        assert!(r.ran.is_empty(), "{:?}", r.ran);
        assert_eq!(std::fs::read_to_string(&profile).unwrap(), PROFILE);
        // Every user's agent reads them; only root writes them.
        for p in [&profile, &t.path(SYSTEM_UNIT), &t.path(SYSTEM_AUTOSTART)] {
            assert_eq!(mode(p), 0o644, "{}", p.display());
        }
        assert_eq!(mode(profile.parent().unwrap()), 0o755);
        let unit = std::fs::read_to_string(t.path(SYSTEM_UNIT)).unwrap();
        assert!(
            unit.contains(&format!(
                "ExecStart=\"{}\" \"run\" \"--profile\" \"/etc/posture-sync/ISEPostureCFG.xml\"\n",
                f.binary.display()
            )),
            "{unit}"
        );
        assert!(unit.contains("ConditionPathExists=/etc/posture-sync/ISEPostureCFG.xml\n"));
        // What `systemctl --global enable` makes: an absolute link to the unit.
        assert_eq!(
            std::fs::read_link(t.path(SYSTEM_UNIT_WANTS)).unwrap(),
            Path::new("/etc/systemd/user/posture-sync.service")
        );
        let entry = std::fs::read_to_string(t.path(SYSTEM_AUTOSTART)).unwrap();
        assert!(entry.contains("\nX-systemd-skip=true\n"), "{entry}");
        assert!(entry.contains("\"--profile\" \"/etc/posture-sync/ISEPostureCFG.xml\""));

        // Idempotent, and the installed profile is enough the second time.
        let changes = install_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, None).unwrap();
        assert_eq!(
            changes[..3],
            [
                Change::Unchanged(t.path(SYSTEM_UNIT)),
                Change::Unchanged(t.path(SYSTEM_UNIT_WANTS)),
                Change::Unchanged(t.path(SYSTEM_AUTOSTART)),
            ]
        );

        // Without --purge the profile stays, and the output says so.
        let changes = uninstall_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, false).unwrap();
        assert_eq!(
            changes[..3],
            [
                Change::Removed(t.path(SYSTEM_UNIT_WANTS)),
                Change::Removed(t.path(SYSTEM_UNIT)),
                Change::Removed(t.path(SYSTEM_AUTOSTART)),
            ]
        );
        assert!(
            changes[3]
                .to_string()
                .starts_with(&format!("kept {}", profile.display()))
        );
        assert!(profile.is_file());
        assert!(std::fs::symlink_metadata(t.path(SYSTEM_UNIT_WANTS)).is_err());

        let changes = uninstall_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, true).unwrap();
        assert_eq!(
            changes[..2],
            [
                Change::Removed(profile.clone()),
                Change::Removed(profile.parent().unwrap().to_path_buf()),
            ]
        );
        let changes = uninstall_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, true).unwrap();
        assert!(changes[0].to_string().starts_with("nothing to remove"));
        assert!(r.ran.is_empty(), "{:?}", r.ran);
    }

    #[test]
    fn system_install_needs_root_and_linux() {
        let f = fixture();
        let mut t = system_target(&f);
        t.is_admin = false;
        let mut r = Recorder::default();
        let e = install_system(
            &mut ctx(&f, Platform::Xdg, &mut r),
            &t,
            Some(Path::new("ISE profile.xml")),
        )
        .unwrap_err();
        assert!(matches!(e, InstallError::NotRoot { .. }), "{e}");
        assert!(e.to_string().contains("must run as root"), "{e}");
        let e = uninstall_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, false).unwrap_err();
        assert!(e.to_string().contains("uninstall --system"), "{e}");
        assert_eq!(std::fs::read_dir(&t.root).unwrap().count(), 0);

        t.is_admin = true;
        for platform in [Platform::MacOs, Platform::Windows] {
            let e = install_system(&mut ctx(&f, platform, &mut r), &t, None).unwrap_err();
            assert!(matches!(e, InstallError::SystemUnsupported { .. }), "{e}");
        }
        assert_eq!(std::fs::read_dir(&t.root).unwrap().count(), 0);
    }

    #[test]
    fn system_install_refuses_a_binary_or_profile_others_can_replace() {
        use std::os::unix::fs::PermissionsExt;
        let f = fixture();
        let t = system_target(&f);
        let mut r = Recorder::default();
        let bin_dir = f.binary.parent().unwrap();
        std::fs::set_permissions(bin_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = install_system(
            &mut ctx(&f, Platform::Xdg, &mut r),
            &t,
            Some(Path::new("ISE profile.xml")),
        )
        .unwrap_err();
        match &e {
            InstallError::UntrustedForEveryone {
                role, component, ..
            } => {
                assert_eq!(*role, "binary");
                assert_eq!(component, bin_dir);
            }
            other => panic!("{other}"),
        }
        assert!(
            e.to_string()
                .contains("writable by other users (mode 0777)"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(&t.root).unwrap().count(), 0);
        std::fs::set_permissions(bin_dir, std::fs::Permissions::from_mode(0o755)).unwrap();

        // A profile directory someone else can write: another user could
        // swap the policy server of every user.
        let etc = t.path("/etc/posture-sync");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join(PROFILE_FILE), PROFILE).unwrap();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = install_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, None).unwrap_err();
        assert!(
            matches!(&e, InstallError::UntrustedForEveryone { role: "profile", component, .. } if *component == etc),
            "{e}"
        );
        assert!(!t.path(SYSTEM_UNIT).exists());
    }

    #[test]
    fn system_install_needs_a_profile_and_leaves_a_packaged_install_alone() {
        let f = fixture();
        let t = system_target(&f);
        let mut r = Recorder::default();
        let e = install_system(&mut ctx(&f, Platform::Xdg, &mut r), &t, None).unwrap_err();
        match e {
            InstallError::NoProfile { tried } => assert_eq!(tried, vec![t.path(SYSTEM_PROFILE)]),
            other => panic!("{other}"),
        }

        let packaged = t.path(PACKAGED_UNIT);
        std::fs::create_dir_all(packaged.parent().unwrap()).unwrap();
        std::fs::write(&packaged, "").unwrap();
        let e = install_system(
            &mut ctx(&f, Platform::Xdg, &mut r),
            &t,
            Some(Path::new("ISE profile.xml")),
        )
        .unwrap_err();
        assert!(matches!(e, InstallError::PackageOwnsSystem { .. }), "{e}");
        assert!(!t.path(SYSTEM_PROFILE).exists());
        assert!(!t.path(SYSTEM_AUTOSTART).exists());
    }

    #[test]
    fn uninstall_names_the_kept_dirs_and_purge_removes_them() {
        let f = fixture();
        let dirs = crate::paths::default_dirs(Platform::MacOs, &f.env).unwrap();
        std::fs::create_dir_all(dirs.state.join(crate::paths::BUNDLES_DIR)).unwrap();
        std::fs::create_dir_all(&dirs.logs).unwrap();
        std::fs::write(dirs.logs.join("agent.log"), "x").unwrap();

        let mut r = Recorder::default();
        let changes = uninstall_user(&mut ctx(&f, Platform::MacOs, &mut r), false).unwrap();
        let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert!(text[0].starts_with("nothing to remove"), "{text:?}");
        assert!(
            text[1].starts_with(&format!("kept {} (", dirs.state.display())),
            "{text:?}"
        );
        assert!(
            text[2].starts_with(&format!("kept {} (", dirs.logs.display())),
            "{text:?}"
        );
        assert!(dirs.state.is_dir() && dirs.logs.is_dir());

        // A running agent holds the state dir: nothing is purged under it.
        let lock = crate::lock::acquire(&dirs.state).unwrap();
        let e = uninstall_user(&mut ctx(&f, Platform::MacOs, &mut r), true).unwrap_err();
        assert!(matches!(e, InstallError::AgentRunning { .. }), "{e}");
        assert!(e.to_string().contains("nothing was purged"), "{e}");
        assert!(dirs.logs.join("agent.log").is_file());
        drop(lock);

        let changes = uninstall_user(&mut ctx(&f, Platform::MacOs, &mut r), true).unwrap();
        assert_eq!(
            changes[1..],
            [
                Change::Removed(dirs.state.clone()),
                Change::Removed(dirs.logs.clone())
            ]
        );
        assert!(!dirs.state.exists() && !dirs.logs.exists());
        // Linux keeps the logs inside the state dir: one directory to remove.
        let dirs = crate::paths::default_dirs(Platform::Xdg, &f.env).unwrap();
        std::fs::create_dir_all(&dirs.logs).unwrap();
        let changes = uninstall_user(&mut ctx(&f, Platform::Xdg, &mut r), true).unwrap();
        assert_eq!(changes[1..], [Change::Removed(dirs.state.clone())]);
    }

    #[test]
    fn purge_removes_a_linked_state_dir_not_its_target() {
        let f = fixture();
        let dirs = crate::paths::default_dirs(Platform::Xdg, &f.env).unwrap();
        let elsewhere = f._dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("keep"), "x").unwrap();
        std::fs::create_dir_all(dirs.state.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &dirs.state).unwrap();
        let mut r = Recorder::default();
        uninstall_user(&mut ctx(&f, Platform::Xdg, &mut r), true).unwrap();
        assert!(std::fs::symlink_metadata(&dirs.state).is_err());
        assert!(elsewhere.join("keep").is_file());
    }
}

#[test]
fn default_profiles_end_with_the_system_wide_profile_the_packages_install() {
    let f = fixture();
    let last = |platform| default_profiles(platform, &f.env).pop().unwrap();
    assert_eq!(last(Platform::Xdg), PathBuf::from(SYSTEM_PROFILE));
    assert_eq!(last(Platform::MacOs), PathBuf::from(MACOS_SYSTEM_PROFILE));
    assert_eq!(
        last(Platform::Windows),
        PathBuf::from(WINDOWS_SYSTEM_PROFILE)
    );
    let mut env = FakeEnv {
        home: f.env.home.clone(),
        vars: HashMap::new(),
    };
    let data = f.env.home.join("ProgramData");
    env.vars
        .insert("ProgramData".to_string(), data.clone().into_os_string());
    assert_eq!(
        default_profiles(Platform::Windows, &env).pop().unwrap(),
        data.join("posture-sync").join(PROFILE_FILE)
    );
    // The per-user profile still comes first.
    assert_eq!(
        default_profiles(Platform::MacOs, &f.env)[0],
        f.env
            .home
            .join("Library/Application Support/posture-sync")
            .join(PROFILE_FILE)
    );
}
