//! `package-version`: installed package versions.
//!
//! Linux with dpkg: `/var/lib/dpkg/status` read directly (no `dpkg-query`
//! run), at most [`MAX_DPKG_STATUS_BYTES`]; a package counts when its
//! `Status` is `install ok installed`. Versions compare with dpkg's
//! algorithm ([`compare_debian`], deb-version(7)). rpm databases (a SQLite or
//! Berkeley DB file) are not read yet: on a machine without dpkg the fact is
//! unavailable and the condition fails closed. macOS (pkgutil receipts) and
//! Windows (installed programs): not implemented.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{FactRoot, Unavailable};

/// dpkg's database of installed packages.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// The rpm database's directory (detected, not read).
pub const RPM_DB: &str = "/var/lib/rpm";

/// Largest dpkg status file read: a desktop with 3,000 packages has about
/// 4 MiB.
pub const MAX_DPKG_STATUS_BYTES: u64 = 32 * 1024 * 1024;

/// Installed packages and their versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Installed {
    /// Package name → version (the highest when several architectures are installed).
    pub versions: HashMap<String, String>,
}

/// Gathers the installed packages below `root`.
pub fn gather(root: &FactRoot) -> Result<Installed, Unavailable> {
    if !cfg!(target_os = "linux") {
        return Err(Unavailable(
            "installed packages unreadable: not implemented on this platform".to_owned(),
        ));
    }
    if !root.exists(DPKG_STATUS) && root.exists(RPM_DB) {
        return Err(Unavailable(
            "installed packages unreadable: the rpm database is not read yet (dpkg only)"
                .to_owned(),
        ));
    }
    let text = root
        .read(DPKG_STATUS, MAX_DPKG_STATUS_BYTES)
        .map_err(|e| Unavailable(format!("installed packages unreadable: {e}")))?;
    Ok(parse_dpkg_status(&text))
}

/// Reads dpkg's status file (deb822 paragraphs).
pub fn parse_dpkg_status(text: &str) -> Installed {
    let mut versions: HashMap<String, String> = HashMap::new();
    for para in text.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in para.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.split_whitespace().last() == Some("installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            match versions.get(n) {
                Some(old) if compare_debian(old, v) != Ordering::Less => {}
                _ => {
                    versions.insert(n.to_owned(), v.to_owned());
                }
            }
        }
    }
    Installed { versions }
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
        assert!(gather(&root).unwrap_err().0.contains("does not exist"));
        put(dir.path(), DPKG_STATUS, STATUS);
        let p = gather(&root).unwrap();
        assert_eq!(p.versions["openssl"], "3.0.15-1~deb12u1");
        assert_eq!(p.versions["libc6"], "2.36-9+deb12u10");
        assert!(!p.versions.contains_key("removed-thing"));
    }

    #[test]
    fn rpm_machines_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        let e = gather(&FactRoot::at(dir.path())).unwrap_err();
        assert!(e.0.contains("rpm database is not read yet"), "{e}");
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
            let p = gather(&FactRoot::system()).unwrap();
            assert!(!p.versions.is_empty());
        }
    }
}
