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
fn locate(candidates: &[&str]) -> Option<PathBuf> {
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

/// Runs one fixed fact command and returns its output or why it failed;
/// killed after `limit`.
// Spawning is allowed here only for the read-only commands in COMMANDS, by
// absolute path: nothing a server sends ever reaches this function
// (clippy.toml).
#[allow(clippy::disallowed_methods)]
fn run_fixed(program: &Path, args: &[&str], limit: Duration) -> String {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let mut child = match std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return format!("(not available: {e})\n"),
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
                break Err(format!(
                    "({shown}: killed after {} s)\n",
                    limit.as_secs_f64()
                ));
            }
            // Polled: std has no wait with a deadline; 20 ms is far below
            // the limit and costs nothing next to the command itself.
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                break Err(format!("({shown}: cannot wait for it: {e})\n"));
            }
        }
    };
    // The pipes close when the command exits; bounded anyway, in case it
    // left a child holding them.
    let grace = Duration::from_secs(1);
    let out = stdout.recv_timeout(grace).unwrap_or_default();
    let err = stderr.recv_timeout(grace).unwrap_or_default();
    let mut text = String::from_utf8_lossy(&out).into_owned();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => text.push_str(&format!(
            "({shown}: {status}; {})\n",
            String::from_utf8_lossy(&err).trim()
        )),
        Err(note) => text.push_str(&note),
    }
    text
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
