//! `posture-sync install` / `uninstall`: launch at login for the current user.
//!
//! | platform | entry | activation |
//! |---|---|---|
//! | Linux with a systemd user manager | `$XDG_CONFIG_HOME/systemd/user/posture-sync.service` | `systemctl --user enable --now` |
//! | Linux without one | `$XDG_CONFIG_HOME/autostart/posture-sync.desktop` | the desktop session, at next login |
//! | macOS | `~/Library/LaunchAgents/org.posture-sync.agent.plist` | `launchctl bootstrap gui/UID` |
//! | Windows | `HKCU\...\CurrentVersion\Run` value `posture-sync` | at next login, via `posture-syncw.exe` |
//!
//! The whole flow is platform-independent code driven by a [`Platform`]
//! value, an injected environment ([`Env`]) and an injected [`Runner`] for
//! `systemctl`/`launchctl`/`reg`, so every platform's flow is tested on every
//! platform with a temporary home and a recording runner. The entries' text
//! comes from the pure renderers in [`render`]. Only [`SystemRunner`] spawns
//! processes, and only the fixed commands listed here, never anything a
//! server sent.
//!
//! Both commands are idempotent: a second `install` finds everything in
//! place and says so, a second `uninstall` finds nothing to remove.
//!
//! For a fleet, [`system`] registers the agent for every user instead
//! (`install --system`, Linux, as root) and removes each user's state
//! (`uninstall --purge`); the macOS package's plist and the MSI's `Run`
//! value come from the renderers too (`packaging/`, checked by
//! `packaging_tests`).

pub mod render;
pub mod system;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use crate::paths::{Env, Platform, ProcessEnv};
pub use render::InstallSpec;
use render::{DESKTOP_NAME, LAUNCHD_LABEL, UNIT_NAME, WINDOWS_RUN_KEY, WINDOWS_RUN_NAME};

/// The profile's file name in the per-user config dir and in `/etc/posture-sync`.
pub const PROFILE_FILE: &str = "ISEPostureCFG.xml";
/// The system-wide profile the packaged unit and autostart entry use.
pub const SYSTEM_PROFILE: &str = "/etc/posture-sync/ISEPostureCFG.xml";
/// Where the package installs the binary.
pub const PACKAGED_BINARY: &str = "/usr/bin/posture-sync";

/// Errors of `install` / `uninstall`.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// No home directory, so no per-user location.
    #[error("cannot find the user's home directory, so there is no per-user place to install to")]
    NoHome,
    /// No `--profile` and no profile in the default places.
    #[error(
        "no profile to run with: none given and none at {}\nhelp: pass --profile FILE, or put the profile at the first of these paths",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
    )]
    NoProfile {
        /// The default places looked at.
        tried: Vec<PathBuf>,
    },
    /// The profile does not load.
    #[error("{0}\nhelp: `posture-sync profile check FILE` lists every problem")]
    Profile(#[from] profile_schema::LoadError),
    /// A path cannot be written into a launch entry.
    #[error("the {role} path {} {why}; move it to a plain path", path.display())]
    UnsafePath {
        /// "binary" or "profile".
        role: &'static str,
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A file or directory could not be written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// "write", "remove", "create the directory".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A platform command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its stderr, or why it could not start.
        detail: String,
    },
    /// The log directory cannot be created or is not private to the user.
    #[error(transparent)]
    Dir(#[from] crate::paths::PathsError),
    /// `--system` without root.
    #[error(
        "`posture-sync {verb}` changes files of every user and must run as root\nhelp: run it with sudo, or as the deployment tool's root job; without --system it applies to the current user only"
    )]
    NotRoot {
        /// The command line, e.g. "install --system".
        verb: String,
    },
    /// `--system` on a platform whose system-wide entry comes from a package.
    #[error("--system is for Linux; here, {how}")]
    SystemUnsupported {
        /// What to do instead.
        how: &'static str,
    },
    /// The Debian or RPM package already registers the agent for every user.
    #[error("the posture-sync package is installed ({} exists) and already starts the agent for every user\nhelp: put the profile at /etc/posture-sync/ISEPostureCFG.xml, or remove the package before using --system", unit.display())]
    PackageOwnsSystem {
        /// The packaged unit.
        unit: PathBuf,
    },
    /// A file every user's agent would trust can be changed by someone
    /// other than root.
    #[error("the {role} {} cannot be used for every user: {} {why}\nhelp: install it in a directory only root can write (e.g. /usr/local/bin), owned by root, mode 0755 or 0644", path.display(), component.display())]
    UntrustedForEveryone {
        /// "binary" or "profile".
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// The file or directory at fault.
        component: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// `--purge` while an agent still uses the state dir.
    #[error(
        "an agent ({}) still uses {}; nothing was purged\nhelp: stop it (log out, or end that process) and run `posture-sync uninstall --purge` again",
        match pid { Some(p) => format!("pid {p}"), None => "pid unknown".to_string() },
        dir.display()
    )]
    AgentRunning {
        /// The holder of the state dir's lock.
        pid: Option<u32>,
        /// The state dir.
        dir: PathBuf,
    },
    /// The Windows login launcher is not next to the binary.
    #[error("{} is missing; it starts the agent at login without a console window\nhelp: reinstall posture-sync so that both binaries are in the same folder", path.display())]
    LauncherMissing {
        /// Where it should be.
        path: PathBuf,
    },
}

/// What a finished command printed and whether it succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ran {
    /// Exit status 0.
    pub success: bool,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Runs a fixed platform command (`systemctl`, `launchctl`, `id`, `reg`).
pub trait Runner {
    /// Runs `program` with `args` and waits for it. `Err` when it cannot start.
    fn run(&mut self, program: &str, args: &[&str]) -> io::Result<Ran>;
}

/// The real [`Runner`]: spawns the program with the caller's environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    // The installer is the one module allowed to spawn processes: it runs
    // only the fixed service-manager commands in this file, never anything a
    // server sent (clippy.toml).
    #[allow(clippy::disallowed_methods)]
    fn run(&mut self, program: &str, args: &[&str]) -> io::Result<Ran> {
        let out = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(Ran {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The process state an install works with, injected.
pub struct Context<'a> {
    /// Whose conventions to follow.
    pub platform: Platform,
    /// Home, XDG variables, working directory.
    pub env: &'a dyn Env,
    /// The agent binary to start at login (absolute).
    pub binary: PathBuf,
    /// Runs the service-manager commands.
    pub runner: &'a mut dyn Runner,
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("platform", &self.platform)
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

/// One thing `install`/`uninstall` did or found, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file was written (created or updated).
    Wrote(PathBuf),
    /// A file already had the right content.
    Unchanged(PathBuf),
    /// A file was removed.
    Removed(PathBuf),
    /// A command was run.
    Ran(String),
    /// Something worth knowing that changed nothing.
    Note(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Wrote(p) => write!(f, "wrote {}", p.display()),
            Change::Unchanged(p) => write!(f, "unchanged {}", p.display()),
            Change::Removed(p) => write!(f, "removed {}", p.display()),
            Change::Ran(c) => write!(f, "ran {c}"),
            Change::Note(n) => f.write_str(n),
        }
    }
}

/// The per-user config dir, where the default profile lives:
/// `$XDG_CONFIG_HOME/posture-sync` (default `~/.config/posture-sync`),
/// `~/Library/Application Support/posture-sync`, `%APPDATA%\posture-sync`.
pub fn config_dir(platform: Platform, env: &dyn Env) -> Option<PathBuf> {
    let home = env.home_dir().filter(|h| h.is_absolute());
    let abs_var = |name: &str| {
        env.var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = match platform {
        Platform::Xdg => abs_var("XDG_CONFIG_HOME").or_else(|| Some(home?.join(".config")))?,
        Platform::MacOs => home?.join("Library").join("Application Support"),
        Platform::Windows => {
            abs_var("APPDATA").or_else(|| Some(home?.join("AppData").join("Roaming")))?
        }
    };
    Some(base.join(crate::paths::APP_DIR))
}

/// `$XDG_CONFIG_HOME` or `~/.config` (Linux only).
fn xdg_config_home(env: &dyn Env) -> Result<PathBuf, InstallError> {
    env.var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| Some(env.home_dir()?.join(".config")))
        .ok_or(InstallError::NoHome)
}

/// Where the per-user systemd unit goes.
pub fn user_unit_path(env: &dyn Env) -> Result<PathBuf, InstallError> {
    Ok(xdg_config_home(env)?
        .join("systemd")
        .join("user")
        .join(UNIT_NAME))
}

/// Where the per-user autostart entry goes.
pub fn user_autostart_path(env: &dyn Env) -> Result<PathBuf, InstallError> {
    Ok(xdg_config_home(env)?.join("autostart").join(DESKTOP_NAME))
}

fn home(env: &dyn Env) -> Result<PathBuf, InstallError> {
    env.home_dir()
        .filter(|h| h.is_absolute())
        .ok_or(InstallError::NoHome)
}

/// Where the LaunchAgent plist goes.
pub fn launch_agent_path(env: &dyn Env) -> Result<PathBuf, InstallError> {
    Ok(home(env)?
        .join("Library")
        .join("LaunchAgents")
        .join(format!("{LAUNCHD_LABEL}.plist")))
}

/// The spec the package's unit and autostart entry are rendered from.
pub fn packaged_spec() -> InstallSpec {
    InstallSpec {
        binary: PathBuf::from(PACKAGED_BINARY),
        profile: PathBuf::from(SYSTEM_PROFILE),
        launchd_log_dir: PathBuf::new(),
    }
}

/// Where the macOS package installs the binary.
pub const MACOS_PACKAGED_BINARY: &str = "/usr/local/bin/posture-sync";
/// The profile the macOS package's LaunchAgent runs with.
pub const MACOS_SYSTEM_PROFILE: &str =
    "/Library/Application Support/posture-sync/ISEPostureCFG.xml";
/// Where the MSI installs the binary (`[ProgramFiles64Folder]posture-sync\`).
pub const WINDOWS_PACKAGED_BINARY: &str = r"C:\Program Files\posture-sync\posture-sync.exe";
/// The profile the MSI's `Run` value runs with (`[CommonAppDataFolder]posture-sync\`).
pub const WINDOWS_SYSTEM_PROFILE: &str = r"C:\ProgramData\posture-sync\ISEPostureCFG.xml";

/// The spec of the macOS package's `/Library/LaunchAgents` plist.
pub fn macos_packaged_spec() -> InstallSpec {
    InstallSpec {
        binary: PathBuf::from(MACOS_PACKAGED_BINARY),
        profile: PathBuf::from(MACOS_SYSTEM_PROFILE),
        launchd_log_dir: PathBuf::new(),
    }
}

/// The spec of the MSI's per-machine `Run` value.
pub fn windows_packaged_spec() -> InstallSpec {
    InstallSpec {
        binary: PathBuf::from(WINDOWS_PACKAGED_BINARY),
        profile: PathBuf::from(WINDOWS_SYSTEM_PROFILE),
        launchd_log_dir: PathBuf::new(),
    }
}

/// Where a profile is looked for when none is given, in order: the per-user
/// config dir, then the system-wide one the packages install
/// (`/etc/posture-sync`, `/Library/Application Support/posture-sync`,
/// `%ProgramData%\posture-sync`).
pub fn default_profiles(platform: Platform, env: &dyn Env) -> Vec<PathBuf> {
    let mut tried = Vec::new();
    if let Some(dir) = config_dir(platform, env) {
        tried.push(dir.join(PROFILE_FILE));
    }
    tried.push(match platform {
        Platform::Xdg => PathBuf::from(SYSTEM_PROFILE),
        Platform::MacOs => PathBuf::from(MACOS_SYSTEM_PROFILE),
        // Where the MSI's [CommonAppDataFolder] is on this machine.
        Platform::Windows => env
            .var_os("ProgramData")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map_or_else(
                || PathBuf::from(WINDOWS_SYSTEM_PROFILE),
                |d| d.join(crate::paths::APP_DIR).join(PROFILE_FILE),
            ),
    });
    tried
}

/// The profile to install with: `given` (made absolute), else the per-user
/// default, else the system-wide one. It must load cleanly.
fn resolve_profile(ctx: &Context<'_>, given: Option<&Path>) -> Result<PathBuf, InstallError> {
    let path = match given {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => match ctx.env.current_dir() {
            Some(cwd) => cwd.join(p),
            None => p.to_path_buf(),
        },
        None => {
            let tried = default_profiles(ctx.platform, ctx.env);
            match tried.iter().find(|p| p.is_file()) {
                Some(p) => p.clone(),
                None => return Err(InstallError::NoProfile { tried }),
            }
        }
    };
    profile_schema::Profile::load(&path)?;
    Ok(path)
}

fn spec_for(ctx: &Context<'_>, profile: Option<&Path>) -> Result<InstallSpec, InstallError> {
    let profile = resolve_profile(ctx, profile)?;
    for (role, p) in [("binary", &ctx.binary), ("profile", &profile)] {
        if let Some(why) = render::check_path(p) {
            return Err(InstallError::UnsafePath {
                role,
                path: p.clone(),
                why,
            });
        }
    }
    let launchd_log_dir = match ctx.platform {
        Platform::MacOs => home(ctx.env)?
            .join("Library")
            .join("Logs")
            .join(crate::paths::APP_DIR),
        _ => PathBuf::new(),
    };
    Ok(InstallSpec {
        binary: ctx.binary.clone(),
        profile,
        launchd_log_dir,
    })
}

/// Registers launch at login for the current user and starts the agent where
/// the service manager allows; returns what changed.
pub fn install(ctx: &mut Context<'_>, profile: Option<&Path>) -> Result<Vec<Change>, InstallError> {
    let spec = spec_for(ctx, profile)?;
    match ctx.platform {
        Platform::Xdg => install_linux(ctx, &spec),
        Platform::MacOs => install_macos(ctx, &spec),
        Platform::Windows => install_windows(ctx, &spec),
    }
}

/// [`uninstall`], then with `purge` the user's state, logs and bundles
/// removed too, else a note naming the directories that stayed
/// (`posture-sync uninstall [--purge]`).
pub fn uninstall_user(ctx: &mut Context<'_>, purge: bool) -> Result<Vec<Change>, InstallError> {
    let mut changes = uninstall(ctx)?;
    changes.extend(system::purge_or_report_kept(ctx, purge)?);
    Ok(changes)
}

/// Removes launch at login for the current user and stops the agent where
/// the service manager started it; returns what changed.
pub fn uninstall(ctx: &mut Context<'_>) -> Result<Vec<Change>, InstallError> {
    let mut changes = match ctx.platform {
        Platform::Xdg => uninstall_linux(ctx)?,
        Platform::MacOs => uninstall_macos(ctx)?,
        Platform::Windows => uninstall_windows(ctx)?,
    };
    if changes.is_empty() {
        changes.push(Change::Note(
            "nothing to remove: posture-sync is not installed for this user".to_string(),
        ));
    }
    Ok(changes)
}

/// Writes `content` to `path` atomically unless it already holds it.
fn write_if_changed(path: &Path, content: &str) -> Result<Change, InstallError> {
    if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(Change::Unchanged(path.to_path_buf()));
    }
    let file_err = |action, source| InstallError::File {
        action,
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| InstallError::File {
        action: "create the directory",
        path: dir.to_path_buf(),
        source: e,
    })?;
    // Private, created exclusively, never through a link (paths/files.rs).
    crate::paths::write_atomically(path, content.as_bytes()).map_err(|e| file_err("write", e))?;
    Ok(Change::Wrote(path.to_path_buf()))
}

/// Removes `path` if it exists.
pub(crate) fn remove_if_present(path: &Path) -> Result<Option<Change>, InstallError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(Change::Removed(path.to_path_buf()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(InstallError::File {
            action: "remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command that must succeed, recording it.
fn run_checked(
    ctx: &mut Context<'_>,
    changes: &mut Vec<Change>,
    program: &str,
    args: &[&str],
) -> Result<Ran, InstallError> {
    let command = command_line(program, args);
    let ran = ctx
        .runner
        .run(program, args)
        .map_err(|e| InstallError::Command {
            command: command.clone(),
            detail: format!("cannot start it: {e}"),
        })?;
    if !ran.success {
        return Err(InstallError::Command {
            command,
            detail: first_line(&ran.stderr)
                .unwrap_or("it exited non-zero")
                .to_string(),
        });
    }
    changes.push(Change::Ran(command));
    Ok(ran)
}

/// Runs a query whose failure is an answer, not an error.
fn query(ctx: &mut Context<'_>, program: &str, args: &[&str]) -> Option<Ran> {
    ctx.runner.run(program, args).ok()
}

fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

// ---- Linux -----------------------------------------------------------------

/// Whether a systemd user manager answers (`systemctl --user is-system-running`
/// prints a state; without a manager it cannot connect and prints nothing).
fn user_manager_runs(ctx: &mut Context<'_>) -> bool {
    let Some(ran) = query(ctx, "systemctl", &["--user", "is-system-running"]) else {
        return false;
    };
    matches!(
        first_line(&ran.stdout),
        Some("running" | "degraded" | "starting" | "initializing" | "maintenance")
    )
}

fn unit_enabled_and_active(ctx: &mut Context<'_>) -> bool {
    let answer = |ctx: &mut Context<'_>, verb: &str| {
        query(ctx, "systemctl", &["--user", verb, UNIT_NAME])
            .and_then(|r| first_line(&r.stdout).map(str::to_string))
    };
    answer(ctx, "is-enabled").as_deref() == Some("enabled")
        && answer(ctx, "is-active").as_deref() == Some("active")
}

fn install_linux(ctx: &mut Context<'_>, spec: &InstallSpec) -> Result<Vec<Change>, InstallError> {
    let unit_path = user_unit_path(ctx.env)?;
    let autostart_path = user_autostart_path(ctx.env)?;
    let mut changes = Vec::new();
    if user_manager_runs(ctx) {
        let wrote = write_if_changed(&unit_path, &render::systemd_unit(spec))?;
        let changed = matches!(wrote, Change::Wrote(_));
        changes.push(wrote);
        // With the unit in place an autostart entry of ours would start a
        // second agent through systemd's autostart generator.
        changes.extend(remove_if_present(&autostart_path)?);
        if changed {
            run_checked(ctx, &mut changes, "systemctl", &["--user", "daemon-reload"])?;
            run_checked(
                ctx,
                &mut changes,
                "systemctl",
                &["--user", "enable", UNIT_NAME],
            )?;
            // restart, not start: a running agent must pick up the new unit.
            run_checked(
                ctx,
                &mut changes,
                "systemctl",
                &["--user", "restart", UNIT_NAME],
            )?;
        } else if unit_enabled_and_active(ctx) {
            changes.push(Change::Note(format!(
                "{UNIT_NAME} is already enabled and running"
            )));
        } else {
            run_checked(
                ctx,
                &mut changes,
                "systemctl",
                &["--user", "enable", "--now", UNIT_NAME],
            )?;
        }
    } else {
        changes.push(write_if_changed(
            &autostart_path,
            &render::xdg_autostart(spec, false),
        )?);
        changes.push(Change::Note(
            "no systemd user manager is running: the desktop session starts the agent at the next login".to_string(),
        ));
    }
    Ok(changes)
}

fn uninstall_linux(ctx: &mut Context<'_>) -> Result<Vec<Change>, InstallError> {
    let unit_path = user_unit_path(ctx.env)?;
    let autostart_path = user_autostart_path(ctx.env)?;
    let mut changes = Vec::new();
    if unit_path.exists() {
        let manager = user_manager_runs(ctx);
        if manager {
            run_checked(
                ctx,
                &mut changes,
                "systemctl",
                &["--user", "disable", "--now", UNIT_NAME],
            )?;
        }
        changes.extend(remove_if_present(&unit_path)?);
        if manager {
            run_checked(ctx, &mut changes, "systemctl", &["--user", "daemon-reload"])?;
        }
    }
    changes.extend(remove_if_present(&autostart_path)?);
    Ok(changes)
}

// ---- macOS -----------------------------------------------------------------

/// `gui/UID`, the launchd domain of the logged-in user.
fn gui_domain(ctx: &mut Context<'_>) -> Result<String, InstallError> {
    let mut ignored = Vec::new();
    let ran = run_checked(ctx, &mut ignored, "id", &["-u"])?;
    let uid = first_line(&ran.stdout)
        .filter(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| InstallError::Command {
            command: "id -u".to_string(),
            detail: format!("printed {:?}, not a user id", ran.stdout.trim()),
        })?;
    Ok(format!("gui/{uid}"))
}

fn install_macos(ctx: &mut Context<'_>, spec: &InstallSpec) -> Result<Vec<Change>, InstallError> {
    let plist_path = launch_agent_path(ctx.env)?;
    // launchd opens the log files but does not create their directory. It
    // is the agent's log dir on macOS: private to the user, checked.
    crate::paths::ensure_private_dir(crate::paths::DirRole::Logs, &spec.launchd_log_dir)?;
    let mut changes = Vec::new();
    let wrote = write_if_changed(&plist_path, &render::launch_agent_plist(spec))?;
    let changed = matches!(wrote, Change::Wrote(_));
    changes.push(wrote);
    let domain = gui_domain(ctx)?;
    let service = format!("{domain}/{LAUNCHD_LABEL}");
    let loaded = query(ctx, "launchctl", &["print", &service]).is_some_and(|r| r.success);
    if loaded && !changed {
        changes.push(Change::Note(format!("{LAUNCHD_LABEL} is already loaded")));
        return Ok(changes);
    }
    if loaded {
        run_checked(ctx, &mut changes, "launchctl", &["bootout", &service])?;
    }
    let plist = plist_path.to_string_lossy().into_owned();
    run_checked(
        ctx,
        &mut changes,
        "launchctl",
        &["bootstrap", &domain, &plist],
    )?;
    Ok(changes)
}

fn uninstall_macos(ctx: &mut Context<'_>) -> Result<Vec<Change>, InstallError> {
    let plist_path = launch_agent_path(ctx.env)?;
    let mut changes = Vec::new();
    if plist_path.exists() {
        let domain = gui_domain(ctx)?;
        let service = format!("{domain}/{LAUNCHD_LABEL}");
        if query(ctx, "launchctl", &["print", &service]).is_some_and(|r| r.success) {
            run_checked(ctx, &mut changes, "launchctl", &["bootout", &service])?;
        }
    }
    changes.extend(remove_if_present(&plist_path)?);
    Ok(changes)
}

// ---- Windows ---------------------------------------------------------------

/// The current `Run` value, parsed from `reg query` output
/// (`    posture-sync    REG_SZ    "C:\..." run ...`).
fn current_run_value(ctx: &mut Context<'_>) -> Option<String> {
    let ran = query(
        ctx,
        "reg",
        &["query", WINDOWS_RUN_KEY, "/v", WINDOWS_RUN_NAME],
    )?;
    if !ran.success {
        return None;
    }
    ran.stdout.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(WINDOWS_RUN_NAME)?;
        let rest = rest.trim_start().strip_prefix("REG_SZ")?;
        Some(rest.trim().to_string())
    })
}

fn install_windows(ctx: &mut Context<'_>, spec: &InstallSpec) -> Result<Vec<Change>, InstallError> {
    let (key, name, value) = render::windows_run_value(spec);
    let launcher = PathBuf::from(render::windows_launcher_path(
        &spec.binary.to_string_lossy(),
    ));
    if !launcher.is_file() {
        return Err(InstallError::LauncherMissing { path: launcher });
    }
    let mut changes = Vec::new();
    if current_run_value(ctx).as_deref() == Some(value.as_str()) {
        changes.push(Change::Note(format!("unchanged {key}\\{name} = {value}")));
        return Ok(changes);
    }
    run_checked(
        ctx,
        &mut changes,
        "reg",
        &["add", key, "/v", name, "/t", "REG_SZ", "/d", &value, "/f"],
    )?;
    changes.push(Change::Note(format!(
        "set {key}\\{name} = {value}; the agent starts at the next login"
    )));
    Ok(changes)
}

fn uninstall_windows(ctx: &mut Context<'_>) -> Result<Vec<Change>, InstallError> {
    let mut changes = Vec::new();
    if current_run_value(ctx).is_some() {
        run_checked(
            ctx,
            &mut changes,
            "reg",
            &["delete", WINDOWS_RUN_KEY, "/v", WINDOWS_RUN_NAME, "/f"],
        )?;
    }
    Ok(changes)
}

#[cfg(test)]
mod packaging_tests;
#[cfg(test)]
mod tests;
