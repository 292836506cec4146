//! dnf's and yum's logs of what rpm installed.
//!
//! dnf (Fedora, RHEL 8 and later) logs each package an rpm transaction
//! touches to [`DNF_RPM_LOG`], one line each, with the zone:
//!
//! ```text
//! 2024-05-02T10:11:12+0000 SUBDEBUG Upgrade: openssl-libs-1:3.0.7-27.el9.x86_64
//! 2024-05-02T10:11:13+0000 SUBDEBUG Upgraded: openssl-libs-1:3.0.7-25.el9.x86_64
//! ```
//!
//! (older dnf writes `Z` or `+00` for the zone). yum (RHEL 7) logs to
//! [`YUM_LOG`] without a year: `May 02 10:11:12 Updated: openssl-...`.
//! Installs, upgrades, reinstalls and downgrades count; removals do not.
//! dnf5 (Fedora 41 and later) writes neither log: the rpm database's
//! modification time answers there.

use std::time::{Duration, SystemTime};

/// dnf's log of rpm transactions.
pub const DNF_RPM_LOG: &str = "/var/log/dnf.rpm.log";

/// yum's log.
pub const YUM_LOG: &str = "/var/log/yum.log";

/// The dnf actions that put packages on disk (`Upgrade`, `Upgraded`, ...).
const DNF_ACTIONS: &[&str] = &["Install", "Upgrade", "Reinstall", "Downgrade"];

/// The yum actions that put packages on disk.
const YUM_ACTIONS: &[&str] = &["Installed:", "Updated:"];

/// The time of the last install or upgrade line of a dnf.rpm.log.
pub fn last_dnf_change(text: &str) -> Option<SystemTime> {
    text.lines().rev().find_map(|line| {
        let (stamp, rest) = line.split_once(' ')?;
        let action = rest.trim_start().strip_prefix("SUBDEBUG ")?;
        DNF_ACTIONS
            .iter()
            .any(|a| action.starts_with(a))
            .then(|| parse_stamp(stamp))
            .flatten()
    })
}

/// dnf's stamp: `2024-05-02T10:11:12+0000`, `...Z`, `...+00`, `...+02:00`.
fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    let (date, time) = stamp.split_once('T')?;
    let zone_at = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let utc = super::parse_date_time(&format!("{date} {clock}"))?;
    let offset = match zone {
        "" | "Z" => 0,
        z => {
            let sign: i64 = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
            let (h, m) = match digits.len() {
                2 => (digits.parse::<i64>().ok()?, 0),
                4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
                _ => return None,
            };
            sign * (h * 3600 + m * 60)
        }
    };
    // Local time = UTC + offset, so UTC = local - offset.
    let shift = Duration::from_secs(offset.unsigned_abs());
    if offset >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
}

/// The time of the last install or update line of a yum.log, in the year
/// of `written` (the file's modification time), or the year before when
/// that would put it after the file was written (a log carried over New
/// Year). yum writes local time; it is read as UTC (module docs of
/// `updates`).
pub fn last_yum_change(text: &str, written: SystemTime) -> Option<SystemTime> {
    let year = year_of(written);
    text.lines().rev().find_map(|line| {
        let mut f = line.split_whitespace();
        let (month, day, clock, action) = (f.next()?, f.next()?, f.next()?, f.next()?);
        if !YUM_ACTIONS.contains(&action) {
            return None;
        }
        let month = MONTHS.iter().position(|m| *m == month)? + 1;
        let at = |y: i64| super::parse_date_time(&format!("{y}-{month}-{day} {clock}"));
        let this_year = at(year)?;
        if this_year > written + Duration::from_secs(86_400) {
            at(year - 1)
        } else {
            Some(this_year)
        }
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The UTC year of a time.
fn year_of(t: SystemTime) -> i64 {
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    // Hinnant's civil_from_days, the year only.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn dnf_rpm_log_sample() {
        // The layout of dnf 4's dnf.rpm.log on a Rocky Linux 9 machine:
        // the last upgrade counts, the later removal does not.
        let at = last_dnf_change(include_str!("../samples/dnf.rpm.log")).unwrap();
        // 2026-11-24T08:41:07+0100 = 07:41:07 UTC.
        assert_eq!(
            secs(at),
            secs(super::super::parse_date_time("2026-11-24 07:41:07").unwrap())
        );
        assert_eq!(
            last_dnf_change("2026-11-24T08:41:07+0100 INFO --- logging initialized ---\n"),
            None
        );
    }

    #[test]
    fn dnf_stamps_in_every_zone_form() {
        let utc = |s| secs(super::super::parse_date_time(s).unwrap());
        for (stamp, want) in [
            ("2024-05-02T10:11:12Z", "2024-05-02 10:11:12"),
            ("2024-05-02T10:11:12+0000", "2024-05-02 10:11:12"),
            ("2022-03-28T14:27:24+00", "2022-03-28 14:27:24"),
            ("2024-10-24T21:35:15+0200", "2024-10-24 19:35:15"),
            ("2020-12-06T12:41:03+0500", "2020-12-06 07:41:03"),
            ("2024-05-02T22:00:00-05:00", "2024-05-03 03:00:00"),
        ] {
            assert_eq!(secs(parse_stamp(stamp).unwrap()), utc(want), "{stamp}");
        }
        assert_eq!(parse_stamp("2024-05-02"), None);
        assert_eq!(parse_stamp("2024-05-02T10:11:12+1"), None);
    }

    #[test]
    fn yum_log_sample_takes_the_year_of_the_file() {
        let text = include_str!("../samples/yum.log");
        let written = super::super::parse_date_time("2026-03-02 09:00:00").unwrap();
        let at = last_yum_change(text, written).unwrap();
        assert_eq!(
            secs(at),
            secs(super::super::parse_date_time("2026-02-27 14:03:51").unwrap())
        );
        // Written in January: a December line is last year's.
        let written = super::super::parse_date_time("2026-01-05 09:00:00").unwrap();
        let at = last_yum_change(
            "Dec 30 10:00:00 Updated: bash-4.2.46-35.el7_9.x86_64\n",
            written,
        )
        .unwrap();
        assert_eq!(
            secs(at),
            secs(super::super::parse_date_time("2025-12-30 10:00:00").unwrap())
        );
        assert_eq!(
            last_yum_change("Feb 27 14:05:02 Erased: telnet\n", written),
            None
        );
    }

    #[test]
    fn years_of_times() {
        for (s, y) in [
            ("1970-01-01 00:00:00", 1970),
            ("2024-02-29 12:00:00", 2024),
            ("2025-12-31 23:59:59", 2025),
            ("2026-01-01 00:00:00", 2026),
        ] {
            assert_eq!(year_of(super::super::parse_date_time(s).unwrap()), y, "{s}");
        }
    }
}
