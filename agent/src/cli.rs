//! The command line definition (`docs/cli.md`). Man page and completions are
//! generated from this, so it is the single source of truth for flags.
//!
//! The default paths in the help texts and the EXIT STATUS, FILES and
//! ENVIRONMENT sections are added at runtime by [`command`]: resolved for the
//! user running the binary ([`Defaults::resolved`]), or described in general
//! terms for man pages built elsewhere ([`Defaults::generic`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::exit;
use crate::install::{Platform, ProcessEnv, default_profiles};

/// The version line after the program name:
/// `0.x.y (abc1234 x86_64-unknown-linux-gnu)`; the commit is `unknown` when
/// the binary was built outside a git checkout (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("POSTURE_SYNC_GIT_COMMIT"),
    " ",
    env!("POSTURE_SYNC_TARGET"),
    ")"
);

/// Keeps the endpoint's network posture in step with the policy server.
#[derive(Debug, Parser)]
#[command(name = "posture-sync", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Ask the running agent for its status.
    Status(StatusArgs),
    /// Ask the running agent to rediscover and reassess now (the Rescan
    /// button of the vendor agent).
    Reassess(ReassessArgs),
    /// Evaluate a posture policy on this machine without a PSN (--dry-run):
    /// each requirement's result and reason, exit 0 when every mandatory
    /// requirement passes.
    Assess(AssessArgs),
    /// Check or describe posture profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Start the agent at login for the current user (systemd user unit or
    /// XDG autostart on Linux, LaunchAgent on macOS, Run key on Windows),
    /// or with --system for every user (Linux, as root).
    Install(InstallArgs),
    /// Stop starting the agent at login for the current user (or with
    /// --system for every user).
    Uninstall(UninstallArgs),
    /// Write a diagnostic bundle (zip) to mail to support.
    Dart(DartArgs),
    /// Print the shell completion script for SHELL on stdout.
    Completions(CompletionsArgs),
}

/// Flags of `posture-sync completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Flags of `posture-sync install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The profile the agent runs with [default: ISEPostureCFG.xml in the
    /// per-user config dir, else /etc/posture-sync/ISEPostureCFG.xml].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Register the agent for every user of this machine (Linux, as root):
    /// a global systemd user unit and /etc/xdg/autostart, running
    /// /etc/posture-sync/ISEPostureCFG.xml (--profile FILE is copied there).
    #[arg(long)]
    pub system: bool,
}

/// Flags of `posture-sync uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Remove the registration for every user made by `install --system`
    /// (as root); the profile in /etc/posture-sync stays unless --purge.
    #[arg(long)]
    pub system: bool,
    /// Also remove the current user's state, logs and bundles (with
    /// --system: the system-wide profile instead).
    #[arg(long)]
    pub purge: bool,
}

/// Flags of `posture-sync dart`.
#[derive(Debug, Args)]
pub struct DartArgs {
    /// The zip file to write.
    #[arg(short = 'o', long, value_name = "FILE.zip")]
    pub output: Option<PathBuf>,
    /// Print the findings on stdout instead of writing a bundle: the
    /// agent's (of --state-dir), or with FILE.zip those of that bundle.
    #[arg(
        long,
        value_name = "FILE.zip",
        num_args = 0..=1,
        conflicts_with_all = ["output", "force"]
    )]
    pub summary: Option<Option<PathBuf>>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// The agent's state dir.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The agent's log dir.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// The profile to include.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The extra CA bundle the agent trusts (summarized, never copied).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// Flags of `posture-sync run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The posture profile (ISEPostureCFG.xml-like).
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Where the agent keeps its state and status socket.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where the agent writes its rolling log.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// A PEM bundle of CAs to trust in addition to the platform's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Trust only the CAs of --ca-file, not the platform's roots (closed
    /// deployments: a certificate a public CA issued for a name the
    /// ServerNameRules allow is then refused).
    #[arg(long, requires = "ca_file")]
    pub ca_only: bool,
    /// The endpoint MAC to present [default: the primary interface's].
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    pub mac: Option<String>,
    /// Where discovery asks for the switch's URL redirect: `auto` (the
    /// default gateways, port 80), `off`, or an address with an optional
    /// port (a lab's redirect listener).
    #[arg(long, value_name = "auto|off|ADDR[:PORT]", default_value = "auto")]
    pub gateway: crate::gateway::GatewayMode,
    /// Watch the endpoint's addresses, routes and links, and restart
    /// discovery once the network has been quiet for
    /// NetworkTransitionDelay after a change (`off`: only a probe or
    /// `posture-sync reassess` restarts it).
    #[arg(
        long,
        value_name = "on|off",
        default_value = "on",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub network_watch: bool,
    /// Also write posture_sync.prom for node_exporter's textfile collector
    /// into this existing directory (its --collector.textfile.directory).
    #[arg(long, value_name = "DIR")]
    pub metrics_dir: Option<PathBuf>,
    /// Wait a random delay below this many seconds (0-60) before the first
    /// discovery after the start and after a network change settles, so
    /// that endpoints that come back together (a switch reboot) do not
    /// reach the PSNs in the same second (docs/fleet.md). 0: at once.
    /// After a network change the delay stays below 1 s.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = crate::machine::START_SPREAD_DEFAULT.as_secs(),
        value_parser = clap::value_parser!(u64).range(0..=crate::machine::START_SPREAD_MAX.as_secs())
    )]
    pub start_spread: u64,
}

/// Flags of `posture-sync assess`.
#[derive(Debug, Args)]
pub struct AssessArgs {
    /// Evaluate locally and tell no one (required: `assess` never talks to
    /// a PSN; `posture-sync reassess` makes the running agent assess).
    #[arg(long, required = true)]
    pub dry_run: bool,
    /// The policy: a requirements document as a PSN sends it (XML), or a
    /// psn-lab policy file (JSON, `{"requirements": [...]}`).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The profile whose ContentCheckPaths allow file-contains checks
    /// [default: none, so file-contains is refused as the agent would
    /// without them].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Print one JSON object (`requirements`, `compliant`) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `posture-sync reassess`.
#[derive(Debug, Args)]
pub struct ReassessArgs {
    /// The running agent's state dir.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Flags of `posture-sync status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The running agent's state dir.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// `posture-sync profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Validate a profile: exit 0 when valid (warnings on stderr), 1 when invalid,
    /// 2 when the file is missing or unreadable.
    Check {
        /// The profile to check.
        file: PathBuf,
    },
    /// Print the machine-readable description of every known profile key (JSON).
    Schema,
}

/// `--mac`: a MAC address, normalised (`aa:bb:cc:dd:ee:ff`). Anything else
/// is a usage error reported by the argument parser, before anything starts.
fn parse_mac(value: &str) -> Result<String, String> {
    posture_protocol::normalize_mac(value).ok_or_else(|| {
        "not a MAC address (expected six hex pairs like aa:bb:cc:dd:ee:ff)".to_owned()
    })
}

/// The default paths the help texts and the FILES section show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// The default state dir.
    pub state_dir: String,
    /// The default log dir.
    pub log_dir: String,
    /// Where the installed profile is looked for, in order.
    pub profiles: Vec<String>,
    /// The default profile of `run` and `dart`, in words.
    pub profile: String,
    /// The platform whose variables the ENVIRONMENT section lists.
    pub platform: Platform,
}

impl Defaults {
    /// The paths the commands would use for the user running this process.
    pub fn resolved() -> Defaults {
        Defaults::resolved_with(Platform::current(), &ProcessEnv)
    }

    /// [`Defaults::resolved`] with the platform and environment injected.
    pub fn resolved_with(platform: Platform, env: &dyn crate::paths::Env) -> Defaults {
        let (state_dir, log_dir) = match crate::paths::default_dirs(platform, env) {
            Ok(d) => (d.state.display().to_string(), d.logs.display().to_string()),
            Err(_) => (
                "none: no home directory, pass --state-dir".to_owned(),
                "none: no home directory, pass --log-dir".to_owned(),
            ),
        };
        let tried = default_profiles(platform, env);
        let profile = match tried.iter().find(|p| p.is_file()) {
            Some(p) => format!("the installed profile, {}", p.display()),
            None if tried.is_empty() => {
                "the installed profile: none (no home directory)".to_owned()
            }
            None => format!(
                "the installed profile: none found at {}",
                join_or(tried.iter().map(|p| p.display().to_string()))
            ),
        };
        Defaults {
            state_dir,
            log_dir,
            profiles: tried.iter().map(|p| p.display().to_string()).collect(),
            profile,
            platform,
        }
    }

    /// The defaults in general terms (`$XDG_STATE_HOME/posture-sync`), for
    /// the man pages and completions built on another machine than the one
    /// that reads them.
    pub fn generic() -> Defaults {
        Defaults::generic_for(Platform::current())
    }

    /// [`Defaults::generic`] for `platform`.
    pub fn generic_for(platform: Platform) -> Defaults {
        let (state_dir, log_dir, profiles): (&str, &str, &[&str]) = match platform {
            Platform::Xdg => (
                "$XDG_STATE_HOME/posture-sync",
                "$XDG_STATE_HOME/posture-sync/logs",
                &[
                    "$XDG_CONFIG_HOME/posture-sync/ISEPostureCFG.xml",
                    crate::install::SYSTEM_PROFILE,
                ],
            ),
            Platform::MacOs => (
                "~/Library/Application Support/posture-sync",
                "~/Library/Logs/posture-sync",
                &["~/Library/Application Support/posture-sync/ISEPostureCFG.xml"],
            ),
            Platform::Windows => (
                "%LOCALAPPDATA%\\posture-sync\\state",
                "%LOCALAPPDATA%\\posture-sync\\logs",
                &["%APPDATA%\\posture-sync\\ISEPostureCFG.xml"],
            ),
        };
        Defaults {
            state_dir: state_dir.to_owned(),
            log_dir: log_dir.to_owned(),
            profiles: profiles.iter().map(|p| (*p).to_owned()).collect(),
            profile: format!(
                "the installed profile, the first of {} that exists",
                join_or(profiles.iter().map(|p| (*p).to_owned()))
            ),
            platform,
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A titled list of (term, description) rows after the options: EXIT
/// STATUS, FILES, ENVIRONMENT. The help text and the man pages render the
/// same rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The man page section name (`EXIT STATUS`).
    pub title: &'static str,
    /// Term and description.
    pub rows: Vec<(String, String)>,
}

/// The sections of `command`'s help (`None`: the program's own; a
/// subcommand lists only the exit codes it can return).
pub fn sections(command: Option<&str>, d: &Defaults) -> Vec<Section> {
    let exit = exit::codes_for(command)
        .map(|c| (format!("{} ({})", c.code, c.name), c.meaning.to_owned()))
        .collect();
    let mut files: Vec<(String, String)> = d
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let what = if i == 0 {
                "the installed profile: the default of run, dart and install"
            } else {
                "the system-wide profile, used when there is no per-user one"
            };
            (p.clone(), what.to_owned())
        })
        .collect();
    files.push((
        d.state_dir.clone(),
        "the state dir: agent.sock (the status socket), agent.lock, known-psns.json, \
         probe-rounds.jsonl, transitions.jsonl, bundles/ (automatic diagnostic bundles)"
            .to_owned(),
    ));
    files.push((
        std::path::Path::new(&d.log_dir)
            .join(crate::logging::LOG_FILE)
            .display()
            .to_string(),
        format!(
            "the current log file; {0}.1 to {0}.4 are the previous ones",
            crate::logging::LOG_FILE
        ),
    ));
    let mut env = vec![(
        "RUST_LOG".to_owned(),
        "the log level (info by default), or target directives such as \
         info,posture_sync::probe=trace"
            .to_owned(),
    )];
    let vars: &[(&str, &str)] = match d.platform {
        Platform::Xdg => &[
            (
                "XDG_STATE_HOME",
                "base of the default state dir when set to an absolute path (default ~/.local/state)",
            ),
            (
                "XDG_CONFIG_HOME",
                "base of the per-user profile when set to an absolute path (default ~/.config)",
            ),
            ("HOME", "the home directory the defaults derive from"),
        ],
        Platform::MacOs => &[("HOME", "the home directory the defaults derive from")],
        Platform::Windows => &[
            ("LOCALAPPDATA", "base of the default state and log dirs"),
            ("APPDATA", "base of the per-user profile"),
        ],
    };
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    vec![
        Section {
            title: "EXIT STATUS",
            rows: exit,
        },
        Section {
            title: "FILES",
            rows: files,
        },
        Section {
            title: "ENVIRONMENT",
            rows: env,
        },
    ]
}

/// The sections as `--help` text, laid out like clap's long option help.
fn help_text(sections: &[Section]) -> String {
    let mut out = String::new();
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // "EXIT STATUS" -> "Exit status:", like clap's "Options:".
        let title = s.title.to_lowercase();
        let mut chars = title.chars();
        let title: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        let _ = writeln!(out, "{title}:");
        for (term, text) in &s.rows {
            let _ = writeln!(out, "  {term}\n          {text}");
        }
    }
    out
}

/// The command line with the defaults of `d` in the help texts and the
/// EXIT STATUS, FILES and ENVIRONMENT sections after each command's options
/// (`--help`; `-h` stays short).
pub fn command(d: &Defaults) -> clap::Command {
    let with_default = |default: String| {
        move |a: clap::Arg| {
            let base = a.get_help().map(ToString::to_string).unwrap_or_default();
            a.help(format!("{base} [default: {default}]"))
        }
    };
    let log_default = format!("{}; with --state-dir, <state dir>/logs", d.log_dir);
    let mut cmd = Cli::command()
        .mut_subcommand("run", |s| {
            s.mut_arg("profile", with_default(d.profile.clone()))
                .mut_arg("state_dir", with_default(d.state_dir.clone()))
                .mut_arg("log_dir", with_default(log_default.clone()))
        })
        .mut_subcommand("status", |s| {
            s.mut_arg("state_dir", with_default(d.state_dir.clone()))
        })
        .mut_subcommand("reassess", |s| {
            s.mut_arg("state_dir", with_default(d.state_dir.clone()))
        })
        .mut_subcommand("dart", |s| {
            s.mut_arg(
                "output",
                with_default(format!("{DART_NAME_PATTERN} in the current directory")),
            )
            .mut_arg("state_dir", with_default(d.state_dir.clone()))
            .mut_arg("log_dir", with_default(log_default.clone()))
            .mut_arg(
                "profile",
                with_default(format!("the running agent's, else {}", d.profile)),
            )
        })
        .after_long_help(help_text(&sections(None, d)));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let text = help_text(&sections(Some(&name), d));
        cmd = cmd.mut_subcommand(&name, |s| {
            let nested: Vec<String> = s
                .get_subcommands()
                .map(|n| n.get_name().to_owned())
                .collect();
            let mut s = s.after_long_help(text.clone());
            for n in nested {
                s = s.mut_subcommand(&n, |n| n.after_long_help(text.clone()));
            }
            s
        });
    }
    cmd
}

/// The name `dart` gives a bundle without `-o` (`cmd::dart::default_name`).
pub const DART_NAME_PATTERN: &str = "posture-sync-dart-<host>-<UTC time>.zip";

/// Parses the process's arguments with the defaults resolved for this user
/// in the help; a usage error (or `--help`, `--version`) exits here, as
/// clap's `Cli::parse` does.
pub fn parse() -> Cli {
    let matches: ArgMatches = command(&Defaults::resolved()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    struct Env {
        home: PathBuf,
    }

    impl crate::paths::Env for Env {
        fn home_dir(&self) -> Option<PathBuf> {
            Some(self.home.clone())
        }
        fn var_os(&self, _: &str) -> Option<OsString> {
            None
        }
        fn current_dir(&self) -> Option<PathBuf> {
            None
        }
    }

    fn long_help(cmd: &mut clap::Command) -> String {
        // Unwrapped: the assertions look for whole phrases.
        let mut wide = cmd.clone().term_width(10_000);
        wide.render_long_help().to_string()
    }

    #[test]
    fn the_command_line_is_consistent() {
        command(&Defaults::generic()).debug_assert();
        Cli::command().debug_assert();
    }

    #[test]
    fn help_shows_the_resolved_default_paths() {
        let home = tempfile::tempdir().unwrap();
        let profile_dir = home.path().join(".config/posture-sync");
        std::fs::create_dir_all(&profile_dir).unwrap();
        std::fs::write(profile_dir.join("ISEPostureCFG.xml"), "<cfg/>").unwrap();
        let env = Env {
            home: home.path().to_owned(),
        };
        let d = Defaults::resolved_with(Platform::Xdg, &env);
        let state = home.path().join(".local/state/posture-sync");
        let mut cmd = command(&d);
        let run = long_help(cmd.find_subcommand_mut("run").unwrap());
        assert!(
            run.contains(&format!("[default: {}]", state.display())),
            "{run}"
        );
        assert!(
            run.contains(&format!(
                "[default: the installed profile, {}]",
                profile_dir.join("ISEPostureCFG.xml").display()
            )),
            "{run}"
        );
        assert!(!run.contains("per-user state dir"), "{run}");
        let status = long_help(cmd.find_subcommand_mut("status").unwrap());
        assert!(
            status.contains(&format!("[default: {}]", state.display())),
            "{status}"
        );
    }

    #[test]
    fn long_help_has_exit_status_files_and_environment() {
        let d = Defaults::generic_for(Platform::Xdg);
        let mut cmd = command(&d);
        let top = long_help(&mut cmd);
        for want in [
            "Exit status:",
            "78 (EX_CONFIG)",
            "66 (EX_NOINPUT)",
            "3 (NO_AGENT)",
            "Files:",
            "$XDG_STATE_HOME/posture-sync/logs/posture-sync.log",
            "/etc/posture-sync/ISEPostureCFG.xml",
            "Environment:",
            "RUST_LOG",
            "XDG_STATE_HOME",
        ] {
            assert!(top.contains(want), "missing {want}\n{top}");
        }
        // A subcommand lists the codes it can return, not the others'.
        let status = long_help(cmd.find_subcommand_mut("status").unwrap());
        assert!(status.contains("3 (NO_AGENT)"), "{status}");
        assert!(!status.contains("EX_CONFIG"), "{status}");
        let check = cmd
            .find_subcommand_mut("profile")
            .and_then(|p| p.find_subcommand_mut("check"))
            .unwrap();
        let check = long_help(check);
        assert!(check.contains("1 (INVALID)"), "{check}");
        assert!(check.contains("2 (NO_PROFILE)"), "{check}");
        assert!(!check.contains("EX_CONFIG"), "{check}");
    }

    #[test]
    fn an_invalid_mac_is_a_usage_error() {
        let cmd = command(&Defaults::generic());
        let err = cmd
            .try_get_matches_from(["posture-sync", "run", "--mac", "not-a-mac"])
            .unwrap_err();
        assert_eq!(err.exit_code(), i32::from(exit::USAGE));
        assert!(err.to_string().contains("--mac"), "{err}");
        let m = command(&Defaults::generic())
            .try_get_matches_from(["posture-sync", "run", "--mac", "AA-BB-CC-DD-EE-FF"])
            .unwrap();
        let Command::Run(args) = Cli::from_arg_matches(&m).unwrap().command else {
            panic!("not run");
        };
        assert_eq!(args.mac.as_deref(), Some("aa:bb:cc:dd:ee:ff"));
    }

    #[test]
    fn the_version_names_the_commit_and_the_target() {
        let v = command(&Defaults::generic()).render_version();
        assert!(
            v.starts_with(&format!("posture-sync {} (", env!("CARGO_PKG_VERSION"))),
            "{v}"
        );
        assert!(
            v.trim_end()
                .ends_with(&format!(" {})", env!("POSTURE_SYNC_TARGET"))),
            "{v}"
        );
    }
}

#[cfg(test)]
mod roaming_flag_tests {
    use clap::Parser;

    use super::*;
    use crate::gateway::GatewayMode;

    fn run(args: &[&str]) -> RunArgs {
        let argv = ["posture-sync", "run", "--profile", "p.xml"]
            .iter()
            .chain(args);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Command::Run(r)) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn gateway_and_network_watch_default_to_what_a_deployment_needs() {
        let r = run(&[]);
        assert_eq!(r.gateway, GatewayMode::Auto);
        assert!(r.network_watch);
        let r = run(&["--gateway", "off", "--network-watch", "off"]);
        assert_eq!(r.gateway, GatewayMode::Off);
        assert!(!r.network_watch);
        assert_eq!(r.start_spread, 5, "a fleet's start is spread by default");
        assert_eq!(run(&["--start-spread", "0"]).start_spread, 0);
        let r = run(&["--gateway", "127.0.0.1:8080", "--network-watch", "on"]);
        assert_eq!(
            r.gateway,
            GatewayMode::Fixed("127.0.0.1:8080".parse().unwrap())
        );
        assert!(r.network_watch);
        let bad = Cli::try_parse_from([
            "posture-sync",
            "run",
            "--profile",
            "p",
            "--gateway",
            "router",
        ])
        .unwrap_err()
        .to_string();
        assert!(bad.contains("auto"), "{bad}");
    }
}
