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
//!
//! Before a command uses a directory it checks that the directory is private
//! to the user ([`Dirs::ensure`], [`Dirs::check`], [`ensure_private_dir`]),
//! and every file the agent writes there is opened by [`open_private`]
//! (`paths/files.rs`): never through a symbolic link, mode 0600.

mod files;
#[cfg(test)]
pub(crate) mod fixtures;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

pub use files::{OpenHow, PrivateTemp, open_private, write_atomically};

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
    /// The directory belongs to another user: that user could replace the
    /// agent's files with links to files of their choosing.
    #[error(
        "the {role} {path} is owned by uid {owner}, not by uid {me} who runs posture-sync\nhelp: {}, or choose another {}",
        owner_fix(*me, *owner, path), role.flag()
    )]
    ForeignOwner {
        /// Which directory.
        role: DirRole,
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// Others may create, rename or remove entries in the directory.
    #[error(
        "the {role} {path} is writable by other users (mode {mode:04o})\nhelp: chmod 700 {path}, or choose another {}",
        role.flag()
    )]
    WritableByOthers {
        /// Which directory.
        role: DirRole,
        /// The directory.
        path: PathBuf,
        /// Its permission bits (with setuid, setgid and sticky).
        mode: u32,
    },
    /// A directory above the agent's directory lets another user replace it.
    #[error(
        "the {role} {path} is inside {parent}, which {}\nhelp: {}, or choose another {}",
        parent_problem(*owner, *mode), parent_fix(*owner, *mode, parent), role.flag()
    )]
    UntrustedParent {
        /// Which directory.
        role: DirRole,
        /// The agent's directory.
        path: PathBuf,
        /// The parent at fault.
        parent: PathBuf,
        /// The parent's owner.
        owner: u32,
        /// The parent's permission bits.
        mode: u32,
    },
    /// The directory's owner and mode could not be read.
    #[error("cannot check the {role} {path}: {source}")]
    Inspect {
        /// Which directory.
        role: DirRole,
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// Which of the agent's directories a check is about: named in errors,
/// with the flag that chooses another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirRole {
    /// `--state-dir`.
    State,
    /// `--log-dir`.
    Logs,
    /// `<state dir>/bundles`.
    Bundles,
}

impl DirRole {
    /// "state directory", "log directory", "bundle directory".
    pub fn name(self) -> &'static str {
        match self {
            DirRole::State => "state directory",
            DirRole::Logs => "log directory",
            DirRole::Bundles => "bundle directory",
        }
    }

    /// The flag that chooses another directory.
    pub fn flag(self) -> &'static str {
        match self {
            DirRole::State | DirRole::Bundles => "--state-dir",
            DirRole::Logs => "--log-dir",
        }
    }
}

impl std::fmt::Display for DirRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn owner_fix(me: u32, owner: u32, path: &Path) -> String {
    if me == 0 {
        // Root never works in a user's directory (docs/cli.md, Directories).
        format!(
            "run posture-sync as uid {owner} (root uses only directories root owns), or chown 0 {}",
            path.display()
        )
    } else {
        format!("as root: chown {me} {}", path.display())
    }
}

fn parent_problem(owner: u32, mode: u32) -> String {
    if mode & 0o022 != 0 {
        format!("is writable by other users (mode {mode:04o}, owner uid {owner})")
    } else {
        format!("is owned by uid {owner}, neither this user nor root")
    }
}

fn parent_fix(owner: u32, mode: u32, parent: &Path) -> String {
    if mode & 0o022 != 0 {
        format!("chmod go-w {}", parent.display())
    } else {
        format!(
            "chown root or this user {} (owner uid {owner})",
            parent.display()
        )
    }
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

/// The real process environment. The home directory comes from
/// `std::env::home_dir` (`$HOME`, falling back to the password database on
/// unix; the user's profile directory on Windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn home_dir(&self) -> Option<PathBuf> {
        // `$HOME` on unix (the password database when unset), the
        // profile directory on Windows.
        std::env::home_dir().filter(|h| !h.as_os_str().is_empty())
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

    /// Creates the state and log directories (and parents) if missing, then
    /// checks that both are private to this user ([`ensure_private_dir`]);
    /// `run` calls it before it puts anything there. Directories created
    /// here are mode 0700 on unix. The state dir is checked before the log
    /// dir is created, so nothing is created inside a refused state dir.
    pub fn ensure(&self) -> Result<(), PathsError> {
        self.ensure_with(Platform::current(), &ProcessEnv)
    }

    /// [`Dirs::ensure`] with the platform and environment injected.
    pub fn ensure_with(&self, platform: Platform, env: &dyn Env) -> Result<(), PathsError> {
        self.private_dirs(platform, env, true)
    }

    /// Checks the directories that exist, creating nothing: `status` and
    /// `dart` call it before they read or connect to anything there.
    pub fn check(&self) -> Result<(), PathsError> {
        self.check_with(Platform::current(), &ProcessEnv)
    }

    /// [`Dirs::check`] with the platform and environment injected.
    pub fn check_with(&self, platform: Platform, env: &dyn Env) -> Result<(), PathsError> {
        self.private_dirs(platform, env, false)
    }

    /// The state dir, then the log dir, each checked up to its
    /// [`Dirs::top_of`] and created first when `create`.
    fn private_dirs(
        &self,
        platform: Platform,
        env: &dyn Env,
        create: bool,
    ) -> Result<(), PathsError> {
        for (role, dir) in [(DirRole::State, &self.state), (DirRole::Logs, &self.logs)] {
            private_dir(role, dir, &self.top_of(dir, platform, env), create)?;
        }
        Ok(())
    }

    /// The highest directory whose trust `dir` depends on and that the
    /// check walks up to: for a default directory the base it derives from
    /// (`$XDG_STATE_HOME`, `%LOCALAPPDATA%` or the home directory), so that
    /// `~/.local` and `~/.local/state` are checked too; for `<state>/logs`
    /// the state dir; for a directory given with a flag, the directory
    /// itself (its parents are the administrator's choice).
    fn top_of(&self, dir: &Path, platform: Platform, env: &dyn Env) -> PathBuf {
        let is_default = default_dirs(platform, env)
            .is_ok_and(|d| dir == d.state.as_path() || dir == d.logs.as_path());
        if is_default {
            let bases = ["XDG_STATE_HOME", "LOCALAPPDATA"]
                .into_iter()
                .filter_map(|v| env.var_os(v).map(PathBuf::from))
                .chain(env.home_dir())
                .filter(|b| b.is_absolute());
            for base in bases {
                if dir.starts_with(&base) {
                    return base;
                }
            }
        }
        if dir != self.state.as_path() && dir.starts_with(&self.state) {
            return self.state.clone();
        }
        dir.to_path_buf()
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

/// Makes sure `dir` is a directory private to this user, creating it (and
/// missing parents, mode 0700 on unix) if needed. The one check every
/// command runs before it uses one of the agent's directories; see
/// [`Dirs::ensure`] for the state and log dirs. Here only `dir` itself is
/// checked (it sits in a directory that was checked already, or was given
/// with a flag).
///
/// On unix `dir` must be owned by the effective uid (root included: root
/// never works in a user's directory) and writable by nobody else
/// (mode & 0o022 == 0): whoever can write to it can replace the agent's files
/// with links to files of their choosing.
pub fn ensure_private_dir(role: DirRole, dir: &Path) -> Result<(), PathsError> {
    private_dir(role, dir, dir, true)
}

/// Checks `dir` and each existing directory above it up to `top`, creating
/// `dir` first when `create`. Parents may belong to root as well as to this
/// user, and may be writable by others when they are sticky and root's
/// (`/tmp`): there others can create entries but not replace ours.
fn private_dir(role: DirRole, dir: &Path, top: &Path, create: bool) -> Result<(), PathsError> {
    // Parents first: a missing directory is created only below trusted ones.
    if dir != top && dir.starts_with(top) {
        let mut parent = dir.parent();
        while let Some(p) = parent {
            if let Some(meta) = inspect(role, p)? {
                imp::check_parent(role, dir, p, &meta)?;
            }
            if p == top {
                break;
            }
            parent = p.parent();
        }
    }
    let meta = match inspect(role, dir)? {
        Some(m) => m,
        None if create => {
            imp::create_private_dir_all(dir).map_err(|source| PathsError::Create {
                role: role.name(),
                path: dir.to_path_buf(),
                source,
            })?;
            match inspect(role, dir)? {
                Some(m) => m,
                None => {
                    return Err(PathsError::Inspect {
                        role,
                        path: dir.to_path_buf(),
                        source: io::Error::new(
                            io::ErrorKind::NotFound,
                            "removed as it was created",
                        ),
                    });
                }
            }
        }
        None => return Ok(()),
    };
    if !meta.is_dir() {
        return Err(PathsError::NotADirectory {
            role: role.name(),
            path: dir.to_path_buf(),
        });
    }
    imp::check_dir(role, dir, &meta)
}

/// The directory's metadata (following a symbolic link: a link the user
/// made to a directory of theirs is fine, and the target is what gets
/// checked), `None` when it does not exist.
fn inspect(role: DirRole, path: &Path) -> Result<Option<std::fs::Metadata>, PathsError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A path through a plain file ("a/file/logs"): creating it fails
        // with the clearer message.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Ok(None),
        Err(source) => Err(PathsError::Inspect {
            role,
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    use std::path::Path;

    use super::{DirRole, PathsError};

    /// `mkdir -p` with mode 0700 for every directory it creates.
    pub(super) fn create_private_dir_all(path: &Path) -> io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
    }

    /// This process's effective uid: the user whose files the agent writes.
    pub(super) fn euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// The agent's own directory: this user's, and nobody else may write.
    pub(super) fn check_dir(
        role: DirRole,
        dir: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<(), PathsError> {
        let me = euid();
        if meta.uid() != me {
            return Err(PathsError::ForeignOwner {
                role,
                path: dir.to_path_buf(),
                owner: meta.uid(),
                me,
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(PathsError::WritableByOthers {
                role,
                path: dir.to_path_buf(),
                mode,
            });
        }
        Ok(())
    }

    /// A directory above it: this user's or root's, and writable by nobody
    /// else unless it is root's and sticky (`/tmp`).
    pub(super) fn check_parent(
        role: DirRole,
        dir: &Path,
        parent: &Path,
        meta: &std::fs::Metadata,
    ) -> Result<(), PathsError> {
        let (owner, mode) = (meta.uid(), meta.mode() & 0o7777);
        let owner_ok = owner == euid() || owner == 0;
        let sticky_root = owner == 0 && mode & 0o1000 != 0;
        if owner_ok && (mode & 0o022 == 0 || sticky_root) {
            return Ok(());
        }
        Err(PathsError::UntrustedParent {
            role,
            path: dir.to_path_buf(),
            parent: parent.to_path_buf(),
            owner,
            mode,
        })
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io;
    use std::path::Path;

    use super::{DirRole, PathsError};

    /// `mkdir -p`. On Windows the per-user `%LOCALAPPDATA%` already carries
    /// an ACL private to the user, and new directories inherit it.
    pub(super) fn create_private_dir_all(path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    /// No check on Windows yet: the default directories live in the
    /// per-user `%LOCALAPPDATA%`, whose ACL gives only the user (and
    /// SYSTEM, Administrators) access, and directories created there
    /// inherit it. Reading and judging a directory's ACL given with
    /// `--state-dir` is future work (docs/cli.md, Directories).
    pub(super) fn check_dir(
        _role: DirRole,
        _dir: &Path,
        _meta: &std::fs::Metadata,
    ) -> Result<(), PathsError> {
        Ok(())
    }

    /// See [`check_dir`]: no check on Windows yet.
    pub(super) fn check_parent(
        _role: DirRole,
        _dir: &Path,
        _parent: &Path,
        _meta: &std::fs::Metadata,
    ) -> Result<(), PathsError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use fixtures::{chmod, mode};
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

    /// The same rule with real Windows paths (only absolute on Windows):
    /// a drive-relative `LOCALAPPDATA` is ignored like a relative one.
    #[cfg(windows)]
    #[test]
    fn windows_uses_localappdata_or_home_fallback_with_drive_paths() {
        let env = FakeEnv::home(r"C:\Users\ann").var("LOCALAPPDATA", r"D:\lad");
        let d = default_dirs(Platform::Windows, &env).unwrap();
        assert_eq!(d.state, PathBuf::from(r"D:\lad\posture-sync\state"));
        assert_eq!(d.logs, PathBuf::from(r"D:\lad\posture-sync\logs"));
        assert_eq!(
            d.socket_path(),
            PathBuf::from(r"D:\lad\posture-sync\state\agent.sock")
        );

        let env = FakeEnv::home(r"C:\Users\ann").var("LOCALAPPDATA", r"D:lad");
        let d = default_dirs(Platform::Windows, &env).unwrap();
        assert_eq!(
            d.state,
            PathBuf::from(r"C:\Users\ann\AppData\Local\posture-sync\state")
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
        let tmp = tempfile::tempdir().unwrap();
        let d = Dirs {
            state: tmp.path().join("a/state"),
            logs: tmp.path().join("b/logs"),
        };
        d.ensure().unwrap();
        for p in [&d.state, &d.logs, &tmp.path().join("a")] {
            assert_eq!(mode(p), 0o700, "{}", p.display());
        }
        // Idempotent, and an existing dir keeps its mode.
        chmod(&d.logs, 0o750);
        d.ensure().unwrap();
        assert_eq!(mode(&d.logs), 0o750);
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

    /// True when the test can act as root (chown to another uid); else
    /// says why it skips, or fails where every test must run (CI sets
    /// `POSTURE_SYNC_REQUIRE_ALL`).
    #[cfg(unix)]
    fn root_or_skip(test: &str) -> bool {
        if imp::euid() == 0 {
            return true;
        }
        let why = "needs root to give a directory to another uid; CI runs it as root";
        assert!(
            std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_none(),
            "{test} cannot run here ({why}), and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
        );
        eprintln!("SKIPPED {test}: {why}");
        false
    }

    #[cfg(unix)]
    #[test]
    fn a_state_dir_writable_by_others_is_refused_and_nothing_is_created_in_it() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("x");
        std::fs::create_dir(&state).unwrap();
        chmod(&state, 0o777);
        let d = Dirs::resolve_with(
            Platform::Xdg,
            &FakeEnv::default(),
            Some(state.clone()),
            None,
        )
        .unwrap();
        let e = d
            .ensure_with(Platform::Xdg, &FakeEnv::default())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the state directory {0} is writable by other users (mode 0777)\nhelp: chmod 700 {0}, or choose another --state-dir",
                state.display()
            )
        );
        assert_eq!(
            std::fs::read_dir(&state).unwrap().count(),
            0,
            "logs/ was created"
        );
        // status and dart refuse it the same way, creating nothing either.
        assert!(matches!(
            d.check_with(Platform::Xdg, &FakeEnv::default()),
            Err(PathsError::WritableByOthers { .. })
        ));
        // Sticky does not help the directory itself (only parents).
        chmod(&state, 0o1777);
        assert!(d.ensure_with(Platform::Xdg, &FakeEnv::default()).is_err());
        // Group-writable is refused too; 0750 and 0700 are fine.
        chmod(&state, 0o770);
        assert!(d.ensure_with(Platform::Xdg, &FakeEnv::default()).is_err());
        chmod(&state, 0o750);
        d.ensure_with(Platform::Xdg, &FakeEnv::default()).unwrap();
        assert!(state.join("logs").is_dir());
    }

    #[cfg(unix)]
    #[test]
    fn a_log_dir_of_another_user_is_refused() {
        if !root_or_skip("a_log_dir_of_another_user_is_refused") {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        chmod(&logs, 0o700);
        std::os::unix::fs::chown(&logs, Some(65534), Some(65534)).unwrap();
        let e = ensure_private_dir(DirRole::Logs, &logs).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the log directory {0} is owned by uid 65534, not by uid 0 who runs posture-sync\nhelp: run posture-sync as uid 65534 (root uses only directories root owns), or chown 0 {0}, or choose another --log-dir",
                logs.display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn default_dirs_need_trusted_parents_up_to_home() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        chmod(&home, 0o755);
        let env = FakeEnv {
            home: Some(home.clone()),
            ..FakeEnv::default()
        };
        let d = Dirs::resolve_with(Platform::Xdg, &env, None, None).unwrap();
        // Nothing exists below home yet: status has nothing to refuse.
        d.check_with(Platform::Xdg, &env).unwrap();
        // ~/.local writable by others: anyone could swap ~/.local/state.
        let local = home.join(".local");
        std::fs::create_dir(&local).unwrap();
        chmod(&local, 0o777);
        let e = d.ensure_with(Platform::Xdg, &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the state directory {} is inside {1}, which is writable by other users (mode 0777, owner uid {2})\nhelp: chmod go-w {1}, or choose another --state-dir",
                d.state.display(),
                local.display(),
                imp::euid()
            )
        );
        assert!(!local.join("state").exists(), "nothing created below it");
        // The home dir itself is checked too.
        chmod(&local, 0o700);
        chmod(&home, 0o775);
        assert!(matches!(
            d.ensure_with(Platform::Xdg, &env),
            Err(PathsError::UntrustedParent { .. })
        ));
        // A sticky parent is fine when root owns it (as /tmp).
        chmod(&home, 0o1777);
        let sticky = d.ensure_with(Platform::Xdg, &env);
        if imp::euid() == 0 {
            sticky.unwrap();
            for p in [&d.state, &d.logs, &local.join("state")] {
                assert_eq!(mode(p), 0o700, "{}", p.display());
            }
        } else {
            assert!(sticky.is_err(), "a sticky dir of a user is no /tmp");
        }
    }

    #[cfg(unix)]
    #[test]
    fn an_explicit_dir_is_checked_but_not_its_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        chmod(&shared, 0o777);
        let d = Dirs::resolve_with(
            Platform::Xdg,
            &FakeEnv::default(),
            Some(shared.join("state")),
            None,
        )
        .unwrap();
        // The administrator chose the place; the dir itself is created 0700.
        d.ensure_with(Platform::Xdg, &FakeEnv::default()).unwrap();
        assert!(d.logs.is_dir());
    }
}
