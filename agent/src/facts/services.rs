//! `service-active`: which services run.
//!
//! - Linux (systemd): systemd runs when `/run/systemd/system` is a directory
//!   (sd_booted(3)). A service runs when its control group holds a process:
//!   the unit directories of `system.slice` (and of the `*.slice`
//!   directories in it, for template instances such as `getty@tty1.service`)
//!   in the first of [`SYSTEM_SLICES`] that exists, each one's
//!   `cgroup.procs` non-empty. The directory is listed and the name looked
//!   up in the listing: a server's name never becomes a path. No
//!   `systemctl` runs, and a unit that is `active (exited)` (a oneshot with
//!   `RemainAfterExit`) has no process and does not count: the condition is
//!   about something that runs.
//! - macOS: `/bin/launchctl list` (fixed arguments): a job runs when it has
//!   a PID ([`parse_launchctl_list`]).
//! - Windows: `C:\Windows\System32\sc.exe query type= service state= all`:
//!   a service runs when its `STATE` is `RUNNING` ([`parse_sc_query`]);
//!   service names compare without regard to case, as Windows does.

use std::collections::HashSet;

use super::{FactRoot, Unavailable};

/// Present when systemd is the init system (sd_booted(3)).
pub const SYSTEMD_RUNTIME: &str = "/run/systemd/system";

/// Where systemd's `system.slice` control group may be: cgroup v2, the
/// hybrid layout's unified and named hierarchies.
pub const SYSTEM_SLICES: &[&str] = &[
    "/sys/fs/cgroup/system.slice",
    "/sys/fs/cgroup/unified/system.slice",
    "/sys/fs/cgroup/systemd/system.slice",
];

/// Most unit directories looked at.
const MAX_UNITS: usize = 4096;

/// macOS' launchd client and its fixed arguments.
pub const LAUNCHCTL: &str = "/bin/launchctl";
/// `launchctl list`.
pub const LAUNCHCTL_ARGS: &[&str] = &["list"];

/// Windows' service control client and its fixed arguments.
pub const SC: &str = r"C:\Windows\System32\sc.exe";
/// `sc.exe query type= service state= all`.
pub const SC_ARGS: &[&str] = &["query", "type=", "service", "state=", "all"];

/// Most bytes of `launchctl list` or `sc.exe query` output read.
pub const MAX_LIST_OUTPUT: u64 = 4 * 1024 * 1024;

/// The services that run, and where the agent read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// The running services' names (systemd units with their `.service`
    /// suffix, launchd labels, Windows service names in lower case).
    pub running: HashSet<String>,
    /// Where it was read, in words.
    pub source: String,
    /// Whether names compare without regard to case (Windows).
    pub case_insensitive: bool,
}

impl Services {
    /// The name as the platform lists it: a systemd unit without a type
    /// suffix is a `.service`; Windows names in lower case.
    pub fn canonical(&self, name: &str) -> String {
        if self.case_insensitive {
            name.to_ascii_lowercase()
        } else if cfg!(target_os = "linux") && !name.contains('.') {
            format!("{name}.service")
        } else {
            name.to_owned()
        }
    }

    /// Whether service `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.running.contains(&self.canonical(name))
    }
}

/// Gathers the running services of this platform below `root` (the
/// commands of macOS and Windows run only on the machine itself).
pub fn gather(root: &FactRoot) -> Result<Services, Unavailable> {
    #[cfg(target_os = "linux")]
    {
        linux(root)
    }
    #[cfg(target_os = "macos")]
    {
        macos(root)
    }
    #[cfg(windows)]
    {
        windows(root)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = root;
        Err(Unavailable(
            "services unreadable: not implemented on this platform".to_owned(),
        ))
    }
}

#[cfg(target_os = "macos")]
fn macos(root: &FactRoot) -> Result<Services, Unavailable> {
    if !root.is_system() {
        return Err(Unavailable(
            "launchctl not run below a test root".to_owned(),
        ));
    }
    let out = super::command::run(LAUNCHCTL, LAUNCHCTL_ARGS, MAX_LIST_OUTPUT)?;
    if !out.status.success() {
        return Err(Unavailable(format!(
            "launchd jobs unreadable: {LAUNCHCTL} list failed ({})",
            out.status
        )));
    }
    Ok(parse_launchctl_list(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(windows)]
fn windows(root: &FactRoot) -> Result<Services, Unavailable> {
    if !root.is_system() {
        return Err(Unavailable("sc.exe not run below a test root".to_owned()));
    }
    let out = super::command::run(SC, SC_ARGS, MAX_LIST_OUTPUT)?;
    if !out.status.success() {
        return Err(Unavailable(format!(
            "service states unreadable: sc.exe query failed ({})",
            out.status
        )));
    }
    Ok(parse_sc_query(&String::from_utf8_lossy(&out.stdout)))
}

/// Linux: the systemd services whose control group holds a process.
pub fn linux(root: &FactRoot) -> Result<Services, Unavailable> {
    if !root.path(SYSTEMD_RUNTIME).is_dir() {
        return Err(Unavailable(format!(
            "systemd is not running on this machine ({SYSTEMD_RUNTIME} does not exist)"
        )));
    }
    let Some(slice) = SYSTEM_SLICES.iter().find(|s| root.path(s).is_dir()) else {
        return Err(Unavailable(
            "systemd's control groups are not mounted (no system.slice under /sys/fs/cgroup)"
                .to_owned(),
        ));
    };
    let mut running = HashSet::new();
    let mut seen = 0;
    let mut dirs = vec![root.path(slice)];
    // system.slice, then one level of its *.slice directories.
    for depth in 0..2 {
        let mut next = Vec::new();
        for dir in dirs {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| Unavailable(format!("cannot list {slice}: {e}")))?;
            for entry in entries.flatten() {
                seen += 1;
                if seen > MAX_UNITS {
                    return Err(Unavailable(format!(
                        "{slice} holds more than {MAX_UNITS} units"
                    )));
                }
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if name.ends_with(".service") && has_process(&entry.path()) {
                    running.insert(name);
                } else if depth == 0 && name.ends_with(".slice") {
                    next.push(entry.path());
                }
            }
        }
        dirs = next;
    }
    Ok(Services {
        running,
        source: format!("the control groups under {slice}"),
        case_insensitive: false,
    })
}

/// Whether a unit's `cgroup.procs` names a process (its first bytes).
fn has_process(unit: &std::path::Path) -> bool {
    use std::io::Read as _;
    let mut first = [0u8; 16];
    std::fs::File::open(unit.join("cgroup.procs"))
        .and_then(|mut f| f.read(&mut first))
        .is_ok_and(|n| first[..n].iter().any(u8::is_ascii_digit))
}

/// macOS: `launchctl list` (`PID<TAB>Status<TAB>Label`, `-` for no PID).
pub fn parse_launchctl_list(text: &str) -> Services {
    let running = text
        .lines()
        .skip_while(|l| l.starts_with("PID"))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let pid = f.next()?.trim();
            let _status = f.next()?;
            let label = f.next()?.trim();
            (!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then(|| label.to_owned())
        })
        .collect();
    Services {
        running,
        source: format!("{LAUNCHCTL} list"),
        case_insensitive: false,
    }
}

/// Windows: `sc.exe query type= service state= all`, blocks of
/// `SERVICE_NAME: name` followed by `STATE : 4  RUNNING`.
pub fn parse_sc_query(text: &str) -> Services {
    let mut running = HashSet::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("SERVICE_NAME:") {
            current = Some(name.trim().to_ascii_lowercase());
        } else if let Some((key, value)) = line.split_once(':')
            && key.trim() == "STATE"
            && value.split_whitespace().nth(1) == Some("RUNNING")
            && let Some(name) = current.take()
        {
            running.insert(name);
        }
    }
    Services {
        running,
        source: "sc.exe query".to_owned(),
        case_insensitive: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_os = "linux")]
    use crate::facts::test_tree::put;

    #[cfg(target_os = "linux")]
    #[test]
    fn systemd_services_with_a_process_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = FactRoot::at(dir.path());
        let e = linux(&root).unwrap_err();
        assert_eq!(
            e.0,
            "systemd is not running on this machine (/run/systemd/system does not exist)"
        );
        std::fs::create_dir_all(dir.path().join("run/systemd/system")).unwrap();
        let slice = "/sys/fs/cgroup/system.slice";
        put(
            dir.path(),
            &format!("{slice}/sshd.service/cgroup.procs"),
            "812\n",
        );
        put(
            dir.path(),
            &format!("{slice}/fwupd-refresh.service/cgroup.procs"),
            "",
        );
        put(
            dir.path(),
            &format!("{slice}/system-getty.slice/getty@tty1.service/cgroup.procs"),
            "901\n",
        );
        let s = linux(&root).unwrap();
        assert!(s.runs("sshd"));
        assert!(s.runs("sshd.service"));
        assert!(s.runs("getty@tty1"));
        assert!(!s.runs("fwupd-refresh"), "no process: not running");
        assert!(!s.runs("crowdstrike"));
        assert_eq!(
            s.source,
            "the control groups under /sys/fs/cgroup/system.slice"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_answers_or_says_why_not() {
        // Whatever the machine's init system: a set of services, or a reason.
        match linux(&FactRoot::system()) {
            Ok(s) => assert!(s.source.contains("system.slice")),
            Err(e) => assert!(e.0.contains("systemd"), "{e}"),
        }
    }

    #[test]
    fn launchctl_list_sample() {
        let s = parse_launchctl_list(include_str!("samples/launchctl-list.txt"));
        assert!(s.runs("com.crowdstrike.falcond"));
        assert!(!s.runs("com.apple.screensharing.agent"));
        assert!(!s.runs("com.example.absent"));
    }

    #[test]
    fn sc_query_sample() {
        let s = parse_sc_query(include_str!("samples/sc-query.txt"));
        assert!(s.runs("WinDefend"));
        assert!(s.runs("windefend"), "service names ignore case");
        assert!(s.runs("Sense"));
        assert!(!s.runs("wuauserv"), "STOPPED");
        assert!(!s.runs("CSFalconService"));
    }
}
