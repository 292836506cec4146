//! psn-lab's MDM client through a real HTTPS proxy (Debian's tinyproxy,
//! started by the test on loopback with its own config): Test Connection and
//! a poll through the tunnel, and the "proxy refused" diagnosis when the proxy
//! does not allow CONNECT to the MDM's port. Skipped, with a message, when
//! tinyproxy is not installed (`apt-get install -y tinyproxy`; CI installs it).

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Test harness: starting the proxy under test is the point.
#![allow(clippy::disallowed_methods)]

mod common;
mod mdm_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::Lab;
use mdm_support::{MdmLab, device, seed};
use posture_protocol::PostureStatus;
use psn_lab::mdm::diagnose::{FailureClass, class, report_failure, test_connection};
use psn_lab::mdm::poller::Poller;
use psn_lab::mdm::{MdmClient, Verdict};

/// A tinyproxy in the foreground, killed on drop.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tinyproxy_path() -> Option<std::path::PathBuf> {
    ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

impl Tinyproxy {
    /// Starts tinyproxy on 127.0.0.1, allowing CONNECT only to `allowed_port`.
    fn start(dir: &Path, allowed_port: u16) -> Option<Tinyproxy> {
        let Some(bin) = tinyproxy_path() else {
            // CI sets POSTURE_SYNC_REQUIRE_ALL: a missing install step must fail, not skip.
            if std::env::var_os("POSTURE_SYNC_REQUIRE_ALL").is_some() {
                panic!(
                    "tinyproxy is not installed, and POSTURE_SYNC_REQUIRE_ALL requires every test to run"
                );
            }
            eprintln!("SKIPPED: tinyproxy is not installed (apt-get install -y tinyproxy)");
            return None;
        };
        // tinyproxy cannot listen on port 0: take a free port from the system
        // first; another process may take it meanwhile, so try a few ports.
        for _attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = dir.join(format!("tinyproxy-{port}.log"));
            let conf = dir.join(format!("tinyproxy-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 20\nConnectPort {allowed_port}\n",
                    log.display()
                ),
            )
            .unwrap();
            let child = Command::new(&bin)
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let log_path = log.clone();
            let mut proxy = Tinyproxy { child, port, log };
            // Ok: listening; Err: exited (the port was taken, try another).
            let started = test_support::wait_until(
                &format!("tinyproxy to listen on {port}"),
                || {
                    if let Ok(Some(status)) = proxy.child.try_wait() {
                        return Some(Err(status));
                    }
                    // Listening, and tinyproxy's own: its log says it accepts connections.
                    (proxy.log().contains("Accepting connections")
                        && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
                    .then_some(Ok(()))
                },
                || std::fs::read_to_string(&log_path).unwrap_or_default(),
            );
            match started {
                Ok(()) => return Some(proxy),
                Err(status) => eprintln!(
                    "tinyproxy on port {port} exited with {status}: {}",
                    proxy.log()
                ),
            }
        }
        panic!("tinyproxy could not start on any of 5 ports");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[tokio::test]
async fn the_mdm_is_reached_through_tinyproxy() {
    let lab = Lab::start(&["psn1"]).await;
    let mac = "02:00:5e:00:53:01";
    let mdm = MdmLab::start(lab.dir.path(), vec![device(mac, false)], |_| {}).await;
    let Some(proxy) = Tinyproxy::start(lab.dir.path(), mdm.addr().port()) else {
        return;
    };
    let mut s = mdm.settings();
    s.proxy = Some(("127.0.0.1".into(), proxy.port));
    let info = test_connection(&s)
        .await
        .unwrap_or_else(|f| panic!("{f}\n{}", proxy.log()));
    assert_eq!(info.api_version, 3);
    let session = seed(&lab.lab, mac, PostureStatus::Compliant);
    let p = Poller::new(MdmClient::new(s).unwrap(), lab.lab.state.clone());
    let out = p.poll_once(Instant::now()).await.unwrap();
    assert_eq!(out.coas.len(), 1);
    assert_eq!(
        lab.lab.state.mdm.verdict(mac).unwrap().verdict,
        Verdict::NonCompliant
    );
    assert_eq!(
        lab.lab.state.sessions.get(&session.id).unwrap().status,
        PostureStatus::Unknown
    );
    // The proxy saw the tunnels: server info twice (test, poll), one device query.
    let stats = mdm.stats().await;
    assert_eq!(
        (
            stats["info_requests"].as_u64(),
            stats["device_queries"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let log = proxy.log();
    assert!(log.contains("CONNECT"), "{log}");
}

#[tokio::test]
async fn a_proxy_that_refuses_connect_is_diagnosed() {
    let lab = Lab::start(&["psn1"]).await;
    let mdm = MdmLab::start(lab.dir.path(), vec![], |_| {}).await;
    // The proxy allows CONNECT to another port only.
    let other = mdm.addr().port().wrapping_add(1).max(1);
    let Some(proxy) = Tinyproxy::start(lab.dir.path(), other) else {
        return;
    };
    let mut s = mdm.settings();
    s.proxy = Some(("127.0.0.1".into(), proxy.port));
    let f = test_connection(&s).await.unwrap_err();
    assert_eq!(class(&f.error), FailureClass::ProxyRefused, "{f}");
    let text = report_failure(&f, &s);
    assert!(text.contains("403"), "{text}");
    assert!(
        text.contains("CONNECT") && text.contains("ConnectPort"),
        "{text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", proxy.port)),
        "{text}"
    );
    assert!(!text.contains(&s.password), "{text}");
    assert_eq!(
        mdm.stats().await["info_requests"],
        0,
        "nothing reached the MDM"
    );
}

#[tokio::test]
async fn a_proxy_address_where_nothing_listens_is_diagnosed() {
    let lab = Lab::start(&["psn1"]).await;
    let mdm = MdmLab::start(lab.dir.path(), vec![], |_| {}).await;
    // Bound but not listening: connections are refused, and no other test can take the port.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let mut s = mdm.settings();
    s.proxy = Some(("127.0.0.1".into(), port));
    let f = test_connection(&s).await.unwrap_err();
    assert_eq!(class(&f.error), FailureClass::ConnectFailed, "{f}");
    assert!(report_failure(&f, &s).contains("proxy address"));
}
