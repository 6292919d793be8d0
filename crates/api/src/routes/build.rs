//! `POST /build` (the classic builder's API: a tar context in, a JSON progress stream out)
//! and `POST /build/prune`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use berth_build::{BuildError, BuildOptions};
use berth_image::manifest::Platform;
use berth_image::progress::{ErrorDetail, JsonMessage};
use berth_image::ImageRef;
use berth_registry::AuthConfig;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::stream::json_lines;
use crate::SharedState;

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True")
}

/// Query values that mean "not asked for": what clients send for options left at default
/// (docker-py sends Python's `False`).
fn unset(v: &str) -> bool {
    matches!(v, "" | "0" | "null" | "[]" | "{}" | "false" | "False")
}

fn json_map(name: &str, v: &str) -> Result<Map<String, Value>, ApiError> {
    if v.is_empty() || v == "null" {
        return Ok(Map::new());
    }
    serde_json::from_str(v).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
}

/// Reads the query as dockerd does; an option berth does not do is refused by name.
fn options(raw: Option<&str>, headers: &HeaderMap) -> Result<BuildOptions, ApiError> {
    let mut o = BuildOptions {
        rm: true,
        ..Default::default()
    };
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "t" => {
                let r = ImageRef::parse(&v).map_err(|e| {
                    ApiError::bad_request(format!("invalid reference format: {v}: {e}"))
                })?;
                o.tags.push(r.with_default_tag());
            }
            "dockerfile" => o.dockerfile = v,
            "buildargs" => {
                for (name, value) in json_map("buildargs", &v)? {
                    let value = match value {
                        Value::Null => None,
                        Value::String(s) => Some(s),
                        other => Some(other.to_string()),
                    };
                    o.build_args.push((name, value));
                }
            }
            "labels" => {
                for (name, value) in json_map("labels", &v)? {
                    let value = value.as_str().map(str::to_string).unwrap_or_default();
                    o.labels.insert(name, value);
                }
            }
            "target" => o.target = Some(v).filter(|t| !t.is_empty()),
            "nocache" => o.no_cache = truthy(&v),
            "pull" => o.pull = !v.is_empty() && !matches!(v.as_str(), "0" | "false" | "False"),
            "rm" => o.rm = !matches!(v.as_str(), "0" | "false" | "False"),
            "forcerm" => o.force_rm = truthy(&v),
            "q" => o.quiet = truthy(&v),
            "networkmode" => o.network_mode = v,
            "platform" if !v.is_empty() => {
                o.platform =
                    Some(Platform::parse(&v).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            "memory" | "memswap" | "cpushares" | "shmsize" | "cpuquota" | "cpuperiod"
                if !unset(&v) =>
            {
                let n: i64 = v
                    .parse()
                    .map_err(|_| ApiError::bad_request(format!("{k}: not a number: {v}")))?;
                let key = match k.as_ref() {
                    "memory" => "Memory",
                    "memswap" => "MemorySwap",
                    "cpushares" => "CpuShares",
                    "shmsize" => "ShmSize",
                    "cpuquota" => "CpuQuota",
                    _ => "CpuPeriod",
                };
                o.host_config.insert(key.into(), json!(n));
            }
            "cpusetcpus" if !v.is_empty() => {
                o.host_config.insert("CpusetCpus".into(), json!(v));
            }
            "extrahosts" if !v.is_empty() => {
                let list = o
                    .host_config
                    .entry("ExtraHosts")
                    .or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(v));
                }
            }
            "version" if v == "1" || v.is_empty() => {}
            "version" => {
                return Err(ApiError::bad_request(
                    "BuildKit (builder version 2) is not supported by berth: use the classic builder (DOCKER_BUILDKIT=0)",
                ))
            }
            "cachefrom" if !unset(&v) => {
                o.cache_from = serde_json::from_str(&v).map_err(|_| {
                    ApiError::bad_request(format!("cachefrom: not a JSON list of images: {v}"))
                })?;
            }
            "remote" if !v.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "build: remote contexts ({v}) are not supported: berth builds offline, send the context as a tar"
                )))
            }
            // What clients send with default values, and what berth takes as those.
            "memory" | "memswap" | "cpushares" | "shmsize" | "cpuquota" | "cpuperiod"
            | "cpusetcpus" | "cpusetmems" | "extrahosts" | "platform"
            | "cachefrom" | "remote" | "cgroupparent" | "ulimits" | "securityopt"
            | "squash" | "isolation" | "outputs" | "session" | "buildid"
                if unset(&v) || (k == "isolation" && v == "default") || k == "session" || k == "buildid" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "build: query parameter {other}={v:?} is not supported yet"
                )))
            }
        }
    }
    if let Some(h) = headers
        .get("X-Registry-Config")
        .and_then(|v| v.to_str().ok())
    {
        o.auths = registry_config(h);
    }
    Ok(o)
}

/// `X-Registry-Config`: base64 JSON of registry → credentials.
fn registry_config(header: &str) -> Vec<(String, AuthConfig)> {
    use base64::Engine as _;
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let Some(bytes) = engines.iter().find_map(|e| e.decode(header.trim()).ok()) else {
        return vec![];
    };
    let Ok(map) = serde_json::from_slice::<BTreeMap<String, Value>>(&bytes) else {
        return vec![];
    };
    map.into_iter()
        .filter_map(|(server, v)| {
            let enc = base64::engine::general_purpose::STANDARD.encode(v.to_string());
            AuthConfig::from_header(&enc).map(|a| (server, a))
        })
        .collect()
}

fn error_line(e: &BuildError) -> JsonMessage {
    let m = e.to_string();
    JsonMessage {
        error_detail: Some(ErrorDetail {
            code: e.code(),
            message: m.clone(),
        }),
        error: Some(m),
        ..Default::default()
    }
}

fn api_error(e: BuildError) -> ApiError {
    if e.is_invalid() {
        ApiError::bad_request(e.to_string())
    } else {
        ApiError::internal(e.to_string())
    }
}

pub async fn build(
    State(st): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let checked = options(raw.as_deref(), &headers);
    // The context is read whole before any answer: answering early would break the upload.
    let scratch = berth_image::archive::scratch_dir(&st.host.data_root)?;
    let file = scratch.join("context.tar");
    let copied = async {
        let mut out = tokio::fs::File::create(&file).await?;
        let mut reader = tokio_util::io::StreamReader::new(
            body.into_data_stream()
                .map(|r| r.map_err(std::io::Error::other)),
        );
        tokio::io::copy(&mut reader, &mut out).await?;
        tokio::io::AsyncWriteExt::flush(&mut out).await
    }
    .await;
    let cleanup = {
        let scratch = scratch.clone();
        move || {
            let _ = std::fs::remove_dir_all(&scratch);
        }
    };
    if let Err(e) = copied {
        cleanup();
        return Err(ApiError::internal(format!(
            "reading the build context: {e}"
        )));
    }
    let opts = match checked {
        Ok(o) => o,
        Err(e) => {
            cleanup();
            return Err(e);
        }
    };
    let builder = st.builder.clone();
    let prepared = {
        let builder = builder.clone();
        let scratch = scratch.clone();
        tokio::task::spawn_blocking(move || {
            let tar = std::fs::File::open(scratch.join("context.tar"))?;
            builder.prepare(&scratch.join("context"), std::io::BufReader::new(tar), opts)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
    };
    let prepared = match prepared {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            cleanup();
            return Err(api_error(e));
        }
        Err(e) => {
            cleanup();
            return Err(e);
        }
    };
    let _ = std::fs::remove_file(&file);
    let (tx, rx) = mpsc::channel::<JsonMessage>(64);
    // Images come and go under the GC lock: a prune must not take a step's image meanwhile.
    let gc = st.gc.clone().read_owned().await;
    tokio::spawn(async move {
        let _gc = gc;
        if let Err(e) = builder.run(prepared, tx.clone()).await {
            tracing::info!(error = %e, "build failed");
            let _ = tx.send(error_line(&e)).await;
        }
        drop(tx);
        tokio::task::spawn_blocking(cleanup);
    });
    Ok(json_lines(rx))
}

/// `POST /build/prune?all=&filters=`.
pub async fn prune(
    State(st): State<SharedState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let mut all = false;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "all" => all = truthy(&v),
            "filters" => {
                // No filter is supported yet: any one given is refused by name.
                crate::filters::Filters::parse(Some(&v))?.only(&[])?;
            }
            "keep-storage" | "reserved-space" | "max-used-space" | "min-free-space"
                if unset(&v) => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "build prune: query parameter {other} is not supported yet"
                )))
            }
        }
    }
    let _gc = st.gc.write().await;
    let builder = st.builder.clone();
    let pruned = tokio::task::spawn_blocking(move || builder.prune(all))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(api_error)?;
    let ids: Vec<String> = pruned.deleted.iter().map(|d| d.to_string()).collect();
    Ok(Json(json!({
        "CachesDeleted": if ids.is_empty() { Value::Null } else { json!(ids) },
        "SpaceReclaimed": pruned.reclaimed,
    })))
}
