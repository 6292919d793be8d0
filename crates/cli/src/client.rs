//! The Engine API over a unix socket, the way the docker CLI uses it: one `HEAD /_ping` to learn
//! the daemon's API version, then versioned requests. Built on hyper directly so that streamed
//! bodies (pull progress, save) stay in our hands; hijacked connections are in `hijack.rs`.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// The newest API version this client speaks.
pub const CLIENT_API_VERSION: &str = "1.47";

/// A failure talking to the daemon, worded like the docker CLI's.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the berth daemon at unix://{}. Is the berth daemon running?", .0.display())]
    Connect(PathBuf),
    /// The daemon answered with an error status and `{"message"}`.
    #[error("Error response from daemon: {message}")]
    Daemon { status: StatusCode, message: String },
    #[error("error during connect: {0}")]
    Http(String),
}

pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    version: String,
}

impl Client {
    /// Connects lazily: `host` is `unix:///path`; the API version is negotiated on first use.
    pub async fn connect(host: &str) -> anyhow::Result<Client> {
        let socket = match host.strip_prefix("unix://") {
            Some(p) => PathBuf::from(p),
            None if host.starts_with('/') => PathBuf::from(host),
            None => anyhow::bail!("unsupported host {host:?}: berth talks to berthd over a unix socket (unix:///path)"),
        };
        let mut c = Client {
            socket,
            version: CLIENT_API_VERSION.to_string(),
        };
        let resp = c.raw(Method::HEAD, "/_ping", empty(), &[]).await?;
        if let Some(v) = resp
            .headers()
            .get("Api-Version")
            .and_then(|v| v.to_str().ok())
        {
            if version_lt(v, CLIENT_API_VERSION) {
                c.version = v.to_string();
            }
        }
        Ok(c)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|_| ClientError::Connect(self.socket.clone()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "berth")
            .header(
                "User-Agent",
                concat!("berth-cli/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))
    }

    /// Sends a versioned request; error statuses become [`ClientError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        let resp = self
            .raw(method, &format!("/v{}{path}", self.version), body, headers)
            .await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(daemon_error(status, &bytes));
        }
        Ok(resp)
    }

    /// The socket this client talks to.
    pub(crate) fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// The API version negotiated with the daemon, used as the `/vX.Y` path prefix.
    pub fn api_version(&self) -> &str {
        &self.version
    }

    /// A POST without a body whose answer carries nothing we need (start, stop, kill, …).
    pub async fn post(&self, path: &str) -> Result<(), ClientError> {
        let resp = self.request(Method::POST, path, empty(), &[]).await?;
        let _ = resp.into_body().collect().await;
        Ok(())
    }

    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let resp = self.request(Method::GET, path, empty(), &[]).await?;
        read_json(resp).await
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let (b, headers) = match body {
            Some(v) => (
                full(serde_json::to_vec(v).unwrap()),
                vec![("Content-Type", "application/json".to_string())],
            ),
            None => (empty(), vec![]),
        };
        let resp = self.request(method, path, b, &headers).await?;
        read_json(resp).await
    }
}

/// The error for a failed response: the daemon's `{"message"}`, or its body as text.
pub fn daemon_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    ClientError::Daemon { status, message }
}

pub async fn read_json(resp: Response<Incoming>) -> Result<serde_json::Value, ClientError> {
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Http(format!("invalid JSON from daemon: {e}")))
}

pub fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body read from `reader` as it is sent (load, import).
pub fn streaming(reader: impl tokio::io::AsyncRead + Send + 'static) -> Body {
    use futures::StreamExt;
    let s = tokio_util_reader(reader).map(|r| r.map(Frame::data));
    StreamBody::new(s).boxed_unsync()
}

fn tokio_util_reader(
    reader: impl tokio::io::AsyncRead + Send + 'static,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold(
        (Box::pin(reader), vec![0u8; 64 * 1024]),
        |(mut r, mut buf)| async move {
            match r.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => Some((Ok(Bytes::copy_from_slice(&buf[..n])), (r, buf))),
                Err(e) => Some((Err(e), (r, buf))),
            }
        },
    )
}

/// Percent-encodes a query value.
pub fn q(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn version_lt(a: &str, b: &str) -> bool {
    let p = |s: &str| -> (u32, u32) {
        let (x, y) = s.split_once('.').unwrap_or((s, "0"));
        (x.parse().unwrap_or(0), y.parse().unwrap_or(0))
    };
    p(a) < p(b)
}
