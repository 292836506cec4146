//! One client connection of the status socket or pipe, the same on every
//! OS: read the request line (bounded), answer it, send the reply line and
//! drain what the client may still send. The unix socket and the Windows
//! pipe differ only in how they accept and who they let in.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Answerer, IO_TIMEOUT, MAX_REQUEST_BYTES};

/// How much late client input is read and discarded after the reply.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// Serves one connected client: reads its request line and sends the reply
/// line, as the unix socket does.
/// `owner`: the client is the user who runs the agent (only the owner may
/// ask for a reassessment).
pub(super) async fn serve<S>(mut stream: S, answer: &Answerer, owner: bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reply = match tokio::time::timeout(IO_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(Some(request))) => answer.answer(&request, owner).await,
        Ok(Ok(None)) => super::error_line(&format!(
            "the request is longer than {MAX_REQUEST_BYTES} bytes"
        )),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "status client: read failed");
            return;
        }
        Err(_) => super::error_line(&format!(
            "no request line within {}",
            humantime::format_duration(IO_TIMEOUT)
        )),
    };
    finish(stream, &reply).await;
}

/// Reads up to the first newline (or end of stream); `None` when the line is
/// longer than [`MAX_REQUEST_BYTES`].
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Some(buf));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            if end > MAX_REQUEST_BYTES {
                return Ok(None);
            }
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Ok(None);
        }
    }
}

/// Sends the reply line, then reads and discards what the client may still
/// send until it closes (bounded in bytes and time), so that the client has
/// the whole line before the server's end goes away.
pub(super) async fn finish<S>(mut stream: S, line: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let send = async {
        stream.write_all(line.as_bytes()).await?;
        stream.write_all(b"\n").await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    match tokio::time::timeout(IO_TIMEOUT, send).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "status client: did not take the reply");
            return;
        }
        Err(_) => {
            tracing::debug!("status client: did not take the reply in time");
            return;
        }
    }
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut left = MAX_DRAIN_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(IO_TIMEOUT, drain).await;
}
