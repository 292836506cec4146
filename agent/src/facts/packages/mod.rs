//! `package-version`: installed package versions.
//!
//! - Linux with dpkg: `/var/lib/dpkg/status` read directly (no `dpkg-query`
//!   run), at most [`MAX_DPKG_STATUS_BYTES`]; a package counts when its
//!   `Status` is `install ok installed`. Versions compare with dpkg's
//!   algorithm ([`compare_debian`], deb-version(7)).
//! - Linux with rpm: `/usr/bin/rpm -qa` with a fixed query format
//!   ([`rpm`]: the database is SQLite or Berkeley DB, which the agent does
//!   not read itself); versions compare with rpm's algorithm
//!   ([`rpm::compare_rpm`]). dpkg or rpm is chosen by which database exists
//!   below the root; a machine with both (rpm installed on Debian for
//!   building packages) is a dpkg machine: its rpm database lists what was
//!   installed with rpm by hand, if anything, not the system.
//! - macOS: the pkgutil receipts in `/var/db/receipts` read directly
//!   ([`receipts`]); the policy's name is a package identifier
//!   (`com.crowdstrike.falcon.sensor`); versions compare as dotted numbers
//!   ([`crate::facts::os::compare_dotted`]).
//! - Windows: the installed programs of the Uninstall registry keys
//!   ([`uninstall`], `reg.exe query KEY /s`); the policy's name is the
//!   program's `DisplayName`, compared without regard to case as Windows
//!   does (`CrowdStrike Windows Sensor`); versions compare as dotted numbers.
//!
//! The policy's package name is only ever looked up in the list the agent
//! read: it never becomes a path, a command or an argument.

pub mod receipts;
pub mod rpm;
pub mod uninstall;

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{FactRoot, Unavailable};

/// dpkg's database of installed packages.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// Largest dpkg status file read: a desktop with 3,000 packages has about
/// 4 MiB.
pub const MAX_DPKG_STATUS_BYTES: u64 = 32 * 1024 * 1024;

/// How a platform's package versions are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionOrder {
    /// dpkg's ([`compare_debian`]).
    #[default]
    Debian,
    /// rpm's ([`rpm::compare_rpm`]).
    Rpm,
    /// Dotted numbers ([`crate::facts::os::compare_dotted`]): macOS package
    /// versions and Windows program versions have no common scheme beyond
    /// it (`7.10.17706.0`, `124.0.6367.91`).
    Dotted,
}

impl VersionOrder {
    /// Compares two versions in this order.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            VersionOrder::Debian => compare_debian(a, b),
            VersionOrder::Rpm => rpm::compare_rpm(a, b),
            VersionOrder::Dotted => super::os::compare_dotted(a, b),
        }
    }
}

/// Installed packages and their versions, and where the agent read them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Installed {
    /// Package name → version (the highest when several architectures or
    /// entries are installed); Windows names in lower case.
    pub versions: HashMap<String, String>,
    /// How the versions compare.
    pub order: VersionOrder,
    /// Where the list was read, in words (`/var/lib/dpkg/status`).
    pub source: String,
    /// Whether names compare without regard to case (Windows).
    pub case_insensitive: bool,
}

impl Installed {
    /// The installed version of package `name`, if it is installed.
    pub fn version(&self, name: &str) -> Option<&str> {
        if self.case_insensitive {
            self.versions.get(&name.to_lowercase())
        } else {
            self.versions.get(name)
        }
        .map(String::as_str)
    }

    /// Records `version` of `name`, keeping the highest of several.
    fn insert_highest(&mut self, name: String, version: String) {
        match self.versions.get(&name) {
            Some(old) if self.order.compare(old, &version) != Ordering::Less => {}
            _ => {
                self.versions.insert(name, version);
            }
        }
    }
}

/// Gathers the installed packages of this platform below `root` (the
/// commands of rpm machines and Windows run only on the machine itself).
pub fn gather(root: &FactRoot) -> Result<Installed, Unavailable> {
    #[cfg(target_os = "linux")]
    {
        linux(root)
    }
    #[cfg(target_os = "macos")]
    {
        receipts::gather(root)
    }
    #[cfg(windows)]
    {
        uninstall::gather(root)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = root;
        Err(Unavailable(
            "installed packages unreadable: not implemented on this platform".to_owned(),
        ))
    }
}

/// Linux: dpkg's status file, else rpm's database (module docs).
pub fn linux(root: &FactRoot) -> Result<Installed, Unavailable> {
    if !root.exists(DPKG_STATUS) && rpm::has_database(root) {
        return rpm::gather(root);
    }
    if !root.exists(DPKG_STATUS) {
        return Err(Unavailable(format!(
            "installed packages unreadable: neither dpkg ({DPKG_STATUS}) nor rpm ({}) has a database on this machine",
            rpm::RPM_DBS.join(", ")
        )));
    }
    let text = root
        .read(DPKG_STATUS, MAX_DPKG_STATUS_BYTES)
        .map_err(|e| Unavailable(format!("installed packages unreadable: {e}")))?;
    Ok(parse_dpkg_status(&text))
}

/// Reads dpkg's status file (deb822 paragraphs).
pub fn parse_dpkg_status(text: &str) -> Installed {
    let mut installed = Installed {
        versions: HashMap::new(),
        order: VersionOrder::Debian,
        source: DPKG_STATUS.to_owned(),
        case_insensitive: false,
    };
    for para in text.split("\n\n") {
        let (mut name, mut version, mut is_installed) = (None, None, false);
        for line in para.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                is_installed = v.split_whitespace().last() == Some("installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, version, is_installed) {
            installed.insert_highest(n.to_owned(), v.to_owned());
        }
    }
    installed
}

/// Compares Debian versions (`[epoch:]upstream[-revision]`) as dpkg does.
pub fn compare_debian(a: &str, b: &str) -> Ordering {
    let split = |v: &str| -> (u64, String, String) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|c| c.is_ascii_digit()) && !e.is_empty() => {
                (e.parse().unwrap_or(u64::MAX), r)
            }
            _ => (0, v),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        (epoch, upstream.to_owned(), revision.to_owned())
    };
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(&ua, &ub))
        .then_with(|| verrevcmp(&ra, &rb))
}

/// dpkg's `order`: `~` sorts before everything, even the end; letters
/// before non-letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::test_tree::put;

    const STATUS: &str = "Package: openssl
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 3.0.15-1~deb12u1
Description: Secure Sockets Layer toolkit
 multi-line description

Package: removed-thing
Status: deinstall ok config-files
Version: 9.9

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u9

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u10
";

    #[test]
    fn dpkg_status_lists_installed_packages_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        assert_eq!(
            linux(&root).unwrap_err().0,
            "installed packages unreadable: neither dpkg (/var/lib/dpkg/status) nor rpm (/var/lib/rpm, /usr/lib/sysimage/rpm) has a database on this machine"
        );
        put(dir.path(), DPKG_STATUS, STATUS);
        let p = linux(&root).unwrap();
        assert_eq!(p.version("openssl"), Some("3.0.15-1~deb12u1"));
        assert_eq!(p.version("libc6"), Some("2.36-9+deb12u10"));
        assert_eq!(p.version("removed-thing"), None);
        assert_eq!(p.order, VersionOrder::Debian);
        assert_eq!(p.source, DPKG_STATUS);
    }

    #[test]
    fn dpkg_wins_over_rpm_and_rpm_runs_on_the_machine_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        std::fs::create_dir_all(dir.path().join("usr/lib/sysimage/rpm")).unwrap();
        // An rpm machine: rpm is asked, and never below a test root.
        assert_eq!(
            linux(&root).unwrap_err().0,
            "installed packages unreadable: /usr/bin/rpm not run below a test root"
        );
        // Both databases (rpm installed on Debian): dpkg's is the system's.
        put(dir.path(), DPKG_STATUS, STATUS);
        assert_eq!(linux(&root).unwrap().order, VersionOrder::Debian);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_real_rpm_runs_bounded_and_parses() {
        if !std::path::Path::new(rpm::RPM).is_file() {
            eprintln!("skipped: {} is not installed on this machine", rpm::RPM);
            return;
        }
        // This machine's rpm database (empty or not): the fixed command
        // runs through the bounded runner and its output parses.
        let p = rpm::gather(&FactRoot::system()).unwrap();
        assert_eq!(p.order, VersionOrder::Rpm);
        assert_eq!(p.source, "the output of /usr/bin/rpm -qa");
        assert!(p.versions.values().all(|v| !v.is_empty()));
    }

    #[test]
    fn versions_compare_in_the_platforms_order() {
        assert_eq!(
            VersionOrder::Debian.compare("1.0~rc1", "1.0"),
            Ordering::Less
        );
        assert_eq!(
            VersionOrder::Rpm.compare("1.0^git1", "1.0"),
            Ordering::Greater
        );
        assert_eq!(
            VersionOrder::Dotted.compare("7.10.17706.0", "7.9"),
            Ordering::Greater
        );
        let mut p = Installed {
            case_insensitive: true,
            order: VersionOrder::Dotted,
            ..Installed::default()
        };
        p.insert_highest("crowdstrike windows sensor".into(), "7.9".into());
        p.insert_highest("crowdstrike windows sensor".into(), "7.10".into());
        p.insert_highest("crowdstrike windows sensor".into(), "7.2".into());
        assert_eq!(p.version("CrowdStrike Windows Sensor"), Some("7.10"));
    }

    #[test]
    fn debian_versions_compare_as_dpkg_does() {
        use Ordering::*;
        for (a, b, o) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0a", "1.0", Greater),
            ("1.0+b1", "1.0", Greater),
            ("1:1.0", "2.0", Greater),
            ("3.0.15-1~deb12u1", "3.0.15-1", Less),
            ("3.0.15-1~deb12u1", "3.0.11-1~deb12u2", Greater),
            ("2.36-9+deb12u10", "2.36-9+deb12u9", Greater),
            ("1.2-3-4", "1.2-3", Greater),
            ("0001.0", "1.0", Equal),
            ("1.0", "1.0-0", Equal),
        ] {
            assert_eq!(compare_debian(a, b), o, "{a} vs {b}");
            assert_eq!(compare_debian(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_dpkg_status_if_any() {
        if std::path::Path::new(DPKG_STATUS).exists() {
            let p = linux(&FactRoot::system()).unwrap();
            assert!(!p.versions.is_empty());
        }
    }
}
