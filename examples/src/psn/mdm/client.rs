//! The MDM client: HTTPS only (rustls, *ring*), HTTP/1.1 through hyper, basic
//! authentication, an optional HTTP CONNECT proxy, and two timeouts: the TCP
//! connect timeout and the device compliance timeout (each request/reply
//! exchange, TLS handshake included). One connection per request, as a poll
//! is rare and the next one may go through another proxy path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::{API_VERSION, MdmSettings, host_for_url};
use super::xml::{DeviceQuery, DeviceReply, ServerInfo, XmlError};

/// Largest reply read from the MDM (a 1000-device batch is ~250 KiB).
pub const MAX_MDM_REPLY: usize = 1024 * 1024;
/// Largest proxy answer to CONNECT.
const MAX_PROXY_HEADER: usize = 8 * 1024;

/// What went wrong talking to the MDM; [`super::diagnose`] explains each.
#[derive(Debug, thiserror::Error)]
pub enum MdmError {
    /// The CA file could not be loaded.
    #[error("cannot load the MDM CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The host name did not resolve.
    #[error("DNS lookup of {host} failed: {message}")]
    Dns {
        /// The host (the MDM's, or the proxy's).
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// No TCP connection within the connect timeout.
    #[error("TCP connection to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// `host:port` tried.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// The TCP connection was refused or failed.
    #[error("TCP connection to {addr} failed: {message}")]
    Connect {
        /// `host:port` tried.
        addr: String,
        /// The OS error.
        message: String,
    },
    /// The proxy did not accept the CONNECT request.
    #[error("the proxy {proxy} refused CONNECT {target}: {answer}")]
    ProxyRefused {
        /// The proxy.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// The proxy's status line, or what went wrong.
        answer: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with {host} failed: {problem}")]
    Tls {
        /// The MDM host.
        host: String,
        /// The certificate problem, named.
        problem: String,
    },
    /// No reply within the device compliance timeout.
    #[error("no reply within the device compliance timeout of {after:?}")]
    Timeout {
        /// The timeout.
        after: Duration,
    },
    /// HTTP-level failure after the connection was made.
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    /// 401 Unauthorized.
    #[error("401 Unauthorized")]
    Unauthorized,
    /// 404 Not Found.
    #[error("404 Not Found")]
    NotFound,
    /// Any other non-200 status.
    #[error("unexpected HTTP status {0}")]
    Status(StatusCode),
    /// The reply is larger than [`MAX_MDM_REPLY`].
    #[error("the reply is larger than {MAX_MDM_REPLY} bytes")]
    TooLarge,
    /// The reply is not the expected document.
    #[error("invalid reply: {0}")]
    BadReply(#[from] XmlError),
    /// The reply is well-formed but inconsistent with the query.
    #[error("inconsistent reply: {0}")]
    Inconsistent(String),
    /// The MDM speaks an older API version.
    #[error("the MDM speaks API version {theirs}; psn-lab needs version {ours} or later")]
    ApiVersion {
        /// The MDM's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
}

/// A failure with the URL that was tried (password never included).
#[derive(Debug, thiserror::Error)]
#[error("{error} (URL {url})")]
pub struct MdmFailure {
    /// `https://user@host:port/path`.
    pub url: String,
    /// What went wrong.
    pub error: MdmError,
}

/// The client of one MDM.
#[derive(Clone)]
pub struct MdmClient {
    settings: Arc<MdmSettings>,
    tls: TlsConnector,
    auth: String,
}

impl std::fmt::Debug for MdmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdmClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Standard base64 (RFC 4648) of `input`, for the basic authentication header.
pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `Authorization` value for a user and password.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

fn tls_problem(e: &std::io::Error, settings: &MdmSettings) -> String {
    use rustls::CertificateError as C;
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::UnknownIssuer => format!(
                "the MDM's certificate is not issued by a CA in {} (unknown issuer): give the CA that issued the MDM's certificate",
                settings.ca_file.display()
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the MDM's certificate does not name {} (name mismatch): use the host name the certificate was issued for",
                settings.host
            ),
            C::Expired | C::ExpiredContext { .. } => "the MDM's certificate has expired".to_owned(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the MDM's certificate is not valid yet (check the clocks)".to_owned()
            }
            C::Revoked => "the MDM's certificate is revoked".to_owned(),
            C::BadSignature => "the MDM's certificate has a bad signature".to_owned(),
            other => format!("the MDM's certificate is refused: {other:?}"),
        },
        Some(other) => format!("{other}"),
        None => format!(
            "{e} (the peer closed the connection or does not speak TLS on port {})",
            settings.port
        ),
    }
}

impl MdmClient {
    /// A client for validated settings; loads the CA file.
    pub fn new(settings: MdmSettings) -> Result<Self, MdmError> {
        let ca_err = |m: String| MdmError::CaFile {
            path: settings.ca_file.display().to_string(),
            message: m,
        };
        let config = crate::common::tls::client_config(&settings.ca_file)
            .map_err(|e| ca_err(e.to_string()))?;
        let auth = basic_auth(&settings.username, &settings.password);
        Ok(MdmClient {
            settings: Arc::new(settings),
            tls: TlsConnector::from(Arc::new(config)),
            auth,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &MdmSettings {
        &self.settings
    }

    async fn tcp(&self, host: &str, port: u16) -> Result<TcpStream, MdmError> {
        let s = &self.settings;
        let addr_text = format!("{}:{port}", host_for_url(host));
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(s.connect_timeout, tokio::net::lookup_host((host, port)))
                .await
            {
                Ok(Ok(a)) => a.collect(),
                Ok(Err(e)) => {
                    return Err(MdmError::Dns {
                        host: host.to_owned(),
                        message: e.to_string(),
                    });
                }
                Err(_) => {
                    return Err(MdmError::Dns {
                        host: host.to_owned(),
                        message: format!("no answer within {:?}", s.connect_timeout),
                    });
                }
            };
        let mut last = MdmError::Dns {
            host: host.to_owned(),
            message: "no address".into(),
        };
        for addr in addrs {
            match tokio::time::timeout(s.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => {
                    last = MdmError::Connect {
                        addr: addr_text.clone(),
                        message: e.to_string(),
                    }
                }
                Err(_) => {
                    last = MdmError::ConnectTimeout {
                        addr: addr_text.clone(),
                        after: s.connect_timeout,
                    }
                }
            }
        }
        Err(last)
    }

    /// Asks the proxy for a tunnel to the MDM; returns the stream once the proxy answered 200.
    async fn tunnel(&self, mut stream: TcpStream, proxy: &str) -> Result<TcpStream, MdmError> {
        let s = &self.settings;
        let target = format!("{}:{}", host_for_url(&s.host), s.port);
        let refused = |answer: String| MdmError::ProxyRefused {
            proxy: proxy.to_owned(),
            target: target.clone(),
            answer,
        };
        let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| refused(format!("cannot send CONNECT: {e}")))?;
        // Read byte by byte up to the blank line, so no TLS byte is consumed here.
        let mut head = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_PROXY_HEADER {
                return Err(refused("the proxy's answer has no end of headers".into()));
            }
            match stream.read(&mut byte).await {
                Ok(0) => {
                    return Err(refused(
                        "the proxy closed the connection without answering".into(),
                    ));
                }
                Ok(_) => head.push(byte[0]),
                Err(e) => return Err(refused(format!("reading the proxy's answer: {e}"))),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let status_line = text.lines().next().unwrap_or_default().trim().to_owned();
        let code = status_line.split_whitespace().nth(1).unwrap_or_default();
        if code != "200" {
            return Err(refused(status_line));
        }
        Ok(stream)
    }

    async fn exchange_inner(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Bytes, MdmError> {
        let s = &self.settings;
        let stream = match &s.proxy {
            Some((ph, pp)) => {
                let tcp = self.tcp(ph, *pp).await?;
                let proxy = format!("{}:{pp}", host_for_url(ph));
                tokio::time::timeout(s.compliance_timeout, self.tunnel(tcp, &proxy))
                    .await
                    .map_err(|_| MdmError::Timeout {
                        after: s.compliance_timeout,
                    })??
            }
            None => self.tcp(&s.host, s.port).await?,
        };
        let exchange = async {
            let name = ServerName::try_from(s.host.clone()).map_err(|e| MdmError::Tls {
                host: s.host.clone(),
                problem: format!("{:?} is not a valid TLS server name: {e}", s.host),
            })?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| MdmError::Tls {
                    host: s.host.clone(),
                    problem: tls_problem(&e, s),
                })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| MdmError::Http(e.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(
                    header::HOST,
                    format!("{}:{}", host_for_url(&s.host), s.port),
                )
                .header(header::AUTHORIZATION, &self.auth)
                .header(header::ACCEPT, "application/xml")
                .header(
                    header::USER_AGENT,
                    concat!("psn-lab/", env!("CARGO_PKG_VERSION")),
                );
            if body.is_some() {
                req = req.header(header::CONTENT_TYPE, "application/xml");
            }
            let req = req
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| MdmError::Http(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| MdmError::Http(e.to_string()))?;
            match resp.status() {
                StatusCode::OK => {}
                StatusCode::UNAUTHORIZED => return Err(MdmError::Unauthorized),
                StatusCode::NOT_FOUND => return Err(MdmError::NotFound),
                other => return Err(MdmError::Status(other)),
            }
            let bytes = Limited::new(resp.into_body(), MAX_MDM_REPLY)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        MdmError::TooLarge
                    } else {
                        MdmError::Http(e.to_string())
                    }
                })?
                .to_bytes();
            Ok(bytes)
        };
        tokio::time::timeout(s.compliance_timeout, exchange)
            .await
            .map_err(|_| MdmError::Timeout {
                after: s.compliance_timeout,
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Bytes, MdmFailure> {
        self.exchange_inner(method, path, body)
            .await
            .map_err(|error| MdmFailure {
                url: self.settings.url_of(path),
                error,
            })
    }

    /// The server info query (ISE's "Test Connection" and the start of every poll).
    pub async fn server_info(&self) -> Result<ServerInfo, MdmFailure> {
        let path = format!(
            "{}/ciscoise/mdminfo/?ise_api_version={API_VERSION}",
            self.settings.instance
        );
        let body = self.exchange(Method::GET, &path, None).await?;
        let fail = |error| MdmFailure {
            url: self.settings.url_of(&path),
            error,
        };
        let info = ServerInfo::from_xml(&body).map_err(|e| fail(e.into()))?;
        if info.api_version < API_VERSION {
            return Err(fail(MdmError::ApiVersion {
                theirs: info.api_version,
                ours: API_VERSION,
            }));
        }
        Ok(info)
    }

    /// One device query of at most `info.query_max_size` identifiers of one kind.
    pub async fn devices(
        &self,
        info: &ServerInfo,
        criteria: &str,
        values: &[String],
    ) -> Result<DeviceReply, MdmFailure> {
        let path = format!("{}/devices/?querycriteria={criteria}", info.api_path);
        let fail = |error| MdmFailure {
            url: self.settings.url_of(&path),
            error,
        };
        if values.len() > info.query_max_size {
            return Err(fail(MdmError::Inconsistent(format!(
                "{} identifiers in one query, the MDM accepts {}",
                values.len(),
                info.query_max_size
            ))));
        }
        let body = DeviceQuery {
            values: values.to_vec(),
        }
        .to_xml();
        let bytes = self.exchange(Method::POST, &path, Some(body)).await?;
        let reply = DeviceReply::from_xml(&bytes, criteria).map_err(|e| fail(e.into()))?;
        if reply.devices.len() > values.len() {
            return Err(fail(MdmError::Inconsistent(format!(
                "{} devices in the reply to a query for {}",
                reply.devices.len(),
                values.len()
            ))));
        }
        if let Some(d) = reply.devices.iter().find(|d| !values.contains(&d.id)) {
            return Err(fail(MdmError::Inconsistent(format!(
                "the reply names device {:?}, which was not asked for",
                d.id.chars().take(64).collect::<String>()
            ))));
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
