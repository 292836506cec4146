//! fleet-sim's smoke test (CI): 200 simulated endpoints come back within one
//! second against psn-lab; the JSON summary has its shape and every endpoint
//! is known again. The figures themselves are measured by bench/fleet.sh,
//! not asserted here (docs/fleet.md).

use std::process::{Command, Stdio};

use psn_lab::fleet::summary::Summary;

const ENDPOINTS: usize = 200;

#[test]
// A test harness: it runs the fleet-sim binary it tests.
#[allow(clippy::disallowed_methods)]
fn two_hundred_endpoints_return_at_once_and_all_are_known_again() {
    let dir = tempfile::tempdir().unwrap();
    let bound = test_support::wait_bound();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet-sim"))
        .args(["mass-return", "--endpoints", &ENDPOINTS.to_string()])
        .args(["--interval", "10", "--measure", "0", "--json"])
        .arg("--recover-within")
        .arg(bound.as_secs().to_string())
        .arg("--psn-lab")
        .arg(env!("CARGO_BIN_EXE_psn-lab"))
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The run itself gives up after the bound; this waits a little longer
    // for its summary.
    let status = test_support::wait_until_every(
        "fleet-sim to finish",
        std::time::Duration::from_millis(200),
        || child.try_wait().unwrap(),
        || std::fs::read_to_string(dir.path().join("psn-lab.log")).unwrap_or_default(),
    );
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(status.success(), "fleet-sim failed ({status}): {stderr}");
    let summary: Summary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the summary is not the JSON it should be ({e}): {stderr}"));

    assert_eq!(summary.scenario, "mass-return");
    assert_eq!(summary.endpoints, ENDPOINTS);
    assert_eq!(summary.nodes, 3);
    let r = summary.recovery;
    assert_eq!((r.affected, r.recovered), (ENDPOINTS, ENDPOINTS), "{r:?}");
    let (p50, p99, p100) = (r.p50_s.unwrap(), r.p99_s.unwrap(), r.p100_s.unwrap());
    assert!(0.0 <= p50 && p50 <= p99 && p99 <= p100, "{r:?}");
    // Every endpoint discovered, fetched its requirements and reported at
    // least once, each from its own address (psn-lab counted them).
    for (kind, rate) in [
        ("discovery", summary.load.discovery),
        ("requirements", summary.load.requirements),
        ("report", summary.load.report),
    ] {
        assert!(rate.total >= ENDPOINTS as u64, "{kind}: {rate:?}");
        assert!(
            rate.peak >= rate.p99 && rate.peak >= rate.mean,
            "{kind}: {rate:?}"
        );
    }
    assert!(summary.load.all.total >= summary.load.probe.total);
    assert!(!summary.windows.is_empty());
    assert!(summary.windows.iter().all(|w| w.secs > 0.0));
    assert!(
        summary.measured_s >= 10.0,
        "one interval after the last recovery"
    );
    assert!(summary.agent_cpu_ms_per_endpoint > 0.0);
    assert!(summary.machine.open_files > 0);
    assert!(
        summary
            .lint
            .iter()
            .any(|w| w.contains("StateSyncProbeInterval")),
        "a 10 s interval draws the lint's load warning: {:?}",
        summary.lint
    );
    // psn-lab saw 200 distinct endpoints: one session per MAC, each bound
    // to its own source address.
    let mut addresses = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir.path().join("sessions")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "json") {
            let session: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let endpoint = session["endpoint"].as_str().unwrap().to_owned();
            assert!(endpoint.starts_with("127.10."), "{endpoint}");
            addresses.insert(endpoint);
        }
    }
    assert_eq!(addresses.len(), ENDPOINTS);
}
