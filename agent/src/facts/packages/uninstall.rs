//! Windows: the installed programs, as "Apps & features" lists them.
//!
//! Every installer (MSI or not) registers its program under an Uninstall
//! registry key with a `DisplayName` and, almost always, a
//! `DisplayVersion`. Three keys hold them: the machine's 64-bit and 32-bit
//! (`WOW6432Node`) programs and the user's own ([`UNINSTALL_KEYS`]), each
//! read with `reg.exe query KEY /s` (fixed arguments, like `facts::os`).
//! The machine's 64-bit key must be readable; the other two are often
//! absent and count as empty then.
//!
//! The policy's package name is a `DisplayName`, compared whole and without
//! regard to case (Windows compares names so); a program that registers no
//! `DisplayVersion` is not listed (there is nothing to compare `min` with).
//! `reg.exe` prints names in the console's code page: a name with
//! characters outside ASCII may not match.

use super::{Installed, VersionOrder};
use crate::facts::os::REG;
use crate::facts::{FactRoot, Unavailable};

/// The Uninstall keys and the fixed arguments that list each, the
/// machine's 64-bit programs first.
pub const UNINSTALL_KEYS: &[&[&str]] = &[
    &[
        "query",
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
        "/s",
    ],
    &[
        "query",
        r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
        "/s",
    ],
    &[
        "query",
        r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall",
        "/s",
    ],
];

/// Most bytes of one key's listing read: a workstation with 400 programs
/// prints about 1 MiB.
pub const MAX_UNINSTALL_OUTPUT: u64 = 8 * 1024 * 1024;

/// Lists the installed programs of this machine (never below a test root).
pub fn gather(root: &FactRoot) -> Result<Installed, Unavailable> {
    let mut installed = empty();
    for (i, args) in UNINSTALL_KEYS.iter().copied().enumerate() {
        match crate::facts::command::run_text(root, REG, args, MAX_UNINSTALL_OUTPUT) {
            Ok(text) => add_reg_uninstall(&mut installed, &text),
            Err(e) if i == 0 => {
                return Err(Unavailable(format!(
                    "installed programs unreadable: {e} (reading {})",
                    args[1]
                )));
            }
            // The 32-bit and per-user keys are often absent.
            Err(_) => {}
        }
    }
    Ok(installed)
}

fn empty() -> Installed {
    Installed {
        order: VersionOrder::Dotted,
        source: "the Uninstall registry keys".to_owned(),
        case_insensitive: true,
        ..Installed::default()
    }
}

/// Reads `reg.exe query KEY /s` output: blocks of a key line
/// (`HKEY_LOCAL_MACHINE\...\Uninstall\{GUID}`) and its values
/// (`    NAME    TYPE    DATA`, four spaces apart).
pub fn parse_reg_uninstall(text: &str) -> Installed {
    let mut installed = empty();
    add_reg_uninstall(&mut installed, text);
    installed
}

fn add_reg_uninstall(installed: &mut Installed, text: &str) {
    let (mut name, mut version): (Option<String>, Option<String>) = (None, None);
    let mut flush = |name: &mut Option<String>, version: &mut Option<String>| {
        if let (Some(n), Some(v)) = (name.take(), version.take()) {
            installed.insert_highest(n.to_lowercase(), v);
        }
    };
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HKEY_") {
            flush(&mut name, &mut version);
            continue;
        }
        let mut fields = line.trim_start().splitn(3, "    ");
        let (Some(value), Some(kind), Some(data)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if !matches!(kind, "REG_SZ" | "REG_EXPAND_SZ") {
            continue;
        }
        let data = data.trim();
        if data.is_empty() {
            continue;
        }
        match value {
            "DisplayName" => name = Some(data.to_owned()),
            "DisplayVersion" => version = Some(data.to_owned()),
            _ => {}
        }
    }
    flush(&mut name, &mut version);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_query_uninstall_sample() {
        // Written in reg.exe's exact layout (CRLF, four spaces between the
        // columns, empty values without data, DWORDs in hex), not recorded:
        // no Windows machine was at hand.
        let p = parse_reg_uninstall(include_str!("../samples/reg-uninstall.txt"));
        assert_eq!(
            p.version("CrowdStrike Windows Sensor"),
            Some("7.10.17706.0")
        );
        assert_eq!(
            p.version("crowdstrike windows sensor"),
            Some("7.10.17706.0"),
            "names ignore case"
        );
        assert_eq!(p.version("7-Zip 23.01 (x64)"), Some("23.01"));
        assert_eq!(p.version("Google Chrome"), Some("124.0.6367.91"));
        assert_eq!(
            p.version("Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135"),
            Some("14.38.33135.0")
        );
        assert_eq!(p.version("Windows SDK AddOn"), None, "no DisplayVersion");
        assert_eq!(p.version("CrowdStrike"), None, "whole names only");
        assert_eq!(p.order, VersionOrder::Dotted);
        assert!(p.case_insensitive);
    }

    #[test]
    fn not_run_below_a_test_root() {
        let dir = tempfile::tempdir().unwrap();
        let e = gather(&FactRoot::at(dir.path())).unwrap_err();
        assert_eq!(
            e.0,
            r"installed programs unreadable: C:\Windows\System32\reg.exe not run below a test root (reading HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall)"
        );
    }
}
