//! `updates-recent`: when updates were last installed.
//!
//! - Linux with apt: the last `End-Date:` of `/var/log/apt/history.log`
//!   (the file's last [`MAX_FACT_FILE_BYTES`]; apt writes the date in local
//!   time without a zone, read as UTC: the answer may be off by the zone's
//!   hours, never by a day's worth of policy).
//! - Linux with dnf or yum ([`dnf`]): the newest install or upgrade line of
//!   `/var/log/dnf.rpm.log` (its tail, the same bound; dnf writes the zone),
//!   else of `/var/log/yum.log` (yum writes no year: the year of the file's
//!   modification time).
//! - Linux, when no history holds a date (missing, rotated away): the
//!   modification time of dpkg's status file or of the rpm database (both
//!   are rewritten by every install, removal or upgrade).
//! - macOS ([`install_history`]): the newest software update in
//!   `/Library/Receipts/InstallHistory.plist`.
//! - Windows ([`hotfix`]): the newest hotfix install date that
//!   `Win32_QuickFixEngineering` reports, through PowerShell.
//!
//! Like apt's history, every Linux transaction that installs or upgrades
//! packages counts, not only security updates: the package managers do not
//! record which updates were for security.

pub mod dnf;
pub mod hotfix;
pub mod install_history;

use std::io::{Read as _, Seek as _, SeekFrom};
use std::time::{Duration, SystemTime};

use super::packages::{DPKG_STATUS, rpm::RPM_DBS};
use super::{FactRoot, MAX_FACT_FILE_BYTES, Unavailable};

/// apt's history log.
pub const APT_HISTORY: &str = "/var/log/apt/history.log";

/// The rpm database's files, the SQLite one (rpm 4.16 and later), then the
/// ndb and Berkeley DB ones: the one that exists is rewritten by every
/// transaction.
pub const RPM_DB_FILES: &[&str] = &[
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages.db",
    "/usr/lib/sysimage/rpm/Packages.db",
    "/var/lib/rpm/Packages",
];

/// When updates were last installed, and where the agent read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUpdate {
    /// The time.
    pub at: SystemTime,
    /// The source, in words (`the last End-Date of /var/log/apt/history.log`).
    pub source: String,
}

/// Gathers the fact of this platform below `root` (PowerShell runs only on
/// the machine itself).
pub fn gather(root: &FactRoot) -> Result<LastUpdate, Unavailable> {
    #[cfg(target_os = "linux")]
    {
        linux(root)
    }
    #[cfg(target_os = "macos")]
    {
        install_history::gather(root)
    }
    #[cfg(windows)]
    {
        hotfix::gather(root)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = root;
        Err(Unavailable(
            "update history unreadable: not implemented on this platform".to_owned(),
        ))
    }
}

/// Linux: the package managers' histories, then their databases'
/// modification times (module docs).
pub fn linux(root: &FactRoot) -> Result<LastUpdate, Unavailable> {
    if let Some(at) = read_tail(root, APT_HISTORY).and_then(|t| last_end_date(&t)) {
        return Ok(LastUpdate {
            at,
            source: format!("the last End-Date of {APT_HISTORY}"),
        });
    }
    if let Some(at) = read_tail(root, dnf::DNF_RPM_LOG).and_then(|t| dnf::last_dnf_change(&t)) {
        return Ok(LastUpdate {
            at,
            source: format!("the last install or upgrade in {}", dnf::DNF_RPM_LOG),
        });
    }
    if let Ok(written) = root.modified(dnf::YUM_LOG)
        && let Some(at) =
            read_tail(root, dnf::YUM_LOG).and_then(|t| dnf::last_yum_change(&t, written))
    {
        return Ok(LastUpdate {
            at,
            source: format!("the last install or update in {}", dnf::YUM_LOG),
        });
    }
    let databases = std::iter::once(DPKG_STATUS)
        .chain(RPM_DB_FILES.iter().copied())
        .chain(RPM_DBS.iter().copied());
    for db in databases {
        if let Ok(at) = root.modified(db) {
            return Ok(LastUpdate {
                at,
                source: format!("the modification time of {db}"),
            });
        }
    }
    Err(Unavailable(format!(
        "update history unreadable: no package manager history ({APT_HISTORY}, {}, {}) holds a date, and neither dpkg ({DPKG_STATUS}) nor rpm ({}) has a database on this machine",
        dnf::DNF_RPM_LOG,
        dnf::YUM_LOG,
        RPM_DBS.join(", ")
    )))
}

/// The last [`MAX_FACT_FILE_BYTES`] of a regular file.
pub(crate) fn read_tail(root: &FactRoot, abs: &str) -> Option<String> {
    let mut file = crate::assess::checks::open_regular(&root.path(abs)).ok()??;
    let len = file.metadata().ok()?.len();
    if len > MAX_FACT_FILE_BYTES {
        file.seek(SeekFrom::Start(len - MAX_FACT_FILE_BYTES)).ok()?;
    }
    let mut bytes = Vec::new();
    file.take(MAX_FACT_FILE_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `End-Date: YYYY-MM-DD  HH:MM:SS` of an apt history log.
pub fn last_end_date(text: &str) -> Option<SystemTime> {
    text.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("End-Date:"))
        .find_map(|d| parse_date_time(d.trim()))
}

/// `YYYY-MM-DD HH:MM:SS` (the time optional) as UTC.
pub(crate) fn parse_date_time(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let time = parts.next().unwrap_or("00:00:00");
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        return None;
    };
    utc(*y, *m, *day, *hh, *mm, *ss)
}

/// A civil date and time in UTC; `None` when a field is out of range or
/// the time is before 1970.
pub(crate) fn utc(y: i64, m: i64, day: i64, hh: u64, mm: u64, ss: u64) -> Option<SystemTime> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y, m, day);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::test_tree::put;

    const HISTORY: &str = "
Start-Date: 2026-11-02  09:12:01
Commandline: apt-get upgrade -y
Upgrade: openssl:amd64 (3.0.14-1~deb12u2, 3.0.15-1~deb12u1)
End-Date: 2026-11-02  09:12:40

Start-Date: 2026-12-01  16:10:27
Commandline: apt-get install -y rpm
Install: rpm:amd64 (4.18.0+dfsg-1+deb12u1)
End-Date: 2026-12-01  16:10:35
";

    #[test]
    fn the_last_end_date_of_the_apt_history_counts() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        assert_eq!(
            linux(&root).unwrap_err().0,
            "update history unreadable: no package manager history (/var/log/apt/history.log, /var/log/dnf.rpm.log, /var/log/yum.log) holds a date, and neither dpkg (/var/lib/dpkg/status) nor rpm (/var/lib/rpm, /usr/lib/sysimage/rpm) has a database on this machine"
        );
        put(dir.path(), DPKG_STATUS, "");
        let u = linux(&root).unwrap();
        assert_eq!(u.source, "the modification time of /var/lib/dpkg/status");
        put(dir.path(), APT_HISTORY, HISTORY);
        let u = linux(&root).unwrap();
        assert_eq!(u.source, "the last End-Date of /var/log/apt/history.log");
        // 2026-12-01 16:10:35 UTC.
        assert_eq!(
            u.at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_796_141_435
        );
        // A history without a date (rotated, cut) falls back to dpkg.
        put(
            dir.path(),
            APT_HISTORY,
            "Start-Date: 2026-12-01  16:10:27\n",
        );
        assert!(linux(&root).unwrap().source.contains("dpkg/status"));
    }

    #[test]
    fn dnf_then_yum_then_the_rpm_database() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        // An rpm machine whose histories are gone: the database's time.
        std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
        let u = linux(&root).unwrap();
        assert_eq!(u.source, "the modification time of /var/lib/rpm");
        put(dir.path(), "/var/lib/rpm/rpmdb.sqlite", "");
        let u = linux(&root).unwrap();
        assert_eq!(
            u.source,
            "the modification time of /var/lib/rpm/rpmdb.sqlite"
        );
        // RHEL 7: yum's log, in the year the file was written.
        put(dir.path(), dnf::YUM_LOG, include_str!("../samples/yum.log"));
        let u = linux(&root).unwrap();
        assert_eq!(u.source, "the last install or update in /var/log/yum.log");
        // RHEL 8 and later: dnf's log wins.
        put(
            dir.path(),
            dnf::DNF_RPM_LOG,
            include_str!("../samples/dnf.rpm.log"),
        );
        let u = linux(&root).unwrap();
        assert_eq!(
            u.source,
            "the last install or upgrade in /var/log/dnf.rpm.log"
        );
        assert_eq!(u.at, parse_date_time("2026-11-24 07:41:07").unwrap());
        // Only removals since the log rotated: no date in it, yum's next.
        put(
            dir.path(),
            dnf::DNF_RPM_LOG,
            "2026-11-30T16:20:46+0100 SUBDEBUG Erase: telnet-1:0.17-85.el9.x86_64\n",
        );
        assert!(linux(&root).unwrap().source.contains("yum.log"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_date_time("2026-13-01  00:00:00"), None);
        assert_eq!(parse_date_time("garbage"), None);
    }
}
