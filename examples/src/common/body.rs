//! Reading request bodies with a cap, politely (and, for the fault modes,
//! writing oversized reply bodies: [`padded_xml`]).
//!
//! A body over the cap is refused (413), but the rest of it is still read and
//! discarded (up to [`DRAIN_LIMIT`] and [`DRAIN_TIMEOUT`]) before the answer:
//! closing a connection with unread request bytes makes the kernel send a
//! reset, and the client could lose the 413 that explains its error.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header;
use http_body_util::BodyExt;
use hyper::body::Body;

/// Most bytes read and discarded from a refused body.
pub const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
/// Longest time spent discarding a refused body.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over the cap.
    #[error("request body too large (at most {max} bytes)")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The connection failed while reading.
    #[error("cannot read the request body: {0}")]
    Read(String),
}

/// An oversized reply body of exactly `size` bytes (when `head` and `tail` fit
/// in it): `head`, `x` padding, `tail`. Well-formed XML when `head` and `tail`
/// are, so that a client fails on the size and not on the syntax.
pub fn padded_xml(head: &str, tail: &str, size: usize) -> Bytes {
    let mut s = String::with_capacity(size);
    s.push_str(head);
    s.extend(std::iter::repeat_n(
        'x',
        size.saturating_sub(head.len() + tail.len()),
    ));
    s.push_str(tail);
    Bytes::from(s)
}

/// Reads a request body of at most `max` bytes.
pub async fn read_capped<B>(req: http::Request<B>, max: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut too_large = declared.is_some_and(|n| n > max as u64);
    let mut body = Box::pin(req.into_body());
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Read(e.into().to_string()))?;
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.remaining());
                if seen > max {
                    too_large = true;
                }
                if !too_large {
                    buf.put(data);
                }
                if too_large && seen > DRAIN_LIMIT {
                    break;
                }
            }
        }
        Ok::<(), BodyError>(())
    };
    match tokio::time::timeout(DRAIN_TIMEOUT, read).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if !too_large => return Err(e),
        Ok(Err(_)) => {}
        Err(_) if !too_large => {
            return Err(BodyError::Read("timed out reading the body".into()));
        }
        Err(_) => {}
    }
    if too_large {
        Err(BodyError::TooLarge { max })
    } else {
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn req(body: Vec<u8>, declared: Option<&str>) -> http::Request<Full<Bytes>> {
        let mut b = http::Request::post("/x");
        if let Some(d) = declared {
            b = b.header(header::CONTENT_LENGTH, d);
        }
        b.body(Full::new(Bytes::from(body))).unwrap()
    }

    #[test]
    fn a_padded_body_has_exactly_the_size_asked_between_head_and_tail() {
        let body = padded_xml("<a>", "</a>", 4096);
        assert_eq!(body.len(), 4096);
        assert!(body.starts_with(b"<a>xx") && body.ends_with(b"xx</a>"));
    }

    #[tokio::test]
    async fn caps_and_drains() {
        let ok = read_capped(req(vec![1; 10], None), 10).await.unwrap();
        assert_eq!(ok.len(), 10);
        assert!(matches!(
            read_capped(req(vec![1; 11], None), 10).await,
            Err(BodyError::TooLarge { max: 10 })
        ));
        assert!(matches!(
            read_capped(req(vec![1; 5], Some("999999")), 10).await,
            Err(BodyError::TooLarge { .. })
        ));
        assert!(
            read_capped(req(Vec::new(), None), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
