//! One module per subcommand.

pub mod assess;
pub mod dart;
pub mod install;
pub mod profile;
pub mod reassess;
pub mod run;
pub mod status;

/// `posture-sync completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> std::process::ExitCode {
    use std::io::Write as _;
    // Rendered into memory first: clap_complete panics on a failed write,
    // and a closed stdout (`| head`) must not become a panic.
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut crate::cli::command(&crate::cli::Defaults::generic()),
        "posture-sync",
        &mut script,
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&script).and_then(|()| out.flush());
    std::process::ExitCode::SUCCESS
}

/// The installed profile: the first of [`crate::install::default_profiles`]
/// that is a file (`run` and `dart` without `--profile`, like `install`),
/// or the paths looked at.
pub(crate) fn installed_profile() -> Result<std::path::PathBuf, Vec<std::path::PathBuf>> {
    use crate::install::{Platform, ProcessEnv, default_profiles};
    let tried = default_profiles(Platform::current(), &ProcessEnv);
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(tried),
    }
}

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
