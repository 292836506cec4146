//! `posture-sync dart -o FILE.zip`: writes a diagnostic bundle (see
//! [`crate::dart`]), one progress line per collected part on stderr and the
//! bundle's path on stdout.
//!
//! Exit codes: 0 written, 1 failed.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::cli::DartArgs;
use crate::dart::{self, BundleSpec, StatusSource};
use crate::install::{Platform, ProcessEnv, default_profiles};
use crate::paths::Dirs;

/// Exit code when the bundle could not be written.
pub const EXIT_FAILURE: u8 = 1;

/// Entry point.
pub fn main(args: DartArgs) -> ExitCode {
    let dirs = match Dirs::resolve(args.state_dir, args.log_dir) {
        Ok(d) => d,
        Err(e) => {
            super::print_err(format_args!("{e}"));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let profile = args.profile.or_else(|| {
        default_profiles(Platform::current(), &ProcessEnv)
            .into_iter()
            .find(|p| p.is_file())
    });
    let spec = BundleSpec {
        dirs,
        output: args.output,
        profile,
        ca_file: args.ca_file,
        status: StatusSource::Query,
        reason: None,
        rounds: dart::DEFAULT_ROUNDS,
    };
    // A reader that went away (`dart 2>&1 | head -1`) must not stop the bundle.
    let mut progress = |line: &str| super::print_err(format_args!("{line}"));
    match dart::collect(&spec, &mut progress) {
        Ok(report) => {
            let mut out = io::stdout().lock();
            // `dart | head`: a closed stdout must not turn success into failure.
            let _ = writeln!(
                out,
                "{} ({} parts; open summary.html first)",
                report.path.display(),
                report.parts.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            super::print_err(format_args!("{e}"));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
