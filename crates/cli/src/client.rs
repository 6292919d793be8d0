//! The Engine API over a unix socket, the way the docker CLI uses it: versioned requests, with
//! the daemon's API version negotiated as the docker CLI does (the lower of the two). Unlike
//! the docker CLI, no `HEAD /_ping` comes first: requests go out at our version, and a daemon
//! older than us refuses the first one with its own maximum, which is then used (a round trip
//! saved on every command against a berthd of the same version). Built on hyper directly so
//! that streamed bodies (pull progress, save) stay in our hands; hijacked connections are in
//! `hijack.rs`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    /// The version requests are sent at; `None` until a daemon's answer has settled it.
    negotiated: Arc<Mutex<Option<String>>>,
}

impl Client {
    /// `host` is `unix:///path`; nothing is sent until the first request.
    pub async fn connect(host: &str) -> anyhow::Result<Client> {
        let socket = match host.strip_prefix("unix://") {
            Some(p) => PathBuf::from(p),
            None if host.starts_with('/') => PathBuf::from(host),
            None => anyhow::bail!("unsupported host {host:?}: berth talks to berthd over a unix socket (unix:///path)"),
        };
        Ok(Client {
            socket,
            negotiated: Arc::new(Mutex::new(None)),
        })
    }

    fn settled(&self) -> bool {
        self.negotiated.lock().unwrap().is_some()
    }

    fn settle(&self, version: &str) {
        let v = if version_lt(version, CLIENT_API_VERSION) {
            version
        } else {
            CLIENT_API_VERSION
        };
        *self.negotiated.lock().unwrap() = Some(v.to_string());
    }

    /// Asks the daemon its version with `HEAD /_ping`, for requests that cannot be sent twice
    /// (a streamed body).
    async fn ping(&self) -> Result<(), ClientError> {
        let resp = self.raw(Method::HEAD, "/_ping", empty(), &[]).await?;
        let v = resp
            .headers()
            .get("Api-Version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(CLIENT_API_VERSION)
            .to_string();
        self.settle(&v);
        Ok(())
    }

    /// Learns from a refusal the daemon's maximum API version, if that is what it says.
    pub(crate) fn settle_from_refusal(&self, err: &ClientError) -> bool {
        if self.settled() {
            return false;
        }
        let ClientError::Daemon { status, message } = err else {
            return false;
        };
        let Some(max) = (*status == StatusCode::BAD_REQUEST)
            .then(|| max_version_in_refusal(message))
            .flatten()
        else {
            return false;
        };
        self.settle(max);
        true
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
        if self.settled() {
            return self.send(method, path, body, headers).await;
        }
        if hyper::body::Body::size_hint(&body).exact().is_none() {
            self.ping().await?;
            return self.send(method, path, body, headers).await;
        }
        // A body of known size is in memory already: it can go again if the version is refused.
        let bytes = body
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        match self
            .send(method.clone(), path, full(bytes.clone()), headers)
            .await
        {
            Err(e) if self.settle_from_refusal(&e) => {
                self.send(method, path, full(bytes), headers).await
            }
            Err(e) => Err(e),
            Ok(resp) => {
                // Our version was accepted: it is the lower of the two.
                self.settle(CLIENT_API_VERSION);
                Ok(resp)
            }
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        let resp = self
            .raw(
                method,
                &format!("/v{}{path}", self.api_version()),
                body,
                headers,
            )
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

    /// The API version requests go out at: the negotiated one, or ours until then.
    pub fn api_version(&self) -> String {
        self.negotiated
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| CLIENT_API_VERSION.to_string())
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

/// The maximum in a daemon's refusal of a version too new for it, as dockerd and berthd word
/// it: "client version 1.47 is too new. Maximum supported API version is 1.41".
fn max_version_in_refusal(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("Maximum supported API version is ")?;
    let v = rest.trim().trim_end_matches('.');
    let (major, minor) = v.split_once('.')?;
    (major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok()).then_some(v)
}

fn version_lt(a: &str, b: &str) -> bool {
    let p = |s: &str| -> (u32, u32) {
        let (x, y) = s.split_once('.').unwrap_or((s, "0"));
        (x.parse().unwrap_or(0), y.parse().unwrap_or(0))
    };
    p(a) < p(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maximum_is_read_from_dockerds_and_berthds_refusals() {
        assert_eq!(
            max_version_in_refusal(
                "client version 1.47 is too new. Maximum supported API version is 1.41"
            ),
            Some("1.41")
        );
        assert_eq!(max_version_in_refusal("No such container: x"), None);
        assert_eq!(
            max_version_in_refusal("Maximum supported API version is soon"),
            None
        );
    }

    #[test]
    fn a_refusal_settles_the_version_once() {
        let c = Client {
            socket: PathBuf::from("/nonexistent"),
            negotiated: Arc::new(Mutex::new(None)),
        };
        assert_eq!(c.api_version(), CLIENT_API_VERSION);
        let other = ClientError::Daemon {
            status: StatusCode::BAD_REQUEST,
            message: "invalid reference format".into(),
        };
        assert!(!c.settle_from_refusal(&other));
        let refusal = ClientError::Daemon {
            status: StatusCode::BAD_REQUEST,
            message: "client version 1.47 is too new. Maximum supported API version is 1.41".into(),
        };
        assert!(c.settle_from_refusal(&refusal));
        assert_eq!(c.api_version(), "1.41");
        // Settled: a second refusal is a real error, not a reason to retry again.
        assert!(!c.settle_from_refusal(&refusal));
    }
}
