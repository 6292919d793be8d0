//! `GET /system/df`: what images, containers, volumes and the build cache take on disk.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::SharedState;

pub async fn df(
    State(st): State<SharedState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let mut types: Vec<String> = Vec::new();
    for (k, v) in q {
        match k.as_str() {
            "type" => match v.as_str() {
                "container" | "image" | "volume" | "build-cache" => types.push(v),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown object type: {other}"
                    )))
                }
            },
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter: {other}"
                )))
            }
        }
    }
    // Sizes walk directories: off the async threads.
    let body = tokio::task::spawn_blocking(move || usage(&st, &want_set(&types)))
        .await
        .map_err(|e| ApiError::internal(format!("disk usage: {e}")))?;
    Ok(Json(body))
}

fn want_set(types: &[String]) -> Vec<String> {
    if types.is_empty() {
        ["container", "image", "volume", "build-cache"]
            .map(String::from)
            .to_vec()
    } else {
        types.to_vec()
    }
}

fn usage(st: &SharedState, types: &[String]) -> Value {
    let want = |t: &str| types.iter().any(|x| x == t);
    let containers = st.containers.list();
    let mut out = json!({});
    if want("image") {
        // A layer counts as shared when more than one image has it.
        let records: Vec<_> = st
            .images
            .ids()
            .iter()
            .filter_map(|id| st.images.get(id))
            .collect();
        let mut layer_users: HashMap<String, usize> = HashMap::new();
        for r in &records {
            for l in &r.layers {
                *layer_users.entry(l.chain_id.to_string()).or_default() += 1;
            }
        }
        let layer_size =
            |chain: &berth_image::Digest| st.images.layers.meta(chain).map(|m| m.size).unwrap_or(0);
        let mut total = 0u64;
        let mut counted = std::collections::HashSet::new();
        let mut images = Vec::new();
        for r in &records {
            let Ok(config) = st.images.config(&r.id) else {
                continue;
            };
            let (tags, digests) = st.images.refs_of(&r.id);
            let mut v = super::images::summary(st, r, &config, &tags, &digests);
            let shared: u64 = r
                .layers
                .iter()
                .filter(|l| {
                    layer_users
                        .get(&l.chain_id.to_string())
                        .copied()
                        .unwrap_or(0)
                        > 1
                })
                .map(|l| layer_size(&l.chain_id))
                .sum();
            for l in &r.layers {
                if counted.insert(l.chain_id.to_string()) {
                    total += layer_size(&l.chain_id);
                }
            }
            let id = r.id.to_string();
            v["SharedSize"] = json!(shared);
            v["Containers"] = json!(containers.iter().filter(|c| c.image == id).count());
            images.push(v);
        }
        out["LayersSize"] = json!(total);
        out["Images"] = json!(images);
    }
    if want("container") {
        let now = Utc::now();
        let list: Vec<Value> = containers
            .iter()
            .map(|c| super::containers::summary(st, c, now, true))
            .collect();
        out["Containers"] = json!(list);
    }
    if want("volume") {
        // Local volumes without driver options, as dockerd counts them.
        let list: Vec<Value> = st
            .containers
            .volumes()
            .usage()
            .iter()
            .map(|u| super::volumes::volume_json(&u.view, Some(u.size as i64)))
            .collect();
        out["Volumes"] = json!(list);
    }
    if want("build-cache") {
        let list: Vec<Value> = st
            .builder
            .cache_usage()
            .into_iter()
            .map(|(id, size, in_use)| {
                let created = st
                    .images
                    .get(&id)
                    .map(|r| r.stored_at.to_rfc3339())
                    .unwrap_or_default();
                json!({
                    "ID": id.to_string().trim_start_matches("sha256:"),
                    "Parents": st.images.get(&id).and_then(|r| r.parent).map(|p| vec![p.to_string()]),
                    "Type": "regular",
                    "Description": "build step image",
                    "InUse": in_use,
                    "Shared": false,
                    "Size": size,
                    "CreatedAt": created,
                    "LastUsedAt": created,
                    "UsageCount": 1,
                })
            })
            .collect();
        out["BuildCache"] = json!(list);
    }
    out
}
