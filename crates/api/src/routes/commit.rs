//! `POST /commit`: a container's changes as a new image.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_container::CommitOptions;
use berth_image::ImageRef;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::SharedState;

/// The config fields a commit's body may set, as dockerd merges them over the container's.
const CONFIG_FIELDS: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "ExposedPorts",
    "Labels",
    "OnBuild",
    "StopSignal",
    "User",
    "Volumes",
    "WorkingDir",
    "Healthcheck",
    "Shell",
    "ArgsEscaped",
    "Hostname",
    "Domainname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Image",
    "NetworkDisabled",
    "MacAddress",
    "StopTimeout",
];

pub async fn commit(
    State(st): State<SharedState>,
    Query(q): Query<Vec<(String, String)>>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut container = None;
    let mut opts = CommitOptions {
        pause: true,
        ..Default::default()
    };
    let (mut repo, mut tag) = (String::new(), String::new());
    let mut changes = Vec::new();
    for (k, v) in q {
        match k.as_str() {
            "container" => container = Some(v),
            "repo" => repo = v,
            "tag" => tag = v,
            "comment" => opts.comment = v,
            "author" => opts.author = v,
            "pause" => opts.pause = !matches!(v.as_str(), "0" | "false" | "False"),
            "changes" => changes.push(v),
            other => {
                return Err(ApiError::bad_request(format!(
                    "commit: query parameter {other:?} is not supported"
                )))
            }
        }
    }
    let container = container
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("Bad parameter: container cannot be empty"))?;
    if !repo.is_empty() {
        let r = ImageRef::parse(&repo)?;
        opts.reference = Some(if tag.is_empty() {
            r.with_default_tag()
        } else {
            ImageRef::parse(&format!("{}:{tag}", r.name()))?
        });
    } else if !tag.is_empty() {
        return Err(ApiError::bad_request("tag without a repository"));
    }
    let overrides: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    if let Some(m) = overrides.as_object() {
        if let Some(k) = m.keys().find(|k| !CONFIG_FIELDS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "commit: config field {k:?} is not supported"
            )));
        }
    }
    // Images come and go under the GC lock: a prune must not take the parent meanwhile.
    let _gc = st.gc.clone().read_owned().await;
    let id = st
        .containers
        .commit(&container, opts, move |config| {
            // The body's fields over the container's, then the changes, as dockerd applies them.
            if let (Some(m), Some(c)) = (overrides.as_object(), config.as_object_mut()) {
                for (k, v) in m {
                    if !(v.is_null() || v.as_str() == Some("")) {
                        c.insert(k.clone(), v.clone());
                    }
                }
            }
            for change in &changes {
                for line in change.lines().filter(|l| !l.trim().is_empty()) {
                    berth_build::changes::apply(config, line).map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id.to_string() }))).into_response())
}
