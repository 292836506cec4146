//! The agent's fixed fact commands (`nft -j list ruleset`, `launchctl
//! list`, `sc.exe query`): an absolute path and arguments that are
//! `'static` (written in the agent's source, so never anything a server
//! sent), no shell, an empty environment, bounded in time and output.

use std::io::Read as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Unavailable;

/// How long a fact command may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// What a fact command printed.
#[derive(Debug)]
pub struct Output {
    /// Its exit status.
    pub status: ExitStatus,
    /// Standard output, at most the limit given to [`run`].
    pub stdout: Vec<u8>,
    /// Standard error, at most 64 KiB.
    pub stderr: Vec<u8>,
}

/// Runs `program` with `args`, waiting at most [`TIMEOUT`] and reading at
/// most `max_output` bytes of its output (more is an error, not a cut fact).
pub fn run(
    program: &'static str,
    args: &'static [&'static str],
    max_output: u64,
) -> Result<Output, Unavailable> {
    run_with(program, args, &[], max_output, TIMEOUT)
}

/// [`run`] with fixed environment variables (the empty environment is too
/// empty for some programs: PowerShell and WMI need `SystemRoot`) and a
/// time limit of the command's own.
pub fn run_with(
    program: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    max_output: u64,
    timeout: Duration,
) -> Result<Output, Unavailable> {
    if !std::path::Path::new(program).is_file() {
        return Err(Unavailable(format!(
            "{program} does not exist on this machine"
        )));
    }
    // A fixed absolute path and fixed arguments, never a shell, never
    // anything a server sent (module docs).
    #[allow(clippy::disallowed_methods)]
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Unavailable(format!("cannot run {program}: {e}")))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // Readers on their own threads, so that a full pipe never stalls the
    // command and the deadline below is kept whatever it does.
    let out = std::thread::spawn(move || read_limited(stdout, max_output));
    let err = std::thread::spawn(move || read_limited(stderr, 64 * 1024));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Unavailable(format!(
                    "{program} did not answer within {} s",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(Unavailable(format!("cannot wait for {program}: {e}"))),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if stdout.len() as u64 > max_output {
        return Err(Unavailable(format!(
            "{program} printed more than the {} KiB the agent reads",
            max_output / 1024
        )));
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn read_limited(r: Option<impl std::io::Read>, limit: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(r) = r {
        let mut r = r.take(limit + 1);
        let _ = r.read_to_end(&mut buf);
        // Drain the rest so that the command can exit.
        let _ = std::io::copy(r.get_mut(), &mut std::io::sink());
    }
    buf
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_command_runs_bounded_in_output() {
        let out = run("/bin/echo", &["posture"], 1024).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"posture\n");
        let e = run("/bin/echo", &["0123456789"], 4).unwrap_err();
        assert!(e.0.contains("more than"), "{e}");
        let e = run("/nonexistent/fact-tool", &[], 4).unwrap_err();
        assert_eq!(e.0, "/nonexistent/fact-tool does not exist on this machine");
    }

    #[test]
    fn the_fixed_environment_is_all_a_command_sees() {
        let out = run_with(
            "/usr/bin/env",
            &[],
            &[("SystemRoot", r"C:\Windows")],
            1024,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(out.stdout, b"SystemRoot=C:\\Windows\n");
    }
}

/// Runs a fact command below the machine's own root only, and gives its
/// standard output as text; a failure is unavailable with the first line
/// it printed (an access refusal said in words).
pub fn run_text(
    root: &super::FactRoot,
    program: &'static str,
    args: &'static [&'static str],
    max_output: u64,
) -> Result<String, Unavailable> {
    run_text_with(root, program, args, &[], max_output, TIMEOUT)
}

/// [`run_text`] with [`run_with`]'s fixed environment and time limit.
pub fn run_text_with(
    root: &super::FactRoot,
    program: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    max_output: u64,
    timeout: Duration,
) -> Result<String, Unavailable> {
    if !root.is_system() {
        return Err(Unavailable(format!("{program} not run below a test root")));
    }
    let out = run_with(program, args, env, max_output, timeout)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let lower = first.to_ascii_lowercase();
    if lower.contains("denied")
        || lower.contains("not permitted")
        || lower.contains("administrator")
    {
        return Err(Unavailable(format!("access denied ({program}: {first})")));
    }
    Err(Unavailable(format!(
        "{program} failed ({}): {first}",
        out.status
    )))
}
