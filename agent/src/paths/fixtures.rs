//! Fixtures for the unit tests of the agent's private files (logs, history,
//! state, the profile watcher): the file a hostile link points at, modes and
//! FIFOs, shared so that every writer is tested against the same attacks.

use std::path::{Path, PathBuf};

/// What [`victim`] holds: still there after the test, nothing wrote through
/// a link.
pub const PRECIOUS: &str = "precious\n";

/// `dir/victim`, holding [`PRECIOUS`], mode 0644 on unix: the file a link
/// at one of the agent's names points at.
pub fn victim(dir: &Path) -> PathBuf {
    let victim = dir.join("victim");
    std::fs::write(&victim, PRECIOUS).unwrap();
    #[cfg(unix)]
    chmod(&victim, 0o644);
    victim
}

/// A [`victim`] in `dir` and a symbolic link to it at `link`, one of the
/// agent's names; returns the victim.
#[cfg(unix)]
pub fn symlink_to_victim(dir: &Path, link: &Path) -> PathBuf {
    let victim = victim(dir);
    std::os::unix::fs::symlink(&victim, link).unwrap();
    victim
}

/// Asserts that [`victim`] was neither written nor (on unix) chmodded.
pub fn assert_untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).unwrap(), PRECIOUS);
    #[cfg(unix)]
    assert_eq!(mode(victim), 0o644, "the victim was chmodded");
}

/// The permission bits (with setuid, setgid and sticky) of `path`.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Sets the permission bits of `path`.
#[cfg(unix)]
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Creates a FIFO with the system's `mkfifo`: rustix has no `mkfifoat` on
/// macOS, and the workspace forbids the unsafe `mkfifo(3)` call.
#[cfg(unix)]
#[allow(clippy::disallowed_methods)] // test harness: creates a FIFO fixture
pub fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo failed: {status}");
}
