//! `posture-sync status`.
use std::process::ExitCode;

/// Entry point.
pub fn main(_args: crate::cli::StatusArgs) -> ExitCode {
    eprintln!("posture-sync: 'status' is not built yet");
    ExitCode::from(2)
}
