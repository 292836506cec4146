//! Where the agent keeps its state and logs.
//!
//! Defaults follow each platform's per-user conventions (`docs/cli.md`,
//! "Directories"):
//!
//! | platform | state dir | log dir |
//! |---|---|---|
//! | Linux and other unix | `$XDG_STATE_HOME/posture-sync` (default `~/.local/state/posture-sync`) | `<state dir>/logs` |
//! | macOS | `~/Library/Application Support/posture-sync` | `~/Library/Logs/posture-sync` |
//! | Windows | `%LOCALAPPDATA%\posture-sync\state` | `%LOCALAPPDATA%\posture-sync\logs` |
//!
//! `--state-dir` / `--log-dir` override them. The process environment is read
//! only through the [`Env`] trait so that tests inject it and never mutate the
//! real environment; the per-platform rules are a pure function
//! ([`default_dirs`]) tested for every platform on every platform.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// The directory name the agent uses under the platform's base directories.
pub const APP_DIR: &str = "posture-sync";
/// File name of the status socket in the state dir.
pub const SOCKET_FILE: &str = "agent.sock";
/// File name of the persisted PSN list in the state dir.
pub const PSN_STORE_FILE: &str = "known-psns.json";
/// Directory name of the diagnostic bundles in the state dir.
pub const BUNDLES_DIR: &str = "bundles";
/// File name of the probe-round history (JSON lines) in the state dir.
pub const PROBE_HISTORY_FILE: &str = "probe-rounds.jsonl";

/// Errors resolving or creating the agent's directories.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// No home directory, so no default can be derived.
    #[error(
        "cannot find the user's home directory to derive the default {role}\nhelp: pass --{flag} DIR"
    )]
    NoHome {
        /// "state directory" or "log directory".
        role: &'static str,
        /// The flag that overrides it ("state-dir" or "log-dir").
        flag: &'static str,
    },
    /// A relative override and no working directory to resolve it against.
    #[error(
        "the {role} {path} is relative and the working directory is unknown; give an absolute path"
    )]
    Relative {
        /// "state directory" or "log directory".
        role: &'static str,
        /// The path as given.
        path: PathBuf,
    },
    /// Creating a directory failed.
    #[error("cannot create the {role} {path}: {source}")]
    Create {
        /// "state directory", "log directory" or "bundle directory".
        role: &'static str,
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path exists but is not a directory.
    #[error("the {role} {path} exists but is not a directory")]
    NotADirectory {
        /// "state directory", "log directory" or "bundle directory".
        role: &'static str,
        /// The path.
        path: PathBuf,
    },
}

/// The process state the default directories derive from. Implemented by
/// [`ProcessEnv`] for the real process and by test doubles in tests.
pub trait Env {
    /// The user's home directory, if known.
    fn home_dir(&self) -> Option<PathBuf>;
    /// An environment variable, if set.
    fn var_os(&self, name: &str) -> Option<OsString>;
    /// The working directory, against which relative overrides resolve.
    fn current_dir(&self) -> Option<PathBuf>;
}

/// The real process environment. The home directory comes from the
/// `directories` crate (`$HOME`, falling back to the password database on
/// unix; the profile known folder on Windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn home_dir(&self) -> Option<PathBuf> {
        directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
    }

    fn var_os(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn current_dir(&self) -> Option<PathBuf> {
        std::env::current_dir().ok()
    }
}

/// The platform family whose conventions decide the default directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux and other unix systems: XDG base directories.
    Xdg,
    /// macOS: `~/Library`.
    MacOs,
    /// Windows: `%LOCALAPPDATA%`.
    Windows,
}

impl Platform {
    /// The platform this binary was built for.
    pub const fn current() -> Self {
        if cfg!(target_os = "macos") {
            Platform::MacOs
        } else if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Xdg
        }
    }
}

/// The agent's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// State: status socket, persisted PSNs, probe history, bundles.
    pub state: PathBuf,
    /// Rolling log files.
    pub logs: PathBuf,
}

/// The platform defaults for `platform`, read from `env`. Pure apart from
/// `env`, so every platform's rule is tested everywhere.
pub fn default_dirs(platform: Platform, env: &dyn Env) -> Result<Dirs, PathsError> {
    let home = env.home_dir().filter(|h| h.is_absolute());
    // An environment variable only counts when it holds an absolute path
    // (the XDG spec says relative values are invalid and must be ignored).
    let abs_var = |name: &str| {
        env.var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let no_home = PathsError::NoHome {
        role: "state directory",
        flag: "state-dir",
    };
    match platform {
        Platform::Xdg => {
            let base = match abs_var("XDG_STATE_HOME") {
                Some(b) => b,
                None => home.ok_or(no_home)?.join(".local").join("state"),
            };
            let state = base.join(APP_DIR);
            Ok(Dirs {
                logs: state.join("logs"),
                state,
            })
        }
        Platform::MacOs => {
            let library = home.ok_or(no_home)?.join("Library");
            Ok(Dirs {
                state: library.join("Application Support").join(APP_DIR),
                logs: library.join("Logs").join(APP_DIR),
            })
        }
        Platform::Windows => {
            let base = match abs_var("LOCALAPPDATA") {
                Some(b) => b,
                None => home.ok_or(no_home)?.join("AppData").join("Local"),
            };
            let app = base.join(APP_DIR);
            Ok(Dirs {
                state: app.join("state"),
                logs: app.join("logs"),
            })
        }
    }
}

impl Dirs {
    /// The directories for this process: overrides win, else the platform
    /// defaults from the real environment.
    pub fn resolve(state: Option<PathBuf>, logs: Option<PathBuf>) -> Result<Dirs, PathsError> {
        Self::resolve_with(Platform::current(), &ProcessEnv, state, logs)
    }

    /// [`Dirs::resolve`] with the platform and environment injected.
    ///
    /// Relative overrides are made absolute against the working directory
    /// once, here, so the paths cannot move later. When only `--state-dir` is
    /// given, the logs go to `<state>/logs`, so that one flag keeps a test or
    /// a second agent fully separate from the user's default agent.
    pub fn resolve_with(
        platform: Platform,
        env: &dyn Env,
        state: Option<PathBuf>,
        logs: Option<PathBuf>,
    ) -> Result<Dirs, PathsError> {
        let check = |role: &'static str, p: PathBuf| {
            if p.is_absolute() {
                return Ok(p);
            }
            match env.current_dir().filter(|d| d.is_absolute()) {
                Some(cwd) => Ok(cwd.join(p)),
                None => Err(PathsError::Relative { role, path: p }),
            }
        };
        let state = state.map(|p| check("state directory", p)).transpose()?;
        let logs = logs.map(|p| check("log directory", p)).transpose()?;
        match (state, logs) {
            (Some(state), Some(logs)) => Ok(Dirs { state, logs }),
            (Some(state), None) => Ok(Dirs {
                logs: state.join("logs"),
                state,
            }),
            (None, logs) => {
                let defaults = default_dirs(platform, env)?;
                Ok(Dirs {
                    state: defaults.state,
                    logs: logs.unwrap_or(defaults.logs),
                })
            }
        }
    }

    /// Creates the state and log directories (and parents) if missing.
    /// Directories created here are private to the user (0700 on unix).
    /// Existing directories are left as they are: an administrator may have
    /// chosen their permissions on purpose.
    pub fn ensure(&self) -> Result<(), PathsError> {
        ensure_dir(&self.state, "state directory")?;
        ensure_dir(&self.logs, "log directory")
    }

    /// The status socket (`<state>/agent.sock`).
    pub fn socket_path(&self) -> PathBuf {
        self.state.join(SOCKET_FILE)
    }

    /// The persisted PSN list (`<state>/known-psns.json`).
    pub fn psn_store_path(&self) -> PathBuf {
        self.state.join(PSN_STORE_FILE)
    }

    /// The diagnostic bundles directory (`<state>/bundles`).
    pub fn bundles_dir(&self) -> PathBuf {
        self.state.join(BUNDLES_DIR)
    }

    /// The probe-round history (`<state>/probe-rounds.jsonl`).
    pub fn probe_history_path(&self) -> PathBuf {
        self.state.join(PROBE_HISTORY_FILE)
    }
}

/// Creates `path` and its missing parents, private to the user on unix.
/// `role` names the directory in errors ("state directory").
pub fn ensure_dir(path: &Path, role: &'static str) -> Result<(), PathsError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(PathsError::NotADirectory {
                role,
                path: path.to_path_buf(),
            });
        }
        Err(_) => {}
    }
    imp::create_private_dir_all(path).map_err(|source| PathsError::Create {
        role,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::os::unix::fs::DirBuilderExt;
    use std::path::Path;

    /// `mkdir -p` with mode 0700 for every directory it creates.
    pub(super) fn create_private_dir_all(path: &Path) -> io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io;
    use std::path::Path;

    /// `mkdir -p`. On Windows the per-user `%LOCALAPPDATA%` already carries
    /// an ACL private to the user, and new directories inherit it.
    pub(super) fn create_private_dir_all(path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake environment: a home dir and some variables.
    #[derive(Debug, Default)]
    struct FakeEnv {
        home: Option<PathBuf>,
        cwd: Option<PathBuf>,
        vars: HashMap<String, OsString>,
    }

    impl FakeEnv {
        fn home(h: &str) -> Self {
            FakeEnv {
                home: Some(PathBuf::from(h)),
                ..FakeEnv::default()
            }
        }
        fn var(mut self, k: &str, v: &str) -> Self {
            self.vars.insert(k.to_string(), v.into());
            self
        }
    }

    impl Env for FakeEnv {
        fn home_dir(&self) -> Option<PathBuf> {
            self.home.clone()
        }
        fn var_os(&self, name: &str) -> Option<OsString> {
            self.vars.get(name).cloned()
        }
        fn current_dir(&self) -> Option<PathBuf> {
            self.cwd.clone()
        }
    }

    #[test]
    fn xdg_defaults_to_local_state() {
        let d = default_dirs(Platform::Xdg, &FakeEnv::home("/home/ann")).unwrap();
        assert_eq!(
            d.state,
            PathBuf::from("/home/ann/.local/state/posture-sync")
        );
        assert_eq!(
            d.logs,
            PathBuf::from("/home/ann/.local/state/posture-sync/logs")
        );
    }

    #[test]
    fn xdg_state_home_wins_when_absolute_and_is_ignored_when_relative() {
        let env = FakeEnv::home("/home/ann").var("XDG_STATE_HOME", "/xdg/state");
        let d = default_dirs(Platform::Xdg, &env).unwrap();
        assert_eq!(d.state, PathBuf::from("/xdg/state/posture-sync"));

        let env = FakeEnv::home("/home/ann").var("XDG_STATE_HOME", "rel/state");
        let d = default_dirs(Platform::Xdg, &env).unwrap();
        assert_eq!(
            d.state,
            PathBuf::from("/home/ann/.local/state/posture-sync")
        );
    }

    #[test]
    fn macos_uses_library() {
        let d = default_dirs(Platform::MacOs, &FakeEnv::home("/Users/ann")).unwrap();
        assert_eq!(
            d.state,
            PathBuf::from("/Users/ann/Library/Application Support/posture-sync")
        );
        assert_eq!(
            d.logs,
            PathBuf::from("/Users/ann/Library/Logs/posture-sync")
        );
    }

    #[cfg(unix)] // Windows-style absolute paths are only absolute on Windows
    #[test]
    fn windows_uses_localappdata_or_home_fallback() {
        // On unix a unix-style absolute path stands in for C:\Users\ann\... .
        let env = FakeEnv::home("/Users/ann").var("LOCALAPPDATA", "/lad");
        let d = default_dirs(Platform::Windows, &env).unwrap();
        assert_eq!(
            d.state,
            Path::new("/lad").join("posture-sync").join("state")
        );
        assert_eq!(d.logs, Path::new("/lad").join("posture-sync").join("logs"));

        let d = default_dirs(Platform::Windows, &FakeEnv::home("/Users/ann")).unwrap();
        assert_eq!(
            d.state,
            Path::new("/Users/ann/AppData/Local/posture-sync/state")
        );
    }

    #[test]
    fn no_home_is_an_error_that_names_the_flag() {
        for p in [Platform::Xdg, Platform::MacOs, Platform::Windows] {
            let e = default_dirs(p, &FakeEnv::default()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("home directory"), "{msg}");
            assert!(msg.contains("--state-dir"), "{msg}");
        }
    }

    #[test]
    fn overrides_win_and_state_only_puts_logs_under_state() {
        let env = FakeEnv::default(); // no home: overrides must not need one
        let d =
            Dirs::resolve_with(Platform::Xdg, &env, Some("/s".into()), Some("/l".into())).unwrap();
        assert_eq!(
            d,
            Dirs {
                state: "/s".into(),
                logs: "/l".into()
            }
        );
        let d = Dirs::resolve_with(Platform::Xdg, &env, Some("/s".into()), None).unwrap();
        assert_eq!(d.logs, PathBuf::from("/s/logs"));

        let env = FakeEnv::home("/home/ann");
        let d = Dirs::resolve_with(Platform::Xdg, &env, None, Some("/l".into())).unwrap();
        assert_eq!(
            d.state,
            PathBuf::from("/home/ann/.local/state/posture-sync")
        );
        assert_eq!(d.logs, PathBuf::from("/l"));
    }

    #[test]
    fn relative_overrides_resolve_against_the_working_directory() {
        let mut env = FakeEnv::home("/home/ann");
        env.cwd = Some("/work".into());
        let d = Dirs::resolve_with(Platform::Xdg, &env, Some("st".into()), Some("../lg".into()))
            .unwrap();
        assert_eq!(d.state, PathBuf::from("/work/st"));
        assert_eq!(d.logs, PathBuf::from("/work/../lg"));

        env.cwd = None;
        let e = Dirs::resolve_with(Platform::Xdg, &env, Some("state".into()), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the state directory state is relative and the working directory is unknown; give an absolute path"
        );
        let e = Dirs::resolve_with(Platform::Xdg, &env, None, Some("logs".into())).unwrap_err();
        assert!(e.to_string().starts_with("the log directory logs"), "{e}");
    }

    #[test]
    fn file_names_live_in_the_state_dir() {
        let d = Dirs {
            state: "/s".into(),
            logs: "/l".into(),
        };
        assert_eq!(d.socket_path(), PathBuf::from("/s/agent.sock"));
        assert_eq!(d.psn_store_path(), PathBuf::from("/s/known-psns.json"));
        assert_eq!(d.bundles_dir(), PathBuf::from("/s/bundles"));
        assert_eq!(
            d.probe_history_path(),
            PathBuf::from("/s/probe-rounds.jsonl")
        );
    }

    #[cfg(unix)]
    #[test]
    fn ensure_creates_private_dirs_and_keeps_existing_ones() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = Dirs {
            state: tmp.path().join("a/state"),
            logs: tmp.path().join("b/logs"),
        };
        d.ensure().unwrap();
        for p in [&d.state, &d.logs, &tmp.path().join("a")] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
        // Idempotent, and an existing dir keeps its mode.
        std::fs::set_permissions(&d.logs, std::fs::Permissions::from_mode(0o750)).unwrap();
        d.ensure().unwrap();
        let mode = std::fs::metadata(&d.logs).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
    }

    #[test]
    fn ensure_reports_role_and_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let d = Dirs {
            state: file.clone(),
            logs: tmp.path().join("logs"),
        };
        let e = d.ensure().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the state directory {} exists but is not a directory",
                file.display()
            )
        );
        // A parent that is a file: creation fails, message says what and where.
        let d = Dirs {
            state: tmp.path().join("s"),
            logs: file.join("logs"),
        };
        let e = d.ensure().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot create the log directory {}",
                file.join("logs").display()
            )),
            "{msg}"
        );
    }
}
