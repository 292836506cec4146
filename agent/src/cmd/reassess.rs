//! `posture-sync reassess [--state-dir DIR]`: asks the running agent to
//! rediscover and reassess now, over its status socket (`docs/cli.md`), and
//! prints what it decided.
//!
//! Exit codes: 0 the agent took the request (or had no profile to act on),
//! 3 no agent is running, 1 anything else (a refusal included: another
//! user's agent, an agent too busy).

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::ReassessArgs;
use crate::cmd::status::{EXIT_FAILURE, exit_code};
use crate::control;
use crate::record::TransitionRecord;

/// Entry point.
pub fn main(args: ReassessArgs) -> ExitCode {
    let dirs = match super::checked_dirs(args.state_dir, None, EXIT_FAILURE) {
        Ok(d) => d,
        Err(exit) => return exit,
    };
    let socket = dirs.socket_path();
    match control::reassess(&socket) {
        Ok(decided) => {
            let text = answer_text(decided.as_ref());
            let mut out = io::stdout().lock();
            // `reassess | head`: the reader going away changes nothing.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            ExitCode::SUCCESS
        }
        Err(e) => {
            super::print_err(format_args!("{e}"));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// What the agent decided, for a person.
fn answer_text(decided: Option<&TransitionRecord>) -> String {
    match decided {
        Some(t) => format!(
            "the agent decided: {} -> {} ({})\nfollow it with `posture-sync status`\n",
            t.from, t.to, t.reason
        ),
        None => "the agent has no profile applied yet; nothing to reassess\n".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::PhaseName;
    use crate::record::RECORD_VERSION;

    #[test]
    fn the_answer_names_the_transition() {
        let t = TransitionRecord {
            v: RECORD_VERSION,
            at: "2026-12-03T16:00:00Z".to_owned(),
            from: PhaseName::Known,
            to: PhaseName::Discovering,
            kind: crate::machine::ReasonKind::Rescan,
            reason: "rescan requested".to_owned(),
            session: None,
            psn: None,
        };
        let text = answer_text(Some(&t));
        assert!(
            text.contains("known -> discovering (rescan requested)"),
            "{text}"
        );
        assert!(answer_text(None).contains("no profile"));
    }
}
