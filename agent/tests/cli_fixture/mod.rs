//! The real `posture-sync` binary as the tests run it: a scrubbed
//! environment, a guard that kills a running agent however the test ends,
//! and a bounded wait for its status socket.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_posture-sync");
/// The MAC test agents present.
pub const MAC: &str = "02:00:5e:00:53:01";

/// `posture-sync` with nothing of the test's environment: the system `PATH`
/// and `HOME` set to `home`; stdin closed.
pub fn posture_sync(home: &Path) -> Command {
    #[allow(clippy::disallowed_methods)] // the binary under test
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", home)
        .stdin(Stdio::null());
    c
}

/// Kills the agent when the test ends, passing or not.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded by `test_support::wait_bound()`) until
/// `posture-sync status --json --state-dir STATE` answers with a status that
/// satisfies `cond`, as a person would with `status`; returns it.
pub fn wait_status(
    home: &Path,
    state: &Path,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    // Written by the probe, shown on timeout.
    let last = std::cell::RefCell::new(None);
    test_support::wait_until(
        what,
        || {
            let o = posture_sync(home)
                .args(["status", "--json", "--state-dir"])
                .arg(state)
                .output()
                .unwrap();
            let status = o
                .status
                .success()
                .then(|| serde_json::from_slice(&o.stdout).unwrap())
                .filter(|s| cond(s));
            *last.borrow_mut() = Some(o);
            status
        },
        || format!("last answer: {:?}", last.borrow()),
    )
}
