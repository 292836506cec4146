//! The exit codes of every command, in one table ([`EXIT_CODES`]): the
//! commands return these constants, and `--help` (EXIT STATUS), the man
//! pages and `docs/cli.md` describe them from the same rows.
//!
//! `run`'s configuration errors use the BSD sysexits codes (`sysexits.h`),
//! so that a service manager can tell "fix the configuration" from "try
//! again": the systemd unit lists [`LOCK_HELD`], [`EX_NOINPUT`] and
//! [`EX_CONFIG`] in `RestartPreventExitStatus`, since restarting cannot cure
//! them, while [`FAILURE`] and [`EX_UNAVAILABLE`] are restarted.
//! `profile check` keeps the codes the specification gives it
//! ([`CHECK_INVALID`], [`CHECK_NO_PROFILE`]): a validator scripts call, which
//! no service manager runs.

/// Success (`run`: a clean stop after SIGINT or SIGTERM).
pub const EX_OK: u8 = 0;
/// Any failure without a more specific code; the message on stderr says
/// what and where.
pub const FAILURE: u8 = 1;
/// A usage error reported by the argument parser (clap's fixed code).
pub const USAGE: u8 = 2;
/// `profile check`: the profile is invalid (the specification's code).
pub const CHECK_INVALID: u8 = 1;
/// `profile check`: there is no profile (missing, unreadable, not a regular
/// file).
pub const CHECK_NO_PROFILE: u8 = 2;
/// `status`: no agent is running.
pub const NO_AGENT: u8 = 3;
/// `assess --dry-run`: a mandatory requirement failed (a PSN would decide
/// NonCompliant).
pub const NON_COMPLIANT: u8 = 5;
/// `run`: another agent holds the state dir's lock.
pub const LOCK_HELD: u8 = crate::lock::EXIT_LOCK_HELD;
/// `run`: there is no profile (missing, unreadable, not a regular file, or
/// none given and none installed), or the `--ca-file` cannot be read.
/// sysexits `EX_NOINPUT`.
pub const EX_NOINPUT: u8 = 66;
/// `run`: something the agent needs from the system is not there yet (no
/// network interface with a MAC address); a restart may succeed.
/// sysexits `EX_UNAVAILABLE`.
pub const EX_UNAVAILABLE: u8 = 69;
/// `dart`: the output file exists and `--force` was not given.
/// sysexits `EX_CANTCREAT`.
pub const EX_CANTCREAT: u8 = 73;
/// `run`: the profile is invalid, the `--ca-file` holds no certificate, or
/// a state or log dir is refused (not private to the user, no home to
/// derive it from). sysexits `EX_CONFIG`.
pub const EX_CONFIG: u8 = 78;

/// One row of the exit code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitDef {
    /// The code.
    pub code: u8,
    /// Its name (the sysexits name where it is one).
    pub name: &'static str,
    /// The subcommands that return it; empty: every command.
    pub commands: &'static [&'static str],
    /// What it means, for an administrator.
    pub meaning: &'static str,
}

/// Every exit code, in ascending order. A code may appear twice when one
/// command gives it its own meaning (`profile check`'s 1 and 2).
pub static EXIT_CODES: &[ExitDef] = &[
    ExitDef {
        code: EX_OK,
        name: "EX_OK",
        commands: &[],
        meaning: "success (run: a clean stop after SIGINT or SIGTERM)",
    },
    ExitDef {
        code: FAILURE,
        name: "FAILURE",
        commands: &[],
        meaning: "failure: the message on stderr says what and where",
    },
    ExitDef {
        code: CHECK_INVALID,
        name: "INVALID",
        commands: &["profile"],
        meaning: "profile check: the profile is invalid",
    },
    ExitDef {
        code: USAGE,
        name: "USAGE",
        commands: &[],
        meaning: "usage error: unknown command or flag, missing or invalid argument",
    },
    ExitDef {
        code: CHECK_NO_PROFILE,
        name: "NO_PROFILE",
        commands: &["profile"],
        meaning: "profile check: no profile (missing, unreadable or not a regular file)",
    },
    ExitDef {
        code: NO_AGENT,
        name: "NO_AGENT",
        commands: &["status", "reassess"],
        meaning: "no agent is running",
    },
    ExitDef {
        code: LOCK_HELD,
        name: "LOCK_HELD",
        commands: &["run"],
        meaning: "another agent already runs with this state dir",
    },
    ExitDef {
        code: NON_COMPLIANT,
        name: "NON_COMPLIANT",
        commands: &["assess"],
        meaning: "assess --dry-run: a mandatory requirement failed (a PSN would decide NonCompliant)",
    },
    ExitDef {
        code: EX_NOINPUT,
        name: "EX_NOINPUT",
        commands: &["run"],
        meaning: "no profile: missing, unreadable or not a regular file, or none given and none installed; or an unreadable --ca-file",
    },
    ExitDef {
        code: EX_UNAVAILABLE,
        name: "EX_UNAVAILABLE",
        commands: &["run"],
        meaning: "no network interface with a MAC address was found (pass --mac)",
    },
    ExitDef {
        code: EX_CANTCREAT,
        name: "EX_CANTCREAT",
        commands: &["dart"],
        meaning: "the output file exists (pass --force to replace it)",
    },
    ExitDef {
        code: EX_CONFIG,
        name: "EX_CONFIG",
        commands: &["run"],
        meaning: "invalid profile, a --ca-file without certificates, or a state or log dir that is not private to the user",
    },
];

/// The rows that `command` can return (`None`: the whole table).
pub fn codes_for(command: Option<&str>) -> impl Iterator<Item = &'static ExitDef> {
    EXIT_CODES.iter().filter(move |d| match command {
        None => true,
        Some(c) => d.commands.is_empty() || d.commands.contains(&c),
    })
}

/// The table as `docs/cli.md` shows it (a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out = String::from("| code | name | commands | meaning |\n|---|---|---|---|\n");
    for d in EXIT_CODES {
        let commands = if d.commands.is_empty() {
            "every command".to_owned()
        } else {
            d.commands
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| {} | `{}` | {commands} | {} |\n",
            d.code, d.name, d.meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_cli_md_shows_this_table() {
        let doc = include_str!("../../docs/cli.md");
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/cli.md's exit code table differs from exit::EXIT_CODES; paste:\n{table}"
        );
    }

    #[test]
    fn codes_are_ascending_shared_only_by_command_and_the_service_manager_codes_are_sysexits() {
        assert!(EXIT_CODES.windows(2).all(|w| w[0].code <= w[1].code));
        for w in EXIT_CODES.windows(2).filter(|w| w[0].code == w[1].code) {
            // A shared code: a general meaning and one command's own.
            assert!(
                w[0].commands.is_empty() != w[1].commands.is_empty(),
                "{w:?}"
            );
        }
        let mut names: Vec<&str> = EXIT_CODES.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EXIT_CODES.len());
        assert_eq!(EX_CONFIG, 78);
        assert_eq!(EX_NOINPUT, 66);
        assert_eq!(LOCK_HELD, 4);
        assert_eq!(NO_AGENT, 3);
        for d in EXIT_CODES {
            assert!(!d.meaning.is_empty() && !d.meaning.ends_with('.'), "{d:?}");
        }
    }

    #[test]
    fn a_command_sees_its_own_codes_and_the_common_ones() {
        let run: Vec<u8> = codes_for(Some("run")).map(|d| d.code).collect();
        assert_eq!(run, [0, 1, 2, 4, 66, 69, 78]);
        let status: Vec<u8> = codes_for(Some("status")).map(|d| d.code).collect();
        assert_eq!(status, [0, 1, 2, 3]);
        let check: Vec<&str> = codes_for(Some("profile")).map(|d| d.name).collect();
        assert_eq!(
            check,
            ["EX_OK", "FAILURE", "INVALID", "USAGE", "NO_PROFILE"]
        );
        assert_eq!(codes_for(None).count(), EXIT_CODES.len());
    }
}
