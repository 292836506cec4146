//! Generates the package's assets from the code, so none is written by hand:
//! man pages and shell completions from the CLI definition
//! (`posture_sync::cli::Cli`), and the packaged systemd user unit and XDG
//! autostart entry from the installer's renderers.
//!
//! `cargo run -p posture-sync --example gen-assets -- OUT_DIR` writes:
//! `man/posture-sync*.1`, `completions/{posture-sync.bash,_posture-sync,posture-sync.fish}`,
//! `posture-sync.service`, `posture-sync.desktop`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use posture_sync::cli::Cli;
use posture_sync::install::{self, render};

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// One man page for the command and one per subcommand (`posture-sync-run.1`).
fn man_pages(out: &Path) -> Result<(), String> {
    let cmd = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|e| format!("cannot render the man page: {e}"))?;
    write(&out.join("man/posture-sync.1"), &page)?;
    for sub in cmd.get_subcommands() {
        let name = format!("posture-sync-{}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("posture-sync {}", sub.get_name()));
        let mut page = Vec::new();
        clap_mangen::Man::new(sub)
            .render(&mut page)
            .map_err(|e| format!("cannot render the man page {name}: {e}"))?;
        write(&out.join(format!("man/{name}.1")), &page)?;
    }
    Ok(())
}

fn completions(out: &Path) -> Result<(), String> {
    for (shell, file) in [
        (Shell::Bash, "posture-sync.bash"),
        (Shell::Zsh, "_posture-sync"),
        (Shell::Fish, "posture-sync.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "posture-sync", &mut buf);
        write(&out.join("completions").join(file), &buf)?;
    }
    Ok(())
}

fn login_entries(out: &Path) -> Result<(), String> {
    let spec = install::packaged_spec();
    write(
        &out.join(render::UNIT_NAME),
        render::systemd_unit(&spec).as_bytes(),
    )?;
    write(
        &out.join(render::DESKTOP_NAME),
        render::xdg_autostart(&spec, true).as_bytes(),
    )
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-assets OUT_DIR");
        return ExitCode::from(2);
    };
    match man_pages(&out)
        .and_then(|()| completions(&out))
        .and_then(|()| login_entries(&out))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-assets: {e}");
            ExitCode::FAILURE
        }
    }
}
