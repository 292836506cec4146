//! Test helpers: an in-process lab on loopback port 0, and a plain hyper 1 +
//! rustls client (not the agent) that trusts the lab CA.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use psn_lab::config::LabConfig;
use psn_lab::ctl::AdminClient;
use psn_lab::server::RunningLab;
use rustls::pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

pub const MAC: &str = "00:50:56:a8:be:02";

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub lab: RunningLab,
    pub admin: AdminClient,
}

impl Lab {
    pub async fn start(names: &[&str]) -> Lab {
        Self::start_with(names, |_| {}).await
    }

    pub async fn start_with(names: &[&str], tweak: impl FnOnce(&mut LabConfig)) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let mut config = LabConfig::loopback(dir.path(), names);
        tweak(&mut config);
        let lab = psn_lab::server::start(config).await.unwrap();
        let admin = AdminClient::new(lab.ready.admin, lab.token.clone());
        Lab { dir, lab, admin }
    }

    pub fn disc(&self, node: &str) -> SocketAddr {
        self.lab.ready.node(node).unwrap().discovery
    }

    pub fn sync(&self, node: &str) -> SocketAddr {
        self.lab.ready.node(node).unwrap().sync
    }

    pub fn client(&self) -> Client {
        Client::new(&self.lab.ready.ca)
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.dir.path().join("sessions")
    }

    /// `POST path` with a JSON `body` on the admin API, which must succeed;
    /// returns the reply.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.admin.ok(Method::POST, path, Some(body)).await.unwrap()
    }

    /// `POST path` with a JSON `body` on the admin API; returns the status
    /// whether or not it is a success.
    pub async fn post_status(&self, path: &str, body: serde_json::Value) -> StatusCode {
        self.admin
            .call(Method::POST, path, Some(body))
            .await
            .unwrap()
            .0
    }

    /// A node's dACL emulation (`off`, `reject`, `drop`), through the admin API.
    pub async fn dacl(&self, node: &str, mode: &str) {
        let path = format!("/nodes/{node}/dacl");
        self.post(&path, serde_json::json!({ "mode": mode })).await;
    }

    /// A CoA: session `id`'s posture becomes `status`, through the admin API.
    pub async fn coa(&self, id: &str, status: &str) {
        let path = format!("/sessions/{id}/status");
        self.post(&path, serde_json::json!({ "status": status }))
            .await;
    }

    /// The nodes' views (`GET /nodes`): fault, dACL mode and counters.
    pub async fn nodes(&self) -> serde_json::Value {
        self.admin.ok(Method::GET, "/nodes", None).await.unwrap()
    }
}

/// Every file in a directory with its bytes, sorted by name.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
pub struct Client {
    pub config: Arc<rustls::ClientConfig>,
    /// Source address to connect from (simulated endpoints use distinct 127.x addresses).
    pub source: Option<IpAddr>,
    /// Server name to verify (default "localhost").
    pub server_name: String,
}

pub fn client_config_trusting(ca: &Path) -> rustls::ClientConfig {
    psn_lab::tls::client_config(ca).unwrap()
}

impl Client {
    pub fn new(ca: &Path) -> Client {
        Client {
            config: Arc::new(client_config_trusting(ca)),
            source: None,
            server_name: "localhost".into(),
        }
    }

    pub fn source(mut self, ip: &str) -> Client {
        self.source = Some(ip.parse().unwrap());
        self
    }

    pub fn named(mut self, name: &str) -> Client {
        self.server_name = name.into();
        self
    }

    pub async fn connect_tcp(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        match self.source {
            None => TcpStream::connect(addr).await,
            Some(ip) => {
                let sock = TcpSocket::new_v4()?;
                sock.bind(SocketAddr::new(ip, 0))?;
                sock.connect(addr).await
            }
        }
    }

    /// One request on a new TLS connection. Err carries the failure text
    /// (connect, TLS, HTTP).
    pub async fn request(
        &self,
        addr: SocketAddr,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let tcp = self
            .connect_tcp(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from(self.server_name.clone()).unwrap();
        let tls = TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("http: {e}"))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.server_name.as_str())
            .header("user-agent", posture_protocol::user_agent("test"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body))).unwrap();
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("http: {e}"))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(addr, Method::GET, path, headers, Vec::new())
            .await
            .unwrap()
    }

    /// A discovery request the connection must refuse (TLS): the error.
    pub async fn discovery_refused(&self, addr: SocketAddr) -> String {
        self.request(
            addr,
            Method::GET,
            "/auth/discovery",
            &[("x-posture-mac", MAC)],
            Vec::new(),
        )
        .await
        .expect_err("the connection must be refused")
    }

    pub async fn discover(&self, addr: SocketAddr, mac: &str) -> posture_protocol::Discovery {
        let r = self
            .get(addr, "/auth/discovery", &[("x-posture-mac", mac)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.headers["content-type"], "application/xml");
        posture_protocol::Discovery::from_xml(&r.body).unwrap()
    }

    pub async fn requirements(&self, addr: SocketAddr, id: &str) -> Reply {
        self.get(
            addr,
            &format!("/auth/requirements?session={id}"),
            &[("x-posture-mac", MAC), ("x-posture-session", id)],
        )
        .await
    }

    pub async fn report(&self, addr: SocketAddr, id: &str, body: &str) -> Reply {
        self.request(
            addr,
            Method::POST,
            &format!("/auth/report?session={id}"),
            &[
                ("content-type", "application/xml"),
                ("x-posture-session", id),
            ],
            body.as_bytes().to_vec(),
        )
        .await
        .unwrap()
    }

    /// Discovery for `mac`; returns the session id the PSN assigned.
    pub async fn discover_id(&self, addr: SocketAddr, mac: &str) -> String {
        self.discover(addr, mac).await.session.to_string()
    }

    /// Requirements then a report of `results` for session `id`, both of
    /// which must be answered 200; returns the report's reply.
    pub async fn assess(&self, addr: SocketAddr, id: &str, results: &[(&str, bool)]) -> Reply {
        assert_eq!(self.requirements(addr, id).await.status, StatusCode::OK);
        let r = self.report(addr, id, &report_xml(id, results)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r
    }

    pub async fn probe(&self, addr: SocketAddr, id: &str) -> Reply {
        self.get(
            addr,
            &format!("/auth/posturestatus?session={id}"),
            &[("x-posture-session", id)],
        )
        .await
    }
}

/// A report document from (requirement, passed) pairs, written with the protocol crate.
pub fn report_xml(id: &str, results: &[(&str, bool)]) -> String {
    posture_protocol::Report {
        session: posture_protocol::SessionId::new(id).unwrap(),
        results: results
            .iter()
            .map(|(r, p)| posture_protocol::ReportResult {
                requirement: (*r).into(),
                passed: *p,
                reason: None,
            })
            .collect(),
    }
    .to_xml()
}

/// The default policy's requirements, all passed.
pub const ALL_PASS: &[(&str, bool)] = &[
    ("os-release", true),
    ("os-identified", true),
    ("init-running", true),
];

/// Reports every check passed for session `id` through psn1 with `c`; the
/// reply must say Compliant.
pub async fn report_all_pass(lab: &Lab, c: &Client, id: &str) {
    let r = c
        .report(lab.disc("psn1"), id, &report_xml(id, ALL_PASS))
        .await;
    assert_eq!(
        posture_protocol::PostureResult::from_xml(&r.body)
            .unwrap()
            .status,
        posture_protocol::PostureStatus::Compliant
    );
}

/// Discovery for `mac`, requirements and an all-pass report through psn1
/// with `c`: returns the id of the session, now Compliant.
pub async fn compliant_session(lab: &Lab, c: &Client, mac: &str) -> String {
    let d = c.discover(lab.disc("psn1"), mac).await;
    let id = d.session.as_str().to_owned();
    c.requirements(lab.disc("psn1"), &id).await;
    report_all_pass(lab, c, &id).await;
    id
}
