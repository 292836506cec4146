//! What both lab binaries (`psn-lab`, `mdm-lab`) do around their commands:
//! logging setup (`RUST_LOG`, `--log-json`), printing to stdout, the async
//! runtime, waiting for SIGINT/SIGTERM, printing a `ctl` reply, and turning
//! the outcome into an exit code. The commands themselves (and each startup
//! summary) stay in the binaries.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use http::{Method, StatusCode};
use serde_json::Value;

use crate::common::ctl::AdminClient;
use crate::common::error::LabError;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as text (colours
/// only on a terminal) or, with `json`, as JSON lines. Called once, first
/// thing in `main`.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // `init` panics only when a global subscriber is already set: main calls
    // this once, before anything else could set one.
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Prints to stdout; a closed pipe (`psn-lab ctl sessions | head`) ends
/// quietly, as does any other write error (there is nowhere left to say it).
pub fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The async runtime: multi-threaded, with `worker_threads` workers (`None`:
/// one per core).
pub fn runtime(worker_threads: Option<usize>) -> Result<tokio::runtime::Runtime, LabError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| LabError::Config(format!("cannot start the async runtime: {e}")))
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM: the signals that stop a
/// serving lab.
pub async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Text of a `ctl` reply and where it goes: a success prints the JSON body to
/// stdout (exit 0); a refusal prints `PROGRAM ctl: STATUS: BODY` to stderr
/// (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlOutput {
    /// Exit 0 with this on stdout.
    Success(String),
    /// Exit 1 with this on stderr.
    Refused(String),
}

impl CtlOutput {
    /// How `program ctl` shows an admin API reply.
    pub fn of(program: &str, status: StatusCode, value: &Value) -> Self {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        if status.is_success() {
            CtlOutput::Success(format!("{text}\n"))
        } else {
            CtlOutput::Refused(format!("{program} ctl: {status}: {text}"))
        }
    }

    /// Prints it and gives the exit code.
    pub fn print(&self) -> ExitCode {
        match self {
            CtlOutput::Success(text) => {
                print_stdout(text);
                ExitCode::SUCCESS
            }
            CtlOutput::Refused(text) => {
                eprintln!("{text}");
                ExitCode::from(1)
            }
        }
    }
}

/// `program ctl`: makes one admin call and prints the reply.
pub async fn run_ctl(
    program: &str,
    client: &AdminClient,
    (method, path, body): (Method, String, Option<Value>),
) -> Result<ExitCode, LabError> {
    let (status, value) = client.call(method, &path, body).await?;
    Ok(CtlOutput::of(program, status, &value).print())
}

/// The exit code of a command: its own, or 1 after `program: error: ...` on
/// stderr.
pub fn exit_code(program: &str, outcome: Result<ExitCode, LabError>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_successful_ctl_reply_is_pretty_json_on_stdout() {
        let out = CtlOutput::of("psn-lab", StatusCode::OK, &json!({"cleared": true}));
        assert_eq!(
            out,
            CtlOutput::Success("{\n  \"cleared\": true\n}\n".into())
        );
    }

    #[test]
    fn a_refused_ctl_call_names_the_program_and_status() {
        let out = CtlOutput::of(
            "mdm-lab",
            StatusCode::NOT_FOUND,
            &json!({"error": "no device x"}),
        );
        assert_eq!(
            out,
            CtlOutput::Refused(
                "mdm-lab ctl: 404 Not Found: {\n  \"error\": \"no device x\"\n}".into()
            )
        );
    }

    #[test]
    fn a_runtime_with_fixed_workers_runs_tasks() {
        let rt = runtime(Some(2)).unwrap();
        assert_eq!(rt.metrics().num_workers(), 2);
        assert_eq!(
            rt.block_on(async { tokio::spawn(async { 7 }).await })
                .unwrap(),
            7
        );
    }
}
