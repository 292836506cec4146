//! One bounded wait for every test in the workspace.
//!
//! Tests wait for behaviour (a file appears, a status changes, a log line is
//! written), never for speed: each wait polls a condition until it holds or
//! until [`wait_bound`] has passed, and then fails naming what it waited for.
//! The bound is generous by default ([`DEFAULT_WAIT`]) because the machines
//! that run the tests are shared; set [`WAIT_VAR`]
//! (`POSTURE_SYNC_TEST_WAIT_SECS`) to a number of seconds to change it for
//! every wait at once, e.g. `POSTURE_SYNC_TEST_WAIT_SECS=600` on a very slow
//! machine or `=10` to make a hanging test fail quickly while debugging.
//!
//! A dev-dependency only (`publish = false`): the e2e tests (`tests/`), the
//! labs' tests (`examples/tests/`) and the agent's tests all use it, and it
//! depends on none of them.

use std::time::{Duration, Instant};

/// The environment variable that sets every test wait's bound, in seconds.
pub const WAIT_VAR: &str = "POSTURE_SYNC_TEST_WAIT_SECS";

/// The bound when [`WAIT_VAR`] is not set: the longest any test of the
/// workspace waited before the waits were shared (a headless Chromium
/// rendering a bundle's summary), so that no wait got shorter.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// How often [`wait_until`] polls: often enough that a test does not idle,
/// rarely enough that polling does not load a shared machine.
pub const POLL: Duration = Duration::from_millis(50);

/// How long a test waits for anything: [`WAIT_VAR`] seconds, or
/// [`DEFAULT_WAIT`]. Panics on a value that is not a whole number of seconds
/// above 0 (a typo must not silently change every bound).
pub fn wait_bound() -> Duration {
    match std::env::var(WAIT_VAR) {
        Err(std::env::VarError::NotPresent) => DEFAULT_WAIT,
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Duration::from_secs(secs),
            _ => panic!(
                "{WAIT_VAR}={text:?} is not a number of seconds above 0; unset it or set e.g. {WAIT_VAR}=120"
            ),
        },
        Err(std::env::VarError::NotUnicode(text)) => {
            panic!(
                "{WAIT_VAR}={text:?} is not a number of seconds above 0; unset it or set e.g. {WAIT_VAR}=120"
            )
        }
    }
}

/// Polls `probe` every [`POLL`] until it returns `Some`, for at most
/// [`wait_bound`]; panics naming `what`, followed by `context()` (a log, the
/// last state seen), otherwise.
pub fn wait_until<T>(
    what: &str,
    probe: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    wait_until_every(what, POLL, probe, context)
}

/// [`wait_until`] polling every `every`: for probes that are expensive
/// themselves (a process started per poll).
pub fn wait_until_every<T>(
    what: &str,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let bound = wait_bound();
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if Instant::now() > deadline {
            timed_out(what, bound, context());
        }
        std::thread::sleep(every);
    }
}

/// The async twin of [`wait_until`], for tests inside a tokio runtime:
/// awaits `probe()` every [`POLL`] (sleeping on tokio's clock, so the runtime
/// keeps serving) until it gives `Some`.
#[cfg(feature = "tokio")]
pub async fn wait_until_async<T, F>(
    what: &str,
    mut probe: impl FnMut() -> F,
    context: impl FnOnce() -> String,
) -> T
where
    F: std::future::Future<Output = Option<T>>,
{
    let bound = wait_bound();
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if Instant::now() > deadline {
            timed_out(what, bound, context());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Awaits `future` for at most [`wait_bound`]; panics naming `what`
/// otherwise.
#[cfg(feature = "tokio")]
pub async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    let bound = wait_bound();
    match tokio::time::timeout(bound, future).await {
        Ok(v) => v,
        Err(_) => timed_out(what, bound, String::new()),
    }
}

/// The one failure message of every wait.
#[track_caller]
fn timed_out(what: &str, bound: Duration, context: String) -> ! {
    if context.is_empty() {
        panic!("timed out after {bound:?} waiting for {what} (bound: {WAIT_VAR})");
    }
    panic!("timed out after {bound:?} waiting for {what} (bound: {WAIT_VAR})\n{context}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_probe_value_once_it_holds() {
        let mut n = 0;
        let v = wait_until(
            "the third poll",
            || {
                n += 1;
                (n == 3).then_some(n)
            },
            String::new,
        );
        assert_eq!(v, 3);
    }

    // The bound comes from the environment, which is process-wide: the
    // timeout test runs as its own process (`--exact`) to set it without
    // racing the other tests, see `a_timeout_names_what_it_waited_for`.
    #[test]
    #[ignore = "run by a_timeout_names_what_it_waited_for with POSTURE_SYNC_TEST_WAIT_SECS=1"]
    fn times_out_helper() {
        wait_until(
            "the impossible",
            || None::<()>,
            || "last seen: nothing".into(),
        );
    }

    /// Runs [`times_out_helper`] as a child with [`WAIT_VAR`] set to `bound`.
    fn helper_with_bound(bound: &str) -> std::process::Output {
        #[allow(clippy::disallowed_methods)] // this test binary, as a child
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tests::times_out_helper",
                "--ignored",
                "--nocapture",
            ])
            .env(WAIT_VAR, bound)
            .output()
            .unwrap()
    }

    #[test]
    fn a_timeout_names_what_it_waited_for() {
        let out = helper_with_bound("1");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("timed out after 1s waiting for the impossible"),
            "{stderr}"
        );
        assert!(stderr.contains(WAIT_VAR), "{stderr}");
        assert!(stderr.contains("last seen: nothing"), "{stderr}");
    }

    #[test]
    fn a_bound_that_is_not_a_number_of_seconds_is_refused() {
        for bad in ["soon", "0", "-5", "1.5"] {
            let out = helper_with_bound(bad);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{bad}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "{WAIT_VAR}=\"{bad}\" is not a number of seconds above 0"
                )),
                "{bad}: {stderr}"
            );
        }
    }
}
