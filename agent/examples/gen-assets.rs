//! Generates the package's assets from the code, so none is written by hand:
//! man pages and shell completions from the CLI definition
//! (`posture_sync::cli::Cli`), and the packaged systemd user unit and XDG
//! autostart entry from the installer's renderers.
//!
//! `cargo run -p posture-sync --example gen-assets -- OUT_DIR` writes:
//! `man/posture-sync*.1`, `completions/{posture-sync.bash,_posture-sync,posture-sync.fish}`,
//! `posture-sync.service`, `posture-sync.desktop`.
//!
//! The pages describe the default paths in general terms
//! (`cli::Defaults::generic`: `$XDG_STATE_HOME/posture-sync`), not as they
//! resolve on the build machine, and carry the EXIT STATUS, FILES and
//! ENVIRONMENT sections that `--help` shows, from the same rows.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;
use posture_sync::cli::{self, Defaults, Section};
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

/// Text for roff: backslashes escaped, and a line never starts with `.` or
/// `'` (a control line).
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

/// EXIT STATUS, FILES, ENVIRONMENT as man page sections (`.TP` lists).
fn roff_sections(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        out.push_str(&format!(".SH \"{}\"\n", s.title));
        for (term, text) in &s.rows {
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                roff_text(term),
                roff_text(text)
            ));
        }
    }
    out
}

/// One page: clap_mangen's sections, then ours before VERSION (the
/// position man-pages(7) gives them). `after_long_help` holds the same rows
/// as plain text; clap_mangen would print it as an "EXTRA" section, so the
/// page is assembled from the parts instead of `Man::render`.
fn man_page(cmd: clap::Command, sections: &[Section]) -> Result<Vec<u8>, std::io::Error> {
    let has_subcommands = cmd.get_subcommands().next().is_some();
    let has_version = cmd.get_version().is_some() || cmd.get_long_version().is_some();
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if has_subcommands {
        man.render_subcommands_section(&mut page)?;
    }
    page.extend_from_slice(roff_sections(sections).as_bytes());
    if has_version {
        man.render_version_section(&mut page)?;
    }
    Ok(page)
}

/// One man page for the command and one per subcommand (`posture-sync-run.1`).
fn man_pages(out: &Path) -> Result<(), String> {
    let defaults = Defaults::generic();
    let cmd = cli::command(&defaults);
    let page = man_page(cmd.clone(), &cli::sections(None, &defaults))
        .map_err(|e| format!("cannot render the man page: {e}"))?;
    write(&out.join("man/posture-sync.1"), &page)?;
    for sub in cmd.get_subcommands() {
        let name = format!("posture-sync-{}", sub.get_name());
        let sections = cli::sections(Some(sub.get_name()), &defaults);
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("posture-sync {}", sub.get_name()));
        let page = man_page(sub, &sections)
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
        clap_complete::generate(
            shell,
            &mut cli::command(&Defaults::generic()),
            "posture-sync",
            &mut buf,
        );
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
