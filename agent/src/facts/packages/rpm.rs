//! rpm machines: the installed packages as `rpm -qa` prints them, and rpm's
//! version order.
//!
//! The rpm database is a SQLite file (rpm 4.16 and later), a Berkeley DB or
//! an ndb file; reading any of them directly would take a database engine
//! the agent does not carry (binary size, issue 12), so the one fixed
//! command [`RPM`] [`RPM_ARGS`] lists them (no shell, fixed arguments, the
//! bounded runner of [`crate::facts::command`]).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{Installed, VersionOrder};
use crate::facts::{FactRoot, Unavailable};

/// rpm's query tool.
pub const RPM: &str = "/usr/bin/rpm";

/// `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n'`: one line
/// per installed package, the epoch always given (0 when the package has
/// none). No `--nosignature` or other option that changes what is listed.
pub const RPM_ARGS: &[&str] = &[
    "-qa",
    "--qf",
    "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n",
];

/// Most bytes of `rpm -qa` output read: a workstation with 5,000 packages
/// prints about 200 KiB.
pub const MAX_RPM_OUTPUT: u64 = 8 * 1024 * 1024;

/// How long `rpm -qa` may run: it reads every package header, a second or
/// two with a cold cache on a machine with thousands of packages; within
/// the assessment's time budget (`assess::budget`).
pub const RPM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// Where rpm keeps its database: `/var/lib/rpm` (and, from Fedora 36 on,
/// `/usr/lib/sysimage/rpm`, which `/var/lib/rpm` links to).
pub const RPM_DBS: &[&str] = &["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

/// Whether an rpm database directory exists below `root`.
pub fn has_database(root: &FactRoot) -> bool {
    RPM_DBS.iter().any(|d| root.path(d).is_dir())
}

/// Runs [`RPM`] [`RPM_ARGS`] on this machine (never below a test root) and
/// reads its output.
pub fn gather(root: &FactRoot) -> Result<Installed, Unavailable> {
    let text =
        crate::facts::command::run_text_with(root, RPM, RPM_ARGS, &[], MAX_RPM_OUTPUT, RPM_TIMEOUT)
            .map_err(|e| Unavailable(format!("installed packages unreadable: {e}")))?;
    Ok(parse_rpm_qa(&text))
}

/// Reads `NAME<TAB>EPOCH:VERSION-RELEASE` lines ([`RPM_ARGS`]). An epoch of
/// 0 is dropped (`3.0.7-27.el9`, as `rpm -q` shows it); another is kept
/// (`1:3.0.7-27.el9`). A package installed for several architectures
/// counts at its highest version. `gpg-pubkey` entries are rpm's imported
/// keys, not packages, and are left out.
pub fn parse_rpm_qa(text: &str) -> Installed {
    let mut versions: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        let Some((name, evr)) = line.split_once('\t') else {
            continue;
        };
        let (name, evr) = (name.trim(), evr.trim());
        if name.is_empty() || evr.is_empty() || name == "gpg-pubkey" {
            continue;
        }
        let evr = evr.strip_prefix("0:").unwrap_or(evr);
        match versions.get(name) {
            Some(old) if compare_rpm(old, evr) != Ordering::Less => {}
            _ => {
                versions.insert(name.to_owned(), evr.to_owned());
            }
        }
    }
    Installed {
        versions,
        order: VersionOrder::Rpm,
        source: format!("the output of {RPM} -qa"),
        case_insensitive: false,
    }
}

/// Compares rpm versions `[epoch:]version[-release]` as rpm does for a
/// dependency (`rpmdsCompare`): the epoch as a number (none is 0), then
/// the versions with [`rpmvercmp`], then the releases, but only when both
/// sides have one: a required `3.0.7` is met by any `3.0.7-N`.
pub fn compare_rpm(a: &str, b: &str) -> Ordering {
    let split = |v: &str| -> (u64, String, Option<String>) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
                (e.parse().unwrap_or(u64::MAX), r)
            }
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((ver, rel)) => (epoch, ver.to_owned(), Some(rel.to_owned())),
            None => (epoch, rest.to_owned(), None),
        }
    };
    let (ea, va, ra) = split(a);
    let (eb, vb, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(&va, &vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(&ra, &rb),
            _ => Ordering::Equal,
        })
}

/// rpm's `rpmvercmp` (rpmio/rpmvercmp.c, rpm 4.15 and later): the strings
/// are cut into runs of digits and runs of letters, anything else
/// separates them; `~` sorts before everything, even the end (`1.0~rc1` <
/// `1.0`); `^` sorts after the end but before anything else (`1.0` <
/// `1.0^git1` < `1.0.1`); numbers compare as numbers, letters as bytes, a
/// number is newer than letters; when everything compared equal the string
/// with something left is newer.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let run_a = a[i..].iter().take_while(|c| class(c)).count();
        let run_b = b[j..].iter().take_while(|c| class(c)).count();
        let (sa, sb) = (&a[i..i + run_a], &b[j..j + run_b]);
        i += run_a;
        j += run_b;
        if sb.is_empty() {
            // Different kinds: a number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let trim = |s: &[u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
            let (sa, sb) = (&sa[trim(sa)..], &sb[trim(sb)..]);
            sa.len().cmp(&sb.len()).then_with(|| sa.cmp(sb))
        } else {
            sa.cmp(sb)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    // Equal runs, perhaps different separators: what is left wins.
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_qa_sample() {
        // Recorded in the layout of `rpm -qa --qf` on a Rocky Linux 9
        // workstation, shortened.
        let p = parse_rpm_qa(include_str!("../samples/rpm-qa.txt"));
        assert_eq!(p.version("openssl"), Some("1:3.0.7-27.el9"));
        assert_eq!(p.version("glibc"), Some("2.34-100.el9_4.2"));
        assert_eq!(
            p.version("kernel-core"),
            Some("5.14.0-427.20.1.el9_4"),
            "the highest of several installed kernels"
        );
        assert_eq!(p.version("falcon-sensor"), Some("7.10.0-16303.el9"));
        assert_eq!(p.version("gpg-pubkey"), None, "keys are not packages");
        assert_eq!(p.order, VersionOrder::Rpm);
        assert_eq!(p.source, "the output of /usr/bin/rpm -qa");
        assert!(parse_rpm_qa("garbage\n\t\n").versions.is_empty());
    }

    /// The real rpm's `rpm.vercmp` (its Lua binding of `rpmvercmp`) on
    /// generated versions, all in one run.
    #[cfg(target_os = "linux")]
    #[test]
    fn rpmvercmp_agrees_with_the_real_rpm() {
        if !std::path::Path::new(RPM).is_file() {
            eprintln!("skipped: {RPM} is not installed on this machine");
            return;
        }
        let mut rng = fastrand::Rng::with_seed(15);
        let alphabet = b"0019az.~^_+";
        let pairs: Vec<(String, String)> = (0..2000)
            .map(|_| {
                let mut one = || {
                    (0..rng.usize(1..7))
                        .map(|_| char::from(alphabet[rng.usize(0..alphabet.len())]))
                        .collect::<String>()
                };
                (one(), one())
            })
            .collect();
        let calls: String = pairs
            .iter()
            .map(|(a, b)| format!("print(rpm.vercmp('{a}', '{b}') .. ' ')\n"))
            .collect();
        #[allow(clippy::disallowed_methods)] // a test's own fixed command
        let out = std::process::Command::new(RPM)
            .arg("--eval")
            .arg(format!("%{{lua:\n{calls}}}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answers: Vec<i32> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        assert_eq!(answers.len(), pairs.len());
        for ((a, b), want) in pairs.iter().zip(answers) {
            assert_eq!(rpmvercmp(a, b), want.cmp(&0), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn rpmvercmp_agrees_with_rpms_own_tests() {
        use Ordering::*;
        // rpm's tests/rpmvercmp.at, the cases that do not need a shell.
        for (a, b, o) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1a", Equal),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p1", Equal),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p10", Equal),
            ("5.5p1", "5.5p10", Less),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10", Equal),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "xyz.4", Equal),
            ("xyz.4", "8", Less),
            ("xyz.4", "2", Less),
            ("5.5p2", "5.6p1", Less),
            ("5.6p1", "6.5p1", Less),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("10a2", "10b2", Less),
            ("1.0aa", "1.0aa", Equal),
            ("1.0a", "1.0aa", Less),
            ("10.0001", "10.0001", Equal),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101121", Equal),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "a", Equal),
            ("a+", "a+", Equal),
            ("a+", "a_", Equal),
            ("+a", "+a", Equal),
            ("+a", "_a", Equal),
            ("+_", "+_", Equal),
            ("_+", "+_", Equal),
            ("_+", "_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1~git123", Equal),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0^", Equal),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git1", Equal),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0^20160101", Equal),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0^20160101^git1", "1.0^20160101^git1", Equal),
            ("1.0^20160102", "1.0^20160101^git1", Greater),
            ("1.0~rc1^git1", "1.0~rc1^git1", Equal),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1~pre", Equal),
            ("1.0^git1", "1.0^git1~pre", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ] {
            assert_eq!(rpmvercmp(a, b), o, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), o.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn epoch_version_release() {
        use Ordering::*;
        for (a, b, o) in [
            ("3.0.7-27.el9", "3.0.7-25.el9", Greater),
            ("3.0.7-27.el9", "3.0.7", Equal),
            ("3.0.7-27.el9", "3.0.8", Less),
            ("1:3.0.7-27.el9", "3.2.2-6.el9", Greater),
            ("1:3.0.7-27.el9", "1:3.2", Less),
            ("0:3.0.7-27.el9", "3.0.7-27.el9", Equal),
            ("2.9.1-7.el9_4.1", "2.9.1-7.el9_4", Greater),
            ("126.0-1.fc40", "125.0.3-1.fc40", Greater),
        ] {
            assert_eq!(compare_rpm(a, b), o, "{a} vs {b}");
            assert_eq!(compare_rpm(b, a), o.reverse(), "{b} vs {a}");
        }
    }
}
