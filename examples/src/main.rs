//! `psn-lab`: thin main. Sets up logging, parses the command line, runs the
//! subcommand, and maps failures to exit codes in one place.

use std::process::ExitCode;

use clap::Parser;
use psn_lab::LabError;
use psn_lab::cli::{Cli, Command, CtlArgs, MdmCommand, ServeArgs};
use psn_lab::lab_main::{
    exit_code, init_tracing, print_stdout, run_ctl, runtime, wait_for_shutdown_signal,
};

/// The program name in error lines.
const PROGRAM: &str = "psn-lab";

fn summary(lab: &psn_lab::server::RunningLab, policy_source: &str) -> String {
    let r = &lab.ready;
    let mut s = String::from("psn-lab ready\n");
    for n in &r.nodes {
        s.push_str(&format!(
            "  node {:<8} discovery https://{}  state sync https://{}  advertised as {}  cert {}\n",
            n.name,
            n.discovery,
            n.sync,
            n.advertise,
            n.cert.display()
        ));
    }
    if let Some(nad) = r.nad {
        s.push_str(&format!(
            "  nad           http://{nad} (the switch's URL redirect to a node's portal)\n"
        ));
    }
    s.push_str(&format!(
        "  admin API     http://{} (loopback; bearer token in {})\n",
        r.admin,
        r.admin_token.display()
    ));
    s.push_str(&format!(
        "  lab CA        {} (give it to the agent as its trust anchor)\n",
        r.ca.display()
    ));
    s.push_str(&format!("  sessions      {}\n", r.sessions_dir.display()));
    let mandatory = lab
        .state
        .policy
        .requirements
        .iter()
        .filter(|q| q.mandatory)
        .count();
    s.push_str(&format!(
        "  policy        {policy_source} ({} requirements, {mandatory} mandatory)\n",
        lab.state.policy.requirements.len()
    ));
    let mdm = lab.state.mdm.status();
    if let (Some(name), Some(url)) = (&mdm.name, &mdm.url) {
        s.push_str(&format!(
            "  mdm           {name} {url} ({})\n",
            if mdm.enabled {
                "polling; psn-lab ctl mdm"
            } else {
                "disabled"
            }
        ));
    }
    s.push_str(&format!(
        "  ready file    {}\n",
        r.ca.with_file_name(psn_lab::ready::READY_FILE).display()
    ));
    s
}

fn serve(args: &ServeArgs) -> Result<ExitCode, LabError> {
    let config = args.to_config()?;
    let policy_source = config.policy_source.clone();
    runtime(None)?.block_on(async move {
        let lab = psn_lab::server::start(config).await?;
        print_stdout(&summary(&lab, &policy_source));
        wait_for_shutdown_signal().await;
        tracing::info!("shutting down");
        lab.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn ctl(args: &CtlArgs) -> Result<ExitCode, LabError> {
    runtime(None)?.block_on(async {
        let client = psn_lab::ctl::AdminClient::from_dir(&args.dir)?;
        run_ctl(PROGRAM, &client, args.call.request()).await
    })
}

fn mdm(cmd: &MdmCommand) -> Result<ExitCode, LabError> {
    match cmd {
        MdmCommand::Test { config } => {
            let settings = MdmCommand::settings(config)?;
            runtime(None)?.block_on(async {
                match psn_lab::mdm::diagnose::test_connection(&settings).await {
                    Ok(info) => {
                        print_stdout(&psn_lab::mdm::diagnose::report_success(&info, &settings));
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(failure) => {
                        print_stdout(&psn_lab::mdm::diagnose::report_failure(&failure, &settings));
                        Ok(ExitCode::from(1))
                    }
                }
            })
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, LabError> {
    match &cli.command {
        Command::Mdm(cmd) => mdm(cmd),
        Command::Serve(args) => serve(args),
        Command::Ctl(args) => ctl(args),
        Command::Certs(args) => {
            let outcome = psn_lab::certs::create(&args.to_request()?)?;
            let mut s = format!(
                "lab CA {} ({})\n",
                outcome.ca.display(),
                if outcome.ca_created {
                    "created"
                } else {
                    "existing"
                }
            );
            for (name, paths, sans) in &outcome.issued {
                s.push_str(&format!(
                    "issued {name}: {} + {} (names: {})\n",
                    paths.cert.display(),
                    paths.key.display(),
                    sans.join(", ")
                ));
            }
            for (name, paths) in &outcome.kept {
                s.push_str(&format!(
                    "kept {name}: {} (use --force to re-issue)\n",
                    paths.cert.display()
                ));
            }
            print_stdout(&s);
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy => {
            let json = serde_json::to_string_pretty(&psn_lab::policy::Policy::default())
                .unwrap_or_default();
            print_stdout(&format!("{json}\n"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log.log_json);
    exit_code(PROGRAM, run(&cli))
}
