//! What a fleet run needs from the machine it runs on: file descriptors,
//! CPU time (its own and psn-lab's), and the machine's state to print next
//! to the figures (other work on a shared machine changes them).

use serde::{Deserialize, Serialize};

/// Raises the soft limit of open files to the hard limit and returns the
/// new soft limit (psn-lab, started later, inherits it).
#[cfg(unix)]
pub fn raise_open_files() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if let Some(hard) = limit.maximum
        && hard > soft
    {
        limit.current = Some(hard);
        if setrlimit(Resource::Nofile, limit).is_ok() {
            return hard;
        }
    }
    soft
}

/// Elsewhere there is no such limit to raise (and fleet-sim's source
/// addresses need Linux's 127.0.0.0/8 loopback anyway).
#[cfg(not(unix))]
pub fn raise_open_files() -> u64 {
    u64::MAX
}

/// How many endpoints a limit of `open_files` descriptors carries for
/// sure: two sockets each (a probe round's next target may connect while
/// the previous one's blocked socket closes; discovery's stage 1 asks two
/// targets at once), plus room for the runtime. Blocked probes close
/// within microseconds, so in practice far fewer are open at once.
pub fn endpoints_for(open_files: u64) -> u64 {
    open_files.saturating_sub(200) / 2
}

/// CPU time (user + system) of a process so far, in seconds: `None` for
/// this process, or a child's pid. `None` if `/proc` cannot tell.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: count the
    // fields after its closing one (utime and stime are fields 14 and 15).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI (`getconf CLK_TCK`).
    Some((utime + stime) as f64 / 100.0)
}

/// The machine while the figures were taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineState {
    /// CPUs the process may run on.
    pub cores: usize,
    /// One-minute load average when the run started.
    pub load_at_start: f64,
    /// One-minute load average when it ended.
    pub load_at_end: f64,
    /// Soft limit of open files after raising it.
    pub open_files: u64,
}

/// The one-minute load average (`/proc/loadavg`), 0 if unknown.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// CPUs available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(cpu_seconds(None).is_some_and(|s| s >= 0.0));
        assert!(load_average() >= 0.0);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_limit_is_raised_to_the_hard_one() {
        let soft = raise_open_files();
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(Some(soft), limit.current);
        assert_eq!(endpoints_for(20_000), 9_900);
    }
}
