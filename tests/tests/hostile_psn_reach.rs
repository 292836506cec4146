//! Issue 11 end to end: a compromised PSN must not use the agent against the
//! endpoint. The real `posture-sync` binary runs against psn-lab serving a
//! crafted policy, or against a PSN in the test (rustls over std sockets on
//! 127.0.0.1, port 0) that serves crafted discovery and requirements replies.
//! One test per finding of the review:
//!
//! 1. `file-contains` as a file reader, bit by bit (and `/proc/self/environ`);
//! 2. the discovery reply's PSNs as a port scanner;
//! 3. a redirect persisted in `known-psns.json`, and a host persisted though
//!    its assessment failed;
//! 4. provoked reassessments of an expensive reply burning the CPU;
//! 5. a reply with more requirements than any policy has.
//!
//! Every test waits for events with the harness's generous bound, and only
//! loopback addresses are ever named.

// Integration tests: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_tests::{Agent, Lab, ProfileSpec, counter, is_known, wait_until};
use posture_protocol::{
    Check, Discovery, MAX_REPLY_BYTES, MAX_REQUIREMENTS, PostureResult, PostureStatus,
    PostureStatusReply, PsnRef, Requirement, Requirements, SessionId, paths,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};

/// The session the test PSN gives the agent.
const SESSION: &str = "hostile-session-0001";

// ---- a scripted PSN ---------------------------------------------------------

/// One request the test PSN received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query.
    path: String,
    body: String,
}

type Handler = dyn Fn(&Request) -> (u16, String) + Send + Sync;

/// An HTTPS server on 127.0.0.1 that answers every request with its
/// handler's status and body, and records what it received.
struct Psn {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    ca_pem: String,
}

impl Drop for Psn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

impl Psn {
    /// Binds first, so that the handler can name the server's own port.
    fn start<H>(make: impl FnOnce(u16) -> H) -> Psn
    where
        H: Fn(&Request) -> (u16, String) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Handler> = Arc::new(make(addr.port()));
        let (config, ca_pem) = tls_config();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (requests2, stop2) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(tcp) = tcp else { continue };
                let (config, handler, requests) =
                    (config.clone(), handler.clone(), requests2.clone());
                std::thread::spawn(move || connection(tcp, config, &*handler, &requests));
            }
        });
        Psn {
            addr,
            requests,
            stop,
            ca_pem,
        }
    }

    /// `127.0.0.1:port`, as a profile names it.
    fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Requests received whose path starts with `path`.
    fn seen(&self, path: &str) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(path))
            .cloned()
            .collect()
    }

    /// Writes the CA the agent must trust for this server; returns its path.
    fn ca_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-psn-ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }

    /// The fast test profile, calling home to this PSN.
    fn fast(&self) -> ProfileSpec {
        ProfileSpec::fast(&self.target())
    }

    /// Starts the agent in `root` with `spec`, trusting only this PSN's CA.
    fn start_agent(&self, root: &Path, spec: &ProfileSpec) -> Agent {
        Agent::start_with(root, &self.ca_file(root), &spec.xml())
    }
}

/// A server certificate for 127.0.0.1 issued by a fresh CA; the CA's PEM.
fn tls_config() -> (Arc<ServerConfig>, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hostile psn test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), ca_cert.der().clone()], key_der)
        .unwrap();
    (Arc::new(config), ca_cert.pem())
}

/// One request per connection (the agent pools no connections), answered
/// with `Connection: close`.
fn connection(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    handler: &Handler,
    requests: &Mutex<Vec<Request>>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(20)));
    let tls = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the handshake failed or the client left
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request {
        method,
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, reply) = handler(&request);
    requests.lock().unwrap().push(request);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let tls = reader.get_mut();
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(reply.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn session() -> SessionId {
    SessionId::new(SESSION).unwrap()
}

fn psn_ref(host: &str, port: u16) -> PsnRef {
    PsnRef {
        host: posture_protocol::Host::parse(host).unwrap(),
        state_sync_port: port,
    }
}

fn discovery_xml(psn: PsnRef, psn_list: Vec<PsnRef>) -> String {
    Discovery {
        session: session(),
        posture: PostureStatus::Unknown,
        psn,
        psn_list,
    }
    .to_xml()
}

fn requirements_xml(requirements: Vec<Requirement>) -> String {
    Requirements {
        session: session(),
        requirements,
    }
    .to_xml()
}

/// How the scripted PSN answers each endpoint of protocol.md.
struct Script {
    discovery: String,
    /// Status and body of `/auth/requirements`, asked at every request.
    requirements: Box<dyn Fn() -> (u16, String) + Send + Sync>,
    /// The verdict of every report.
    verdict: PostureStatus,
    /// The answer to every state sync probe.
    probe: PostureStatus,
}

impl Script {
    fn handler(self) -> impl Fn(&Request) -> (u16, String) + Send + Sync + 'static {
        move |r: &Request| {
            if r.path.starts_with(paths::DISCOVERY) {
                (200, self.discovery.clone())
            } else if r.path.starts_with(paths::REQUIREMENTS) {
                (self.requirements)()
            } else if r.path.starts_with(paths::REPORT) {
                let result = PostureResult {
                    session: session(),
                    status: self.verdict,
                    reassess_interval: None,
                };
                (200, result.to_xml())
            } else if r.path.starts_with(paths::POSTURE_STATUS) {
                let reply = PostureStatusReply {
                    session: session(),
                    status: self.probe,
                };
                (200, reply.to_xml())
            } else {
                (404, String::new())
            }
        }
    }
}

/// A port on 127.0.0.1 where nothing listens: a probe there is refused, as
/// a dACL that rejects the state sync port refuses it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain TCP listener on 127.0.0.1 that counts the connections it accepts
/// (a service a PSN would like the endpoint to scan).
struct Listener {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted2, stop2) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                if tcp.is_ok() {
                    accepted2.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Listener {
            addr,
            accepted,
            stop,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The agent's log has a line containing every one of `words`.
fn logged(agent: &Agent, words: &[&str]) -> bool {
    agent
        .log()
        .lines()
        .any(|l| words.iter().all(|w| l.contains(w)))
}

fn assert_logged(agent: &Agent, words: &[&str]) {
    assert!(
        logged(agent, words),
        "no agent log line with all of {words:?}:\n{}",
        agent.log()
    );
}

/// The temp dir with its symbolic links resolved: the agent compares the
/// resolved path of a check with its ContentCheckPaths.
fn temp_root(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().canonicalize().unwrap()
}

// ---- 1. file contents, bit by bit -------------------------------------------

/// The planted secret: one line, so that matching line by line (today) and
/// matching the whole file (before) read the same bytes.
const SECRET: &str = "c2VjcmV0LWtleS1tYXRlcmlhbA";

/// Bytes of the secret the policy probes, and bits per byte.
const PROBED_BYTES: usize = 4;

/// A character class of the printable ASCII bytes with bit `bit` set: the
/// review's `(?s)\A.{N}[...]` asks "is bit `bit` of byte N set?".
fn bit_class(bit: u8) -> String {
    let members: String = (0x21u8..0x7f)
        .filter(|b| b & (1 << bit) != 0)
        .map(|b| format!("\\x{b:02x}"))
        .collect();
    format!("[{members}]")
}

#[test]
fn file_contains_cannot_read_a_private_file_bit_by_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = temp_root(&tmp);
    // The agent's HOME is the temp dir (the harness scrubs the environment):
    // the key is in a home directory, as a real one is.
    let key_dir = root.join(".ssh");
    std::fs::create_dir(&key_dir).unwrap();
    let key = key_dir.join("id_ed25519");
    std::fs::write(&key, SECRET).unwrap();
    let key = key.to_str().unwrap().to_owned();

    let mut requirements = Vec::new();
    for n in 0..PROBED_BYTES {
        for bit in 0..8u8 {
            requirements.push(json!({
                "id": format!("byte{n}-bit{bit}"), "mandatory": false,
                "checks": [{ "type": "file-contains", "path": key,
                             "pattern": format!(r"(?s)\A.{{{n}}}{}", bit_class(bit)) }]
            }));
        }
    }
    requirements.push(json!({
        "id": "key-marker", "mandatory": false,
        "checks": [{ "type": "file-contains", "path": key, "pattern": format!(r"\A{}", &SECRET[..8]) }]
    }));
    requirements.push(json!({
        "id": "key-exists", "mandatory": false,
        "checks": [{ "type": "file-exists", "path": key }]
    }));
    requirements.push(json!({
        "id": "environ-home", "mandatory": false,
        "checks": [{ "type": "file-contains", "path": "/proc/self/environ", "pattern": "HOME=" }]
    }));
    requirements.push(json!({
        "id": "environ-exists", "mandatory": false,
        "checks": [{ "type": "file-exists", "path": "/proc/self/environ" }]
    }));
    let policy = root.join("policy.json");
    std::fs::write(
        &policy,
        serde_json::to_string_pretty(&json!({ "requirements": requirements.clone() })).unwrap(),
    )
    .unwrap();

    let lab = Lab::start(&root, &["psn1"], &["--policy", policy.to_str().unwrap()]);
    let spec = ProfileSpec::fast(&lab.node("psn1").discovery);
    let mut agent = Agent::start(&root, &lab, &spec);
    let status = agent.wait_for("Compliant (every requirement is optional)", |s| {
        is_known(s, "Compliant")
    });
    let session = status["session_id"].as_str().unwrap().to_owned();
    let report = |lab: &Lab| -> Vec<(String, bool)> {
        lab.session(&session)["last_report"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        (
                            r["requirement"].as_str().unwrap_or_default().to_owned(),
                            r["passed"] == true,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };

    // Without ContentCheckPaths every probe fails, whatever the file holds:
    // the PSN learns nothing about the key, the environment or even that
    // they exist.
    let first = report(&lab);
    assert_eq!(first.len(), requirements.len(), "{first:?}");
    let passed: Vec<&String> = first.iter().filter(|(_, p)| *p).map(|(id, _)| id).collect();
    assert!(passed.is_empty(), "requirements that leaked: {passed:?}");
    assert_logged(
        &agent,
        &["key-marker", "not under a ContentCheckPaths prefix"],
    );
    assert_logged(
        &agent,
        &["environ-home", "not under a ContentCheckPaths prefix"],
    );
    assert_logged(&agent, &["key-exists", "off limits"]);
    assert_logged(&agent, &["environ-exists", "off limits"]);

    // The administrator allows the temp dir: the same checks now read the
    // key (so they are real probes, and the local allowlist is what
    // decides). /proc stays off limits. The interval change shows when the
    // profile is applied.
    let root_text = root.to_str().unwrap().to_owned();
    let allowed = ProfileSpec {
        interval: 2,
        ..spec
    };
    e2e_tests::write_atomically(
        &agent.profile,
        &allowed.xml_with(&[("ContentCheckPaths", &root_text)]),
    );
    agent.wait_for("the profile with ContentCheckPaths applied", |s| {
        s["sync"]["interval_secs"] == 2
    });
    lab.ctl(&["coa", &session, "Unknown"]);
    let second = wait_until(
        "a report from the reassessment under ContentCheckPaths",
        || {
            let r = report(&lab);
            r.iter()
                .any(|(id, passed)| id == "key-marker" && *passed)
                .then_some(r)
        },
        || agent.log(),
    );
    for (id, passed) in &second {
        let expected = match id.as_str() {
            "key-marker" | "key-exists" => true,
            "environ-home" | "environ-exists" => false,
            probe => {
                let (n, bit) = probe
                    .strip_prefix("byte")
                    .and_then(|p| p.split_once("-bit"))
                    .map(|(n, b)| (n.parse::<usize>().unwrap(), b.parse::<u8>().unwrap()))
                    .unwrap();
                SECRET.as_bytes()[n] & (1 << bit) != 0
            }
        };
        assert_eq!(
            *passed, expected,
            "{id} under ContentCheckPaths: {second:?}"
        );
    }
}

// ---- 2. the discovery reply as a port scanner --------------------------------

#[test]
fn a_psn_named_on_a_port_outside_server_ports_is_never_probed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = temp_root(&tmp);
    let scanned = Listener::start();
    let sync = closed_port();
    let psn = Psn::start(|_| {
        Script {
            // The connected PSN's state sync port is allowed; the psnList
            // names the listener's port, which ServerPorts does not allow.
            discovery: discovery_xml(
                psn_ref("127.0.0.1", sync),
                vec![psn_ref("127.0.0.1", scanned.addr.port())],
            ),
            requirements: Box::new(|| (200, requirements_xml(Vec::new()))),
            verdict: PostureStatus::Compliant,
            probe: PostureStatus::Compliant,
        }
        .handler()
    });
    let spec = ProfileSpec {
        server_ports: Some(sync.to_string()),
        ..psn.fast()
    };
    let mut agent = psn.start_agent(&root, &spec);
    let status = agent.wait_for("five probe rounds while Compliant", |s| {
        is_known(s, "Compliant") && counter(s, "probe_rounds") >= 5
    });
    assert_eq!(
        scanned.accepted.load(Ordering::Relaxed),
        0,
        "the agent connected to the port the PSN named: {status}"
    );
    let targets: Vec<&str> = status["last_probe"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    assert_eq!(targets, [format!("127.0.0.1:{sync}")], "{status}");
    assert_logged(
        &agent,
        &[
            &format!("127.0.0.1:{}", scanned.addr.port()),
            &format!("outside ServerPorts ({sync})"),
        ],
    );
}

// ---- 3. persisted redirects --------------------------------------------------

/// The hosts in `known-psns.json` (empty when the file does not exist).
fn persisted(agent: &Agent) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(agent.state.join("known-psns.json")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    v["psns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}:{}", p["host"].as_str().unwrap(), p["discovery_port"]))
        .collect()
}

#[test]
fn a_psn_outside_the_profiles_hosts_is_refused_and_not_persisted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = temp_root(&tmp);
    let sync = closed_port();
    // ServerNameRules empty: the profile names 127.0.0.1 only, so the rules
    // allow only that address. 127.0.0.2 stands for psn.attacker.test
    // without leaving loopback.
    let psn = Psn::start(|_| {
        Script {
            discovery: discovery_xml(psn_ref("127.0.0.2", sync), Vec::new()),
            requirements: Box::new(|| (200, requirements_xml(Vec::new()))),
            verdict: PostureStatus::Compliant,
            probe: PostureStatus::Compliant,
        }
        .handler()
    });
    let spec = psn.fast();
    assert!(spec.rules.is_none());
    let agent = psn.start_agent(&root, &spec);
    wait_until(
        "two discoveries answered with the other host",
        || (psn.seen(paths::DISCOVERY).len() >= 2).then_some(()),
        || agent.log(),
    );
    assert_eq!(persisted(&agent), Vec::<String>::new());
    assert_logged(&agent, &["127.0.0.2", "ServerNameRules do not allow"]);
    let status = agent.status().unwrap();
    assert_ne!(status["phase"], "known", "{status}");
}

#[test]
fn a_psn_whose_assessment_failed_is_not_persisted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = temp_root(&tmp);
    let sync = closed_port();
    let failing = Arc::new(AtomicBool::new(true));
    let failing2 = failing.clone();
    let psn = Psn::start(|_| {
        Script {
            discovery: discovery_xml(psn_ref("127.0.0.1", sync), Vec::new()),
            requirements: Box::new(move || {
                if failing2.load(Ordering::Relaxed) {
                    (500, "internal error".to_owned())
                } else {
                    (200, requirements_xml(Vec::new()))
                }
            }),
            verdict: PostureStatus::Compliant,
            probe: PostureStatus::Compliant,
        }
        .handler()
    });
    let mut agent = psn.start_agent(&root, &psn.fast());
    wait_until(
        "two requirements requests answered 500",
        || (psn.seen(paths::REQUIREMENTS).len() >= 2).then_some(()),
        || agent.log(),
    );
    assert!(psn.seen(paths::REPORT).is_empty());
    assert_eq!(
        persisted(&agent),
        Vec::<String>::new(),
        "persisted though no assessment completed"
    );
    assert_logged(
        &agent,
        &["assessment failed at the requirements request", "500"],
    );

    // Once an assessment completes, the PSN is remembered: the file the
    // assertion above reads is the one the agent writes.
    failing.store(false, Ordering::Relaxed);
    agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    wait_until(
        "the PSN persisted after the completed assessment",
        || persisted(&agent).contains(&psn.target()).then_some(()),
        || agent.log(),
    );
}

// ---- 4. provoked reassessments burning the CPU --------------------------------

/// CPU time (user + system) of process `pid` from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    // USER_HZ is 100 on every Linux architecture the tests run on (reading
    // sysconf would need unsafe code, which the workspace forbids).
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

/// Patterns whose lazy DFA blows up over a run of `a` and `b`, so the regex
/// crate falls back to its slower engines (agent/examples/assess-worst.rs).
const HOSTILE_PATTERNS: &[&str] = &[
    r"a[ab]{24}[^ab]",
    r"(?:a|b)*a(?:a|b){20}[^ab]",
    r"(?:[a-b]{1,3}){1,40}[^ab]",
];

#[test]
fn provoked_reassessments_of_an_expensive_reply_are_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let root = temp_root(&tmp);
    // 1 MiB of `a`/`b` in one line, where the administrator allows content
    // checks.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let text: Vec<u8> = (0..1 << 20)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if rng & 1 == 0 { b'a' } else { b'b' }
        })
        .collect();
    let file = root.join("ab.txt");
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap().to_owned();
    // As many checks as the 64 KiB reply cap leaves room for.
    let requirements: Vec<Requirement> = (0..MAX_REQUIREMENTS)
        .map(|r| Requirement {
            id: format!("r{r:02}"),
            mandatory: true,
            remediation: None,
            checks: (0..8)
                .map(|c| Check::FileContains {
                    path: file.clone(),
                    pattern: HOSTILE_PATTERNS[(r + c) % HOSTILE_PATTERNS.len()].to_owned(),
                })
                .collect(),
        })
        .collect();
    let body = requirements_xml(requirements);
    assert!(body.len() < MAX_REPLY_BYTES, "{} bytes", body.len());
    let psn = Psn::start(move |port| {
        Script {
            // The PSN answers its own probes, always with `Unknown`: every
            // round would provoke a reassessment.
            discovery: discovery_xml(psn_ref("127.0.0.1", port), Vec::new()),
            requirements: Box::new(move || (200, body.clone())),
            verdict: PostureStatus::Compliant,
            probe: PostureStatus::Unknown,
        }
        .handler()
    });
    let spec = psn.fast();
    let root_text = root.to_str().unwrap().to_owned();
    let agent = Agent::start_with(
        &root,
        &psn.ca_file(&root),
        &spec.xml_with(&[("ContentCheckPaths", &root_text)]),
    );
    let pid = agent.pid();
    let started = Instant::now();
    wait_until(
        "the agent to rate-limit the provoked reassessments",
        || logged(&agent, &["rate limit"]).then_some(()),
        || agent.log(),
    );
    let (limited_at, cpu_at_limit) = (started.elapsed(), cpu_time(pid));
    let assessments = psn.seen(paths::REQUIREMENTS).len();
    eprintln!(
        "rate limit after {limited_at:?} and {assessments} assessments; agent CPU {cpu_at_limit:?}"
    );
    assert!(
        logged(&agent, &["time budget", "spent"]),
        "the evaluations were not stopped by the time budget:\n{}",
        agent.log()
    );
    // Until the limit: the four evaluations the burst allows and the one
    // that overflows it, each stopped at the 5 s budget (plus grace), and
    // some slack for TLS and logging. An agent without a budget and limit
    // spends more than a core for as long as the PSN keeps asking.
    assert!(
        cpu_at_limit < Duration::from_secs(5 * 7 + 5),
        "agent CPU {cpu_at_limit:?} until the rate limit"
    );
    // After it, the agent waits: a window of 10 s (a measurement window,
    // not a wait for an event) costs next to nothing and asks for no
    // requirements. Generous bound: half a core.
    let window = Duration::from_secs(10);
    let window_start = Instant::now();
    while window_start.elapsed() < window {
        assert!(
            agent.status().is_some(),
            "the agent stopped answering:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let spent = cpu_time(pid) - cpu_at_limit;
    let elapsed = window_start.elapsed();
    eprintln!("agent CPU {spent:?} over the {elapsed:?} after the rate limit");
    assert!(
        spent < elapsed / 2,
        "agent CPU {spent:?} over {elapsed:?} after the rate limit"
    );
    assert_eq!(
        psn.seen(paths::REQUIREMENTS).len(),
        assessments,
        "reassessed while rate-limited"
    );
}

// ---- 5. the requirements cap ---------------------------------------------------

/// `n` requirements, each checking a file that exists.
fn many_requirements(n: usize, path: &str) -> String {
    requirements_xml(
        (0..n)
            .map(|i| Requirement {
                id: format!("req-{i:03}"),
                mandatory: true,
                remediation: None,
                checks: vec![Check::FileExists {
                    path: path.to_owned(),
                }],
            })
            .collect(),
    )
}

#[test]
fn a_reply_with_more_requirements_than_allowed_is_refused_unevaluated() {
    let tmp = tempfile::tempdir().unwrap();
    let root = temp_root(&tmp);
    // A path every check may look at (the temp dir is the agent's HOME,
    // off limits).
    let exists = "/".to_owned();
    let sync = closed_port();
    let over = Arc::new(AtomicBool::new(true));
    let over2 = over.clone();
    let psn = Psn::start(move |_| {
        Script {
            discovery: discovery_xml(psn_ref("127.0.0.1", sync), Vec::new()),
            requirements: Box::new(move || {
                let n = if over2.load(Ordering::Relaxed) {
                    MAX_REQUIREMENTS + 1
                } else {
                    MAX_REQUIREMENTS
                };
                (200, many_requirements(n, &exists))
            }),
            verdict: PostureStatus::Compliant,
            probe: PostureStatus::Compliant,
        }
        .handler()
    });
    let mut agent = psn.start_agent(&root, &psn.fast());
    wait_until(
        "two requirements replies of 65 requirements (or a report)",
        || {
            (psn.seen(paths::REQUIREMENTS).len() >= 2 || !psn.seen(paths::REPORT).is_empty())
                .then_some(())
        },
        || agent.log(),
    );
    assert!(
        psn.seen(paths::REPORT).is_empty(),
        "a report was posted for a refused reply"
    );
    assert!(
        !logged(&agent, &["requirement evaluated"]),
        "requirements of a refused reply were evaluated:\n{}",
        agent.log()
    );
    assert_logged(
        &agent,
        &[
            "assessment failed at the requirements request",
            "at most 64 requirements per reply",
        ],
    );
    let status = agent.status().unwrap();
    assert_ne!(status["phase"], "known", "{status}");

    // The same reply at the cap is evaluated and reported in full.
    over.store(false, Ordering::Relaxed);
    agent.wait_for("Compliant", |s| is_known(s, "Compliant"));
    let reports = psn.seen(paths::REPORT);
    let report = posture_protocol::Report::from_xml(reports[0].body.as_bytes()).unwrap();
    assert_eq!(report.results.len(), MAX_REQUIREMENTS);
    assert!(report.results.iter().all(|r| r.passed), "{report:?}");
    assert_eq!(reports[0].method, "POST");
}
