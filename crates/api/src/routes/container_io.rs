//! The streams of a container: attach (101 hijack), wait, logs.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_container::attach::AttachStreams;
use berth_runtime::logfile::{self, LogEntry};
use berth_runtime::shim::protocol::{frame_header, parse_frame_header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::SharedState;

const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
const RAW: &str = "application/vnd.docker.raw-stream";
/// How long an attach connection is read after its output ended, waiting for the client to
/// hang up.
const LINGER: Duration = Duration::from_secs(2);

pub(crate) fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "True"))
}

#[derive(Deserialize)]
pub struct AttachQuery {
    stream: Option<String>,
    stdin: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    #[serde(rename = "detachKeys")]
    detach_keys: Option<String>,
}

/// `POST /containers/{id}/attach`: answers 101 and turns the connection into the container's
/// stdio. Attaching to a container that is not running waits for its next start.
pub async fn attach(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<AttachQuery>,
    mut req: Request,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    if !flag(&q.stream) {
        return Err(ApiError::not_implemented(
            "attach without stream=1 (logs only)",
        ));
    }
    let detach = parse_detach_keys(q.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q"))
        .ok_or_else(|| ApiError::bad_request("Invalid detach keys"))?;
    let streams = AttachStreams {
        stdin: flag(&q.stdin) && c.config.open_stdin,
        stdout: flag(&q.stdout),
        stderr: flag(&q.stderr),
    };
    if !wants_upgrade(&req) {
        return Err(ApiError::bad_request(
            "attach needs a connection upgrade (Upgrade: tcp)",
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let wait = st.containers.attach(&c.id, streams).await?;
    let tty = c.config.tty;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let client = TokioIo::new(upgraded);
        match wait.stream().await {
            Ok(shim) => {
                let ended = std::future::ready(());
                pump(client, shim, tty, streams.stdin, detach, ended).await
            }
            // The start that was awaited failed: its own answer carries the error, and the
            // stream just ends, as with dockerd.
            Err(_) => {
                let mut client = client;
                let _ = client.shutdown().await;
            }
        }
    });
    Ok(switching_protocols(tty))
}

/// Whether the client asked to hijack the connection (`Upgrade: tcp`).
pub(crate) fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.to_str().is_ok_and(|s| s.eq_ignore_ascii_case("tcp")))
}

/// The 101 answer of a hijacked stream: raw bytes with a TTY, Docker's frames without.
pub(crate) fn switching_protocols(raw: bool) -> Response {
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if raw { RAW } else { MULTIPLEXED }),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

/// Moves bytes between a client and the shim until the container's output ends or the client
/// detaches. Frames pass through as they are without a TTY; with one, the client gets raw bytes.
/// `ended` is awaited between the end of the output and telling the client so: what the client
/// looks up next (an exec's exit code) must be known by then.
pub(crate) async fn pump<C, S, E>(
    client: C,
    shim: S,
    tty: bool,
    stdin: bool,
    detach: Vec<u8>,
    ended: E,
) where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    E: std::future::Future<Output = ()> + Send,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = tokio::io::split(shim);
    let output = async {
        let mut header = [0u8; 8];
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if shim_r.read_exact(&mut header).await.is_err() {
                break;
            }
            let (_, len) = parse_frame_header(&header);
            let mut left = len;
            if !tty && client_w.write_all(&header).await.is_err() {
                break;
            }
            while left > 0 {
                let n = left.min(buf.len());
                if shim_r.read_exact(&mut buf[..n]).await.is_err() {
                    return;
                }
                if client_w.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                left -= n;
            }
            let _ = client_w.flush().await;
        }
        ended.await;
        let _ = client_w.shutdown().await;
    };
    let input = async {
        // Without stdin, still read: to notice the client going away, and so that its bytes
        // are not left unread (see below).
        let mut forwarding = stdin;
        let mut buf = [0u8; 4096];
        let mut matched = 0usize;
        loop {
            let n = match client_r.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    if forwarding {
                        let _ = shim_w.shutdown().await;
                    }
                    return false;
                }
                Ok(n) => n,
            };
            if !forwarding {
                continue;
            }
            let (forward, detached) = scan_detach(&buf[..n], &detach, &mut matched);
            if !forward.is_empty() && shim_w.write_all(&forward).await.is_err() {
                // The container's stdin is gone; what the client still sends is dropped.
                forwarding = false;
            }
            if detached {
                return true;
            }
        }
    };
    tokio::pin!(output);
    tokio::pin!(input);
    tokio::select! {
        _ = &mut output => {
            // Output is over and the client told so. Closing a socket with the client's stdin
            // still unread in it resets the connection, and the client may then lose the end
            // of the output it has not read yet: read on until it hangs up, for a while.
            let _ = tokio::time::timeout(LINGER, &mut input).await;
        }
        detached = &mut input => {
            if detached {
                return;
            }
            // Stdin is done; output goes on until the container's ends.
            output.await;
        }
    }
}

/// Feeds stdin bytes through the detach-key matcher: returns the bytes to forward and whether
/// the whole sequence was typed. A partial match is held back until it completes or breaks.
fn scan_detach(data: &[u8], keys: &[u8], matched: &mut usize) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        if keys.is_empty() {
            out.push(b);
            continue;
        }
        if b == keys[*matched] {
            *matched += 1;
            if *matched == keys.len() {
                return (out, true);
            }
        } else {
            out.extend_from_slice(&keys[..*matched]);
            *matched = 0;
            if b == keys[0] {
                *matched = 1;
            } else {
                out.push(b);
            }
        }
    }
    (out, false)
}

/// Docker's detach-key syntax: comma-separated `ctrl-<x>` or single characters.
pub(crate) fn parse_detach_keys(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',')
        .map(|k| {
            if let Some(c) = k.strip_prefix("ctrl-") {
                let c = c.as_bytes();
                match c {
                    [b'@'] => Some(0),
                    [x] if x.is_ascii_lowercase() => Some(x - b'a' + 1),
                    [b'['] => Some(27),
                    [b'\\'] => Some(28),
                    [b']'] => Some(29),
                    [b'^'] => Some(30),
                    [b'_'] => Some(31),
                    _ => None,
                }
            } else if k.len() == 1 {
                Some(k.as_bytes()[0])
            } else {
                None
            }
        })
        .collect()
}

#[derive(Deserialize)]
pub struct WaitQuery {
    condition: Option<String>,
}

/// `POST /containers/{id}/wait`: headers at once (the CLI waits before it starts the
/// container), the body when the condition is met.
pub async fn wait(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Response> {
    let id = st.containers.get(&id)?.id;
    // Subscribed before reading the state, so an exit between the two is not missed.
    let mut rx = st.containers.progress(&id);
    let initial = rx.borrow().exits;
    let c = st.containers.get(&id)?;
    let condition = q.condition.unwrap_or_default();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition: {condition:?}"
        )));
    }
    let mut code = c.state.exit_code;
    let already = condition != "next-exit" && condition != "removed" && !c.state.running;
    let (tx, body) = mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        let mut error = None;
        if !already {
            loop {
                {
                    let p = rx.borrow_and_update();
                    if p.exits > initial {
                        code = p.exit_code;
                        error = p.error.clone();
                    }
                    let done = match condition.as_str() {
                        "removed" => p.removed,
                        _ => p.exits > initial || p.removed,
                    };
                    if done {
                        break;
                    }
                }
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { break },
                    // The client gave up waiting.
                    _ = tx.closed() => return,
                }
            }
        }
        let err = error.map(|m| serde_json::json!({ "Message": m }));
        let line = serde_json::json!({ "Error": err, "StatusCode": code });
        let _ = tx.send(Bytes::from(format!("{line}\n"))).await;
    });
    Ok(crate::stream::bytes(body, "application/json"))
}

#[derive(Deserialize)]
pub struct LogsQuery {
    follow: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    since: Option<String>,
    until: Option<String>,
    timestamps: Option<String>,
    tail: Option<String>,
}

/// A Docker timestamp parameter: Unix seconds with an optional fraction.
fn unix_param(v: &Option<String>) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    let Some(s) = v.as_deref().filter(|s| !s.is_empty() && *s != "0") else {
        return Ok(None);
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp {s:?}")))?;
    let nanos: u32 = format!("{frac:0<9}")[..9]
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid timestamp {s:?}")))?;
    Ok(chrono::DateTime::from_timestamp(secs, nanos))
}

/// `GET /containers/{id}/logs`: the json-file log, framed unless the container has a TTY;
/// with `follow`, new lines as they come until the container stops.
pub async fn logs(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let (want_out, want_err) = (flag(&q.stdout), flag(&q.stderr));
    if !want_out && !want_err {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let since = unix_param(&q.since)?;
    let until = unix_param(&q.until)?;
    let tail: Option<usize> = match q.tail.as_deref() {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map(|n| n.max(0) as usize)
                .map_err(|_| ApiError::bad_request(format!("invalid tail {n:?}")))?,
        ),
    };
    let follow = flag(&q.follow);
    let tty = c.config.tty;
    let timestamps = flag(&q.timestamps);
    let Some(path) = c.log_file(st.containers.paths()) else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "configured logging driver does not support reading",
        ));
    };
    let svc = st.containers.clone();
    let cid = c.id.clone();
    let keep = move |e: &LogEntry| {
        (if e.stream == "stderr" {
            want_err
        } else {
            want_out
        }) && since.is_none_or(|s| e.time > s)
            && until.is_none_or(|u| e.time <= u)
    };
    let render = move |e: &LogEntry| -> Bytes {
        let mut payload = Vec::new();
        if timestamps {
            payload.extend_from_slice(e.time_text().as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(e.log.as_bytes());
        if tty {
            return Bytes::from(payload);
        }
        let stream = if e.stream == "stderr" { 2 } else { 1 };
        let mut out = frame_header(stream, payload.len()).to_vec();
        out.extend_from_slice(&payload);
        Bytes::from(out)
    };
    let (tx, body) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let Ok((entries, mut follower)) = logfile::read_all(&path) else {
            return;
        };
        let mut kept: Vec<&LogEntry> = entries.iter().filter(|e| keep(e)).collect();
        if let Some(n) = tail {
            kept = kept.split_off(kept.len().saturating_sub(n));
        }
        for e in kept {
            if tx.send(render(e)).await.is_err() {
                return;
            }
        }
        if !follow {
            return;
        }
        loop {
            let running = svc.get(&cid).map(|c| c.state.running).unwrap_or(false);
            let Ok(more) = follower.read_new() else {
                return;
            };
            for e in more.iter().filter(|e| keep(e)) {
                if tx.send(render(e)).await.is_err() {
                    return;
                }
            }
            if !running || until.is_some_and(|u| chrono::Utc::now() > u) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(crate::stream::bytes(
        body,
        if tty { RAW } else { MULTIPLEXED },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q"), Some(vec![16, 17]));
        assert_eq!(parse_detach_keys("a,ctrl-@"), Some(vec![b'a', 0]));
        assert_eq!(parse_detach_keys("ctrl-pp"), None);
    }

    #[test]
    fn detach_sequence_across_reads() {
        let keys = [16u8, 17];
        let mut m = 0;
        assert_eq!(
            scan_detach(b"ab\x10", &keys, &mut m),
            (b"ab".to_vec(), false)
        );
        assert_eq!(scan_detach(b"\x11zz", &keys, &mut m), (vec![], true));
        let mut m = 0;
        assert_eq!(
            scan_detach(b"\x10x", &keys, &mut m),
            (b"\x10x".to_vec(), false)
        );
        assert_eq!(
            scan_detach(b"\x10\x10\x11", &keys, &mut m),
            (b"\x10".to_vec(), true)
        );
    }
}
