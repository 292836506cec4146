//! `screen-lock`: after how long an idle session locks, as system policy
//! sets it (a user's own desktop settings are not read: they live in the
//! user's binary dconf database or home directory, and are the user's to
//! change).
//!
//! - Linux, GNOME: the system dconf keyfiles in `/etc/dconf/db/local.d/`
//!   (the directory an administrator or a management tool writes, read in
//!   name order, a later file winning): `[org/gnome/desktop/session]
//!   idle-delay` (seconds, 0 = never idle), `[org/gnome/desktop/screensaver]
//!   lock-enabled` (default true) and `lock-delay` (seconds after the screen
//!   blanks, default 0).
//! - Linux, KDE: `/etc/xdg/kscreenlockerrc`, `[Daemon]` `Autolock` (default
//!   true), `Timeout` (minutes) and `LockGrace` (seconds).
//! - macOS: `/Library/Managed Preferences/com.apple.screensaver.plist`
//!   (what an MDM profile sets): `idleTime` (seconds, 0 = never),
//!   `askForPassword` (1) and `askForPasswordDelay` (seconds).
//! - Windows: the machine inactivity limit,
//!   `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`
//!   `InactivityTimeoutSecs`, read with `reg.exe query` (fixed arguments).
//!
//! No policy found is unavailable (the condition fails closed saying where
//! the agent looked).

use std::time::Duration;

use super::{FactRoot, MAX_FACT_FILE_BYTES, Unavailable};

/// GNOME's system dconf keyfiles.
pub const DCONF_LOCAL_D: &str = "/etc/dconf/db/local.d";
/// KDE's system-wide screen locker settings.
pub const KSCREENLOCKERRC: &str = "/etc/xdg/kscreenlockerrc";
/// macOS' managed screen saver preferences.
pub const MANAGED_SCREENSAVER: &str = "/Library/Managed Preferences/com.apple.screensaver.plist";
/// Windows' registry client and its fixed arguments.
pub const REG: &str = r"C:\Windows\System32\reg.exe";
/// `reg.exe query ...\Policies\System /v InactivityTimeoutSecs`.
pub const REG_ARGS: &[&str] = &[
    "query",
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System",
    "/v",
    "InactivityTimeoutSecs",
];

/// Most keyfiles read from [`DCONF_LOCAL_D`].
const MAX_KEYFILES: usize = 64;

/// The screen lock policy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenLock {
    /// How long an idle session takes to lock; `None` when it never locks.
    pub lock_after: Option<Duration>,
    /// Where the agent read it, in words.
    pub source: String,
}

/// Gathers the screen lock policy below `root`.
pub fn gather(root: &FactRoot) -> Result<ScreenLock, Unavailable> {
    #[cfg(target_os = "linux")]
    {
        linux(root)
    }
    #[cfg(target_os = "macos")]
    {
        let bytes = root.read_bytes(MANAGED_SCREENSAVER, MAX_FACT_FILE_BYTES)?;
        parse_screensaver_plist(&bytes)
    }
    #[cfg(windows)]
    {
        if !root.is_system() {
            return Err(Unavailable("reg.exe not run below a test root".to_owned()));
        }
        let out = super::command::run(REG, REG_ARGS, 64 * 1024)?;
        if !out.status.success() {
            return Err(Unavailable(
                "no screen lock policy: InactivityTimeoutSecs is not set under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System".to_owned(),
            ));
        }
        parse_reg_inactivity(&String::from_utf8_lossy(&out.stdout))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = root;
        Err(Unavailable(
            "screen lock policy unreadable: not implemented on this platform".to_owned(),
        ))
    }
}

/// Linux: GNOME's system keyfiles, else KDE's system settings.
pub fn linux(root: &FactRoot) -> Result<ScreenLock, Unavailable> {
    let dir = root.path(DCONF_LOCAL_D);
    if dir.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Unavailable(format!("cannot list {DCONF_LOCAL_D}: {e}")))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names.truncate(MAX_KEYFILES);
        let texts = names
            .iter()
            .map(|n| root.read(&format!("{DCONF_LOCAL_D}/{n}"), MAX_FACT_FILE_BYTES))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(lock) = parse_gnome_keyfiles(&texts) {
            return Ok(lock);
        }
    }
    if root.exists(KSCREENLOCKERRC) {
        let text = root.read(KSCREENLOCKERRC, MAX_FACT_FILE_BYTES)?;
        if let Some(lock) = parse_kscreenlockerrc(&text) {
            return Ok(lock);
        }
    }
    Err(Unavailable(format!(
        "no screen lock policy found: neither GNOME's idle-delay in {DCONF_LOCAL_D} nor KDE's Timeout in {KSCREENLOCKERRC} is set"
    )))
}

/// The value of `key` in `[section]` of ini-style `texts`, the last one winning.
fn ini_value<'a>(texts: &'a [String], section: &str, key: &str) -> Option<&'a str> {
    let mut found = None;
    for text in texts {
        let mut current = "";
        for line in text.lines().map(str::trim) {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = s;
            } else if current == section
                && let Some((k, v)) = line.split_once('=')
                // KDE writes `Key[$i]=` for a value the user cannot change.
                && k.trim().trim_end_matches("[$i]") == key
            {
                found = Some(v.trim());
            }
        }
    }
    found
}

/// A GVariant text number, `uint32 300` or `300`.
fn gvariant_number(v: &str) -> Option<u64> {
    v.trim_start_matches("uint32").trim().parse().ok()
}

/// GNOME's keyfiles: `None` when they do not set `idle-delay`.
pub fn parse_gnome_keyfiles(texts: &[String]) -> Option<ScreenLock> {
    let idle = gvariant_number(ini_value(texts, "org/gnome/desktop/session", "idle-delay")?)?;
    let enabled =
        ini_value(texts, "org/gnome/desktop/screensaver", "lock-enabled") != Some("false");
    let delay = ini_value(texts, "org/gnome/desktop/screensaver", "lock-delay")
        .and_then(gvariant_number)
        .unwrap_or(0);
    Some(ScreenLock {
        lock_after: (enabled && idle > 0).then(|| Duration::from_secs(idle + delay)),
        source: format!("GNOME's system settings in {DCONF_LOCAL_D}"),
    })
}

/// KDE's `kscreenlockerrc`: `None` when it does not set `Timeout`.
pub fn parse_kscreenlockerrc(text: &str) -> Option<ScreenLock> {
    let texts = [text.to_owned()];
    let minutes: u64 = ini_value(&texts, "Daemon", "Timeout")?.parse().ok()?;
    let enabled = ini_value(&texts, "Daemon", "Autolock") != Some("false");
    let grace: u64 = ini_value(&texts, "Daemon", "LockGrace")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ScreenLock {
        lock_after: (enabled && minutes > 0).then(|| Duration::from_secs(minutes * 60 + grace)),
        source: format!("KDE's system settings in {KSCREENLOCKERRC}"),
    })
}

/// macOS: the managed `com.apple.screensaver` preferences (XML or binary).
pub fn parse_screensaver_plist(bytes: &[u8]) -> Result<ScreenLock, Unavailable> {
    let source = MANAGED_SCREENSAVER.to_owned();
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| Unavailable(format!("{source} is not a property list: {e}")))?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| Unavailable(format!("{source} is not a dictionary")))?;
    let number = |k: &str| {
        dict.get(k).and_then(|v| {
            v.as_unsigned_integer()
                .or_else(|| v.as_boolean().map(u64::from))
        })
    };
    let idle = number("idleTime").ok_or_else(|| {
        Unavailable(format!(
            "no screen lock policy: {source} does not set idleTime"
        ))
    })?;
    let ask = number("askForPassword") == Some(1);
    let delay = number("askForPasswordDelay").unwrap_or(0);
    Ok(ScreenLock {
        lock_after: (ask && idle > 0).then(|| Duration::from_secs(idle + delay)),
        source: format!("the managed preferences in {source}"),
    })
}

/// Windows: `reg.exe query` printing `InactivityTimeoutSecs REG_DWORD 0x384`.
pub fn parse_reg_inactivity(text: &str) -> Result<ScreenLock, Unavailable> {
    let value = text
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut f| {
            (f.next() == Some("InactivityTimeoutSecs") && f.next() == Some("REG_DWORD"))
                .then(|| f.next())
                .flatten()
        })
        .ok_or_else(|| {
            Unavailable("no screen lock policy: InactivityTimeoutSecs is not set".to_owned())
        })?;
    let secs = u64::from_str_radix(value.trim_start_matches("0x"), 16)
        .map_err(|_| Unavailable(format!("InactivityTimeoutSecs is not a number: {value}")))?;
    Ok(ScreenLock {
        lock_after: (secs > 0).then(|| Duration::from_secs(secs)),
        source: "the machine inactivity limit (InactivityTimeoutSecs)".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use crate::facts::test_tree::put;

    #[cfg(target_os = "linux")]
    #[test]
    fn gnome_keyfiles_then_kde_then_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        let e = linux(&root).unwrap_err();
        assert!(e.0.starts_with("no screen lock policy found"), "{e}");
        put(
            dir.path(),
            "/etc/xdg/kscreenlockerrc",
            include_str!("samples/kscreenlockerrc"),
        );
        let kde = linux(&root).unwrap();
        assert_eq!(kde.lock_after, Some(Duration::from_secs(10 * 60 + 5)));
        put(
            dir.path(),
            "/etc/dconf/db/local.d/00-security",
            include_str!("samples/dconf-00-security"),
        );
        let gnome = linux(&root).unwrap();
        assert_eq!(gnome.lock_after, Some(Duration::from_secs(300 + 30)));
        assert_eq!(
            gnome.source,
            "GNOME's system settings in /etc/dconf/db/local.d"
        );
        // A later file wins, and lock-enabled=false means it never locks.
        put(
            dir.path(),
            "/etc/dconf/db/local.d/99-kiosk",
            "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
        );
        assert_eq!(linux(&root).unwrap().lock_after, None);
    }

    #[test]
    fn managed_screensaver_plist_sample() {
        let lock =
            parse_screensaver_plist(include_bytes!("samples/com.apple.screensaver.plist")).unwrap();
        assert_eq!(lock.lock_after, Some(Duration::from_secs(600 + 5)));
        let e = parse_screensaver_plist(b"<plist><dict></dict></plist>").unwrap_err();
        assert!(e.0.contains("does not set idleTime"), "{e}");
    }

    #[test]
    fn reg_query_sample() {
        let lock = parse_reg_inactivity(include_str!("samples/reg-inactivity.txt")).unwrap();
        assert_eq!(lock.lock_after, Some(Duration::from_secs(900)));
        assert!(
            parse_reg_inactivity(
                "ERROR: The system was unable to find the specified registry key or value."
            )
            .is_err()
        );
    }
}
