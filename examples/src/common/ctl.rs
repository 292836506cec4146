//! `psn-lab ctl`: a small client of the admin API that reads the address from
//! `DIR/ready.json` and the token from `DIR/admin-token`.

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::common::admin_http::AdminToken;
use crate::common::error::LabError;
use crate::common::fsutil;
use crate::common::ready::Ready;

/// A client of one lab's admin API. (`Debug` is safe: [`AdminToken`] redacts itself.)
#[derive(Debug, Clone)]
pub struct AdminClient {
    addr: SocketAddr,
    token: AdminToken,
}

impl AdminClient {
    /// A client for an address and token.
    pub fn new(addr: SocketAddr, token: impl Into<String>) -> Self {
        AdminClient {
            addr,
            token: AdminToken::new(token.into()),
        }
    }

    /// A client for the lab running in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, LabError> {
        let ready = Ready::read(dir)?;
        let token = fsutil::read_text(&ready.admin_token, "admin token")?;
        Ok(AdminClient::new(ready.admin, token.trim()))
    }

    fn fail(&self, message: impl std::fmt::Display) -> LabError {
        LabError::Admin {
            addr: self.addr.to_string(),
            message: message.to_string(),
        }
    }

    /// One call: returns the status and the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), LabError> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| self.fail(format!("cannot connect: {e} (is `psn-lab serve` running?)")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.fail(e))?;
        tokio::spawn(conn);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string())
            .header(header::AUTHORIZATION, self.token.authorization())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.fail(e))?;
        let resp = sender.send_request(req).await.map_err(|e| self.fail(e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.fail(e))?
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }

    /// A call that must succeed (2xx); the error carries the API's message.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, LabError> {
        let (status, value) = self.call(method, path, body).await?;
        if status.is_success() {
            Ok(value)
        } else {
            let msg = value
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| value.to_string(), str::to_owned);
            Err(self.fail(format!("{status}: {msg}")))
        }
    }
}
