//! Image endpoints: list, inspect, history, tag, delete, prune, and the dispatch of the
//! `/images/{name}/…` paths whose names may contain slashes.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_image::{DeleteItem, ImageRecord, ImageRef};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::filters::{glob_match, Filters};
use crate::SharedState;

pub use super::archive::{load, save};
pub use super::pull::create;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    filters: Option<String>,
    #[serde(default)]
    all: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1") | Some("true") | Some("True"))
}

pub async fn list(
    State(s): State<SharedState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    // Without `all`, the intermediate images of builds (untagged, with children) are hidden.
    let all = truthy(&q.all);
    let filters = Filters::parse(q.filters.as_deref())?;
    filters.only(&["dangling", "label", "before", "since", "reference", "until"])?;
    let dangling = filters.bool("dangling")?;
    let created_of = |name: &str| -> ApiResult<i64> {
        let id = s.images.resolve(name)?;
        Ok(s.images.config(&id)?.created_unix())
    };
    let before = filters
        .get("before")
        .first()
        .map(|n| created_of(n))
        .transpose()?;
    let since = filters
        .get("since")
        .first()
        .map(|n| created_of(n))
        .transpose()?;
    let mut out = Vec::new();
    for id in s.images.ids() {
        let Some(rec) = s.images.get(&id) else {
            continue;
        };
        let config = s.images.config(&id)?;
        let created = config.created_unix();
        let (tags, digests) = s.images.refs_of(&id);
        let intermediate = tags.is_empty() && s.images.has_children(&id);
        if dangling.is_some_and(|d| d != (tags.is_empty() && !intermediate)) {
            continue;
        }
        if intermediate && !all && dangling.is_none() {
            continue;
        }
        if !filters.labels_match(&config.labels()) {
            continue;
        }
        if before.is_some_and(|b| created >= b) || since.is_some_and(|b| created <= b) {
            continue;
        }
        let mut tags = tags;
        let mut digests = digests;
        if filters.contains("reference") {
            let keep = |r: &ImageRef| {
                filters
                    .get("reference")
                    .iter()
                    .any(|p| reference_matches(p, r))
            };
            tags.retain(keep);
            digests.retain(keep);
            if tags.is_empty() && digests.is_empty() {
                continue;
            }
        }
        out.push(summary(&s, &rec, &config, &tags, &digests));
    }
    out.sort_by(|a, b| {
        b["Created"]
            .as_i64()
            .cmp(&a["Created"].as_i64())
            .then_with(|| a["Id"].as_str().cmp(&b["Id"].as_str()))
    });
    Ok(Json(out))
}

/// Docker's `reference` filter: the pattern is matched against the familiar form with tag, and
/// against the bare familiar name when the pattern has no tag of its own.
fn reference_matches(pattern: &str, r: &ImageRef) -> bool {
    if glob_match(pattern, &r.familiar()) {
        return true;
    }
    let last = pattern.rsplit('/').next().unwrap_or(pattern);
    !last.contains(':') && glob_match(pattern, &r.familiar_name())
}

pub(crate) fn summary(
    s: &SharedState,
    rec: &ImageRecord,
    config: &berth_image::ImageConfig,
    tags: &[ImageRef],
    digests: &[ImageRef],
) -> Value {
    let labels = config.labels();
    json!({
        "Containers": -1,
        "Created": config.created_unix(),
        "Id": rec.id,
        "Labels": if labels.is_empty() { Value::Null } else { json!(labels) },
        "ParentId": rec.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "RepoDigests": digests.iter().map(ImageRef::familiar).collect::<Vec<_>>(),
        "RepoTags": tags.iter().map(ImageRef::familiar).collect::<Vec<_>>(),
        "SharedSize": -1,
        "Size": s.images.size(rec),
    })
}

/// `GET /images/{name}/json|history|get`.
pub async fn get_named(
    State(s): State<SharedState>,
    Path(rest): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        return Ok(Json(inspect(&s, name)?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return Ok(Json(history(&s, name)?).into_response());
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return super::archive::save_names(&s, vec![name.to_string()]).await;
    }
    let _ = q;
    Err(ApiError::not_found("page not found"))
}

/// `POST /images/{name}/tag|push`.
pub async fn post_named(
    State(s): State<SharedState>,
    Path(rest): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/tag") {
        tag(
            &s,
            name,
            q.get("repo").map(String::as_str).unwrap_or(""),
            q.get("tag").map(String::as_str).unwrap_or(""),
        )?;
        return Ok(StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return super::push::push(s, name, q.get("tag").cloned().unwrap_or_default(), &headers)
            .await;
    }
    Err(ApiError::not_found("page not found"))
}

/// The image `name` means, with its record and parsed config.
fn lookup(
    s: &SharedState,
    name: &str,
) -> ApiResult<(berth_image::Digest, ImageRecord, berth_image::ImageConfig)> {
    let id = s.images.resolve(name)?;
    let rec = s
        .images
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
    let config = s.images.config(&id)?;
    Ok((id, rec, config))
}

pub fn inspect(s: &SharedState, name: &str) -> ApiResult<Value> {
    let (id, rec, config) = lookup(s, name)?;
    let (tags, digests) = s.images.refs_of(&id);
    let mut graph = serde_json::Map::new();
    let dirs: Vec<String> = rec
        .layers
        .iter()
        .rev()
        .map(|l| s.images.layers.diff_dir(&l.chain_id).display().to_string())
        .collect();
    if let Some((top, lower)) = dirs.split_first() {
        if !lower.is_empty() {
            graph.insert("LowerDir".into(), json!(lower.join(":")));
        }
        graph.insert("UpperDir".into(), json!(top));
    }
    let mut v = json!({
        "Id": id,
        "RepoTags": tags.iter().map(ImageRef::familiar).collect::<Vec<_>>(),
        "RepoDigests": digests.iter().map(ImageRef::familiar).collect::<Vec<_>>(),
        "Parent": rec.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "Comment": config.comment.clone().unwrap_or_default(),
        "Created": config.created.clone().unwrap_or_default(),
        "DockerVersion": config.docker_version.clone().unwrap_or_default(),
        "Author": config.author.clone().unwrap_or_default(),
        "Config": container_config(config.config.as_ref()),
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": s.images.size(&rec),
        "GraphDriver": {"Data": graph, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": config.rootfs.diff_ids},
        "Metadata": {"LastTagTime": rec.last_tag_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)).unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
    });
    if let Some(variant) = &config.variant {
        v.as_object_mut()
            .unwrap()
            .insert("Variant".into(), json!(variant));
    }
    Ok(v)
}

/// The image's container config with every key dockerd always sends, in dockerd's order.
pub fn container_config(cfg: Option<&Value>) -> Value {
    let mut out = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": null,
        "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
        "OnBuild": null, "Labels": null
    });
    if let Some(Value::Object(m)) = cfg {
        let o = out.as_object_mut().unwrap();
        for (k, v) in m {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

fn history(s: &SharedState, name: &str) -> ApiResult<Vec<Value>> {
    let (id, rec, config) = lookup(s, name)?;
    let (tags, _) = s.images.refs_of(&id);
    let mut layer = 0usize;
    let mut rows = Vec::new();
    for h in &config.history {
        let size = if h.empty_layer {
            0
        } else {
            let sz = rec
                .layers
                .get(layer)
                .and_then(|l| s.images.layers.meta(&l.chain_id).ok())
                .map(|m| m.size)
                .unwrap_or(0);
            layer += 1;
            sz
        };
        let created = h
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        rows.push(json!({
            "Id": "<missing>", "Created": created, "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Tags": null, "Size": size, "Comment": h.comment.clone().unwrap_or_default()
        }));
    }
    if rows.is_empty() {
        rows.push(json!({"Id": "<missing>", "Created": config.created_unix(), "CreatedBy": "", "Tags": null, "Size": s.images.size(&rec), "Comment": ""}));
    }
    rows.reverse();
    rows[0]["Id"] = json!(id);
    rows[0]["Tags"] = json!(tags.iter().map(ImageRef::familiar).collect::<Vec<_>>());
    Ok(rows)
}

fn tag(s: &SharedState, name: &str, repo: &str, tag: &str) -> ApiResult<()> {
    let id = s.images.resolve(name)?;
    if repo.is_empty() {
        return Err(ApiError::bad_request(
            "repository name must have at least one component",
        ));
    }
    let mut r = ImageRef::parse(repo)?;
    if r.digest().is_some() {
        return Err(ApiError::bad_request(
            "refusing to create a tag with a digest reference",
        ));
    }
    if !tag.is_empty() {
        r = ImageRef::parse(&format!("{}:{tag}", r.name()))?;
    }
    s.images.tag(&id, &r.with_default_tag())?;
    Ok(())
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    force: Option<String>,
    #[serde(default)]
    noprune: Option<String>,
}

pub async fn delete(
    State(s): State<SharedState>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let _gc = s.gc.write().await;
    let items = s
        .images
        .delete(&name, truthy(&q.force), !truthy(&q.noprune), |id| {
            s.containers.image_user(id)
        })?;
    Ok(Json(items.into_iter().map(delete_item).collect()))
}

fn delete_item(i: DeleteItem) -> Value {
    match i {
        DeleteItem::Untagged(r) => json!({"Untagged": r}),
        DeleteItem::Deleted(d) => json!({"Deleted": d}),
    }
}

#[derive(Deserialize)]
pub struct PruneQuery {
    #[serde(default)]
    filters: Option<String>,
}

pub async fn prune(
    State(s): State<SharedState>,
    Query(q): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let filters = Filters::parse(q.filters.as_deref())?;
    filters.only(&["dangling", "label", "label!", "until"])?;
    let dangling_only = filters.bool("dangling")?.unwrap_or(true);
    let until = match filters.get("until").first() {
        Some(u) => Some(crate::filters::parse_until(u)?),
        None => None,
    };
    let _gc = s.gc.write().await;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for id in s.images.ids() {
        let Some(rec) = s.images.get(&id) else {
            continue;
        };
        let config = s.images.config(&id)?;
        // An untagged image with children is a build's intermediate image, not dangling.
        if dangling_only && (!s.images.is_dangling(&id) || s.images.has_children(&id)) {
            continue;
        }
        let labels = config.labels();
        if !filters.labels_match(&labels) {
            continue;
        }
        if filters.labels_excluded(&labels) {
            continue;
        }
        if until.is_some_and(|u| rec.stored_at.timestamp() >= u) {
            continue;
        }
        if s.containers.image_user(&id).is_some() {
            continue;
        }
        let size = s.images.size(&rec);
        let items = s.images.delete(id.as_str(), true, false, |_| None)?;
        reclaimed += size;
        deleted.extend(items.into_iter().map(delete_item));
    }
    Ok(Json(
        json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}

pub async fn search() -> ApiError {
    ApiError::not_implemented("image search")
}
