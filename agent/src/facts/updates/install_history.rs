//! macOS: the installer's history, what System Information shows under
//! "Installations".
//!
//! [`INSTALL_HISTORY`] is a property list (XML or binary), an array of one
//! dict per install: `date`, `displayName`, `displayVersion`,
//! `processName`, and on recent systems `contentType`. The newest entry
//! that is a software update counts: installed by [`UPDATE_PROCESSES`]
//! (`softwareupdated`, which also installs Rapid Security Responses and
//! Safari updates; the macOS installer for upgrades). The background
//! security data updates that `softwareupdated` installs every few days
//! (XProtect, Gatekeeper and MRT configuration data: `contentType`
//! `config-data`, or named `...ConfigData`/`... Configuration Data` on
//! older systems) do not count: they would keep an unpatched OS "recent".
//! Packages installed by hand (`installer`) and App Store apps do not
//! count either.

use std::time::SystemTime;

use super::LastUpdate;
use crate::facts::{FactRoot, Unavailable};

/// The installer's history.
pub const INSTALL_HISTORY: &str = "/Library/Receipts/InstallHistory.plist";

/// Largest history read: a Mac a few years old has about 1 MiB.
pub const MAX_INSTALL_HISTORY_BYTES: u64 = 16 * 1024 * 1024;

/// The processes whose installs are software updates.
pub const UPDATE_PROCESSES: &[&str] = &[
    "softwareupdated",
    "Software Update",
    "macOS Installer",
    "OS X Installer",
];

/// Reads the history below `root`.
pub fn gather(root: &FactRoot) -> Result<LastUpdate, Unavailable> {
    let bytes = root
        .read_bytes(INSTALL_HISTORY, MAX_INSTALL_HISTORY_BYTES)
        .map_err(|e| Unavailable(format!("update history unreadable: {e}")))?;
    parse_install_history(&bytes)
}

/// The newest software update of an InstallHistory.plist (module docs).
pub fn parse_install_history(bytes: &[u8]) -> Result<LastUpdate, Unavailable> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes)).map_err(|e| {
        Unavailable(format!(
            "update history unreadable: {INSTALL_HISTORY} is not a property list: {e}"
        ))
    })?;
    let entries = value.as_array().ok_or_else(|| {
        Unavailable(format!(
            "update history unreadable: {INSTALL_HISTORY} is not an array of installs"
        ))
    })?;
    let mut newest: Option<(SystemTime, String)> = None;
    for entry in entries.iter().filter_map(plist::Value::as_dictionary) {
        let text = |key: &str| {
            entry
                .get(key)
                .and_then(plist::Value::as_string)
                .unwrap_or("")
        };
        let name = text("displayName");
        if !UPDATE_PROCESSES.contains(&text("processName"))
            || is_config_data(name, text("contentType"))
        {
            continue;
        }
        let Some(at) = entry
            .get("date")
            .and_then(plist::Value::as_date)
            .map(SystemTime::from)
        else {
            continue;
        };
        if newest.as_ref().is_none_or(|(t, _)| at > *t) {
            let version = text("displayVersion");
            let what = if version.is_empty() || name.contains(version) {
                name.to_owned()
            } else {
                format!("{name} {version}")
            };
            newest = Some((at, what));
        }
    }
    let (at, what) = newest.ok_or_else(|| {
        Unavailable(format!(
            "update history unreadable: {INSTALL_HISTORY} records no software update"
        ))
    })?;
    Ok(LastUpdate {
        at,
        source: format!("{what}, in {INSTALL_HISTORY}"),
    })
}

/// Whether an install is background security data rather than an update.
fn is_config_data(name: &str, content_type: &str) -> bool {
    content_type == "config-data"
        || name.ends_with("ConfigData")
        || name.ends_with("Configuration Data")
        || name.starts_with("XProtect")
        || name.starts_with("MRT")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = include_bytes!("../samples/InstallHistory.plist");

    #[test]
    fn the_newest_os_update_counts_not_config_data_or_apps() {
        let u = parse_install_history(SAMPLE).unwrap();
        // macOS Sonoma 14.4.1 at 2024-03-26T18:03:29Z; the later XProtect
        // data, the hand-installed package and the App Store app do not count.
        assert_eq!(
            u.at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_711_476_209
        );
        assert_eq!(
            u.source,
            "macOS Sonoma 14.4.1, in /Library/Receipts/InstallHistory.plist"
        );
        let e = parse_install_history(b"<plist><array></array></plist>").unwrap_err();
        assert_eq!(
            e.0,
            "update history unreadable: /Library/Receipts/InstallHistory.plist records no software update"
        );
        assert!(parse_install_history(b"<plist><dict></dict></plist>").is_err());
    }

    #[test]
    fn read_below_the_root_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        assert_eq!(
            gather(&root).unwrap_err().0,
            "update history unreadable: /Library/Receipts/InstallHistory.plist does not exist"
        );
        crate::facts::test_tree::put(
            dir.path(),
            INSTALL_HISTORY,
            std::str::from_utf8(SAMPLE).unwrap(),
        );
        assert!(
            gather(&root)
                .unwrap()
                .source
                .starts_with("macOS Sonoma 14.4.1")
        );
    }
}
