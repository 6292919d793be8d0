//! Execs: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (101 hijack, or detached),
//! `POST /exec/{id}/resize`, `GET /exec/{id}/json`.

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_container::exec::{Exec, ExecConfig};
use berth_container::ExecStartOptions;
use berth_runtime::shim::protocol::frame_header;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::container_io::{parse_detach_keys, pump, switching_protocols, wants_upgrade};
use crate::error::{ApiError, ApiResult};
use crate::SharedState;

pub async fn create(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let config = ExecConfig::from_json(&body).map_err(ApiError::bad_request)?;
    if !config.detach_keys.is_empty() && parse_detach_keys(&config.detach_keys).is_none() {
        return Err(ApiError::bad_request("Invalid detach keys"));
    }
    let exec_id = st.containers.exec_create(&id, config)?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": exec_id }))).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
struct StartBody {
    detach: bool,
    tty: bool,
    console_size: Option<[u32; 2]>,
}

/// `POST /exec/{id}/start`. Attached, the connection is upgraded first and a start that fails
/// says why on the stream, as dockerd does (the client then reads the exit code from the
/// exec's inspect); detached, the answer is the start's own.
pub async fn start(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let exec = st.containers.exec_inspect(&id)?;
    let wants_upgrade = wants_upgrade(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body: StartBody =
        berth_container::unsupported::parse_body(&body).map_err(ApiError::bad_request)?;
    let opts = ExecStartOptions {
        detach: body.detach,
        console_size: body.console_size,
    };
    if body.detach {
        st.containers.exec_start(&id, opts).await?;
        return Ok(StatusCode::OK.into_response());
    }
    if !wants_upgrade {
        return Err(ApiError::bad_request(
            "an attached exec start needs a connection upgrade (Upgrade: tcp)",
        ));
    }
    let detach_keys = match exec.config.detach_keys.as_str() {
        "" => "ctrl-p,ctrl-q",
        k => k,
    };
    let detach = parse_detach_keys(detach_keys).unwrap_or_default();
    let raw = body.tty;
    let stdin = exec.config.attach_stdin;
    let svc = st.containers.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut client = TokioIo::new(upgraded);
        match svc.exec_start(&id, opts).await {
            Ok(Some(session)) => {
                let mut done = session.done;
                let ended = async move {
                    let _ = done.wait_for(|d| *d).await;
                };
                pump(client, session.stream, raw, stdin, detach, ended).await
            }
            Ok(None) => {}
            Err(e) => {
                let msg = format!("{e}\r\n");
                if !raw {
                    let _ = client.write_all(&frame_header(1, msg.len())).await;
                }
                let _ = client.write_all(msg.as_bytes()).await;
                let _ = client.shutdown().await;
            }
        }
    });
    Ok(switching_protocols(raw))
}

pub async fn resize(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<super::containers::ResizeQuery>,
) -> ApiResult<Response> {
    st.containers
        .exec_resize(&id, q.height(), q.width())
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn inspect(State(st): State<SharedState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(render(&st.containers.exec_inspect(&id)?)).into_response())
}

/// `GET /exec/{id}/json` as dockerd renders it.
fn render(e: &Exec) -> Value {
    let c = &e.config;
    let mut process = json!({
        "tty": c.tty,
        "entrypoint": c.cmd.first().cloned().unwrap_or_default(),
        "arguments": c.cmd.iter().skip(1).collect::<Vec<_>>(),
        "privileged": c.privileged,
    });
    if !c.user.is_empty() {
        process["user"] = json!(c.user);
    }
    json!({
        "ID": e.id,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "ProcessConfig": process,
        "OpenStdin": c.attach_stdin,
        "OpenStderr": c.attach_stderr,
        "OpenStdout": c.attach_stdout,
        "CanRemove": false,
        "ContainerID": e.container_id,
        "DetachKeys": c.detach_keys,
        "Pid": e.pid,
    })
}
