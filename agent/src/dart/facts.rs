//! System and network facts for a bundle: OS, kernel, interfaces and
//! addresses, routes, DNS configuration and clock.
//!
//! Files are read directly where the OS exposes them (`/proc`, `/sys`,
//! `/etc`); addresses and routes also come from a fixed list of read-only
//! commands (`ip addr`, `ifconfig -a`, `ipconfig /all`, ...) because no file
//! shows them readably. The commands run by absolute path (never through
//! `PATH`), each killed after [`COMMAND_TIMEOUT`]. A missing file or command
//! is noted in the part, never an error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

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

/// Fixed, read-only commands per platform: (part, absolute paths to try in
/// order, args). Never looked up through `PATH` (the agent's environment
/// must not choose what runs); a command found at none of its paths is noted.
#[cfg(target_os = "linux")]
const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    ("addresses.txt", IP, &["addr", "show"]),
    ("routes.txt", IP, &["route", "show", "table", "all"]),
    ("routes.txt", IP, &["-6", "route", "show"]),
];
#[cfg(target_os = "linux")]
const IP: &[&str] = &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];
#[cfg(target_os = "macos")]
const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    ("os.txt", &["/usr/bin/sw_vers"], &[]),
    ("os.txt", &["/usr/bin/uname"], &["-a"]),
    ("addresses.txt", &["/sbin/ifconfig"], &["-a"]),
    ("routes.txt", &["/usr/sbin/netstat"], &["-rn"]),
    ("dns.txt", &["/usr/sbin/scutil"], &["--dns"]),
];
#[cfg(windows)]
const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    ("os.txt", &[r"C:\Windows\System32\cmd.exe"], &["/c", "ver"]),
    (
        "addresses.txt",
        &[r"C:\Windows\System32\ipconfig.exe"],
        &["/all"],
    ),
    (
        "routes.txt",
        &[r"C:\Windows\System32\route.exe"],
        &["print"],
    ),
];
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    (
        "addresses.txt",
        &["/sbin/ifconfig", "/usr/sbin/ifconfig"],
        &["-a"],
    ),
    (
        "routes.txt",
        &["/usr/bin/netstat", "/usr/sbin/netstat"],
        &["-rn"],
    ),
];

/// How long one fact command may run before it is killed: automatic bundles
/// are collected while the agent runs, and a hung command must not hold them.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Most bytes kept of one command's stdout or stderr.
const MAX_COMMAND_OUTPUT: u64 = 256 * 1024;

/// The first of `candidates` that is a regular file.
pub fn locate(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

/// Reads at most [`MAX_COMMAND_OUTPUT`] bytes of a pipe on its own thread.
fn read_pipe(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.take(MAX_COMMAND_OUTPUT).read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// What a fixed command gave: its stdout, and why it failed if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Its standard output (at most 256 KiB).
    pub stdout: String,
    /// Why it failed: it could not start, exited unsuccessfully (with its
    /// stderr), or was killed at its limit.
    pub failure: Option<String>,
}

/// Runs one fixed fact command and returns its output or why it failed;
/// killed after `limit`.
fn run_fixed(program: &Path, args: &[&str], limit: Duration) -> String {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let ran = run_command(program, args, limit);
    match ran.failure {
        None => ran.stdout,
        Some(why) if ran.stdout.is_empty() && why.starts_with("cannot start") => {
            format!("(not available: {why})\n")
        }
        Some(why) => format!("{}({shown}: {why})\n", ran.stdout),
    }
}

/// Runs one fixed, read-only command (by absolute path) and returns what it
/// gave; killed after `limit`.
// Spawning is allowed here only for the fixed read-only commands of the
// bundle (COMMANDS, and the journal of `service`), by absolute path:
// nothing a server sends ever reaches this function (clippy.toml).
#[allow(clippy::disallowed_methods)]
pub fn run_command(program: &Path, args: &[&str], limit: Duration) -> Ran {
    let mut child = match std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Ran {
                stdout: String::new(),
                failure: Some(format!("cannot start it: {e}")),
            };
        }
    };
    let stdout = read_pipe(child.stdout.take());
    let stderr = read_pipe(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("killed after {} s", limit.as_secs_f64()));
            }
            // Polled: std has no wait with a deadline; 20 ms is far below
            // the limit and costs nothing next to the command itself.
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                break Err(format!("cannot wait for it: {e}"));
            }
        }
    };
    // The pipes close when the command exits; bounded anyway, in case it
    // left a child holding them.
    let grace = Duration::from_secs(1);
    let out = stdout.recv_timeout(grace).unwrap_or_default();
    let err = stderr.recv_timeout(grace).unwrap_or_default();
    let failure = match status {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!(
            "{status}; {}",
            String::from_utf8_lossy(&err).trim()
        )),
        Err(note) => Some(note),
    };
    Ran {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        failure,
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

/// Where `date` is looked for (unix): by absolute path, never through `PATH`.
const DATE: &[&str] = &["/bin/date", "/usr/bin/date"];

/// The machine's offset from UTC now, in seconds east, as `date +%z` gives
/// it (the C library's own reading of the time zone, with daylight saving;
/// no time zone database is built into the agent for this). `None` where
/// there is no `date` (Windows) or it fails.
pub fn local_offset() -> Option<i32> {
    if !cfg!(unix) {
        return None;
    }
    let program = locate(DATE)?;
    let ran = run_command(&program, &["+%z"], COMMAND_TIMEOUT);
    match ran.failure {
        None => parse_offset(&ran.stdout),
        Some(_) => None,
    }
}

/// `+HHMM` or `-HHMM` as seconds east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    let (sign, digits) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    (hours <= 14 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
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
    for (name, candidates, args) in COMMANDS {
        let text = match locate(candidates) {
            Some(program) => format!(
                "== {} {} ==\n{}\n",
                program.display(),
                args.join(" "),
                run_fixed(&program, args, COMMAND_TIMEOUT)
            ),
            None => format!(
                "== {} ==\n(not available: none of {} exists)\n\n",
                args.join(" "),
                candidates.join(", ")
            ),
        };
        push(name, text);
    }
    push("clock.txt", clock(now));
    facts
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_as_date_prints_them() {
        assert_eq!(parse_offset("+0100\n"), Some(3600));
        assert_eq!(parse_offset("-0930"), Some(-(9 * 3600 + 30 * 60)));
        assert_eq!(parse_offset("+0000"), Some(0));
        for bad in ["", "0100", "+01", "+01:00", "+2500", "+0160", "CET"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        // This machine's, as `date` says.
        let offset = local_offset().expect("date +%z works here");
        assert!(offset.abs() <= 14 * 3600);
    }

    #[test]
    fn a_hung_command_is_killed_at_its_limit() {
        let sleep = locate(&["/bin/sleep", "/usr/bin/sleep"]).expect("sleep exists");
        let text = run_fixed(&sleep, &["600"], Duration::from_millis(200));
        assert!(text.contains("killed after 0.2 s"), "{text}");
    }

    #[test]
    fn output_and_failures_are_kept() {
        let sh = locate(&["/nonexistent/sh", "/bin/sh"]).expect("sh exists");
        assert_eq!(sh, PathBuf::from("/bin/sh"));
        let text = run_fixed(
            &sh,
            &["-c", "echo hello; echo oops >&2; exit 3"],
            COMMAND_TIMEOUT,
        );
        assert!(text.starts_with("hello\n"), "{text}");
        assert!(text.contains("oops"), "{text}");
        assert!(locate(&["/nonexistent/ip"]).is_none());
        assert!(locate(&["/tmp"]).is_none(), "a directory is not a program");
    }
}
