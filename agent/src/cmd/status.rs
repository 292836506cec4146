//! `posture-sync status [--state-dir DIR] [--json]`: asks the running agent
//! over its status socket (`docs/cli.md`).
//!
//! Exit codes: 0 the agent answered, 3 no agent is running, 1 anything else
//! (also a state dir that is not private to the user: `docs/cli.md`,
//! Directories). With `--json` and no agent, stdout still gets one object,
//! `{"running":false,...}` ([`no_agent`]).
//! `--json` prints the agent's object exactly as received, on one line; the
//! default is a short summary for people: [`status_report::summary`] when
//! the object is a [`StatusReport`] this build understands, else a plain
//! rendering of the contract keys (an agent of another version may answer).

use std::io::{self, Write};
use std::process::ExitCode;

use serde_json::Value;

use crate::cli::StatusArgs;
use crate::control::{self, QueryError};
use crate::status_report::{self, StatusReport};

/// Exit code when no agent is running.
pub const EXIT_NO_AGENT: u8 = crate::exit::NO_AGENT;
/// Exit code for every other failure.
pub const EXIT_FAILURE: u8 = crate::exit::FAILURE;

/// Entry point.
pub fn main(args: StatusArgs) -> ExitCode {
    let dirs = match super::checked_dirs(args.state_dir, None, EXIT_FAILURE) {
        Ok(d) => d,
        Err(exit) => return exit,
    };
    let socket = dirs.socket_path();
    let status = match control::query(&socket) {
        Ok(v) => v,
        Err(e) => {
            super::print_err(format_args!("{e}"));
            if args.json && exit_code(&e) == EXIT_NO_AGENT {
                // Fleet scripts parse stdout: they get an answer too.
                let text = format!(
                    "{}
",
                    no_agent(&dirs.state, &e)
                );
                let _ = io::stdout().lock().write_all(text.as_bytes());
            }
            if matches!(e, QueryError::NoAnswer { .. }) {
                super::print_err(format_args!(
                    "help: its log is {} unless it runs with --log-dir",
                    dirs.logs.join(crate::logging::LOG_FILE).display()
                ));
            }
            return ExitCode::from(exit_code(&e));
        }
    };
    let text = if args.json {
        format!("{status}\n")
    } else {
        match serde_json::from_value::<StatusReport>(status.clone()) {
            Ok(report) => status_report::summary(&report),
            Err(_) => summary(&status),
        }
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // `status | head`: the reader went away; nothing left to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            super::print_err(format_args!("cannot write to stdout: {e}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// What `status --json` prints when no agent runs: `running: false`, the
/// state dir asked, why (the message printed on stderr too), and where the
/// agent's last `status.json` is. Not its content: a script that greps for
/// `"phase":"known"` must not find the state of an agent that is gone.
pub fn no_agent(state_dir: &std::path::Path, error: &QueryError) -> Value {
    serde_json::json!({
        "running": false,
        "state_dir": state_dir.display().to_string(),
        "reason": error.to_string(),
        "status_file": state_dir.join(crate::fleet_status::STATUS_FILE).display().to_string(),
    })
}

/// The exit code for a failed query: [`EXIT_NO_AGENT`] when no agent is
/// running, or none can run with this state dir (its socket path is too
/// long: the agent refuses to start there); [`EXIT_FAILURE`] otherwise.
pub fn exit_code(error: &QueryError) -> u8 {
    match error {
        QueryError::NoAgent { .. } | QueryError::PathTooLong { .. } => EXIT_NO_AGENT,
        QueryError::Io { .. }
        | QueryError::NoAnswer { .. }
        | QueryError::Refused { .. }
        | QueryError::BadReply { .. }
        | QueryError::Unsupported => EXIT_FAILURE,
    }
}

/// A plain summary of any status object (the `status --json` keys of
/// `docs/cli.md`), for replies that are not a [`StatusReport`] this build
/// understands. Missing or odd values show as `-` rather than failing.
pub fn summary(status: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let field = |key: &str| text(&status[key]);
    let sync = &status["sync"];
    let sync_line = match (&sync["enabled"], &sync["stopped_reason"]) {
        (_, Value::String(reason)) => format!("stopped ({reason})"),
        (Value::Bool(true), _) => "enabled".to_string(),
        (Value::Bool(false), _) => "disabled".to_string(),
        _ => "-".to_string(),
    };
    let probe = &status["last_probe"];
    let probe_line = if probe.is_object() {
        format!(
            "{} at {} from {}",
            text(&probe["outcome"]),
            text(&probe["at"]),
            text(&probe["target"])
        )
    } else {
        "none yet".to_string()
    };
    let counters = &status["counters"];
    let counters_line = format!(
        "{} probe rounds, {} discovery restarts, {} misconfigurations",
        text(&counters["probe_rounds"]),
        text(&counters["discovery_restarts"]),
        text(&counters["misconfigurations"])
    );
    let rows = [
        ("phase", field("phase")),
        ("posture", field("posture")),
        ("session", field("session_id")),
        ("connected PSN", field("connected_psn")),
        ("state sync", sync_line),
        ("last probe", probe_line),
        ("counters", counters_line),
    ];
    let mut out = String::new();
    for (label, value) in rows {
        out.push_str(&format!("{:<15}{value}\n", format!("{label}:")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_agent_and_a_state_dir_too_long_for_any_agent_exit_3() {
        let p = std::path::PathBuf::from("/s/agent.sock");
        let no_agent = QueryError::NoAgent {
            path: p.clone(),
            detail: "no status socket at",
        };
        assert_eq!(exit_code(&no_agent), EXIT_NO_AGENT);
        let too_long = QueryError::PathTooLong {
            path: p.clone(),
            len: 130,
            max: 107,
        };
        assert_eq!(exit_code(&too_long), EXIT_NO_AGENT);
        assert_eq!(exit_code(&QueryError::NoAnswer { path: p }), EXIT_FAILURE);
    }

    /// The command itself, as `posture-sync status --state-dir /tmp/xxx...`
    /// runs it: exit 3, not 1.
    #[cfg(unix)]
    #[test]
    fn status_with_a_state_dir_too_long_for_a_socket_exits_3() {
        let args = StatusArgs {
            state_dir: Some(std::path::PathBuf::from(format!(
                "/tmp/{}",
                "x".repeat(120)
            ))),
            json: true,
        };
        assert_eq!(main(args), ExitCode::from(EXIT_NO_AGENT));
    }

    #[test]
    fn no_agent_object_says_not_running_and_nothing_of_the_last_state() {
        let tmp = tempfile::tempdir().unwrap();
        let error = QueryError::NoAgent {
            path: tmp.path().join("agent.sock"),
            detail: "no status socket at",
        };
        // The last status file of an agent that was known: not repeated.
        std::fs::write(
            tmp.path().join(crate::fleet_status::STATUS_FILE),
            r#"{"running":true,"phase":"known","posture":"Compliant"}"#,
        )
        .unwrap();
        let v = no_agent(tmp.path(), &error);
        assert_eq!(v["running"], false);
        assert_eq!(v["state_dir"], tmp.path().display().to_string());
        assert_eq!(v["reason"], error.to_string());
        assert_eq!(
            v["status_file"],
            tmp.path().join("status.json").display().to_string()
        );
        let text = v.to_string();
        assert!(
            !text.contains("known") && !text.contains("Compliant"),
            "{text}"
        );
    }

    #[test]
    fn summary_of_a_full_status() {
        let s = json!({
            "phase": "known",
            "posture": "Compliant",
            "session_id": "0a0b0c0d",
            "connected_psn": "psn1.example.com:8443",
            "sync": { "enabled": true, "stopped_reason": null },
            "last_probe": { "at": "2026-11-21T22:00:00Z", "target": "psn1.example.com:8449", "outcome": "blocked" },
            "counters": { "probe_rounds": 12, "discovery_restarts": 1, "misconfigurations": 0 }
        });
        assert_eq!(
            summary(&s),
            "phase:         known\n\
             posture:       Compliant\n\
             session:       0a0b0c0d\n\
             connected PSN: psn1.example.com:8443\n\
             state sync:    enabled\n\
             last probe:    blocked at 2026-11-21T22:00:00Z from psn1.example.com:8449\n\
             counters:      12 probe rounds, 1 discovery restarts, 0 misconfigurations\n"
        );
    }

    #[test]
    fn summary_of_a_stopped_and_a_fresh_agent() {
        let s = json!({
            "phase": "known", "posture": "NonCompliant", "session_id": null, "connected_psn": null,
            "sync": { "enabled": true, "stopped_reason": "misconfiguration" },
            "last_probe": null,
            "counters": { "probe_rounds": 0, "discovery_restarts": 0, "misconfigurations": 1 }
        });
        let text = summary(&s);
        assert!(
            text.contains("state sync:    stopped (misconfiguration)\n"),
            "{text}"
        );
        assert!(text.contains("last probe:    none yet\n"), "{text}");
        assert!(text.contains("session:       -\n"), "{text}");
        // Missing keys never panic.
        let text = summary(&json!({}));
        assert!(text.starts_with("phase:         -\n"), "{text}");
        assert_eq!(text.lines().count(), 7);
    }
}
