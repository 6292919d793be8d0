//! Volume endpoints: create, list, inspect, remove, prune.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_volume::VolumeView;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::filters::Filters;
use crate::SharedState;

fn truthy(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "True"))
}

/// Docker's Volume object. Labels and options are what the create sent (`null` when it sent
/// none, as dockerd answers). With the size of its data, `UsageData` (`system df`; berth
/// answers `?size=1` with it on list and inspect too).
pub(crate) fn volume_json(v: &VolumeView, size: Option<i64>) -> Value {
    let r = &v.volume;
    let mut out = json!({
        "CreatedAt": r.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "Driver": r.driver,
        "Labels": r.labels,
        "Mountpoint": v.mountpoint,
        "Name": r.name,
        "Options": r.options,
        "Scope": "local",
    });
    if let Some(size) = size {
        out["UsageData"] = json!({"Size": size, "RefCount": v.refs});
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
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
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
    let vols = st.containers.volumes();
    let v = vols.create(name, &body.driver, body.driver_opts, body.labels)?;
    Ok((StatusCode::CREATED, Json(volume_json(&v, None))).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    filters: Option<String>,
    size: Option<String>,
}

/// Whether a volume passes the list filters, as dockerd's: `dangling` (no container uses
/// it), `driver`, `label`, and `name` (exactly, or as a regular expression).
fn listed(f: &Filters, names: &[regex::Regex], v: &VolumeView) -> ApiResult<bool> {
    if let Some(d) = f.bool("dangling")? {
        if d != (v.refs == 0) {
            return Ok(false);
        }
    }
    let r = &v.volume;
    if !f.get("driver").is_empty() && !f.get("driver").contains(&r.driver) {
        return Ok(false);
    }
    let exact = f.get("name").contains(&r.name);
    if !names.is_empty() && !exact && !names.iter().any(|re| re.is_match(&r.name)) {
        return Ok(false);
    }
    Ok(f.labels_match(&r.labels.clone().unwrap_or_default()))
}

pub async fn list(
    State(st): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let f = Filters::parse(q.filters.as_deref())?;
    f.only(&["dangling", "driver", "label", "name"])?;
    // A pattern that is no regular expression matches exactly or not at all, as in dockerd.
    let names: Vec<regex::Regex> = f
        .get("name")
        .iter()
        .filter_map(|n| regex::Regex::new(n).ok())
        .collect();
    let vols = st.containers.volumes();
    let mut out = Vec::new();
    for v in vols.list() {
        if listed(&f, &names, &v)? {
            let size = truthy(&q.size).then(|| vols.size(&v));
            out.push(volume_json(&v, size));
        }
    }
    Ok(Json(json!({ "Volumes": out, "Warnings": null })))
}

#[derive(Deserialize)]
pub struct InspectQuery {
    size: Option<String>,
}

pub async fn inspect(
    State(st): State<SharedState>,
    Path(name): Path<String>,
    Query(q): Query<InspectQuery>,
) -> ApiResult<Json<Value>> {
    let vols = st.containers.volumes();
    let v = vols.get(&name)?;
    let size = truthy(&q.size).then(|| vols.size(&v));
    Ok(Json(volume_json(&v, size)))
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
    st.containers.volumes().remove(&name, truthy(&q.force))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn update() -> ApiError {
    ApiError::bad_request("volume update is only supported for cluster volumes")
}

#[derive(Deserialize)]
pub struct PruneQuery {
    filters: Option<String>,
}

pub async fn prune(
    State(st): State<SharedState>,
    Query(q): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let f = Filters::parse(q.filters.as_deref())?;
    f.only(&["label", "label!", "all"])?;
    if f.get("all").len() > 1 {
        return Err(ApiError::bad_request(format!(
            "invalid filter 'all={}': only one value is expected",
            f.get("all").join(",")
        )));
    }
    // Docker 23+ (API 1.42): anonymous volumes only, unless `all`.
    let all = f.bool("all")?.unwrap_or(false);
    let (gone, space) = st.containers.volumes().prune(all, &|v| {
        let labels = v.labels.clone().unwrap_or_default();
        f.labels_match(&labels) && !f.labels_excluded(&labels)
    });
    Ok(Json(
        json!({ "VolumesDeleted": gone, "SpaceReclaimed": space }),
    ))
}
