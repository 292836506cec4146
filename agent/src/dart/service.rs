//! How the agent is set up to run on this machine ([`Setup`], detected from
//! the files `install` and the packages write) and what that means for a
//! bundle: the advice to start it ([`start_advice`], pure), and the
//! service manager's own log of the agent (the systemd journal of the user
//! unit, launchd's stdout/stderr files; Windows keeps none for a Run entry).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::missing::Missing;
use crate::install::render::{LAUNCHD_LABEL, UNIT_NAME};
use crate::install::system::{SYSTEM_AUTOSTART, SYSTEM_UNIT};
use crate::paths::{Env, Platform};

/// How the agent is set up to start, as found when the bundle was collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Setup {
    /// A systemd user unit: the user's own (`install`) or every user's
    /// (`install --system`, the packages).
    Systemd {
        /// The unit file found.
        unit: String,
        /// For every user.
        global: bool,
    },
    /// Only an XDG autostart entry (a desktop without a systemd user
    /// manager): started at graphical login.
    XdgAutostart {
        /// The entry found.
        entry: String,
    },
    /// A LaunchAgent: the user's own or `/Library/LaunchAgents` (the
    /// package).
    Launchd {
        /// The plist found.
        plist: String,
        /// For every user.
        global: bool,
    },
    /// Windows: `install` and the MSI register a Run entry in the registry,
    /// which `dart` does not read.
    Windows,
    /// None of the files `install` writes: the agent runs by hand.
    NotInstalled,
}

/// The plist of the macOS package (every user).
pub const MACOS_SYSTEM_PLIST: &str = "/Library/LaunchAgents/org.posture-sync.agent.plist";
/// The unit the Debian and RPM packages ship.
pub const PACKAGED_UNIT: &str = crate::install::system::PACKAGED_UNIT;

/// How the agent is set up here, from the files that exist (`root` is `/`
/// except in tests).
pub fn detect(platform: Platform, env: &dyn Env, root: &Path) -> Setup {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let found = |p: &Path| p.is_file().then(|| p.display().to_string());
    match platform {
        Platform::Xdg => {
            if let Some(unit) = crate::install::user_unit_path(env)
                .ok()
                .and_then(|p| found(&p))
            {
                return Setup::Systemd {
                    unit,
                    global: false,
                };
            }
            for global in [SYSTEM_UNIT, PACKAGED_UNIT] {
                if let Some(unit) = found(&at(global)) {
                    return Setup::Systemd { unit, global: true };
                }
            }
            let user_entry = crate::install::user_autostart_path(env).ok();
            user_entry
                .iter()
                .cloned()
                .chain([at(SYSTEM_AUTOSTART)])
                .find_map(|p| found(&p))
                .map_or(Setup::NotInstalled, |entry| Setup::XdgAutostart { entry })
        }
        Platform::MacOs => {
            if let Some(plist) = crate::install::launch_agent_path(env)
                .ok()
                .and_then(|p| found(&p))
            {
                return Setup::Launchd {
                    plist,
                    global: false,
                };
            }
            found(&at(MACOS_SYSTEM_PLIST)).map_or(Setup::NotInstalled, |plist| Setup::Launchd {
                plist,
                global: true,
            })
        }
        Platform::Windows => Setup::Windows,
    }
}

/// How to start the agent again, for this setup (`None`: the setup is not
/// known, e.g. a bundle from an older agent).
pub fn start_advice(setup: Option<&Setup>) -> String {
    match setup {
        Some(Setup::Systemd { .. }) => format!(
            "Start it with `systemctl --user start {UNIT_NAME}`; `systemctl --user status {UNIT_NAME}` and `journal.txt` in this bundle say why it stopped. Then collect a new bundle."
        ),
        Some(Setup::XdgAutostart { entry }) => format!(
            "It starts at the next graphical login ({entry}); to start it now, run `posture-sync run` in the session. Then collect a new bundle."
        ),
        Some(Setup::Launchd { .. }) => format!(
            "Start it with `launchctl kickstart gui/$(id -u)/{LAUNCHD_LABEL}`; `logs/launchd-stderr.log` in this bundle shows what it printed. Then collect a new bundle."
        ),
        Some(Setup::Windows) => "Sign out and in again (the Run entry starts it at login), or run `posture-sync run` in a command prompt. Then collect a new bundle.".to_string(),
        Some(Setup::NotInstalled) => "The agent is not installed on this machine: `posture-sync install` registers it to start at login; or run it by hand with `posture-sync run --profile FILE`. Then collect a new bundle.".to_string(),
        None => "Start the agent (`posture-sync run --profile FILE`, or the way it is installed) and collect a new bundle.".to_string(),
    }
}

/// One log of the service manager, as a bundle part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLog {
    /// Its name in the bundle.
    pub part: String,
    /// Its text.
    pub text: String,
    /// The file it was read from, if any (its time dates the part).
    pub file: Option<PathBuf>,
}

/// Lines of the journal a bundle takes (the unit's last runs, in a size a
/// support engineer reads).
pub const JOURNAL_LINES: &str = "500";

/// Where journalctl is looked for: by absolute path, never through `PATH`.
const JOURNALCTL: &[&str] = &["/usr/bin/journalctl", "/bin/journalctl"];

/// The journal of the agent's user unit, or why there is none: the fixed
/// command `journalctl --user -u posture-sync.service -n 500 --no-pager -o
/// short-iso`, killed after [`super::facts::COMMAND_TIMEOUT`], its output
/// bounded like every fact command's.
pub fn journal() -> Result<ServiceLog, Missing> {
    const PART: &str = "journal.txt";
    let Some(program) = super::facts::locate(JOURNALCTL) else {
        return Err(Missing::new(
            PART,
            format!(
                "journalctl not found (looked at {}): no systemd journal on this machine",
                JOURNALCTL.join(", ")
            ),
        ));
    };
    let args = [
        "--user",
        "-u",
        UNIT_NAME,
        "-n",
        JOURNAL_LINES,
        "--no-pager",
        "-o",
        "short-iso",
    ];
    let ran = super::facts::run_command(&program, &args, super::facts::COMMAND_TIMEOUT);
    let shown = format!("{} {}", program.display(), args.join(" "));
    match ran.failure {
        None => Ok(ServiceLog {
            part: PART.to_string(),
            text: format!("== {shown} ==\n{}", ran.stdout),
            file: None,
        }),
        Some(why) => Err(Missing::new(PART, format!("{shown} failed: {why}"))),
    }
}

/// launchd's files for the agent's stdout and stderr (`StandardOutPath`,
/// `StandardErrorPath` of the plist `install` writes: in the log dir).
pub const LAUNCHD_LOGS: [&str; 2] = ["launchd-stderr.log", "launchd-stdout.log"];

/// The service manager's logs of the agent for this platform and setup,
/// and what could not be collected.
pub fn collect(
    platform: Platform,
    setup: &Setup,
    log_dir: &Path,
) -> (Vec<ServiceLog>, Vec<Missing>) {
    let mut logs = Vec::new();
    let mut missing = Vec::new();
    // launchd's files, wherever they are (a plist may have been copied to
    // another machine's layout); expected only with a LaunchAgent.
    for name in LAUNCHD_LOGS {
        let path = log_dir.join(name);
        if path.is_file() {
            logs.push(ServiceLog {
                part: format!("logs/{name}"),
                text: String::new(),
                file: Some(path),
            });
        } else if matches!(setup, Setup::Launchd { global: false, .. }) {
            missing.push(Missing::new(
                format!("logs/{name}"),
                format!(
                    "{} does not exist (launchd writes it when the LaunchAgent starts the agent)",
                    path.display()
                ),
            ));
        }
    }
    match platform {
        Platform::Xdg => match journal() {
            Ok(log) => logs.push(log),
            Err(m) => missing.push(m),
        },
        Platform::MacOs => {
            if matches!(setup, Setup::Launchd { global: true, .. }) {
                missing.push(Missing::new(
                    "logs/launchd-stderr.log",
                    "the package's LaunchAgent (for every user) keeps no stdout/stderr file: the agent's own log is in logs/",
                ));
            }
        }
        Platform::Windows => missing.push(Missing::new(
            "service log",
            "not collected on Windows: the Run entry that starts the agent at login keeps no log, and the agent writes nothing to the event log; its own log is in logs/",
        )),
    }
    (logs, missing)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    /// A home and nothing else.
    struct HomeOnly(PathBuf);

    impl Env for HomeOnly {
        fn home_dir(&self) -> Option<PathBuf> {
            Some(self.0.clone())
        }
        fn var_os(&self, _: &str) -> Option<OsString> {
            None
        }
        fn current_dir(&self) -> Option<PathBuf> {
            None
        }
    }

    #[test]
    fn the_setup_is_read_from_the_files_install_writes() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        let root = d.path().join("root");
        std::fs::create_dir_all(&home).unwrap();
        let env = HomeOnly(home.clone());
        assert_eq!(detect(Platform::Xdg, &env, &root), Setup::NotInstalled);
        assert_eq!(detect(Platform::MacOs, &env, &root), Setup::NotInstalled);
        assert_eq!(detect(Platform::Windows, &env, &root), Setup::Windows);

        let autostart = root.join("etc/xdg/autostart/posture-sync.desktop");
        std::fs::create_dir_all(autostart.parent().unwrap()).unwrap();
        std::fs::write(&autostart, "x").unwrap();
        assert_eq!(
            detect(Platform::Xdg, &env, &root),
            Setup::XdgAutostart {
                entry: autostart.display().to_string()
            }
        );
        let global = root.join("etc/systemd/user/posture-sync.service");
        std::fs::create_dir_all(global.parent().unwrap()).unwrap();
        std::fs::write(&global, "x").unwrap();
        assert_eq!(
            detect(Platform::Xdg, &env, &root),
            Setup::Systemd {
                unit: global.display().to_string(),
                global: true
            }
        );
        let own = home.join(".config/systemd/user/posture-sync.service");
        std::fs::create_dir_all(own.parent().unwrap()).unwrap();
        std::fs::write(&own, "x").unwrap();
        assert_eq!(
            detect(Platform::Xdg, &env, &root),
            Setup::Systemd {
                unit: own.display().to_string(),
                global: false
            }
        );

        let plist = home.join("Library/LaunchAgents/org.posture-sync.agent.plist");
        std::fs::create_dir_all(plist.parent().unwrap()).unwrap();
        std::fs::write(&plist, "x").unwrap();
        assert_eq!(
            detect(Platform::MacOs, &env, &root),
            Setup::Launchd {
                plist: plist.display().to_string(),
                global: false
            }
        );
    }

    #[test]
    fn the_advice_fits_the_setup() {
        let systemd = Setup::Systemd {
            unit: "/x".into(),
            global: true,
        };
        assert!(
            start_advice(Some(&systemd))
                .starts_with("Start it with `systemctl --user start posture-sync.service`")
        );
        let launchd = Setup::Launchd {
            plist: "/x".into(),
            global: false,
        };
        assert!(
            start_advice(Some(&launchd))
                .contains("launchctl kickstart gui/$(id -u)/org.posture-sync.agent")
        );
        for setup in [Setup::NotInstalled, Setup::Windows, launchd] {
            assert!(
                !start_advice(Some(&setup)).contains("systemctl"),
                "{setup:?}"
            );
        }
        assert!(start_advice(Some(&Setup::NotInstalled)).contains("`posture-sync install`"));
        assert!(start_advice(Some(&Setup::Windows)).contains("Sign out and in again"));
        assert!(start_advice(None).contains("posture-sync run --profile FILE"));
    }

    #[test]
    fn windows_says_what_is_not_collected_and_launchd_files_are_taken() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("launchd-stderr.log"), "boom\n").unwrap();
        let (logs, missing) = collect(Platform::Windows, &Setup::Windows, d.path());
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].part, "logs/launchd-stderr.log");
        assert_eq!(missing.len(), 1);
        assert!(missing[0].why.starts_with("not collected on Windows"));
        let own = Setup::Launchd {
            plist: "/p".into(),
            global: false,
        };
        let (_, missing) = collect(Platform::MacOs, &own, d.path());
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert_eq!(missing[0].part, "logs/launchd-stdout.log");
    }
}
