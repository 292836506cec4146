//! The package's real binaries as children: `psn-lab serve` and
//! `mdm-lab serve` started on loopback port 0 and waited for (their ready
//! file, bounded by `test_support::wait_bound()`), killed when dropped; and
//! their `ctl` subcommands.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use psn_lab::ready::Ready;
use serde_json::Value;

/// `psn-lab`.
pub const PSN_LAB: &str = env!("CARGO_BIN_EXE_psn-lab");
/// `mdm-lab`.
pub const MDM_LAB: &str = env!("CARGO_BIN_EXE_mdm-lab");

/// A running child, killed when dropped.
pub struct Served(pub Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `psn-lab serve --dir DIR --admin 127.0.0.1:0 EXTRA...` with `RUST_LOG=info`
/// and nothing else in its environment, once its `ready.json` is there.
pub fn psn_lab(dir: &Path, extra: &[&str], stdout: Stdio, stderr: Stdio) -> (Served, Ready) {
    #[allow(clippy::disallowed_methods)] // the binary under test
    let child = Command::new(PSN_LAB)
        .args(["serve", "--dir"])
        .arg(dir)
        .args(["--admin", "127.0.0.1:0"])
        .args(extra)
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut served = Served(child);
    let ready = test_support::wait_until(
        "psn-lab's ready.json",
        || {
            if let Ok(Some(status)) = served.0.try_wait() {
                panic!("psn-lab exited with {status} before it was ready");
            }
            Ready::read(dir).ok()
        },
        String::new,
    );
    (served, ready)
}

/// `BIN ctl --dir DIR ARGS...` (`bin` is [`PSN_LAB`] or [`MDM_LAB`]).
pub fn ctl(bin: &str, dir: &Path, args: &[&str]) -> Output {
    #[allow(clippy::disallowed_methods)] // the binary under test
    Command::new(bin)
        .args(["ctl", "--dir"])
        .arg(dir)
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

/// [`ctl`] that must succeed: the JSON it prints.
pub fn ctl_json(bin: &str, dir: &Path, args: &[&str]) -> Value {
    let out = ctl(bin, dir, args);
    assert!(
        out.status.success(),
        "{bin} ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
