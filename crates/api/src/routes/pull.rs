//! `POST /images/create` (pull from a registry, or import a rootfs tarball), and save/load.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use berth_image::manifest::Platform;
use berth_image::progress::JsonMessage;
use berth_image::ImageRef;
use berth_registry::AuthConfig;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, ApiResult};
use crate::stream::json_lines;
use crate::SharedState;

#[derive(Deserialize)]
pub struct CreateQuery {
    #[serde(rename = "fromImage", default)]
    from_image: Option<String>,
    #[serde(rename = "fromSrc", default)]
    from_src: Option<String>,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    changes: Vec<String>,
    #[serde(default)]
    message: Option<String>,
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
    Query(q): Query<CreateQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let _ = (&q.repo, &q.changes, &q.message, body);
    if q.from_src.is_some() {
        return Err(ApiError::not_implemented("image import"));
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
    if reference.tag().is_none() && reference.digest().is_none() {
        return Err(ApiError::not_implemented(
            "pulling every tag of a repository (docker pull --all-tags)",
        ));
    }
    let platform = match q.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Some(Platform::parse(p).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
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
