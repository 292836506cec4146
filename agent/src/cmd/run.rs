//! `posture-sync run`.
use std::process::ExitCode;

/// Entry point.
pub fn main(_args: crate::cli::RunArgs) -> ExitCode {
    eprintln!("posture-sync: 'run' is not built yet");
    ExitCode::from(2)
}
