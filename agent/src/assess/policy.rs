//! Where checks may look: the local rules that keep a server's check from
//! becoming a file reader or a way to make the endpoint open network paths.
//!
//! A PSN chooses the paths of its checks; this module decides, from the
//! local profile and the agent's own directories only, whether a path may be
//! looked at (`file-exists`, `file-newer-than`), hashed (`file-sha256`) or
//! read for content (`file-contains`). The rules (docs/agent.md, "What a PSN
//! can learn"):
//!
//! - a path must be absolute and local: no `..`, no network or device path
//!   (`\\host\share`, `\\?\`, `\\.\`, `//host`), never under an automount
//!   root ([`AUTOMOUNT_ROOTS`]), whatever the allowlist says: touching such
//!   a path can make the endpoint connect to a host of the server's choosing;
//! - the off-limits places (home directories, `/proc`, `/sys`, `/dev`, the
//!   agent's own state and log directories) are refused to every check unless
//!   the path lies under a `ContentCheckPaths` prefix;
//! - `file-contains` reads only under a `ContentCheckPaths` prefix;
//! - the rules apply to the path as written and again to the path with its
//!   symbolic links resolved, so a link cannot lead a check somewhere the
//!   path itself may not go.
//!
//! Everything but the final resolution ([`CheckPolicy::resolve`]) is a pure
//! function of strings, tested with every platform's paths on every platform.

use std::path::{Component, Path, PathBuf};

/// Roots under which automounters mount network file systems on access
/// (autofs `/net` and `/misc`, AFS, macOS's `/Network`): refused to every
/// check, since merely looking up a name there makes the endpoint connect to
/// a host of the server's choosing.
pub const AUTOMOUNT_ROOTS: &[&str] = &["/net", "/misc", "/afs", "/Network"];

/// The platform's places that hold other people's or the kernel's data:
/// home directories and the kernel's and devices' pseudo file systems.
pub const PLATFORM_OFF_LIMITS: &[&str] = &[
    "/home",
    "/root",
    "/Users",
    "/var/root",
    "/proc",
    "/sys",
    "/dev",
    "/run/user",
    "C:\\Users",
    "C:\\Documents and Settings",
];

/// What a check wants to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Look at metadata only (existence, modification time).
    Metadata,
    /// Read the bytes to compare a digest (`file-sha256`): one bit about the
    /// content, the same bit ISE's checksum condition gives.
    Digest,
    /// Read the text to match a pattern (`file-contains`): only under a
    /// `ContentCheckPaths` prefix.
    Content,
}

/// Why a path is refused, in words for the requirement's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The local rules for check paths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckPolicy {
    /// ContentCheckPaths: prefixes content checks may read, and where any
    /// check may look inside an off-limits place.
    allowed: Vec<PathBuf>,
    /// Places no check may look (unless allowed above).
    off_limits: Vec<PathBuf>,
}

impl CheckPolicy {
    /// The rules for this endpoint: `content_paths` from the profile's
    /// ContentCheckPaths; the platform's off-limits places plus `own_dirs`
    /// (the agent's state and log directories) and `home` (the user's home
    /// directory, wherever it is).
    pub fn new(
        content_paths: &[String],
        own_dirs: impl IntoIterator<Item = PathBuf>,
        home: Option<PathBuf>,
    ) -> CheckPolicy {
        let mut off_limits: Vec<PathBuf> = PLATFORM_OFF_LIMITS.iter().map(PathBuf::from).collect();
        off_limits.extend(own_dirs);
        off_limits.extend(home);
        CheckPolicy {
            allowed: content_paths.iter().map(PathBuf::from).collect(),
            off_limits,
        }
    }

    /// Decides on `path` as written (pure: nothing on disk is touched).
    pub fn check_literal(&self, path: &str, access: Access) -> Result<(), Refused> {
        if network_or_device_path(path) {
            return Err(Refused(format!(
                "{path:?} is a network or device path; checks look at local files only"
            )));
        }
        let p = Path::new(path);
        if !is_absolute(path) {
            return Err(Refused(format!("{path:?} is not an absolute path")));
        }
        if p.components().any(|c| c == Component::ParentDir) || path.split('\\').any(|c| c == "..")
        {
            return Err(Refused(format!(
                "{path:?} contains `..`; checks take the path they mean"
            )));
        }
        self.check_place(p, access)
    }

    /// Decides on a path whose symbolic links are resolved (absolute).
    fn check_place(&self, p: &Path, access: Access) -> Result<(), Refused> {
        if let Some(root) = AUTOMOUNT_ROOTS
            .iter()
            .find(|r| under(p, Path::new(r), false))
        {
            return Err(Refused(format!(
                "{} is under the automount root {root}; checks never touch network file systems",
                p.display()
            )));
        }
        let allowed = self
            .allowed
            .iter()
            .any(|a| under(p, a, cfg!(not(target_os = "linux"))));
        if access == Access::Content && !allowed {
            return Err(Refused(format!(
                "{} is not under a ContentCheckPaths prefix of the local profile; file-contains reads only where the administrator allowed it (docs/agent.md)",
                p.display()
            )));
        }
        if let Some(place) = self
            .off_limits
            .iter()
            .find(|o| !allowed && under(p, o, true))
        {
            return Err(Refused(format!(
                "{} is in {}, which is off limits to posture checks unless the local profile's ContentCheckPaths allow it",
                p.display(),
                place.display()
            )));
        }
        Ok(())
    }

    /// Decides on `path` as written, then resolves its symbolic links and
    /// decides again; returns the resolved path to open. `Ok(None)`: the
    /// path does not exist (a check's ordinary failure, not a refusal).
    pub fn resolve(&self, path: &str, access: Access) -> Result<Option<PathBuf>, Refused> {
        self.check_literal(path, access)?;
        match std::fs::canonicalize(path) {
            Ok(real) => {
                self.check_place(&real, access)?;
                Ok(Some(real))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Refused(format!("cannot resolve {path}: {e}"))),
        }
    }
}

/// `\\host\share`, `\\?\C:\x`, `\\.\pipe\x`, `\??\`, `//host/share`: paths
/// that name a network share, a device namespace or bypass the platform's
/// path rules. Refused on every platform (a Windows path on Linux is merely
/// relative, but the rule is the same everywhere).
pub fn network_or_device_path(path: &str) -> bool {
    path.starts_with("\\\\")
        || path.starts_with("//")
        || path.starts_with("\\??\\")
        || path.starts_with("/\\")
        || path.starts_with("\\/")
}

/// Absolute on this platform, or a Windows drive path (`C:\...`), which is
/// absolute where it means anything.
fn is_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    let drive = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    Path::new(path).is_absolute() || drive || path.starts_with('/')
}

/// Whether `p` is `root` or lies below it, component by component (so
/// `/homework` is not under `/home`); Windows separators count as such.
fn under(p: &Path, root: &Path, ignore_case: bool) -> bool {
    let parts = |x: &Path| -> Vec<String> {
        x.to_string_lossy()
            .split(['/', '\\'])
            .filter(|c| !c.is_empty() && *c != ".")
            .map(|c| {
                if ignore_case {
                    c.to_lowercase()
                } else {
                    c.to_owned()
                }
            })
            .collect()
    };
    let (p, root) = (parts(p), parts(root));
    !root.is_empty() && p.len() >= root.len() && p[..root.len()] == root[..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> CheckPolicy {
        CheckPolicy::new(
            &allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            [PathBuf::from("/var/lib/agent-state")],
            Some(PathBuf::from("/srv/people/alice")),
        )
    }

    fn refused(p: &CheckPolicy, path: &str, access: Access) -> String {
        p.check_literal(path, access).unwrap_err().0
    }

    #[test]
    fn network_device_and_relative_paths_are_refused_everywhere() {
        let p = policy(&["/"]);
        for path in [
            "\\\\fileserver\\share\\x",
            "\\\\?\\C:\\Windows\\x",
            "\\\\.\\pipe\\spool",
            "\\\\?\\UNC\\host\\share",
            "\\??\\C:\\x",
            "//fileserver/share/x",
        ] {
            for access in [Access::Metadata, Access::Digest, Access::Content] {
                assert!(
                    refused(&p, path, access).contains("network or device path"),
                    "{path}"
                );
            }
        }
        assert!(refused(&p, "etc/passwd", Access::Metadata).contains("not an absolute path"));
        assert!(
            refused(&p, "/etc/../home/alice/.ssh/id_ed25519", Access::Metadata).contains("`..`")
        );
        assert!(refused(&p, "C:\\x\\..\\Users\\a", Access::Metadata).contains("`..`"));
    }

    #[test]
    fn automount_roots_are_refused_even_when_allowed() {
        let p = policy(&["/net", "/"]);
        for path in [
            "/net/evil.example/share",
            "/misc/x",
            "/afs/cell/x",
            "/Network/Servers/x",
        ] {
            assert!(
                refused(&p, path, Access::Metadata).contains("automount root"),
                "{path}"
            );
        }
        assert!(p.check_literal("/network-config", Access::Metadata).is_ok());
        assert!(p.check_literal("/netplan/x", Access::Metadata).is_ok());
    }

    #[test]
    fn off_limits_places_are_refused_to_every_check_unless_allowed() {
        let p = policy(&[]);
        for path in [
            "/home/bob/.ssh/id_ed25519",
            "/root/.bash_history",
            "/Users/bob/Library/Keychains/login.keychain-db",
            "/proc/self/environ",
            "/proc/1/cmdline",
            "/sys/class/net/eth0/address",
            "/dev/sda",
            "/run/user/1000/bus",
            "/var/lib/agent-state/known-psns.json",
            "/srv/people/alice/.netrc",
            "C:\\Users\\bob\\NTUSER.DAT",
            "c:\\users\\bob\\x",
        ] {
            for access in [Access::Metadata, Access::Digest] {
                assert!(refused(&p, path, access).contains("off limits"), "{path}");
            }
        }
        for ok in [
            "/etc/crypttab",
            "/homework",
            "/opt/edr/agent",
            "/usr/bin/nft",
            "C:\\Program Files\\EDR\\edr.exe",
        ] {
            assert!(p.check_literal(ok, Access::Metadata).is_ok(), "{ok}");
            assert!(p.check_literal(ok, Access::Digest).is_ok(), "{ok}");
        }
        let allowed = policy(&["/home/shared/policy", "/proc/sys/net"]);
        assert!(
            allowed
                .check_literal("/home/shared/policy/x.conf", Access::Content)
                .is_ok()
        );
        assert!(
            allowed
                .check_literal("/proc/sys/net/ipv4/ip_forward", Access::Metadata)
                .is_ok()
        );
        assert!(refused(&allowed, "/home/shared/other", Access::Metadata).contains("off limits"));
    }

    #[test]
    fn content_needs_a_content_check_prefix() {
        let p = policy(&["/etc/ssh/"]);
        assert!(
            p.check_literal("/etc/ssh/sshd_config", Access::Content)
                .is_ok()
        );
        for path in ["/etc/shadow", "/etc/sshd", "/etc/ssh_evil/x"] {
            assert!(
                refused(&p, path, Access::Content).contains("ContentCheckPaths"),
                "{path}"
            );
        }
        assert!(
            refused(&policy(&[]), "/etc/hostname", Access::Content).contains("ContentCheckPaths")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_cannot_lead_a_check_into_an_off_limits_place() {
        let dir = tempfile::tempdir().unwrap();
        let secret_dir = dir.path().join("private");
        std::fs::create_dir(&secret_dir).unwrap();
        std::fs::write(secret_dir.join("key"), "secret").unwrap();
        let link = dir.path().join("innocent.conf");
        std::os::unix::fs::symlink(secret_dir.join("key"), &link).unwrap();
        let p = CheckPolicy::new(&[], [secret_dir.clone()], None);
        let link = link.to_str().unwrap();
        assert!(
            p.check_literal(link, Access::Digest).is_ok(),
            "the path as written is fine"
        );
        let e = p.resolve(link, Access::Digest).unwrap_err();
        assert!(e.0.contains("off limits"), "{}", e.0);
        let missing = dir.path().join("missing");
        assert_eq!(
            p.resolve(missing.to_str().unwrap(), Access::Metadata),
            Ok(None)
        );
    }
}
