//! System and network facts for a bundle: OS, kernel, interfaces and
//! addresses, routes, DNS configuration and clock.
//!
//! Files are read directly where the OS exposes them (`/proc`, `/sys`,
//! `/etc`); addresses and routes also come from a fixed list of read-only
//! commands (`ip addr`, `ifconfig -a`, `ipconfig /all`, ...) because no file
//! shows them readably. A missing file or command is noted in the part, never
//! an error.

use std::path::Path;
use std::time::SystemTime;

/// One part of `system/`: its name in the bundle and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// File name under `system/`.
    pub name: &'static str,
    /// Its content.
    pub text: String,
}

/// Files copied as they are (Linux and other unix; absent ones are noted).
const FILES: &[(&str, &[&str])] = &[
    (
        "os.txt",
        &[
            "/etc/os-release",
            "/proc/sys/kernel/ostype",
            "/proc/sys/kernel/osrelease",
            "/proc/sys/kernel/version",
            "/proc/sys/kernel/hostname",
        ],
    ),
    (
        "dns.txt",
        &["/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/hosts"],
    ),
    ("routes.txt", &["/proc/net/route", "/proc/net/ipv6_route"]),
    ("addresses.txt", &["/proc/net/if_inet6"]),
];

/// Fixed, read-only commands per platform: (part, program, args).
#[cfg(target_os = "linux")]
const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("addresses.txt", "ip", &["addr", "show"]),
    ("routes.txt", "ip", &["route", "show", "table", "all"]),
    ("routes.txt", "ip", &["-6", "route", "show"]),
];
#[cfg(target_os = "macos")]
const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("os.txt", "sw_vers", &[]),
    ("os.txt", "uname", &["-a"]),
    ("addresses.txt", "ifconfig", &["-a"]),
    ("routes.txt", "netstat", &["-rn"]),
    ("dns.txt", "scutil", &["--dns"]),
];
#[cfg(windows)]
const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("os.txt", "cmd", &["/c", "ver"]),
    ("addresses.txt", "ipconfig", &["/all"]),
    ("routes.txt", "route", &["print"]),
];
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("addresses.txt", "ifconfig", &["-a"]),
    ("routes.txt", "netstat", &["-rn"]),
];

/// Runs one fixed fact command and returns its output or why it failed.
// Spawning is allowed here only for the read-only commands in COMMANDS:
// nothing a server sends ever reaches this function (clippy.toml).
#[allow(clippy::disallowed_methods)]
fn run_fixed(program: &str, args: &[&str]) -> String {
    match std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                text.push_str(&format!(
                    "({} {}: {}; {})\n",
                    program,
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            text
        }
        Err(e) => format!("(not available: {e})\n"),
    }
}

fn read_file(path: &Path) -> String {
    match std::fs::read(path) {
        // Bounded: these are small files; a huge one is cut.
        Ok(bytes) => String::from_utf8_lossy(&bytes[..bytes.len().min(256 * 1024)]).into_owned(),
        Err(e) => format!("(not available: {e})\n"),
    }
}

/// The interfaces from `/sys/class/net`: name, MAC, state, MTU.
fn interfaces() -> String {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return "(/sys/class/net not available)\n".to_string();
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = String::from("interface\tmac\tstate\tmtu\n");
    for n in names {
        let get = |f: &str| {
            std::fs::read_to_string(Path::new("/sys/class/net").join(&n).join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "-".to_string())
        };
        out.push_str(&format!(
            "{n}\t{}\t{}\t{}\n",
            get("address"),
            get("operstate"),
            get("mtu")
        ));
    }
    out
}

/// The clock: wall time, and the monotonic uptime where the OS shows it.
pub fn clock(now: SystemTime) -> String {
    let mut out = format!(
        "system time (UTC): {}\n",
        humantime::format_rfc3339_millis(now)
    );
    if let Ok(up) = std::fs::read_to_string("/proc/uptime")
        && let Some(secs) = up.split_whitespace().next()
    {
        out.push_str(&format!("uptime (monotonic, s): {secs}\n"));
    }
    out.push_str(&format!(
        "time zone: {}\n",
        std::fs::read_link("/etc/localtime")
            .map(|p| p.display().to_string())
            .or_else(|_| std::fs::read_to_string("/etc/timezone").map(|s| s.trim().to_string()))
            .unwrap_or_else(|_| "unknown".to_string())
    ));
    out
}

/// Collects every fact. `now` is the bundle's time.
pub fn collect(now: SystemTime) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    let mut push =
        |name: &'static str, text: String| match facts.iter_mut().find(|f| f.name == name) {
            Some(f) => f.text.push_str(&text),
            None => facts.push(Fact { name, text }),
        };
    push(
        "os.txt",
        format!(
            "== build ==\n{} {} (posture-sync {})\n",
            std::env::consts::OS,
            std::env::consts::ARCH,
            env!("CARGO_PKG_VERSION")
        ),
    );
    if cfg!(unix) {
        for (name, files) in FILES {
            for f in *files {
                push(name, format!("== {f} ==\n{}\n", read_file(Path::new(f))));
            }
        }
        push("interfaces.txt", interfaces());
    }
    for (name, program, args) in COMMANDS {
        let shown = std::iter::once(*program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        push(
            name,
            format!("== {shown} ==\n{}\n", run_fixed(program, args)),
        );
    }
    push("clock.txt", clock(now));
    facts
}
