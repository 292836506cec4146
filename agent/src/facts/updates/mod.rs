//! `updates-recent`: when packages were last installed or upgraded.
//!
//! Linux with apt: the last `End-Date:` of `/var/log/apt/history.log` (the
//! file's last [`MAX_FACT_FILE_BYTES`]; apt writes the date in local time
//! without a zone, read as UTC: the answer may be off by the zone's hours,
//! never by a day's worth of policy). When the history is missing or holds
//! no date (rotated away), the modification time of `/var/lib/dpkg/status`
//! (dpkg rewrites it at every install, removal or upgrade). dnf history,
//! macOS softwareupdate history and Windows hotfix dates: not implemented.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::time::{Duration, SystemTime};

use super::packages::DPKG_STATUS;
use super::{FactRoot, MAX_FACT_FILE_BYTES, Unavailable};

/// apt's history log.
pub const APT_HISTORY: &str = "/var/log/apt/history.log";

/// When updates were last installed, and where the agent read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUpdate {
    /// The time.
    pub at: SystemTime,
    /// The source, in words (`the last End-Date of /var/log/apt/history.log`).
    pub source: String,
}

/// Gathers the fact below `root`.
pub fn gather(root: &FactRoot) -> Result<LastUpdate, Unavailable> {
    if !cfg!(target_os = "linux") {
        return Err(Unavailable(
            "update history unreadable: not implemented on this platform".to_owned(),
        ));
    }
    if let Some(at) = read_tail(root, APT_HISTORY).and_then(|t| last_end_date(&t)) {
        return Ok(LastUpdate {
            at,
            source: format!("the last End-Date of {APT_HISTORY}"),
        });
    }
    match root.modified(DPKG_STATUS) {
        Ok(at) => Ok(LastUpdate {
            at,
            source: format!("the modification time of {DPKG_STATUS}"),
        }),
        Err(_) => Err(Unavailable(format!(
            "update history unreadable: neither {APT_HISTORY} nor {DPKG_STATUS} is readable (only apt/dpkg is read; dnf history is not yet)"
        ))),
    }
}

/// The last [`MAX_FACT_FILE_BYTES`] of a regular file.
fn read_tail(root: &FactRoot, abs: &str) -> Option<String> {
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

fn parse_date_time(s: &str) -> Option<SystemTime> {
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
    if !(1..=12).contains(m) || !(1..=31).contains(day) || *hh > 23 || *mm > 59 || *ss > 60 {
        return None;
    }
    let days = days_from_civil(*y, *m, *day);
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
        assert!(gather(&root).unwrap_err().0.contains("neither"));
        put(dir.path(), DPKG_STATUS, "");
        let u = gather(&root).unwrap();
        assert_eq!(u.source, "the modification time of /var/lib/dpkg/status");
        put(dir.path(), APT_HISTORY, HISTORY);
        let u = gather(&root).unwrap();
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
        assert!(gather(&root).unwrap().source.contains("dpkg/status"));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(parse_date_time("2026-13-01  00:00:00"), None);
        assert_eq!(parse_date_time("garbage"), None);
    }
}
