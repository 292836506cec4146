//! Windows: the newest hotfix's install date.
//!
//! `Win32_QuickFixEngineering` lists the installed updates (cumulative and
//! security updates, `KB5036893`) with the day each was installed; it is
//! what `Get-HotFix`, `wmic qfe` and the "Installed updates" control panel
//! show. WMI needs COM, which the agent keeps out of its code, so a fixed
//! PowerShell command asks it ([`POWERSHELL`] [`POWERSHELL_ARGS`]; no
//! profile, not interactive, `SystemRoot` set and nothing else from the
//! environment). The registry has no such list: Windows Update's own
//! history is an ESE database, and the servicing stack's package keys
//! (`Component Based Servicing\Packages`, thousands of them with FILETIME
//! halves) are undocumented; `wmic` is gone from Windows 11 24H2.
//!
//! The command formats each date itself (`yyyy-MM-dd`, invariant culture)
//! so that the output does not depend on the user's locale or on the
//! PowerShell version's JSON form of a date; [`parse_hotfixes`] still
//! reads PowerShell 5.1's `"\/Date(ms)\/"` and its `{"value": ...}`
//! wrapper. `InstalledOn` is a day in local time, read as UTC midnight:
//! off by at most the zone's hours.
//!
//! PowerShell starts in about a second and the WMI query takes as long
//! again: the command may run [`POWERSHELL_TIMEOUT`], within the
//! assessment's time budget (`assess::budget`).

use std::time::{Duration, SystemTime};

use super::LastUpdate;
use crate::facts::{FactRoot, Unavailable};

/// Windows PowerShell 5.1, present on every supported Windows.
pub const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";

/// Lists each hotfix's ID and install day as JSON.
pub const POWERSHELL_ARGS: &[&str] = &[
    "-NoProfile",
    "-NonInteractive",
    "-Command",
    "Get-CimInstance -ClassName Win32_QuickFixEngineering | ForEach-Object { $d = $_.InstalledOn -as [datetime]; [pscustomobject]@{ HotFixID = $_.HotFixID; InstalledOn = if ($d) { $d.ToString('yyyy-MM-dd', [Globalization.CultureInfo]::InvariantCulture) } else { $null } } } | ConvertTo-Json -Compress",
];

/// The one variable PowerShell and WMI cannot do without.
pub const POWERSHELL_ENV: &[(&str, &str)] = &[("SystemRoot", r"C:\Windows")];

/// How long the PowerShell command may run.
pub const POWERSHELL_TIMEOUT: Duration = Duration::from_secs(4);

/// Most bytes of output read: a machine has a few dozen hotfixes.
pub const MAX_HOTFIX_OUTPUT: u64 = 1024 * 1024;

/// Asks WMI on this machine (never below a test root).
pub fn gather(root: &FactRoot) -> Result<LastUpdate, Unavailable> {
    let text = crate::facts::command::run_text_with(
        root,
        POWERSHELL,
        POWERSHELL_ARGS,
        POWERSHELL_ENV,
        MAX_HOTFIX_OUTPUT,
        POWERSHELL_TIMEOUT,
    )
    .map_err(|e| Unavailable(format!("hotfix dates unreadable: {e}")))?;
    parse_hotfixes(&text)
}

/// The newest install day of `ConvertTo-Json` output: an array of
/// `{"HotFixID": .., "InstalledOn": ..}` (one object alone when there is
/// one hotfix, nothing when there is none).
pub fn parse_hotfixes(text: &str) -> Result<LastUpdate, Unavailable> {
    let text = text.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return Err(Unavailable(
            "hotfix dates unreadable: Win32_QuickFixEngineering lists no hotfix".to_owned(),
        ));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Unavailable(format!(
            "hotfix dates unreadable: PowerShell printed something other than JSON: {e}"
        ))
    })?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let newest = items
        .iter()
        .filter_map(|item| {
            let id = item.get("HotFixID")?.as_str().unwrap_or("a hotfix");
            let at = installed_on(item.get("InstalledOn")?)?;
            Some((at, id.to_owned()))
        })
        .max_by_key(|(at, _)| *at);
    let (at, id) = newest.ok_or_else(|| {
        Unavailable(
            "hotfix dates unreadable: no hotfix in Win32_QuickFixEngineering has an install date"
                .to_owned(),
        )
    })?;
    Ok(LastUpdate {
        at,
        source: format!("{id}, the newest hotfix in Win32_QuickFixEngineering"),
    })
}

/// `"2024-04-09"`, `"\/Date(1712620800000)\/"` (serde_json has already
/// turned `\/` into `/`), or PowerShell 5.1's wrapper object
/// `{"value": "\/Date(..)\/", "DateTime": ".."}`.
fn installed_on(v: &serde_json::Value) -> Option<SystemTime> {
    if let Some(inner) = v.get("value") {
        return installed_on(inner);
    }
    let s = v.as_str()?.trim();
    if let Some(ms) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        // `/Date(1712620800000)/`, perhaps with a zone (`+0200`) after the
        // milliseconds, which are UTC either way.
        let digits = ms
            .find(['+', '-'])
            .filter(|&i| i > 0)
            .map_or(ms, |i| &ms[..i]);
        let ms: u64 = digits.parse().ok()?;
        return Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    }
    super::parse_date_time(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn hotfix_json_sample() {
        // Written in the shape POWERSHELL_ARGS prints (compressed JSON, one
        // line), from a Windows 11 23H2 machine's hotfix list; not recorded
        // through this exact command: no Windows machine was at hand.
        let u = parse_hotfixes(include_str!("../samples/hotfixes.json")).unwrap();
        assert_eq!(
            u.source,
            "KB5036893, the newest hotfix in Win32_QuickFixEngineering"
        );
        assert_eq!(
            secs(u.at),
            secs(super::super::parse_date_time("2024-04-10").unwrap())
        );
    }

    #[test]
    fn the_json_forms_of_a_date_and_of_one_hotfix() {
        // PowerShell 5.1 without the command's own formatting; one hotfix
        // alone is an object, not an array.
        let u = parse_hotfixes(
            r#"{"HotFixID":"KB5034441","InstalledOn":{"value":"\/Date(1705017600000)\/","DateTime":"Friday, January 12, 2024 12:00:00 AM"}}"#,
        )
        .unwrap();
        assert_eq!(secs(u.at), 1_705_017_600);
        let u = parse_hotfixes(r#"[{"HotFixID":"KB1","InstalledOn":"\/Date(1705017600000+0100)\/"},{"HotFixID":"KB2","InstalledOn":null}]"#).unwrap();
        assert_eq!(
            (secs(u.at), u.source.starts_with("KB1")),
            (1_705_017_600, true)
        );
        assert_eq!(
            parse_hotfixes("").unwrap_err().0,
            "hotfix dates unreadable: Win32_QuickFixEngineering lists no hotfix"
        );
        assert!(
            parse_hotfixes(r#"[{"HotFixID":"KB2","InstalledOn":null}]"#)
                .unwrap_err()
                .0
                .contains("has an install date")
        );
        assert!(
            parse_hotfixes("Get-CimInstance : Access denied")
                .unwrap_err()
                .0
                .contains("other than JSON")
        );
    }

    #[test]
    fn not_run_below_a_test_root() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            gather(&FactRoot::at(dir.path())).unwrap_err().0,
            r"hotfix dates unreadable: C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe not run below a test root"
        );
    }
}
