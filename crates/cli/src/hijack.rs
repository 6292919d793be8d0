//! Hijacked connections for attach: the request is written by hand on a fresh unix socket
//! connection with `Connection: Upgrade` / `Upgrade: tcp`, and once the daemon answers
//! `101 UPGRADED` (or, from older daemons, `200 OK` with a raw stream) the socket carries stdin
//! one way and the container's output the other. Writing the HTTP exchange ourselves keeps the
//! socket whole, so that closing our write side tells the daemon stdin has ended.

use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::client::{Client, ClientError};

/// The two halves of a hijacked connection.
pub struct Hijacked {
    pub reader: HijackReader,
    pub writer: OwnedWriteHalf,
}

/// The output side: bytes the daemon sent after its response head, then the socket. A daemon
/// that answered `200` with a chunked body is de-chunked here.
pub struct HijackReader {
    /// Raw bytes read along with the response head, not yet decoded.
    pending: Vec<u8>,
    /// Decoded stream bytes not yet handed out.
    ready: Vec<u8>,
    inner: OwnedReadHalf,
    chunked: Option<Dechunk>,
}

impl HijackReader {
    fn new(pending: Vec<u8>, inner: OwnedReadHalf, chunked: bool) -> HijackReader {
        HijackReader {
            pending,
            ready: Vec::new(),
            inner,
            chunked: chunked.then(Dechunk::default),
        }
    }

    /// Reads stream bytes into `buf`; 0 means the daemon closed the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if !self.ready.is_empty() {
                let n = self.ready.len().min(buf.len());
                buf[..n].copy_from_slice(&self.ready[..n]);
                self.ready.drain(..n);
                return Ok(n);
            }
            let raw = if !self.pending.is_empty() {
                std::mem::take(&mut self.pending)
            } else {
                let mut tmp = vec![0u8; buf.len().max(4096)];
                let n = self.inner.read(&mut tmp).await?;
                if n == 0 {
                    return Ok(0);
                }
                tmp.truncate(n);
                tmp
            };
            match &mut self.chunked {
                Some(d) => {
                    self.ready = d.feed(&raw)?;
                    if self.ready.is_empty() && d.done {
                        return Ok(0);
                    }
                }
                None => self.ready = raw,
            }
        }
    }
}

/// Decodes HTTP/1.1 chunked transfer encoding incrementally.
#[derive(Default)]
struct Dechunk {
    buf: Vec<u8>,
    remaining: usize,
    in_data: bool,
    done: bool,
}

impl Dechunk {
    fn feed(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.buf.extend_from_slice(data);
        loop {
            if self.done {
                return Ok(out);
            }
            if self.in_data {
                let n = self.remaining.min(self.buf.len());
                out.extend(self.buf.drain(..n));
                self.remaining -= n;
                if self.remaining > 0 || self.buf.len() < 2 {
                    return Ok(out);
                }
                self.buf.drain(..2);
                self.in_data = false;
                continue;
            }
            let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                return Ok(out);
            };
            let line = String::from_utf8_lossy(&self.buf[..pos]).to_string();
            self.buf.drain(..pos + 2);
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::other("malformed chunked encoding"))?;
            if size == 0 {
                self.done = true;
            } else {
                self.remaining = size;
                self.in_data = true;
            }
        }
    }
}

impl Client {
    /// POSTs `path` (unversioned: the negotiated version prefix is added) asking to hijack the
    /// connection. Error statuses become [`ClientError::Daemon`] as for any other request.
    pub async fn hijack(
        &self,
        path: &str,
        json_body: Option<&serde_json::Value>,
    ) -> Result<Hijacked, ClientError> {
        match self.hijack_once(path, json_body).await {
            // Nothing was hijacked: the daemon refused our API version, and said its own.
            Err(e) if self.settle_from_refusal(&e) => self.hijack_once(path, json_body).await,
            r => r,
        }
    }

    async fn hijack_once(
        &self,
        path: &str,
        json_body: Option<&serde_json::Value>,
    ) -> Result<Hijacked, ClientError> {
        let stream = UnixStream::connect(self.socket())
            .await
            .map_err(|_| ClientError::Connect(self.socket().to_path_buf()))?;
        let (content_type, body) = match json_body {
            Some(v) => (
                "application/json",
                serde_json::to_vec(v).unwrap_or_default(),
            ),
            None => ("text/plain", Vec::new()),
        };
        let head = format!(
            "POST /v{}{path} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/{}\r\nContent-Length: {}\r\nConnection: Upgrade\r\nContent-Type: {content_type}\r\nUpgrade: tcp\r\n\r\n",
            self.api_version(),
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        let (mut r, mut w) = stream.into_split();
        let io = |e: std::io::Error| ClientError::Http(e.to_string());
        w.write_all(head.as_bytes()).await.map_err(io)?;
        w.write_all(&body).await.map_err(io)?;
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            if buf.len() > 64 * 1024 {
                return Err(ClientError::Http("response head too large".into()));
            }
            let mut tmp = [0u8; 4096];
            let n = r.read(&mut tmp).await.map_err(io)?;
            if n == 0 {
                return Err(ClientError::Http(
                    "the daemon closed the connection before answering".into(),
                ));
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let rest = buf[head_end + 4..].to_vec();
        let (status, headers) = parse_head(&head)?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let chunked =
            header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if status == StatusCode::SWITCHING_PROTOCOLS || status == StatusCode::OK {
            return Ok(Hijacked {
                reader: HijackReader::new(rest, r, status == StatusCode::OK && chunked),
                writer: w,
            });
        }
        let mut reader = HijackReader::new(rest, r, chunked);
        let limit = header("Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
        let mut body = Vec::new();
        let mut tmp = [0u8; 4096];
        while limit.is_none_or(|l| body.len() < l) {
            match reader.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&tmp[..n]),
            }
        }
        if let Some(l) = limit {
            body.truncate(l);
        }
        Err(crate::client::daemon_error(status, &body))
    }
}

fn parse_head(head: &str) -> Result<(StatusCode, Vec<(String, String)>), ClientError> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ClientError::Http(format!("malformed response: {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok((code, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_response_heads() {
        let (s, h) = parse_head("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp").unwrap();
        assert_eq!(s, StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            h[0],
            (
                "Content-Type".into(),
                "application/vnd.docker.raw-stream".into()
            )
        );
        assert!(parse_head("garbage").is_err());
    }

    #[test]
    fn dechunks_across_reads() {
        let wire = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        for cut in 0..wire.len() {
            let mut d = Dechunk::default();
            let mut out = d.feed(&wire[..cut]).unwrap();
            out.extend(d.feed(&wire[cut..]).unwrap());
            assert_eq!(out, b"hello world", "cut at {cut}");
            assert!(d.done);
        }
    }
}
