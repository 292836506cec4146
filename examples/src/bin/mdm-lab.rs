//! `mdm-lab`: a JAMF-style MDM for the posture-sync lab (docs/mdm.md). Thin
//! main: logging, command line, exit codes.

use std::process::ExitCode;

use clap::Parser;
use psn_lab::LabError;
use psn_lab::lab_main::{
    exit_code, init_tracing, print_stdout, run_ctl, runtime, wait_for_shutdown_signal,
};
use psn_lab::mdmlab::cli::{MdmLabCli, MdmLabCommand};

/// The program name in error lines.
const PROGRAM: &str = "mdm-lab";

fn run(cli: &MdmLabCli) -> Result<ExitCode, LabError> {
    // Two workers are plenty for a lab MDM (psn-lab, which is benchmarked,
    // takes one per core).
    let rt = runtime(Some(2))?;
    match &cli.command {
        MdmLabCommand::Serve(args) => {
            let config = args.to_config()?;
            let inventory = psn_lab::mdmlab::inventory::Inventory::load(&args.inventory)?;
            let count = inventory.list().len();
            rt.block_on(async move {
                let mdm = psn_lab::mdmlab::server::start(config, inventory).await?;
                let r = &mdm.ready;
                print_stdout(&format!(
                    "mdm-lab ready\n  endpoint   https://{}{} (integration URL; MDM API v3, basic authentication)\n  admin API  http://{} (loopback; bearer token in {})\n  lab CA     {}\n  inventory  {} ({count} devices)\n  ready file {}\n",
                    r.listen,
                    r.instance,
                    r.admin,
                    r.admin_token.display(),
                    r.ca.display(),
                    args.inventory.display(),
                    args.dir.join(psn_lab::mdmlab::server::MDM_READY_FILE).display(),
                ));
                wait_for_shutdown_signal().await;
                tracing::info!("shutting down");
                mdm.shutdown().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        MdmLabCommand::Ctl(args) => rt.block_on(async {
            let ready = psn_lab::mdmlab::server::MdmReady::read(&args.dir)?;
            let token = psn_lab::fsutil::read_text(&ready.admin_token, "mdm-lab admin token")?;
            let client = psn_lab::ctl::AdminClient::new(ready.admin, token.trim());
            run_ctl(PROGRAM, &client, args.call.request()).await
        }),
    }
}

fn main() -> ExitCode {
    let cli = MdmLabCli::parse();
    init_tracing(cli.log.log_json);
    exit_code(PROGRAM, run(&cli))
}
