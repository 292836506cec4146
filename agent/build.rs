//! Build facts for `posture-sync --version`: the git commit the binary was
//! built from (`POSTURE_SYNC_GIT_COMMIT`, a short hash, or `unknown` outside
//! a git checkout, e.g. from a crate tarball or without git installed) and
//! the target triple (`POSTURE_SYNC_TARGET`). Never fails the build.

use std::path::PathBuf;
use std::process::Command;

/// `git ARGS` in the crate's directory, its trimmed stdout when it succeeded.
// Build script: the one fixed, read-only git query behind the version line.
#[allow(clippy::disallowed_methods)]
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR")?)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short=7", "HEAD"])
        // A hash is hex; anything else (an odd git wrapper) is not shown.
        .filter(|c| c.chars().all(|ch| ch.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the ref it
    // names (a commit), loose or packed. Paths from git, so worktrees work.
    for what in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", what]) {
            rerun_if_exists(PathBuf::from(p));
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &r])
    {
        rerun_if_exists(PathBuf::from(p));
    }
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=POSTURE_SYNC_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=POSTURE_SYNC_TARGET={target}");
}

/// Git prints paths relative to the crate's directory; cargo resolves a
/// relative `rerun-if-changed` against the same directory.
fn rerun_if_exists(path: PathBuf) {
    let full = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir).join(&path),
        None => path,
    };
    if full.exists() {
        println!("cargo:rerun-if-changed={}", full.display());
    }
}
