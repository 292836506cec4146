//! One module per subcommand.

pub mod assess;
pub mod dart;
pub mod install;
pub mod profile;
pub mod reassess;
pub mod run;
pub mod status;

/// The agent's directories for a command that reads what is there (`status`,
/// `dart`), checked first: a socket, log or history in a directory another
/// user can write may be theirs. A failure is printed and becomes exit code
/// `failure`.
pub(crate) fn checked_dirs(
    state_dir: Option<std::path::PathBuf>,
    log_dir: Option<std::path::PathBuf>,
    failure: u8,
) -> Result<crate::paths::Dirs, std::process::ExitCode> {
    let dirs = crate::paths::Dirs::resolve(state_dir, log_dir);
    match dirs.and_then(|d| d.check().map(|()| d)) {
        Ok(d) => Ok(d),
        Err(e) => {
            print_err(format_args!("{e}"));
            Err(std::process::ExitCode::from(failure))
        }
    }
}

/// Writes one `posture-sync: ...` line to stderr. Not `eprintln!`, which
/// panics when stderr is closed (`posture-sync dart 2>&1 | head -1`): a
/// reader that went away must not turn an exit code into a panic.
pub(crate) fn print_err(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "posture-sync: {args}");
}
