//! `GET /images/get`, `GET /images/{name}/get` (save) and `POST /images/load`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use berth_image::archive;
use berth_image::progress::JsonMessage;
use berth_image::{Digest, ImageRef};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::stream::json_lines;
use crate::SharedState;

pub async fn save(
    State(s): State<SharedState>,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let names = q
        .into_iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v)
        .collect();
    save_names(&s, names).await
}

/// Resolves every name first (so a missing image is a plain 404), then streams the tar.
pub async fn save_names(s: &SharedState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let mut images: Vec<(Digest, Vec<ImageRef>)> = Vec::new();
    for n in &names {
        let id = s.images.resolve(n)?;
        // A name given by reference saves that tag; an ID (or a digest) saves the image
        // untagged, as dockerd does: its load reports the image by ID.
        let tags: Vec<ImageRef> = match ImageRef::parse_with_default_tag(n) {
            Ok(r)
                if s.images.resolve(&r.to_string()).is_ok_and(|i| i == id) && r.tag().is_some() =>
            {
                vec![r]
            }
            _ => Vec::new(),
        };
        match images.iter_mut().find(|(i, _)| *i == id) {
            Some((_, t)) => t.extend(tags),
            None => images.push((id, tags)),
        }
    }
    let gc = s.gc.clone().read_owned().await;
    let store = s.images.clone();
    Ok(crate::stream::tar_from_blocking(move |w| {
        let _gc = gc;
        archive::save(&store, &images, w).map_err(|e| {
            tracing::warn!(error = %e, "image save failed");
            std::io::Error::other(e.to_string())
        })
    }))
}

/// The request body as a blocking reader, for the archive code.
pub fn body_reader(body: Body) -> impl std::io::Read + Send + 'static {
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::StreamReader::new(stream);
    tokio_util::io::SyncIoBridge::new(reader)
}

/// How much of a refused archive is still read, so that its sender sees the answer.
const DRAIN_LIMIT: u64 = 64 << 20;

pub async fn load(
    State(s): State<SharedState>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> ApiResult<Response> {
    let quiet = matches!(q.get("quiet").map(String::as_str), Some("1") | Some("true"));
    let _ = quiet; // berth sends no per-layer progress for load, so quiet changes nothing yet.
    let gc = s.gc.clone().read_owned().await;
    let store = s.images.clone();
    let scratch = archive::scratch_dir(&s.host.data_root)?;
    let mut reader = body_reader(body);
    let result = tokio::task::spawn_blocking(move || {
        let _gc = gc;
        let r = archive::load(&store, &mut reader, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        if r.is_err() {
            // The client is still sending the archive: read the rest (within reason) so that
            // it gets to read the answer rather than a broken pipe.
            let _ = std::io::copy(
                &mut std::io::Read::take(&mut reader, DRAIN_LIMIT),
                &mut std::io::sink(),
            );
        }
        r
    })
    .await
    .map_err(|e| ApiError::internal(format!("load task failed: {e}")))?;
    // As dockerd: the answer is a 200 JSON stream whatever happens, and a load that fails
    // says so in it (docker-py raises ImageLoadError from that line).
    let loaded = match result {
        Ok(l) => l,
        Err(e) => {
            let msg = match e {
                archive::ArchiveError::Invalid(m) => format!("failed to load image archive: {m}"),
                other => other.to_string(),
            };
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(JsonMessage::error(msg));
            return Ok(json_lines(rx));
        }
    };
    let (tx, rx) = mpsc::channel(loaded.len() + 1);
    for l in &loaded {
        if l.tags.is_empty() {
            let _ = tx.try_send(JsonMessage::stream(format!("Loaded image ID: {}\n", l.id)));
        }
        for t in &l.tags {
            let _ = tx.try_send(JsonMessage::stream(format!(
                "Loaded image: {}\n",
                t.familiar()
            )));
        }
    }
    drop(tx);
    Ok(json_lines(rx))
}
