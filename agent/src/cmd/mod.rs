//! One module per subcommand.

pub mod dart;
pub mod install;
pub mod profile;
pub mod run;
pub mod status;

/// Writes one `posture-sync: ...` line to stderr. Not `eprintln!`, which
/// panics when stderr is closed (`posture-sync dart 2>&1 | head -1`): a
/// reader that went away must not turn an exit code into a panic.
pub(crate) fn print_err(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "posture-sync: {args}");
}
