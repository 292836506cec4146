//! A tiny real HTTPS server on loopback for the drivers' tests: a throwaway CA
//! (rcgen), a rustls server, hyper 1 on top, and the misbehaviours the agent
//! must classify (garbage, oversized, slow, accept-and-drop, reset).
//!
//! Everything listens on 127.0.0.1 with port 0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A throwaway certificate authority.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    pem: String,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        Self::named("posture-sync test CA")
    }

    /// A CA with the given common name (two CAs with one name and different
    /// keys look alike to a careless verifier).
    pub(crate) fn named(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes the CA certificate as PEM into `dir` and returns the path.
    pub(crate) fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).unwrap();
        path
    }

    /// A client configuration trusting only this CA (no platform roots, so the
    /// tests do not depend on the machine's trust store).
    pub(crate) fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        super::config_with_roots(roots).unwrap()
    }

    /// A server configuration with a leaf for `names` signed by this CA.
    pub(crate) fn server_config(&self, names: &[&str]) -> Arc<ServerConfig> {
        let params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone(), self.cert.clone()], key_der)
                .unwrap(),
        )
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    /// Whether the TLS handshake resumed an earlier session.
    pub resumed: bool,
    /// The negotiated TLS version.
    pub tls_version: Option<rustls::ProtocolVersion>,
}

/// Answers a request: status and body.
pub(crate) type Handler = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

/// What the server does with a connection.
#[derive(Clone)]
pub(crate) enum Behaviour {
    /// TLS, then HTTP answered by the handler.
    Answer(Handler),
    /// TLS, then raw bytes that are not HTTP.
    Garbage,
    /// TLS, then an HTTP reply whose body streams past the cap.
    Oversized { declare_length: bool },
    /// TLS, reads the request, never answers.
    Slow,
    /// Accepts TCP, never speaks (a middlebox that drops after accepting).
    AcceptAndDrop,
    /// Accepts TCP and resets it at once.
    Reset,
}

/// A running test server; stops when dropped.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub(crate) async fn start(tls: Arc<ServerConfig>, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = TlsAcceptor::from(tls);
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                match &behaviour {
                    Behaviour::AcceptAndDrop => {
                        held.push(tcp);
                        continue;
                    }
                    Behaviour::Reset => {
                        let _ = tcp.set_zero_linger();
                        drop(tcp);
                        continue;
                    }
                    _ => {}
                }
                let acceptor = acceptor.clone();
                let behaviour = behaviour.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    match behaviour {
                        Behaviour::Garbage => {
                            let _ = tls
                                .write_all(b"\x00\x01garbage that is not HTTP\r\n\r\n")
                                .await;
                            let _ = tls.shutdown().await;
                        }
                        Behaviour::Oversized { declare_length } => {
                            let mut buf = [0u8; 1024];
                            let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
                            let size = 200 * 1024;
                            let head = if declare_length {
                                format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n")
                            } else {
                                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned()
                            };
                            let _ = tls.write_all(head.as_bytes()).await;
                            let chunk = vec![b'x'; 8192];
                            for _ in 0..(size / 8192) {
                                if declare_length {
                                    let _ = tls.write_all(&chunk).await;
                                } else {
                                    let _ = tls.write_all(b"2000\r\n").await;
                                    let _ = tls.write_all(&chunk).await;
                                    let _ = tls.write_all(b"\r\n").await;
                                }
                            }
                        }
                        Behaviour::Slow => {
                            let mut buf = [0u8; 1024];
                            let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut buf).await;
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Behaviour::Answer(handler) => {
                            let (_, conn) = tls.get_ref();
                            let resumed =
                                conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                            let tls_version = conn.protocol_version();
                            let service =
                                service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                    let handler = handler.clone();
                                    let seen = seen.clone();
                                    async move {
                                        let (parts, body) = req.into_parts();
                                        let body = body
                                            .collect()
                                            .await
                                            .map(|b| b.to_bytes())
                                            .unwrap_or_default();
                                        let s = Seen {
                                            method: parts.method.to_string(),
                                            path_and_query: parts
                                                .uri
                                                .path_and_query()
                                                .map(|p| p.to_string())
                                                .unwrap_or_default(),
                                            headers: parts
                                                .headers
                                                .iter()
                                                .map(|(k, v)| {
                                                    (
                                                        k.to_string(),
                                                        v.to_str().unwrap_or("").to_owned(),
                                                    )
                                                })
                                                .collect(),
                                            body: String::from_utf8_lossy(&body).into_owned(),
                                            resumed,
                                            tls_version,
                                        };
                                        let (status, text) = handler(&s);
                                        seen.lock().unwrap().push(s);
                                        let resp = hyper::Response::builder()
                                            .status(status)
                                            .header("content-type", "application/xml")
                                            .body(Full::new(Bytes::from(text)))
                                            .unwrap();
                                        Ok::<_, std::convert::Infallible>(resp)
                                    }
                                });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                        }
                        Behaviour::AcceptAndDrop | Behaviour::Reset => {}
                    }
                });
            }
        });
        TestServer { addr, seen, task }
    }

    /// Requests answered so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// A handler answering every request with the same status and body.
pub(crate) fn fixed(status: u16, body: &str) -> Behaviour {
    let body = body.to_owned();
    Behaviour::Answer(Arc::new(move |_| (status, body.clone())))
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub(crate) async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}
