//! `posture-sync profile check FILE` and `posture-sync profile schema`.
//!
//! `check` prints every diagnostic on stderr, compiler style:
//! `FILE:LINE:COL: message` for errors, `FILE:LINE:COL: warning: message` and
//! `FILE:LINE:COL: note: message` otherwise, each optionally followed by
//! `  help: ...`. A valid profile also gets one summary line on stdout.
//! Exit codes: 0 valid (possibly with warnings), 1 invalid, 2 no profile
//! (missing or unreadable file, or not a regular file: a FIFO, device,
//! socket or directory at FILE is refused without being read, so the check
//! never blocks on it; see `profile_schema::open_regular`).

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use profile_schema::{Diagnostic, LoadError, Profile, Severity};

/// Exit code for an invalid profile (the specification's; `run` exits
/// `EX_CONFIG` instead: `crate::exit`).
const INVALID: u8 = crate::exit::CHECK_INVALID;
/// Exit code when there is no profile to check.
const NO_PROFILE: u8 = crate::exit::CHECK_NO_PROFILE;

/// `profile check FILE`.
pub fn check(file: &Path) -> ExitCode {
    let mut err = io::stderr().lock();
    match Profile::load(file) {
        Ok(loaded) => {
            let warnings = loaded.profile.lint();
            let mut all: Vec<&Diagnostic> = warnings.iter().chain(&loaded.notes).collect();
            all.sort_by_key(|d| (d.line, d.column, d.severity));
            for d in all {
                // A closed stderr must not turn a valid profile into a failure.
                let _ = writeln!(err, "{}", d.render(file));
            }
            let known = loaded
                .profile
                .entries()
                .iter()
                .filter(|e| e.is_known())
                .count();
            let unknown = loaded.profile.entries().len() - known;
            let n = warnings
                .iter()
                .filter(|d| d.severity == profile_schema::Severity::Warning)
                .count();
            let summary = format!(
                "{}: valid profile ({known} known keys, {unknown} unknown kept, {n} warning{})",
                file.display(),
                if n == 1 { "" } else { "s" }
            );
            write_stdout(&summary);
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid { path, errors }) => {
            for d in &errors {
                let _ = writeln!(err, "{}", d.render(&path));
            }
            let n = errors
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let _ = writeln!(
                err,
                "{}: invalid profile: {n} error{}",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(INVALID)
        }
        Err(e @ LoadError::TooLarge { .. }) => {
            let _ = writeln!(err, "{}:1:1: {e}", file.display());
            ExitCode::from(INVALID)
        }
        Err(e @ LoadError::Read { .. }) => {
            let _ = writeln!(err, "posture-sync: {e}");
            ExitCode::from(NO_PROFILE)
        }
    }
}

/// `profile schema`: the JSON description of every known key on stdout.
pub fn schema() -> ExitCode {
    write_stdout(&profile_schema::schema_json_pretty());
    ExitCode::SUCCESS
}

/// Print a line on stdout; a reader that went away (`| head`) is not an
/// error worth reporting, so any write error ends output quietly.
fn write_stdout(text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
