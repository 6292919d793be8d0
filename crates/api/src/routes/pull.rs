//! `POST /images/create` (pull from a registry, or import a rootfs tarball), and save/load.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use berth_image::manifest::Platform;
use berth_image::progress::JsonMessage;
use berth_image::ImageRef;
use berth_registry::pull::status_line;
use berth_registry::AuthConfig;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};
use crate::stream::json_lines;
use crate::SharedState;

/// The query of `POST /images/create`; `changes` may repeat, which serde_urlencoded cannot read.
#[derive(Default)]
struct CreateQuery {
    from_image: Option<String>,
    from_src: Option<String>,
    repo: Option<String>,
    tag: Option<String>,
    platform: Option<String>,
    changes: Vec<String>,
    message: Option<String>,
}

impl CreateQuery {
    fn parse(raw: Option<&str>) -> Self {
        let mut q = CreateQuery::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "fromImage" => q.from_image = Some(v),
                "fromSrc" => q.from_src = Some(v),
                "repo" => q.repo = Some(v),
                "tag" => q.tag = Some(v),
                "platform" => q.platform = Some(v),
                "changes" => q.changes.push(v),
                "message" => q.message = Some(v),
                _ => {}
            }
        }
        q
    }
}

/// The `X-Registry-Auth` header, decoded; anonymous when absent or empty.
pub fn registry_auth(headers: &HeaderMap) -> Option<AuthConfig> {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .and_then(AuthConfig::from_header)
}

pub async fn create(
    State(s): State<SharedState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let q = CreateQuery::parse(raw.as_deref());
    if let Some(src) = q.from_src.as_deref() {
        return import(s, src, &q, body).await;
    }
    let from = q
        .from_image
        .as_deref()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let mut reference = ImageRef::parse(from)?;
    if let Some(tag) = q.tag.as_deref().filter(|t| !t.is_empty()) {
        reference = if tag.starts_with("sha256:") {
            reference.with_digest(
                berth_image::Digest::parse(tag)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            )
        } else {
            ImageRef::parse(&format!("{}:{tag}", reference.name()))?
        };
    }
    let platform = match q.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    // A name without tag or digest is `docker pull --all-tags`.
    if reference.tag().is_none() && reference.digest().is_none() {
        return pull_all_tags(s, reference, registry_auth(&headers), platform).await;
    }
    pull(s, reference, registry_auth(&headers), platform).await
}

/// Resolves the reference before answering (so a missing image is a plain 404), then streams
/// the pull's progress. The pull runs in its own task and finishes even if the client leaves.
pub async fn pull(
    s: SharedState,
    reference: ImageRef,
    auth: Option<AuthConfig>,
    platform: Option<Platform>,
) -> ApiResult<Response> {
    let (first_tx, first_rx) = oneshot::channel::<Result<(), ApiError>>();
    let (tx, rx) = mpsc::channel::<JsonMessage>(64);
    let gc = s.gc.clone().read_owned().await;
    tokio::spawn(async move {
        let _gc = gc;
        let resolved = match s.registry.resolve(&reference, auth, platform).await {
            Ok(r) => r,
            Err(e) => {
                let _ = first_tx.send(Err(e.into()));
                return;
            }
        };
        let _ = first_tx.send(Ok(()));
        if let Err(e) = resolved.fetch(s.images.clone(), tx.clone()).await {
            tracing::warn!(reference = %reference, error = %e, "pull failed");
            let _ = tx.send(JsonMessage::error(e.to_string())).await;
        }
    });
    match first_rx.await {
        Ok(Ok(())) => Ok(json_lines(rx)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ApiError::internal("pull task ended unexpectedly")),
    }
}

/// Pulls every tag of a repository in turn, each as a pull of its own but with one `Status:`
/// line at the end, as dockerd does. The tag list is read before answering, so a missing
/// repository is a plain error.
async fn pull_all_tags(
    s: SharedState,
    repo: ImageRef,
    auth: Option<AuthConfig>,
    platform: Option<Platform>,
) -> ApiResult<Response> {
    let session = s.registry.session(&repo, auth.clone(), false).await?;
    let tags = session.list_tags(&repo).await?;
    drop(session);
    if tags.is_empty() {
        return Err(ApiError::not_found(format!(
            "no tags found for {}",
            repo.familiar()
        )));
    }
    let (tx, rx) = mpsc::channel::<JsonMessage>(64);
    let gc = s.gc.clone().read_owned().await;
    tokio::spawn(async move {
        let _gc = gc;
        let mut updated = false;
        for tag in tags {
            let r = repo.with_tag(&tag);
            let pulled = match s.registry.resolve(&r, auth.clone(), platform.clone()).await {
                Ok(resolved) => resolved.fetch_image(s.images.clone(), tx.clone()).await,
                Err(e) => Err(e),
            };
            match pulled {
                Ok(outcome) => updated |= outcome.updated,
                Err(e) => {
                    tracing::warn!(reference = %r, error = %e, "pull failed");
                    let _ = tx.send(JsonMessage::error(e.to_string())).await;
                    return;
                }
            }
        }
        let _ = tx.send(status_line(updated, &repo.familiar())).await;
    });
    Ok(json_lines(rx))
}

/// `docker import`: the body (or, for `fromSrc=URL`, nothing berth fetches yet) is a root
/// filesystem tarball, possibly compressed, that becomes a one-layer image.
async fn import(s: SharedState, src: &str, q: &CreateQuery, body: Body) -> ApiResult<Response> {
    if src != "-" {
        return Err(ApiError::not_implemented("importing from a URL"));
    }
    let scratch = berth_image::archive::scratch_dir(&s.host.data_root)?;
    let file = scratch.join("rootfs.tar");
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
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(ApiError::internal(format!(
            "reading the import tarball: {e}"
        )));
    }
    // Validated only once the body is read: answering early would break the client's upload.
    let checked = import_settings(q);
    let (config, platform, reference) = match checked {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
    };
    let gc = s.gc.clone().read_owned().await;
    let store = s.images.clone();
    let message = q.message.clone();
    let comment = message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("Imported from {src}"));
    let container_config = berth_image_config(config);
    let id = tokio::task::spawn_blocking(move || {
        let _gc = gc;
        let r = berth_image::archive::import_rootfs(
            &store,
            &file,
            container_config,
            &comment,
            message.as_deref(),
            &platform,
        );
        let _ = std::fs::remove_dir_all(&scratch);
        r
    })
    .await
    .map_err(|e| ApiError::internal(format!("import task failed: {e}")))?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(r) = reference {
        s.images.tag(&id, &r)?;
    }
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(JsonMessage::status(id.to_string()));
    Ok(json_lines(rx))
}

/// What `changes`, `platform`, `repo` and `tag` ask of an import.
fn import_settings(q: &CreateQuery) -> ApiResult<(serde_json::Value, Platform, Option<ImageRef>)> {
    let mut config = serde_json::Value::Null;
    for c in &q.changes {
        for line in c.lines().filter(|l| !l.trim().is_empty()) {
            berth_build::changes::apply(&mut config, line)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
    }
    let platform = match q.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => Platform::host(),
    };
    let reference = match q.repo.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => {
            let r = ImageRef::parse(r)?;
            Some(match q.tag.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => ImageRef::parse(&format!("{}:{t}", r.name()))?,
                None => r.with_default_tag(),
            })
        }
        None => None,
    };
    Ok((config, platform, reference))
}

/// The container config an imported image starts with: what `--change` set, else nothing.
fn berth_image_config(changes: serde_json::Value) -> serde_json::Value {
    if changes.is_null() {
        serde_json::json!({})
    } else {
        changes
    }
}
