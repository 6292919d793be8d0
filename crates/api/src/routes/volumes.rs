//! Volume endpoints: create, list, inspect, remove, prune.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_volume::Volume;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;
use crate::SharedState;

/// Docker's Volume object. Empty labels and options are `null`, as dockerd sends them.
pub(crate) fn volume_json(st: &SharedState, v: &Volume, usage: Option<(u64, usize)>) -> Value {
    let map_or_null = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            Value::Null
        } else {
            json!(m)
        }
    };
    let mut out = json!({
        "CreatedAt": v.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "Driver": v.driver,
        "Labels": map_or_null(&v.labels),
        "Mountpoint": st.containers.volumes().data_path(&v.name),
        "Name": v.name,
        "Options": map_or_null(&v.options),
        "Scope": "local",
    });
    if let Some((size, refs)) = usage {
        out["UsageData"] = json!({"Size": size, "RefCount": refs});
    }
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    driver: String,
    #[serde(default)]
    driver_opts: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    cluster_volume_spec: Option<Value>,
}

pub async fn create(State(st): State<SharedState>, body: Bytes) -> ApiResult<Response> {
    let body: CreateBody = crate::body::json(&body)?;
    if body.cluster_volume_spec.is_some() {
        return Err(ApiError::bad_request(
            "ClusterVolumeSpec is not supported: berth is not a swarm manager",
        ));
    }
    let name = (!body.name.is_empty()).then_some(body.name.as_str());
    let v = st
        .containers
        .create_volume(name, &body.driver, body.labels, body.driver_opts)?;
    Ok((StatusCode::CREATED, Json(volume_json(&st, &v, None))).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    filters: Option<String>,
}

/// Whether a volume passes the list filters (dangling, driver, label, name).
fn listed(f: &Filters, v: &Volume, users: usize) -> ApiResult<bool> {
    if let Some(d) = f.bool("dangling")? {
        if d != (users == 0) {
            return Ok(false);
        }
    }
    if !f.get("driver").is_empty() && !f.get("driver").contains(&v.driver) {
        return Ok(false);
    }
    if !f.get("name").is_empty() && !f.get("name").iter().any(|n| v.name.contains(n.as_str())) {
        return Ok(false);
    }
    Ok(f.labels_match(&v.labels))
}

pub async fn list(
    State(st): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let f = Filters::parse(q.filters.as_deref())?;
    f.only(&["dangling", "driver", "label", "name"])?;
    let mut out = Vec::new();
    for (v, users) in st.containers.volumes().list() {
        if listed(&f, &v, users)? {
            out.push(volume_json(&st, &v, None));
        }
    }
    Ok(Json(json!({ "Volumes": out, "Warnings": null })))
}

pub async fn inspect(
    State(st): State<SharedState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = st.containers.volumes().get(&name)?;
    Ok(Json(volume_json(&st, &v, None)))
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    force: Option<String>,
}

pub async fn delete(
    State(st): State<SharedState>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Response> {
    let force = matches!(q.force.as_deref(), Some("1" | "true" | "True"));
    st.containers.remove_volume(&name, force)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn update() -> ApiError {
    ApiError::bad_request("volume update is only supported for cluster volumes")
}

pub async fn prune(
    State(st): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let f = Filters::parse(q.filters.as_deref())?;
    f.only(&["label", "label!", "all"])?;
    // Docker 23+: only anonymous volumes, unless `all`.
    let all = f.bool("all")?.unwrap_or(false);
    let (gone, space) = st.containers.prune_volumes(|v| {
        (all || v.anonymous()) && f.labels_match(&v.labels) && !f.labels_excluded(&v.labels)
    });
    Ok(Json(
        json!({ "VolumesDeleted": gone, "SpaceReclaimed": space }),
    ))
}
