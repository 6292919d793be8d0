//! `HEAD`, `GET` and `PUT /containers/{id}/archive` (`docker cp`).

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_container::cp::{ExtractOptions, PathStat};
use berth_container::CopyRoot;
use serde::Deserialize;

use super::archive::body_reader;
use crate::error::{ApiError, ApiResult};
use crate::SharedState;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveQuery {
    path: Option<String>,
    #[serde(rename = "noOverwriteDirNonDir")]
    no_overwrite_dir_non_dir: Option<String>,
    #[serde(rename = "copyUIDGID")]
    copy_uid_gid: Option<String>,
}

impl ArchiveQuery {
    fn path(&self) -> ApiResult<String> {
        match self.path.as_deref() {
            Some(p) if !p.is_empty() => Ok(p.to_string()),
            _ => Err(ApiError::bad_request("Bad parameter: path cannot be empty")),
        }
    }
}

fn truthy(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "True"))
}

fn stat_header(s: &PathStat) -> HeaderValue {
    let json = serde_json::to_vec(s).unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&b64).expect("base64 is a valid header value")
}

/// The container's root for a copy, and the stat of `path` in it.
async fn root_and_stat(st: &SharedState, id: &str, path: &str) -> ApiResult<(CopyRoot, PathStat)> {
    let root = st.containers.copy_root(id).await?;
    let path = path.to_string();
    let r = tokio::task::spawn_blocking(move || root.stat(&path).map(|s| (root, s)))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(r)
}

/// `HEAD`: the path's stat, in the header only.
pub async fn head(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let (_, stat) = root_and_stat(&st, &id, &q.path()?).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat));
    Ok(resp)
}

/// `GET`: the path as a tar, its stat in the header.
pub async fn get(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let path = q.path()?;
    let (root, stat) = root_and_stat(&st, &id, &path).await?;
    let mut resp = crate::stream::tar_from_blocking(move |w| {
        root.archive(&path, w)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat));
    Ok(resp)
}

/// `PUT`: unpacks the tar in the body into the directory `path`.
pub async fn put(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<ArchiveQuery>,
    req: Request,
) -> ApiResult<Response> {
    let path = q.path()?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: truthy(&q.no_overwrite_dir_non_dir),
        copy_uid_gid: truthy(&q.copy_uid_gid),
    };
    let root = st.containers.copy_root(&id).await?;
    let body: Body = req.into_body();
    let input = body_reader(body);
    tokio::task::spawn_blocking(move || root.extract(&path, input, opts))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(StatusCode::OK.into_response())
}
