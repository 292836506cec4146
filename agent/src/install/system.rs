//! `install --system` / `uninstall --system` (Linux, as root): the agent for
//! every user of the machine, as JAMF, Intune or Ansible deploy it, and
//! `uninstall --purge`: the user's state, logs and bundles too.
//!
//! | file | role |
//! |---|---|
//! | `/etc/systemd/user/posture-sync.service` | the global user unit |
//! | `/etc/systemd/user/default.target.wants/posture-sync.service` | its enablement for every user (the link `systemctl --global enable` makes) |
//! | `/etc/xdg/autostart/posture-sync.desktop` | sessions without a systemd user manager (`X-systemd-skip=true`) |
//! | `/etc/posture-sync/ISEPostureCFG.xml` | the profile every user's agent runs with |
//!
//! Every user's agent runs the binary and reads the profile named there, so
//! a user who could replace either would run code or choose the policy
//! server in every other user's session. The installer therefore refuses a
//! binary or profile that is not owned by root or is writable by others
//! along its path, and writes what it installs as root, mode 0644, in 0755
//! directories. Paths are below an injected root so that the whole flow is
//! tested in a temporary directory.

use std::io;
use std::path::{Path, PathBuf};

use super::render::{self, DESKTOP_NAME, InstallSpec, UNIT_NAME};
use super::{Change, Context, InstallError, Platform, SYSTEM_PROFILE, remove_if_present};

/// The global user unit, in the system's terms.
pub const SYSTEM_UNIT: &str = "/etc/systemd/user/posture-sync.service";
/// The enablement link of the global user unit.
pub const SYSTEM_UNIT_WANTS: &str = "/etc/systemd/user/default.target.wants/posture-sync.service";
/// The system-wide autostart entry.
pub const SYSTEM_AUTOSTART: &str = "/etc/xdg/autostart/posture-sync.desktop";
/// The user unit the Debian and RPM packages ship; when it exists the
/// package owns the system-wide registration.
pub const PACKAGED_UNIT: &str = "/usr/lib/systemd/user/posture-sync.service";

/// Where a system-wide install writes and who must own what it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemTarget {
    /// The file system root the system paths are below: `/`, or a
    /// temporary directory in tests.
    pub root: PathBuf,
    /// Whether the caller may write system files (effective uid 0).
    pub is_admin: bool,
    /// The owner trusted, besides root, for the binary, the profile and
    /// their directories: 0 (root alone) on a real machine; tests run as
    /// whoever runs them.
    pub trusted_uid: u32,
}

impl SystemTarget {
    /// The real machine: `/`, admin when the effective uid is 0.
    pub fn this_machine() -> SystemTarget {
        #[cfg(unix)]
        let is_admin = rustix::process::geteuid().is_root();
        #[cfg(not(unix))]
        let is_admin = false;
        SystemTarget {
            root: PathBuf::from("/"),
            is_admin,
            trusted_uid: 0,
        }
    }

    /// A system path (absolute) below [`SystemTarget::root`].
    pub fn path(&self, system_path: &str) -> PathBuf {
        self.root.join(system_path.trim_start_matches('/'))
    }
}

fn require_admin(ctx: &Context<'_>, target: &SystemTarget, verb: &str) -> Result<(), InstallError> {
    match ctx.platform {
        Platform::Xdg => {}
        Platform::MacOs => {
            return Err(InstallError::SystemUnsupported {
                how: "install the posture-sync package (packaging/macos, a /Library/LaunchAgents entry for every user)",
            });
        }
        Platform::Windows => {
            return Err(InstallError::SystemUnsupported {
                how: "install the posture-sync MSI (packaging/windows, an HKLM Run entry for every user)",
            });
        }
    }
    if !target.is_admin {
        return Err(InstallError::NotRoot {
            verb: verb.to_string(),
        });
    }
    if target.path(PACKAGED_UNIT).exists() {
        return Err(InstallError::PackageOwnsSystem {
            unit: PathBuf::from(PACKAGED_UNIT),
        });
    }
    Ok(())
}

/// Why `path` (and each directory above it) cannot be trusted by every
/// user's agent, or `None` when it can: owned by root or `trusted_uid` and not
/// writable by group or others (a sticky directory such as `/tmp` is
/// fine: nobody else can rename what is in it).
#[cfg(unix)]
pub fn untrusted_component(path: &Path, trusted_uid: u32) -> Option<(PathBuf, String)> {
    use std::os::unix::fs::MetadataExt;
    for p in path.ancestors() {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            // Not there yet: the installer creates it, as root.
            continue;
        };
        let mode = meta.mode();
        if meta.uid() != 0 && meta.uid() != trusted_uid {
            return Some((
                p.to_path_buf(),
                format!("is owned by uid {}, not by root", meta.uid()),
            ));
        }
        let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
        if mode & 0o022 != 0 && !sticky_dir {
            return Some((
                p.to_path_buf(),
                format!("is writable by other users (mode {:04o})", mode & 0o7777),
            ));
        }
    }
    None
}

/// Without unix ownership there is nothing to check here; the system-wide
/// install is Linux-only ([`install_system`] refuses elsewhere).
#[cfg(not(unix))]
pub fn untrusted_component(_path: &Path, _trusted_uid: u32) -> Option<(PathBuf, String)> {
    None
}

fn check_trusted(
    role: &'static str,
    path: &Path,
    target: &SystemTarget,
) -> Result<(), InstallError> {
    match untrusted_component(path, target.trusted_uid) {
        None => Ok(()),
        Some((component, why)) => Err(InstallError::UntrustedForEveryone {
            role,
            path: path.to_path_buf(),
            component,
            why,
        }),
    }
}

/// Writes `content` world-readable (0644, directories 0755) unless the file
/// already holds it: every user's agent and session manager read it.
fn write_shared(path: &Path, content: &[u8]) -> Result<Change, InstallError> {
    if std::fs::read(path).is_ok_and(|old| old == content) {
        return Ok(Change::Unchanged(path.to_path_buf()));
    }
    let file_err = |action, source| InstallError::File {
        action,
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    create_shared_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".posture-sync.")
        .tempfile_in(dir)
        .map_err(|e| file_err("write", e))?;
    io::Write::write_all(tmp.as_file_mut(), content).map_err(|e| file_err("write", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| file_err("write", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| file_err("write", e))?;
    tmp.persist(path).map_err(|e| file_err("write", e.error))?;
    Ok(Change::Wrote(path.to_path_buf()))
}

fn create_shared_dir(dir: &Path) -> Result<(), InstallError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o755);
    }
    builder.create(dir).map_err(|e| InstallError::File {
        action: "create the directory",
        path: dir.to_path_buf(),
        source: e,
    })
}

/// The enablement link, as `systemctl --global enable` makes it: an
/// absolute link to the unit's system path (valid once the root is `/`).
fn link_unit(target: &SystemTarget) -> Result<Change, InstallError> {
    let link = target.path(SYSTEM_UNIT_WANTS);
    if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(SYSTEM_UNIT)) {
        return Ok(Change::Unchanged(link));
    }
    let dir = link.parent().unwrap_or(Path::new("/"));
    create_shared_dir(dir)?;
    // A stale entry (another target, a plain file) is replaced.
    remove_if_present(&link)?;
    #[cfg(unix)]
    std::os::unix::fs::symlink(SYSTEM_UNIT, &link).map_err(|e| InstallError::File {
        action: "create the link",
        path: link.clone(),
        source: e,
    })?;
    Ok(Change::Wrote(link))
}

/// `install --system`: registers the agent for every user of the machine
/// (Linux, as root). With `profile`, copies it to
/// `/etc/posture-sync/ISEPostureCFG.xml`; without, that file must exist.
pub fn install_system(
    ctx: &mut Context<'_>,
    target: &SystemTarget,
    profile: Option<&Path>,
) -> Result<Vec<Change>, InstallError> {
    require_admin(ctx, target, "install --system")?;
    if let Some(why) = render::check_path(&ctx.binary) {
        return Err(InstallError::UnsafePath {
            role: "binary",
            path: ctx.binary.clone(),
            why,
        });
    }
    check_trusted("binary", &ctx.binary, target)?;
    let installed_profile = target.path(SYSTEM_PROFILE);
    let mut changes = Vec::new();
    match profile {
        Some(given) => {
            let given = match ctx.env.current_dir() {
                Some(cwd) if given.is_relative() => cwd.join(given),
                _ => given.to_path_buf(),
            };
            profile_schema::Profile::load(&given)?;
            let bytes = std::fs::read(&given).map_err(|e| InstallError::File {
                action: "read",
                path: given.clone(),
                source: e,
            })?;
            check_trusted("profile", &installed_profile, target)?;
            changes.push(write_shared(&installed_profile, &bytes)?);
        }
        None => {
            if !installed_profile.is_file() {
                return Err(InstallError::NoProfile {
                    tried: vec![installed_profile],
                });
            }
            profile_schema::Profile::load(&installed_profile)?;
            check_trusted("profile", &installed_profile, target)?;
        }
    }
    let spec = InstallSpec {
        binary: ctx.binary.clone(),
        profile: PathBuf::from(SYSTEM_PROFILE),
        launchd_log_dir: PathBuf::new(),
    };
    changes.push(write_shared(
        &target.path(SYSTEM_UNIT),
        render::systemd_unit(&spec).as_bytes(),
    )?);
    changes.push(link_unit(target)?);
    // Both entries exist: in a systemd session the unit runs the agent and
    // systemd's autostart generator skips the entry (X-systemd-skip); only a
    // session without a user manager starts the entry. Where a desktop
    // starts entries itself next to systemd, the second agent finds the
    // state dir's lock held and exits 4 (docs/install.md).
    changes.push(write_shared(
        &target.path(SYSTEM_AUTOSTART),
        render::xdg_autostart(&spec, true).as_bytes(),
    )?);
    changes.push(Change::Note(format!(
        "every user's session starts the agent at the next login; in a session open now: systemctl --user daemon-reload && systemctl --user start {UNIT_NAME}"
    )));
    Ok(changes)
}

/// `uninstall --system`: removes the system-wide registration; the profile
/// stays unless `purge`.
pub fn uninstall_system(
    ctx: &mut Context<'_>,
    target: &SystemTarget,
    purge: bool,
) -> Result<Vec<Change>, InstallError> {
    require_admin(ctx, target, "uninstall --system")?;
    let mut changes = Vec::new();
    for p in [SYSTEM_UNIT_WANTS, SYSTEM_UNIT, SYSTEM_AUTOSTART] {
        changes.extend(remove_if_present(&target.path(p))?);
    }
    let profile = target.path(SYSTEM_PROFILE);
    if purge {
        changes.extend(remove_if_present(&profile)?);
        if let Some(dir) = profile.parent() {
            // Only when empty: an administrator's other files stay.
            if std::fs::remove_dir(dir).is_ok() {
                changes.push(Change::Removed(dir.to_path_buf()));
            }
        }
    } else if profile.exists() {
        changes.push(Change::Note(format!(
            "kept {} (`posture-sync uninstall --system --purge` removes it)",
            profile.display()
        )));
    }
    if changes.is_empty() {
        changes.push(Change::Note(format!(
            "nothing to remove: posture-sync is not installed for every user ({DESKTOP_NAME} and {UNIT_NAME} are absent)"
        )));
    }
    changes.push(Change::Note(
        "agents running now stop at logout; each user's state stays (`posture-sync uninstall --purge` as that user removes it)".to_string(),
    ));
    Ok(changes)
}

/// The per-user directories `uninstall` keeps or `--purge` removes: the
/// state dir (with its bundles) and the log dir, without one inside the
/// other twice.
fn user_dirs(ctx: &Context<'_>) -> Vec<PathBuf> {
    let Ok(dirs) = crate::paths::default_dirs(ctx.platform, ctx.env) else {
        return Vec::new();
    };
    let mut out = vec![dirs.state.clone()];
    if !dirs.logs.starts_with(&dirs.state) {
        out.push(dirs.logs);
    }
    out
}

/// After a per-user uninstall: with `purge`, removes the user's state (with
/// bundles) and logs, refusing while an agent still holds the state dir;
/// without, says which directories stayed.
pub fn purge_or_report_kept(ctx: &Context<'_>, purge: bool) -> Result<Vec<Change>, InstallError> {
    let dirs: Vec<PathBuf> = user_dirs(ctx)
        .into_iter()
        .filter(|d| std::fs::symlink_metadata(d).is_ok())
        .collect();
    let mut changes = Vec::new();
    if !purge {
        for d in dirs {
            changes.push(Change::Note(format!(
                "kept {} (state, logs and bundles; `posture-sync uninstall --purge` removes them)",
                d.display()
            )));
        }
        return Ok(changes);
    }
    if let Some(state) = dirs
        .first()
        .filter(|d| std::fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
    {
        // An agent still running (started by the desktop session, or by
        // hand) would recreate what is removed under it.
        match crate::lock::acquire(state) {
            Ok(lock) => drop(lock),
            Err(crate::lock::LockError::Held { pid, .. }) => {
                return Err(InstallError::AgentRunning {
                    pid,
                    dir: state.clone(),
                });
            }
            Err(crate::lock::LockError::Io { .. }) => {}
        }
    }
    for d in dirs {
        // remove_dir_all removes a link itself, never what it points to.
        std::fs::remove_dir_all(&d).map_err(|e| InstallError::File {
            action: "remove",
            path: d.clone(),
            source: e,
        })?;
        changes.push(Change::Removed(d));
    }
    Ok(changes)
}
