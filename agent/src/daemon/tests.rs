//! The daemon against a real local HTTPS PSN (the drivers' test server):
//! real TLS, real sockets, the real machine.

use std::sync::{Arc, Mutex};

use posture_protocol::{
    Discovery, PostureResult, PostureStatus, PostureStatusReply, PsnRef, SessionId,
};
use profile_schema::Profile;
use tokio::sync::{mpsc, oneshot, watch};

use super::*;
use crate::machine::PhaseName;
use crate::probe::PROBE_TIMEOUTS;
use crate::transport::test_server::{Behaviour, Seen, TestCa, TestServer};

/// What the fake PSN answers to probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeAnswer {
    /// The session's status as the PSN holds it.
    Status,
    /// 404: no such session.
    NotFound,
}

#[derive(Debug)]
struct Psn {
    status: PostureStatus,
    probe: ProbeAnswer,
    probes: usize,
}

impl Psn {
    /// A PSN shared with its server: the session's posture not decided
    /// yet, probes answered as `probe` says, none counted.
    fn shared(probe: ProbeAnswer) -> Arc<Mutex<Psn>> {
        Arc::new(Mutex::new(Psn {
            status: PostureStatus::Unknown,
            probe,
            probes: 0,
        }))
    }
}

/// One port serving discovery, assessment and probes (the PSN names itself
/// with this port as its state sync port).
async fn start_psn(ca: &TestCa, psn: Arc<Mutex<Psn>>) -> TestServer {
    let port = Arc::new(Mutex::new(0u16));
    let port2 = port.clone();
    let handler = move |seen: &Seen| -> (u16, String) {
        let session = SessionId::new("sess-1").unwrap();
        let mut psn = psn.lock().unwrap();
        let path = seen.path_and_query.as_str();
        // A switch's redirect adds query parameters; the PSN ignores them.
        if path == "/auth/discovery" || path.starts_with("/auth/discovery?") {
            let d = Discovery {
                session,
                posture: psn.status,
                psn: PsnRef {
                    host: posture_protocol::Host::parse("127.0.0.1").unwrap(),
                    state_sync_port: *port2.lock().unwrap(),
                },
                psn_list: vec![],
            };
            (200, d.to_xml())
        } else if path.starts_with("/auth/requirements") {
            (200, r#"<requirements session="sess-1"/>"#.to_owned())
        } else if path.starts_with("/auth/report") {
            psn.status = PostureStatus::Compliant;
            (
                200,
                PostureResult {
                    session,
                    status: psn.status,
                    reassess_interval: None,
                }
                .to_xml(),
            )
        } else if path.starts_with("/auth/posturestatus") {
            psn.probes += 1;
            match psn.probe {
                ProbeAnswer::NotFound => (404, String::new()),
                ProbeAnswer::Status => (
                    200,
                    PostureStatusReply {
                        session,
                        status: psn.status,
                    }
                    .to_xml(),
                ),
            }
        } else {
            (404, String::new())
        }
    };
    let server = TestServer::start(
        ca.server_config(&["127.0.0.1"]),
        Behaviour::Answer(Arc::new(handler)),
    )
    .await;
    *port.lock().unwrap() = server.port();
    server
}

#[derive(Debug, Clone, Default)]
struct RecordingHooks(Arc<Mutex<Vec<String>>>);

impl Hooks for RecordingHooks {
    fn profile_applied(&mut self, _profile: &Profile) {
        self.0.lock().unwrap().push("profile".into());
    }
    fn collect_bundle(
        &mut self,
        reason: &BundleReason,
        profile: Option<&Profile>,
        status: serde_json::Value,
    ) {
        let BundleReason::Misconfiguration(stop) = reason else {
            panic!("unexpected bundle: {reason}");
        };
        self.0.lock().unwrap().push(format!(
            "bundle {} {} {}",
            stop.psn,
            profile.is_some(),
            status["sync"]["stopped_reason"]
        ));
    }
}

struct Running {
    status: watch::Receiver<crate::status_report::Snapshot>,
    rescan: mpsc::Sender<RescanRequest>,
    stop: Option<oneshot::Sender<()>>,
    reload: mpsc::Sender<crate::reload::ReloadResult>,
    task: tokio::task::JoinHandle<State>,
    dir: tempfile::TempDir,
    hooks: RecordingHooks,
}

fn profile(port: u16, interval: u32) -> profile_schema::Loaded {
    Profile::parse(&format!(
        "<cfg><StateSyncProbeInterval>{interval}</StateSyncProbeInterval>\
         <NetworkTransitionDelay>2</NetworkTransitionDelay>\
         <ServerPorts>1024-65535</ServerPorts>\
         <CallHomeList>127.0.0.1:{port}</CallHomeList></cfg>"
    ))
    .unwrap()
}

fn start_daemon(ca: &TestCa, port: u16) -> Running {
    start_daemon_with(ca, profile(port, 1), GatewayMode::Off)
}

fn start_daemon_with(
    ca: &TestCa,
    profile: profile_schema::Loaded,
    gateway: GatewayMode,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (status_tx, status) = watch::channel(crate::status_report::Snapshot::fixed(
        serde_json::Value::Null,
    ));
    let transport = Transport::new(ca.client_config(), "00:11:22:33:44:55").unwrap();
    let io = Io {
        probe_transport: transport.clone().with_timeouts(PROBE_TIMEOUTS),
        transport,
        psn_store: dir.path().join("known-psns.json"),
        probe_history: dir.path().join("probe-rounds.jsonl"),
        status: status_tx,
        gateway,
        // Tests must not react to the host's own network changes.
        network_watch: false,
        // The tests order events; a random start delay is the machine's
        // tests' subject.
        start_spread: std::time::Duration::ZERO,
        check_off_limits: vec![dir.path().to_owned()],
    };
    let hooks = RecordingHooks::default();
    let daemon = Daemon::new(io, hooks.clone());
    let rescan = daemon.rescan_sender();
    let (reload, reload_rx) = mpsc::channel(1);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(profile, reload_rx, async move {
        let _ = stop_rx.await;
    }));
    Running {
        status,
        rescan,
        stop: Some(stop),
        reload,
        task,
        dir,
        hooks,
    }
}

impl Running {
    async fn wait_for(
        &mut self,
        what: &str,
        cond: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        // The bound of every test wait (POSTURE_SYNC_TEST_WAIT_SECS).
        let bound = test_support::wait_bound();
        let found = tokio::time::timeout(bound, self.status.wait_for(|v| cond(&v.to_value())))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|v| v.to_value());
        match found {
            Some(v) => v,
            None => panic!(
                "timed out after {bound:?} waiting for {what}; last status {}",
                self.status.borrow().to_value()
            ),
        }
    }

    async fn stop(mut self) -> State {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

#[tokio::test]
async fn discovers_assesses_and_stops_syncing_on_a_confirmed_misconfiguration() {
    let ca = TestCa::new();
    let psn = Psn::shared(ProbeAnswer::Status);
    let server = start_psn(&ca, psn.clone()).await;
    let mut d = start_daemon(&ca, server.port());
    let v = d
        .wait_for("compliant", |v| {
            v["phase"] == "known" && v["posture"] == "Compliant"
        })
        .await;
    assert_eq!(v["session_id"], "sess-1");
    assert_eq!(v["connected_psn"], format!("127.0.0.1:{}", server.port()));

    // The fake PSN has no dACL: the probe gets through and answers Compliant,
    // twice, so the agent stops syncing.
    let v = d
        .wait_for("sync stopped", |v| {
            v["sync"]["stopped_reason"] == "misconfiguration"
        })
        .await;
    assert_eq!(v["counters"]["misconfigurations"], 1);
    assert_eq!(v["phase"], "known");
    assert_eq!(v["last_probe"]["outcome"], "status");
    let probes = psn.lock().unwrap().probes;
    assert!(probes >= 2, "{probes}");
    let hooks = d.hooks.0.lock().unwrap().clone();
    assert!(
        hooks.contains(&format!(
            "bundle 127.0.0.1:{} true \"misconfiguration\"",
            server.port()
        )),
        "{hooks:?}"
    );

    // The PSN list and the probe history were written.
    let store = std::fs::read_to_string(d.dir.path().join("known-psns.json")).unwrap();
    assert!(store.contains("127.0.0.1"), "{store}");
    let history = std::fs::read_to_string(d.dir.path().join("probe-rounds.jsonl")).unwrap();
    assert_eq!(history.lines().count(), probes);
    // Typed records: the answer and the machine's timing of each round, and
    // each decision with its kind, next to the log lines.
    let last: crate::record::RoundRecord =
        serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last.status, Some(PostureStatus::Compliant));
    assert!(last.took_ms.is_some(), "{last:?}");
    let transitions =
        std::fs::read_to_string(d.dir.path().join(crate::record::TRANSITIONS_FILE)).unwrap();
    let decisions: Vec<crate::record::TransitionRecord> = transitions
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let confirmed = decisions
        .iter()
        .find(|t| t.kind == crate::machine::ReasonKind::MisconfigurationConfirmed)
        .unwrap_or_else(|| panic!("{transitions}"));
    assert_eq!(
        confirmed.psn.as_deref(),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );

    let state = d.stop().await;
    assert_eq!(state.counters().misconfigurations, 1);
}

#[tokio::test]
async fn a_probe_that_finds_the_session_gone_restarts_discovery() {
    let ca = TestCa::new();
    let psn = Psn::shared(ProbeAnswer::NotFound);
    let server = start_psn(&ca, psn.clone()).await;
    let mut d = start_daemon(&ca, server.port());
    d.wait_for("a discovery restart", |v| {
        v["counters"]["discovery_restarts"].as_u64() >= Some(1)
    })
    .await;
    // After the restart the agent assesses again and is known again.
    psn.lock().unwrap().probe = ProbeAnswer::Status;
    d.wait_for("compliant again", |v| {
        v["phase"] == "known" && v["posture"] == "Compliant"
    })
    .await;
    d.stop().await;
}

#[tokio::test]
async fn an_invalid_reload_keeps_the_last_good_profile_and_a_valid_one_applies() {
    let ca = TestCa::new();
    let psn = Psn::shared(ProbeAnswer::NotFound);
    let server = start_psn(&ca, psn.clone()).await;
    let mut d = start_daemon(&ca, server.port());
    d.wait_for("sync enabled", |v| v["sync"]["enabled"] == true)
        .await;
    d.reload
        .send(Err(profile_schema::LoadError::Invalid {
            path: "profile.xml".into(),
            errors: vec![],
        }))
        .await
        .unwrap();
    // A valid change: sync disabled by the profile.
    d.reload
        .send(Ok(Profile::parse(&format!(
            "<cfg><CallHomeList>127.0.0.1:{}</CallHomeList></cfg>",
            server.port()
        ))
        .unwrap()))
        .await
        .unwrap();
    d.wait_for("sync disabled by the profile", |v| {
        v["sync"]["stopped_reason"] == "disabled-by-profile"
    })
    .await;
    let hooks = d.hooks.0.lock().unwrap().clone();
    assert_eq!(
        hooks.iter().filter(|h| *h == "profile").count(),
        2,
        "{hooks:?}"
    );
    d.stop().await;
}

#[test]
fn the_round_line_names_every_target_as_the_joined_outcomes_did() {
    use crate::outcome::{BlockedKind, FailureKind, Outcome, TargetOutcome};
    let hp = |h: &str| HostPort::new(profile_schema::Host::parse(h).unwrap(), 8905);
    let outcomes = [
        TargetOutcome::new(hp("psn1"), Outcome::Failed(FailureKind::HttpStatus(500))),
        TargetOutcome::new(hp("::1"), Outcome::Blocked(BlockedKind::Reset)),
        TargetOutcome::new(hp("psn3"), Outcome::Answered(PostureStatus::Compliant)),
    ];
    // The line's text before it was written without building strings.
    let joined = |o: &[TargetOutcome]| {
        o.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for n in 0..=outcomes.len() {
        assert_eq!(Joined(&outcomes[..n]).to_string(), joined(&outcomes[..n]));
    }
    assert_eq!(OrEmpty(Some(&hp("::1"))).to_string(), hp("::1").to_string());
    assert_eq!(OrEmpty(None::<&HostPort>).to_string(), "");
}

/// Sync disabled: the agent reaches `known` and stays there until something
/// on the endpoint side asks again.
fn profile_without_sync(hosts: &str) -> profile_schema::Loaded {
    Profile::parse(&format!(
        "<cfg><StateSyncProbeInterval>0</StateSyncProbeInterval>\
         <ServerPorts>1024-65535</ServerPorts>{hosts}</cfg>"
    ))
    .unwrap()
}

fn discoveries(server: &TestServer) -> usize {
    server
        .seen()
        .iter()
        .filter(|s| s.path_and_query.starts_with("/auth/discovery"))
        .count()
}

#[tokio::test]
async fn a_rescan_request_rediscovers_and_answers_with_the_transition() {
    let ca = TestCa::new();
    let psn = Psn::shared(ProbeAnswer::Status);
    let server = start_psn(&ca, psn).await;
    let hosts = format!("<CallHomeList>127.0.0.1:{}</CallHomeList>", server.port());
    let mut d = start_daemon_with(&ca, profile_without_sync(&hosts), GatewayMode::Off);
    d.wait_for("known", |v| v["phase"] == "known").await;
    assert_eq!(discoveries(&server), 1);

    let (reply, answer) = oneshot::channel();
    d.rescan.send(RescanRequest { reply }).await.unwrap();
    let decided = test_support::within("the rescan's answer", answer)
        .await
        .unwrap()
        .expect("a profile is applied: the machine decides");
    assert_eq!(decided.from, PhaseName::Known);
    assert_eq!(decided.to, PhaseName::Discovering);
    assert_eq!(decided.kind, crate::machine::ReasonKind::Rescan);
    // The rediscovery asks the PSN that served last first (stage 1).
    let v = d
        .wait_for("known again", |v| {
            v["phase"] == "known" && v["discovery"]["source"] == "last-psn"
        })
        .await;
    assert_eq!(v["discovery"]["stage"], 1);
    assert_eq!(discoveries(&server), 2, "one rescan, one discovery more");
    d.stop().await;
}

#[tokio::test]
async fn a_profile_without_hosts_finds_the_psn_through_the_switch_redirect() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca = TestCa::new();
    let psn = Psn::shared(ProbeAnswer::Status);
    let server = start_psn(&ca, psn).await;
    // The "switch": every plain-HTTP request is redirected to the PSN.
    let switch = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = switch.local_addr().unwrap();
    let location = format!(
        "https://127.0.0.1:{}/auth/discovery?sessionId=sw-1&portal=psn1",
        server.port()
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = switch.accept().await else {
                return;
            };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    });
    // The seed's fragment: no DiscoveryHost, no CallHomeList; the rules
    // allow the lab's PSN.
    let hosts = "<ServerNameRules>127.0.0.1</ServerNameRules>";
    let mut d = start_daemon_with(
        &ca,
        profile_without_sync(hosts),
        GatewayMode::Fixed(gateway),
    );
    let v = d
        .wait_for("known through the redirect", |v| v["phase"] == "known")
        .await;
    assert_eq!(v["discovery"]["stage"], 1);
    assert_eq!(v["discovery"]["source"], "gateway");
    assert_eq!(v["discovery"]["redirected_to"], "127.0.0.1");
    let asked: Vec<String> = server
        .seen()
        .iter()
        .map(|s| s.path_and_query.clone())
        .filter(|p| p.starts_with("/auth/discovery"))
        .collect();
    assert_eq!(asked, ["/auth/discovery?sessionId=sw-1&portal=psn1"]);
    d.stop().await;
}
