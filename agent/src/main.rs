//! `posture-sync`: the endpoint agent. `main` only parses the command line and
//! maps each command's outcome to an exit code (`exit.rs`); the work lives in
//! `cmd::*`.

use std::process::ExitCode;

use posture_sync::{cli, cmd};

fn main() -> ExitCode {
    let cli = cli::parse();
    match cli.command {
        cli::Command::Run(args) => cmd::run::main(args),
        cli::Command::Status(args) => cmd::status::main(args),
        cli::Command::Reassess(args) => cmd::reassess::main(args),
        cli::Command::Assess(args) => cmd::assess::main(args),
        cli::Command::Profile(cli::ProfileCommand::Check { file }) => cmd::profile::check(&file),
        cli::Command::Profile(cli::ProfileCommand::Schema) => cmd::profile::schema(),
        cli::Command::Install(args) => cmd::install::install(args),
        cli::Command::Uninstall(args) => cmd::install::uninstall(args),
        cli::Command::Dart(args) => cmd::dart::main(args),
        cli::Command::Completions(args) => cmd::completions(args.shell),
    }
}
