//! `os-version`: the OS name and version.
//!
//! - Linux: `/etc/os-release`, else `/usr/lib/os-release` (os-release(5):
//!   `ID`, `VERSION_ID`, `PRETTY_NAME`), and the kernel release from
//!   `/proc/sys/kernel/osrelease`.
//! - macOS: `/System/Library/CoreServices/SystemVersion.plist`
//!   (`ProductVersion`, what `sw_vers` prints), read with a small bounded
//!   quick-xml pass ([`parse_system_version_plist`]); the parser is tested on
//!   every platform with a sample.
//! - Windows: the registry values RtlGetVersion's numbers come from
//!   (`HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`:
//!   `CurrentMajorVersionNumber`, `CurrentMinorVersionNumber`,
//!   `CurrentBuild`), read with `reg.exe query` (fixed arguments;
//!   RtlGetVersion itself needs FFI, which the workspace keeps out of the
//!   facts); [`parse_windows_current_version`] is tested on every platform
//!   with a recorded sample.

use std::cmp::Ordering;

use super::{FactRoot, MAX_FACT_FILE_BYTES, Unavailable};

/// The OS as the agent read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsVersion {
    /// Lower-case identifier: os-release's `ID` (`debian`, `ubuntu`,
    /// `fedora`), `macos`.
    pub id: String,
    /// os-release's `ID_LIKE` (`ubuntu` is `debian`-like), lower case.
    pub id_like: Vec<String>,
    /// The version (`VERSION_ID`, `ProductVersion`); empty when the source
    /// has none (Debian testing, Arch).
    pub version: String,
    /// A name for people (`PRETTY_NAME`).
    pub pretty: String,
    /// The kernel release on Linux (`6.1.0-18-amd64`).
    pub kernel: Option<String>,
}

/// Where os-release lives (os-release(5): the first that exists).
pub const OS_RELEASE: &[&str] = &["/etc/os-release", "/usr/lib/os-release"];

/// The Linux kernel release.
pub const KERNEL_RELEASE: &str = "/proc/sys/kernel/osrelease";

/// macOS's version file, the data behind `sw_vers`.
pub const SYSTEM_VERSION_PLIST: &str = "/System/Library/CoreServices/SystemVersion.plist";

/// Gathers the OS version of this platform below `root`.
pub fn gather(root: &FactRoot) -> Result<OsVersion, Unavailable> {
    if cfg!(target_os = "linux") {
        linux(root)
    } else if cfg!(target_os = "macos") {
        let text = root.read(SYSTEM_VERSION_PLIST, MAX_FACT_FILE_BYTES)?;
        parse_system_version_plist(&text)
    } else if cfg!(windows) {
        let text = super::command::run_text(root, REG, REG_CURRENT_VERSION_ARGS, 256 * 1024)
            .map_err(|e| Unavailable(format!("OS version unreadable: {e}")))?;
        parse_windows_current_version(&text)
    } else {
        Err(Unavailable(
            "OS version unreadable: not implemented on this platform".to_owned(),
        ))
    }
}

/// Windows' registry client.
pub const REG: &str = r"C:\Windows\System32\reg.exe";
/// `reg.exe query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"`:
/// the values RtlGetVersion's numbers come from, and the product name.
pub const REG_CURRENT_VERSION_ARGS: &[&str] = &[
    "query",
    r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion",
];

/// Windows: `reg.exe query ...\CurrentVersion` output: `major.minor.build`
/// from `CurrentMajorVersionNumber`, `CurrentMinorVersionNumber` and
/// `CurrentBuild`; id `windows`. Windows 11 still writes `ProductName`
/// "Windows 10": a build from 22000 on is named Windows 11.
pub fn parse_windows_current_version(text: &str) -> Result<OsVersion, Unavailable> {
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(name)).then(|| {
                let kind = f.next().unwrap_or("");
                let rest: Vec<&str> = f.collect();
                (kind.to_owned(), rest.join(" "))
            })
        })
    };
    let dword = |name: &str| {
        value(name).and_then(|(kind, v)| {
            (kind == "REG_DWORD")
                .then(|| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
                .flatten()
        })
    };
    let (major, minor) = (
        dword("CurrentMajorVersionNumber"),
        dword("CurrentMinorVersionNumber"),
    );
    let build = value("CurrentBuild").map(|(_, v)| v);
    let (Some(major), Some(minor), Some(build)) = (major, minor, build) else {
        return Err(Unavailable(
            "OS version unreadable: CurrentMajorVersionNumber, CurrentMinorVersionNumber or CurrentBuild missing".to_owned(),
        ));
    };
    let mut pretty = value("ProductName")
        .map(|(_, v)| v)
        .unwrap_or_else(|| "Windows".to_owned());
    if build.parse::<u32>().is_ok_and(|b| b >= 22_000) {
        pretty = pretty.replace("Windows 10", "Windows 11");
    }
    Ok(OsVersion {
        id: "windows".to_owned(),
        id_like: Vec::new(),
        version: format!("{major}.{minor}.{build}"),
        pretty,
        kernel: None,
    })
}

/// Linux: os-release and the kernel release.
pub fn linux(root: &FactRoot) -> Result<OsVersion, Unavailable> {
    // The fallback is for a missing file only: an unreadable or oversized
    // /etc/os-release is a reason, not a cue to read another file.
    let Some(path) = OS_RELEASE.iter().find(|p| root.exists(p)) else {
        return Err(Unavailable(
            "OS version unreadable: neither /etc/os-release nor /usr/lib/os-release exists"
                .to_owned(),
        ));
    };
    let text = root
        .read(path, MAX_FACT_FILE_BYTES)
        .map_err(|e| Unavailable(format!("OS version unreadable: {e}")))?;
    let mut os = parse_os_release(&text);
    os.kernel = root
        .read(KERNEL_RELEASE, MAX_FACT_FILE_BYTES)
        .ok()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    Ok(os)
}

/// Reads os-release(5) text: `KEY=value` lines, values optionally quoted.
pub fn parse_os_release(text: &str) -> OsVersion {
    let mut os = OsVersion {
        id: "linux".to_owned(),
        id_like: Vec::new(),
        version: String::new(),
        pretty: String::new(),
        kernel: None,
    };
    let mut name = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => os.id = value.to_ascii_lowercase(),
            "ID_LIKE" => {
                os.id_like = value
                    .split_whitespace()
                    .map(str::to_ascii_lowercase)
                    .collect()
            }
            "VERSION_ID" => os.version = value,
            "PRETTY_NAME" => os.pretty = value,
            "NAME" => name = value,
            _ => {}
        }
    }
    if os.pretty.is_empty() {
        os.pretty = if name.is_empty() { os.id.clone() } else { name };
    }
    os
}

fn unquote(v: &str) -> String {
    let inner = match v.as_bytes() {
        [b'"', .., b'"'] | [b'\'', .., b'\''] if v.len() >= 2 => &v[1..v.len() - 1],
        _ => v,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads macOS's SystemVersion.plist (an XML property list of one `<dict>`
/// of `<key>`/`<string>` pairs): `ProductName`, `ProductVersion`.
pub fn parse_system_version_plist(text: &str) -> Result<OsVersion, Unavailable> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut key: Option<String> = None;
    let mut in_key = false;
    let mut in_string = false;
    let (mut product, mut version) = (None, None);
    // The file is at most MAX_FACT_FILE_BYTES; quick-xml never expands
    // entities beyond the predefined ones, and the loop is linear.
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                in_key = e.name().into_inner() == "key";
                in_string = e.name().into_inner() == "string";
            }
            Ok(Event::End(_)) => {
                in_key = false;
                in_string = false;
            }
            Ok(Event::Text(t)) => {
                let s = t.xml10_content().trim().to_owned();
                if in_key {
                    key = Some(s);
                } else if in_string {
                    match key.take().as_deref() {
                        Some("ProductVersion") => version = Some(s),
                        Some("ProductName") => product = Some(s),
                        _ => {}
                    }
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(Unavailable(format!(
                    "{SYSTEM_VERSION_PLIST} is not a property list: {e}"
                )));
            }
        }
    }
    let version = version
        .ok_or_else(|| Unavailable(format!("{SYSTEM_VERSION_PLIST} has no ProductVersion")))?;
    let product = product.unwrap_or_else(|| "macOS".to_owned());
    Ok(OsVersion {
        id: "macos".to_owned(),
        id_like: Vec::new(),
        pretty: format!("{product} {version}"),
        version,
        kernel: None,
    })
}

/// Compares dotted versions number by number (`22.04` < `22.10` < `24.04`,
/// `12` == `12.0`); a part's leading digits count, the rest is ignored
/// (`6.1.0-18-amd64` is 6.1.0).
pub fn compare_dotted(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<u64> {
        let numeric: &str = s
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        numeric
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u64>().unwrap_or(u64::MAX))
            .collect()
    };
    let (a, b) = (parts(a), parts(b));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::test_tree::put;

    const DEBIAN_12: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

    #[test]
    fn os_release_is_read_with_the_usr_lib_fallback_and_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        assert!(linux(&root).unwrap_err().0.contains("neither"));
        put(
            dir.path(),
            "/usr/lib/os-release",
            "NAME=Ubuntu\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n",
        );
        put(dir.path(), KERNEL_RELEASE, "6.1.0-18-amd64\n");
        let os = linux(&root).unwrap();
        assert_eq!(os.id, "ubuntu");
        assert_eq!(os.id_like, ["debian"]);
        assert_eq!(os.version, "22.04");
        assert_eq!(os.pretty, "Ubuntu");
        assert_eq!(os.kernel.as_deref(), Some("6.1.0-18-amd64"));
        put(dir.path(), "/etc/os-release", DEBIAN_12);
        let os = linux(&root).unwrap();
        assert_eq!((os.id.as_str(), os.version.as_str()), ("debian", "12"));
        assert_eq!(os.pretty, "Debian GNU/Linux 12 (bookworm)");
    }

    #[test]
    fn an_oversized_os_release_is_refused_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        put(
            dir.path(),
            "/etc/os-release",
            &"#".repeat(MAX_FACT_FILE_BYTES as usize + 1),
        );
        let e = linux(&FactRoot::at(dir.path())).unwrap_err();
        assert!(e.0.contains("larger than"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_has_an_os_release() {
        let os = gather(&FactRoot::system()).unwrap();
        assert!(!os.id.is_empty());
        assert!(os.kernel.is_some(), "{os:?}");
    }

    #[test]
    fn macos_system_version_plist_sample() {
        let os = parse_system_version_plist(include_str!("samples/SystemVersion.plist")).unwrap();
        assert_eq!(os.id, "macos");
        assert_eq!(os.version, "14.4.1");
        assert_eq!(os.pretty, "macOS 14.4.1");
        assert!(parse_system_version_plist("<plist><dict></dict></plist>").is_err());
        assert!(parse_system_version_plist("<plist><dict>").is_err());
    }

    #[test]
    fn dotted_versions_compare_by_number() {
        use Ordering::*;
        for (a, b, o) in [
            ("12", "12", Equal),
            ("12.0", "12", Equal),
            ("11", "12", Less),
            ("22.04", "22.10", Less),
            ("24.04", "22.10", Greater),
            ("14.4.1", "14.10", Less),
            ("6.1.0-18-amd64", "6.1", Equal),
            ("6.18.44-fc-v1147", "6.2", Greater),
        ] {
            assert_eq!(compare_dotted(a, b), o, "{a} vs {b}");
        }
    }
}
