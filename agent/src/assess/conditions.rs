//! The typed conditions of the version 2 requirements document, evaluated
//! from the facts the agent gathers itself ([`crate::facts`]): the server
//! names the condition and its bounds, never a path, command or argument.
//! A fact the platform cannot give fails the condition closed with the
//! reason, in words for the user and the administrator.

use std::cmp::Ordering;
use std::time::Duration;

use crate::facts::{Facts, os};

use super::CheckOutcome;

/// `os-version`: the OS is `name` (os-release `ID` or `ID_LIKE`, `macos`;
/// `linux` compares the kernel release) within `min`..=`max`.
pub fn os_version(name: &str, min: Option<&str>, max: Option<&str>, facts: &Facts) -> CheckOutcome {
    let os = match facts.os() {
        Ok(os) => os,
        Err(e) => return CheckOutcome::fail(format!("OS version unknown: {e}")),
    };
    let wanted = bounds(name, min, max);
    let (what, version) = if name == "linux" && cfg!(target_os = "linux") {
        match &os.kernel {
            Some(k) => (format!("the Linux kernel is {k}"), k.as_str()),
            None => {
                return CheckOutcome::fail(format!(
                    "the Linux kernel release is unknown ({} is unreadable); {wanted} is required",
                    os::KERNEL_RELEASE
                ));
            }
        }
    } else {
        if os.id != name && !os.id_like.iter().any(|l| l == name) {
            return CheckOutcome::fail(format!("the OS is {} ({}), not {name}", os.pretty, os.id));
        }
        (
            format!("the OS is {} ({} {})", os.pretty, os.id, os.version),
            os.version.as_str(),
        )
    };
    if version.is_empty() && (min.is_some() || max.is_some()) {
        return CheckOutcome::fail(format!(
            "{what}, whose version is not known (no VERSION_ID); {wanted} is required"
        ));
    }
    if let Some(min) = min
        && os::compare_dotted(version, min) == Ordering::Less
    {
        return CheckOutcome::fail(format!("{what}, older than the {wanted} required"));
    }
    if let Some(max) = max
        && os::compare_dotted(version, max) == Ordering::Greater
    {
        return CheckOutcome::fail(format!("{what}, newer than the {wanted} allowed"));
    }
    CheckOutcome::pass(format!("{what}, within {wanted}"))
}

fn bounds(name: &str, min: Option<&str>, max: Option<&str>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{name} {a} to {b}"),
        (Some(a), None) => format!("{name} {a} or later"),
        (None, Some(b)) => format!("{name} {b} or earlier"),
        (None, None) => format!("any {name} version"),
    }
}

/// `disk-encryption`: the root file system is on an encrypted volume.
pub fn disk_encryption(facts: &Facts) -> CheckOutcome {
    match facts.root_disk() {
        Ok(d) if d.encrypted => CheckOutcome::pass(format!(
            "disk is encrypted: / is on {}, {}",
            d.source, d.detail
        )),
        Ok(d) => CheckOutcome::fail(format!(
            "disk is not encrypted: / is on {}, {}",
            d.source, d.detail
        )),
        Err(e) => CheckOutcome::fail(format!("disk encryption unknown: {e}")),
    }
}

/// `firewall-enabled`: a host firewall drops unsolicited inbound traffic.
pub fn firewall_enabled(facts: &Facts) -> CheckOutcome {
    match facts.firewall() {
        Ok(f) if f.enabled => CheckOutcome::pass(format!("firewall is enabled: {}", f.detail)),
        Ok(f) => CheckOutcome::fail(format!("firewall is not enabled: {}", f.detail)),
        Err(e) => CheckOutcome::fail(format!("firewall state unknown: {e}")),
    }
}

/// `service-active`: service `name` runs.
pub fn service_active(name: &str, facts: &Facts) -> CheckOutcome {
    match facts.services() {
        Ok(s) if s.runs(name) => CheckOutcome::pass(format!("service {name} runs ({})", s.source)),
        Ok(s) => CheckOutcome::fail(format!("service {name} is not running ({})", s.source)),
        Err(e) => CheckOutcome::fail(format!("service {name} state unknown: {e}")),
    }
}

/// `package-version`: package `name` is installed at `min` or later.
pub fn package_version(name: &str, min: &str, facts: &Facts) -> CheckOutcome {
    let installed = match facts.packages() {
        Ok(p) => p,
        Err(e) => return CheckOutcome::fail(format!("package {name} unknown: {e}")),
    };
    match installed.version(name) {
        None => CheckOutcome::fail(format!(
            "package {name} is not installed (not in {}; {min} or later is required)",
            installed.source
        )),
        Some(v) if installed.order.compare(v, min) == Ordering::Less => CheckOutcome::fail(
            format!("package {name} {v} is older than the {min} required"),
        ),
        Some(v) => CheckOutcome::pass(format!(
            "package {name} {v} is installed ({min} or later is required)"
        )),
    }
}

/// `updates-recent`: updates were installed less than `max_days` days ago.
pub fn updates_recent(max_days: u32, facts: &Facts) -> CheckOutcome {
    let last = match facts.last_update() {
        Ok(u) => u,
        Err(e) => return CheckOutcome::fail(format!("last update unknown: {e}")),
    };
    let limit = Duration::from_secs(u64::from(max_days) * 86_400);
    match facts.now().duration_since(last.at) {
        Ok(age) if age >= limit => CheckOutcome::fail(format!(
            "updates were last installed {} days ago ({}), more than the {max_days} allowed",
            age.as_secs() / 86_400,
            last.source
        )),
        Ok(age) => CheckOutcome::pass(format!(
            "updates were last installed {} days ago ({}), within the {max_days} allowed",
            age.as_secs() / 86_400,
            last.source
        )),
        // A date in the future counts as recent.
        Err(_) => CheckOutcome::pass(format!(
            "updates were last installed today ({})",
            last.source
        )),
    }
}

/// `screen-lock`: an idle session locks after at most `max_minutes`.
pub fn screen_lock(max_minutes: u32, facts: &Facts) -> CheckOutcome {
    let lock = match facts.screen_lock() {
        Ok(l) => l,
        Err(e) => return CheckOutcome::fail(format!("screen lock unknown: {e}")),
    };
    let limit = Duration::from_secs(u64::from(max_minutes) * 60);
    match lock.lock_after {
        None => CheckOutcome::fail(format!(
            "the screen never locks by itself ({}); it must lock within {max_minutes} minutes",
            lock.source
        )),
        Some(after) if after > limit => CheckOutcome::fail(format!(
            "the screen locks after {} of inactivity ({}), later than the {max_minutes} minutes allowed",
            minutes(after),
            lock.source
        )),
        Some(after) => CheckOutcome::pass(format!(
            "the screen locks after {} of inactivity ({}), within the {max_minutes} minutes allowed",
            minutes(after),
            lock.source
        )),
    }
}

/// `5 minutes`, `5 minutes 30 seconds`.
fn minutes(d: Duration) -> String {
    let (m, s) = (d.as_secs() / 60, d.as_secs() % 60);
    match (m, s) {
        (m, 0) => format!("{m} minutes"),
        (0, s) => format!("{s} seconds"),
        (m, s) => format!("{m} minutes {s} seconds"),
    }
}
