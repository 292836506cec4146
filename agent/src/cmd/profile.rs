//! `posture-sync profile check|schema`.
use std::path::Path;
use std::process::ExitCode;

/// `profile check FILE`.
pub fn check(_file: &Path) -> ExitCode {
    ExitCode::from(2)
}

/// `profile schema`.
pub fn schema() -> ExitCode {
    ExitCode::from(2)
}
