//! Hostile PSNs against the real agent binary in known state: a server in the
//! test (rustls over std sockets on 127.0.0.1, port 0) is a probe target next
//! to psn-lab, and misbehaves: answers byte by byte, never closes, sends a
//! 1 GB body, or presents an expired, self-signed or wrong-name certificate.
//! The agent must time out, cap or refuse, log the reason with host:port, and
//! keep its state (Compliant, no rediscovery, no misconfiguration), and the
//! server must see the agent drop every connection.
//!
//! The byte-by-byte and the never-closing replies, were they waited out,
//! would be a valid probe answer saying `Unknown` for the agent's own
//! session: an agent without a timeout would restart discovery, and the test
//! fails.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_tests::{Agent, Lab, ProfileSpec, counter, is_known, wait_until};
use posture_protocol::{PostureStatus, PostureStatusReply, SessionId};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::Value;

/// The body that would end the round: `Unknown` for the session.
fn unknown_body(session: &str) -> String {
    PostureStatusReply {
        session: SessionId::new(session).unwrap(),
        status: PostureStatus::Unknown,
    }
    .to_xml()
}

/// How the hostile server answers a probe.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// A complete, valid reply written one byte every 250 ms (a minute in all).
    ByteByByte,
    /// Headers and half the body, then silence with the connection open.
    NeverCloses,
    /// A 1 GB body, generated as it is sent (never allocated).
    GigabyteBody { declare_length: bool },
    /// Answers normally: the certificate is the fault.
    Normal,
}

/// What the server saw.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicU64,
    handshakes: AtomicU64,
    requests: AtomicU64,
    /// Connections that ended with the client gone (write or read failed).
    closed_by_client: AtomicU64,
    /// The largest number of body bytes sent on one connection.
    max_body_sent: AtomicU64,
    /// The longest time a client stayed after its request.
    max_held: Mutex<Duration>,
}

struct Hostile {
    addr: SocketAddr,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

/// A test CA (rcgen) that issues the hostile server's certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hostile test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }
}

/// Which certificate the server presents.
#[derive(Debug, Clone, Copy)]
enum Cert {
    /// Issued by the trusted test CA for 127.0.0.1.
    Good,
    /// Issued by the trusted test CA for 127.0.0.1, expired in 2021.
    Expired,
    /// Self-signed for 127.0.0.1 (not in the agent's CA file).
    SelfSigned,
    /// Issued by the trusted test CA for another name only.
    WrongName,
}

fn server_config(ca: &Ca, cert: Cert) -> Arc<ServerConfig> {
    let names = match cert {
        Cert::WrongName => vec!["not-this-host.example".to_owned()],
        _ => vec!["127.0.0.1".to_owned()],
    };
    let mut params = CertificateParams::new(names).unwrap();
    if let Cert::Expired = cert {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let chain = match cert {
        Cert::SelfSigned => vec![params.self_signed(&key).unwrap().der().clone()],
        _ => vec![
            params.signed_by(&key, &ca.issuer).unwrap().der().clone(),
            ca.der.clone(),
        ],
    };
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .unwrap(),
    )
}

fn serve(config: Arc<ServerConfig>, how: Misbehaviour, session: String) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (seen2, stop2) = (seen.clone(), stop.clone());
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            if stop2.load(Ordering::Relaxed) {
                break;
            }
            let Ok(tcp) = tcp else { continue };
            seen2.connections.fetch_add(1, Ordering::Relaxed);
            let (config, seen, stop, session) = (
                config.clone(),
                seen2.clone(),
                stop2.clone(),
                session.clone(),
            );
            std::thread::spawn(move || connection(tcp, config, how, &session, &seen, &stop));
        }
    });
    Hostile { addr, seen, stop }
}

fn connection(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    how: Misbehaviour,
    session: &str,
    seen: &Seen,
    stop: &AtomicBool,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(20)));
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    // Read the request head; the handshake happens on the way.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return, // handshake refused by the client, or it left
        }
        if head.len() == 1 {
            seen.handshakes.fetch_add(1, Ordering::Relaxed);
        }
    }
    seen.requests.fetch_add(1, Ordering::Relaxed);
    let body = unknown_body(session);
    let since = Instant::now();
    let gone = |seen: &Seen| {
        seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
        let mut held = seen.max_held.lock().unwrap();
        *held = (*held).max(since.elapsed());
    };
    let header = |len: Option<u64>| match len {
        Some(n) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {n}\r\n\r\n"
        ),
        None => {
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_owned()
        }
    };
    match how {
        Misbehaviour::Normal => {
            let reply = format!("{}{body}", header(Some(body.len() as u64)));
            let _ = tls.write_all(reply.as_bytes());
            let _ = tls.flush();
        }
        Misbehaviour::ByteByByte => {
            let reply = format!("{}{body}", header(Some(body.len() as u64)));
            for b in reply.bytes() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if tls.write_all(&[b]).and_then(|()| tls.flush()).is_err() {
                    return gone(seen);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        Misbehaviour::NeverCloses => {
            let reply = format!(
                "{}{}",
                header(Some(body.len() as u64)),
                &body[..body.len() / 2]
            );
            if tls
                .write_all(reply.as_bytes())
                .and_then(|()| tls.flush())
                .is_err()
            {
                return gone(seen);
            }
            // Hold the connection open; notice when the client leaves.
            let _ = tls.sock.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                match tls.read(&mut buf) {
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    _ => return gone(seen),
                }
            }
        }
        Misbehaviour::GigabyteBody { declare_length } => {
            const GIB: u64 = 1 << 30;
            let head = header(declare_length.then_some(GIB));
            if tls.write_all(head.as_bytes()).is_err() {
                return gone(seen);
            }
            // The body is produced as it goes, 16 KiB at a time: the
            // gigabyte never exists in memory.
            let chunk = vec![b' '; 16 * 1024];
            let mut sent = 0u64;
            while sent < GIB && !stop.load(Ordering::Relaxed) {
                let ok = if declare_length {
                    tls.write_all(&chunk)
                } else {
                    tls.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .and_then(|()| tls.write_all(&chunk))
                        .and_then(|()| tls.write_all(b"\r\n"))
                };
                if ok.is_err() {
                    seen.max_body_sent.fetch_max(sent, Ordering::Relaxed);
                    return gone(seen);
                }
                sent += chunk.len() as u64;
                seen.max_body_sent.fetch_max(sent, Ordering::Relaxed);
            }
        }
    }
}

/// psn-lab (blocking the agent's probes as a dACL would) and the agent,
/// Compliant, with the hostile server as a second probe target.
struct Setup {
    agent: Agent,
    lab: Lab,
    hostile: Hostile,
    session: String,
    _tmp: tempfile::TempDir,
}

fn setup(cert: Cert, how: Misbehaviour) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::start(tmp.path(), &["psn1"], &[]);
    lab.dacl("psn1", "reject");
    let psn1 = lab.node("psn1");
    // The agent trusts the lab CA and the hostile server's CA (not its
    // self-signed certificate).
    let ca = Ca::new();
    let ca_file = tmp.path().join("trusted.pem");
    let lab_ca = std::fs::read_to_string(lab.ca()).unwrap();
    std::fs::write(&ca_file, format!("{lab_ca}\n{}", ca.pem)).unwrap();
    // The hostile server needs the agent's session id, known only once the
    // agent is Compliant: it is added to the probe targets then, by
    // rewriting the profile (a reload, as deployment tools do).
    let spec = ProfileSpec::fast(&psn1.discovery);
    let mut agent = Agent::start_with(tmp.path(), &ca_file, &spec.xml());
    let status = agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    let session = status["session_id"].as_str().unwrap().to_owned();
    let hostile = serve(server_config(&ca, cert), how, session.clone());
    let spec = ProfileSpec {
        backup: vec![psn1.sync.clone(), hostile.addr.to_string()],
        ..spec
    };
    e2e_tests::write_atomically(&agent.profile, &spec.xml());
    Setup {
        agent,
        lab,
        hostile,
        session,
        _tmp: tmp,
    }
}

/// The hostile target's outcome in the last round, once it has one.
fn hostile_outcome(status: &Value, addr: &str) -> Option<Value> {
    status["last_probe"]["targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"] == addr)
        .cloned()
}

/// Waits for `rounds` rounds in which the hostile target failed with a
/// detail containing `detail`; asserts the agent kept its state.
fn expect_failed_rounds(s: &mut Setup, rounds: u64, detail: &str) -> Value {
    let addr = s.hostile.addr.to_string();
    let failed = std::cell::Cell::new(0);
    let last_round = std::cell::Cell::new(0);
    let status = s.agent.wait_for(
        &format!("{rounds} rounds where {addr} failed with {detail:?}"),
        |st| {
            let round = counter(st, "probe_rounds");
            if round != last_round.get() {
                last_round.set(round);
                if hostile_outcome(st, &addr).is_some_and(|t| {
                    t["outcome"] == "failed"
                        && t["detail"].as_str().is_some_and(|d| d.contains(detail))
                }) {
                    failed.set(failed.get() + 1);
                }
            }
            failed.get() >= rounds
        },
    );
    assert!(is_known(&status, "Compliant"), "state kept: {status}");
    assert_eq!(counter(&status, "discovery_restarts"), 0, "{status}");
    assert_eq!(counter(&status, "misconfigurations"), 0, "{status}");
    assert_eq!(status["sync"]["enabled"], true, "{status}");
    assert_eq!(status["session_id"], s.session.as_str());
    assert!(s.lab.alarms().is_empty());
    status
}

/// The agent logged `words` for the hostile target (host:port in the line).
fn assert_logged(s: &Setup, words: &str) {
    let addr = s.hostile.addr.to_string();
    let log = s.agent.log();
    assert!(
        log.lines().any(|l| l.contains(&addr) && l.contains(words)),
        "no log line with {addr} and {words:?}:\n{log}"
    );
}

/// Waits until the server saw the client leave `n` connections.
fn wait_closed(s: &Setup, n: u64) {
    wait_until(
        "the agent to drop its connections",
        || (s.hostile.seen.closed_by_client.load(Ordering::Relaxed) >= n).then_some(()),
        || format!("{:?}\n{}", s.hostile.seen, s.agent.log()),
    );
}

#[test]
fn a_psn_answering_byte_by_byte_is_timed_out_and_the_state_kept() {
    let mut s = setup(Cert::Good, Misbehaviour::ByteByByte);
    expect_failed_rounds(&mut s, 2, "no reply in time");
    assert_logged(&s, "no reply in time");
    wait_closed(&s, 2);
    // The whole reply takes about a minute; the agent left each connection
    // after its exchange limit (5 s) instead of waiting for it.
    let held = *s.hostile.seen.max_held.lock().unwrap();
    assert!(
        held < Duration::from_secs(30),
        "a connection was held {held:?}"
    );
}

#[test]
fn a_psn_that_never_closes_is_timed_out_and_the_state_kept() {
    let mut s = setup(Cert::Good, Misbehaviour::NeverCloses);
    expect_failed_rounds(&mut s, 2, "no reply in time");
    assert_logged(&s, "no reply in time");
    wait_closed(&s, 2);
}

#[test]
fn a_gigabyte_body_is_capped_and_the_connection_dropped() {
    for declare_length in [false, true] {
        let mut s = setup(Cert::Good, Misbehaviour::GigabyteBody { declare_length });
        expect_failed_rounds(&mut s, 2, "exceeds");
        assert_logged(&s, "exceeds");
        wait_closed(&s, 2);
        let sent = s.hostile.seen.max_body_sent.load(Ordering::Relaxed);
        eprintln!("declared length {declare_length}: {sent} body bytes sent before the agent left");
        // Socket buffers on both sides hold a few MiB at most; 64 MiB would
        // already mean the agent kept reading far past its 64 KiB cap.
        assert!(
            sent < 64 << 20,
            "the server sent {sent} bytes before the agent left (declared length: {declare_length})"
        );
    }
}

fn refused_certificate(cert: Cert, detail: &str) {
    let mut s = setup(cert, Misbehaviour::Normal);
    expect_failed_rounds(&mut s, 2, detail);
    assert_logged(&s, "security");
    assert!(
        s.hostile.seen.connections.load(Ordering::Relaxed) >= 2,
        "{:?}",
        s.hostile.seen
    );
    assert_eq!(
        s.hostile.seen.requests.load(Ordering::Relaxed),
        0,
        "no request over a refused connection"
    );
}

#[test]
fn an_expired_certificate_is_refused_as_a_security_error() {
    refused_certificate(Cert::Expired, "expired");
}

#[test]
fn a_self_signed_certificate_is_refused_as_a_security_error() {
    refused_certificate(Cert::SelfSigned, "untrusted");
}

#[test]
fn a_wrong_name_certificate_is_refused_as_a_security_error() {
    refused_certificate(Cert::WrongName, "name");
}
