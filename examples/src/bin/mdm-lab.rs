//! `mdm-lab`: a JAMF-style MDM for the posture-sync lab (docs/mdm.md). Thin
//! main: logging, command line, exit codes.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use psn_lab::LabError;
use psn_lab::mdmlab::cli::{MdmLabCli, MdmLabCommand};

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Prints to stdout; a closed pipe ends quietly.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn run(cli: &MdmLabCli) -> Result<ExitCode, LabError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| LabError::Config(format!("cannot start the async runtime: {e}")))?;
    match &cli.command {
        MdmLabCommand::Serve(args) => {
            let config = args.to_config()?;
            let inventory = psn_lab::mdmlab::inventory::Inventory::load(&args.inventory)?;
            let count = inventory.list().len();
            rt.block_on(async move {
                let mdm = psn_lab::mdmlab::server::start(config, inventory).await?;
                let r = &mdm.ready;
                out(&format!(
                    "mdm-lab ready\n  endpoint   https://{}{} (integration URL; MDM API v3, basic authentication)\n  admin API  http://{} (loopback; bearer token in {})\n  lab CA     {}\n  inventory  {} ({count} devices)\n  ready file {}\n",
                    r.listen,
                    r.instance,
                    r.admin,
                    r.admin_token.display(),
                    r.ca.display(),
                    args.inventory.display(),
                    args.dir.join(psn_lab::mdmlab::server::MDM_READY_FILE).display(),
                ));
                wait_for_signal().await;
                tracing::info!("shutting down");
                mdm.shutdown().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        MdmLabCommand::Ctl(args) => rt.block_on(async {
            let ready = psn_lab::mdmlab::server::MdmReady::read(&args.dir)?;
            let token = psn_lab::fsutil::read_text(&ready.admin_token, "mdm-lab admin token")?;
            let client = psn_lab::ctl::AdminClient::new(ready.admin, token.trim());
            let (method, path, body) = args.call.request();
            let (status, value) = client.call(method, &path, body).await?;
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            if status.is_success() {
                out(&format!("{text}\n"));
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("mdm-lab ctl: {status}: {text}");
                Ok(ExitCode::from(1))
            }
        }),
    }
}

fn main() -> ExitCode {
    let cli = MdmLabCli::parse();
    init_tracing(cli.log_json);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mdm-lab: error: {e}");
            ExitCode::from(1)
        }
    }
}
