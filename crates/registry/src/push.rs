//! Pushing an image: each layer is checked on the registry first (`Layer already exists`),
//! mounted from another repository of the same registry when berth knows it came from one, or
//! uploaded; then the config and the manifest, with dockerd's progress messages.

use std::sync::Arc;

use futures::StreamExt;
use reqwest::{header, Method, StatusCode};
use serde_json::json;
use tokio::sync::mpsc;

use berth_image::manifest::Manifest;
use berth_image::progress::JsonMessage;
use berth_image::{media, BlobDescriptor, Digest, ImageRef, ImageStore};

use crate::auth::AuthConfig;
use crate::client::{error_from_response, RegistryClient, Session};
use crate::RegistryError;

/// What a push ended with.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub digest: Digest,
    pub size: usize,
}

impl RegistryClient {
    /// Pushes image `id` as `target` (which carries the tag), reporting progress on `progress`.
    pub async fn push(
        &self,
        store: Arc<ImageStore>,
        id: &Digest,
        target: &ImageRef,
        auth: Option<AuthConfig>,
        progress: mpsc::Sender<JsonMessage>,
    ) -> Result<PushOutcome, RegistryError> {
        let tag = target
            .tag()
            .unwrap_or(berth_image::reference::DEFAULT_TAG)
            .to_string();
        let session = self.session(target, auth, true).await?;
        let record = store
            .get(id)
            .ok_or_else(|| RegistryError::Other(format!("image {id} disappeared")))?;
        let blobs: Vec<BlobDescriptor> = record
            .layers
            .iter()
            .map(|l| {
                berth_image::archive::layer_blob(&store, l)
                    .map_err(|e| RegistryError::Other(e.to_string()))
            })
            .collect::<Result<_, _>>()?;

        for b in blobs.iter().rev() {
            let _ = progress
                .send(JsonMessage::item(b.digest.short(), "Preparing"))
                .await;
        }
        for b in blobs.iter().rev() {
            let short = b.digest.short().to_string();
            if blob_exists(&session, &b.digest, target).await? {
                let _ = progress
                    .send(JsonMessage::item(&short, "Layer already exists"))
                    .await;
                continue;
            }
            if let Some(from) = self.try_mount(&session, &store, &b.digest, target).await? {
                let _ = progress
                    .send(JsonMessage::item(&short, format!("Mounted from {from}")))
                    .await;
                continue;
            }
            upload(&session, &store, b, target, Some((&short, &progress))).await?;
            let _ = progress.send(JsonMessage::item(&short, "Pushed")).await;
        }
        let config = store.config_bytes(id)?;
        if !blob_exists(&session, id, target).await? {
            let desc = BlobDescriptor {
                digest: id.clone(),
                size: config.len() as u64,
                media_type: String::new(),
            };
            upload(&session, &store, &desc, target, None).await?;
        }

        let (manifest, media_type) =
            manifest_for(&store, &record.manifests, id, config.len(), &blobs);
        let url = session.url(&format!("manifests/{tag}"));
        let body = manifest.clone();
        let resp = session
            .send(
                Method::PUT,
                &url,
                |r| {
                    r.header(header::CONTENT_TYPE, media_type)
                        .body(body.clone())
                },
                &[],
            )
            .await?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp, target, "Put", &url).await);
        }
        let digest = store.content.put(&manifest, None)?;
        store.tag(id, &target.with_digest(digest.clone()))?;
        let mut rec = store.get(id).unwrap_or(record);
        if !rec.manifests.contains(&digest) {
            rec.manifests.push(digest.clone());
            store.put(rec)?;
        }
        let _ = progress
            .send(JsonMessage::status(format!(
                "{tag}: digest: {digest} size: {}",
                manifest.len()
            )))
            .await;
        let _ = progress
            .send(JsonMessage::aux(
                json!({"Tag": tag, "Digest": digest, "Size": manifest.len()}),
            ))
            .await;
        Ok(PushOutcome {
            digest,
            size: manifest.len(),
        })
    }

    /// Mounts `digest` from another repository of the same registry that berth pulled it from.
    async fn try_mount(
        &self,
        session: &Session<'_>,
        store: &ImageStore,
        digest: &Digest,
        target: &ImageRef,
    ) -> Result<Option<String>, RegistryError> {
        for from in source_repos(store, digest, target) {
            let url = session.url(&format!("blobs/uploads/?mount={digest}&from={from}"));
            let resp = session
                .send(
                    Method::POST,
                    &url,
                    |r| r.header(header::CONTENT_LENGTH, "0"),
                    &[from.as_str()],
                )
                .await?;
            if resp.status() == StatusCode::CREATED {
                return Ok(Some(from));
            }
            // 202 means the registry opened an upload instead; abandon it and try the next source.
            if let Some(loc) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                let _ = session
                    .send(Method::DELETE, &session.absolute(loc), |r| r, &[])
                    .await;
            }
        }
        Ok(None)
    }
}

/// Repositories on `target`'s registry (other than its own) holding an image with `digest`.
fn source_repos(store: &ImageStore, digest: &Digest, target: &ImageRef) -> Vec<String> {
    let mut out = Vec::new();
    for id in store.ids() {
        let Some(rec) = store.get(&id) else { continue };
        if !rec
            .layers
            .iter()
            .any(|l| l.blob.as_ref().is_some_and(|b| b.digest == *digest))
        {
            continue;
        }
        let (tags, digests) = store.refs_of(&id);
        for r in tags.iter().chain(digests.iter()) {
            if r.domain() == target.domain()
                && r.path() != target.path()
                && !out.contains(&r.path().to_string())
            {
                out.push(r.path().to_string());
            }
        }
    }
    out
}

async fn blob_exists(
    session: &Session<'_>,
    digest: &Digest,
    target: &ImageRef,
) -> Result<bool, RegistryError> {
    let url = session.url(&format!("blobs/{digest}"));
    let resp = session.send(Method::HEAD, &url, |r| r, &[]).await?;
    match resp.status() {
        s if s.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(error_from_response(resp, target, "Head", &url).await),
    }
}

/// Uploads a blob from the content store in one PUT, reporting `Pushing` progress when asked.
async fn upload(
    session: &Session<'_>,
    store: &ImageStore,
    blob: &BlobDescriptor,
    target: &ImageRef,
    progress: Option<(&str, &mpsc::Sender<JsonMessage>)>,
) -> Result<(), RegistryError> {
    let start = session.url("blobs/uploads/");
    let resp = session
        .send(
            Method::POST,
            &start,
            |r| r.header(header::CONTENT_LENGTH, "0"),
            &[],
        )
        .await?;
    if !resp.status().is_success() {
        return Err(error_from_response(resp, target, "Post", &start).await);
    }
    let loc = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Other("registry gave no upload location".into()))?;
    let loc = session.absolute(loc);
    let sep = if loc.contains('?') { '&' } else { '?' };
    let url = format!("{loc}{sep}digest={}", blob.digest);
    let path = store.content.path(&blob.digest);
    let size = blob.size;
    let (tx, mut rx) = mpsc::channel::<u64>(64);
    let reporter = progress.map(|(short, p)| {
        let (short, p) = (short.to_string(), p.clone());
        tokio::spawn(async move {
            let mut last = std::time::Instant::now() - std::time::Duration::from_secs(1);
            while let Some(done) = rx.recv().await {
                if last.elapsed() >= std::time::Duration::from_millis(100) || done == size {
                    last = std::time::Instant::now();
                    let _ = p
                        .send(JsonMessage::bytes(&short, "Pushing", done, size))
                        .await;
                }
            }
        })
    });
    let resp = session
        .send(
            Method::PUT,
            &url,
            |r| {
                let file = std::fs::File::open(&path);
                let tx = tx.clone();
                let body = match file {
                    Ok(f) => {
                        let f = tokio::fs::File::from_std(f);
                        let mut sent = 0u64;
                        let stream = tokio_util_stream(f).map(move |chunk| {
                            if let Ok(c) = &chunk {
                                sent += c.len() as u64;
                                let _ = tx.try_send(sent);
                            }
                            chunk
                        });
                        reqwest::Body::wrap_stream(stream)
                    }
                    Err(_) => reqwest::Body::from(Vec::new()),
                };
                r.header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(body)
            },
            &[],
        )
        .await?;
    drop(tx);
    if let Some(r) = reporter {
        let _ = r.await;
    }
    if !resp.status().is_success() {
        return Err(error_from_response(resp, target, "Put", &url).await);
    }
    Ok(())
}

fn tokio_util_stream(
    f: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    use tokio::io::AsyncReadExt;
    futures::stream::unfold((f, vec![0u8; 256 * 1024]), |(mut f, mut buf)| async move {
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => Some((Ok(bytes::Bytes::copy_from_slice(&buf[..n])), (f, buf))),
            Err(e) => Some((Err(e), (f, buf))),
        }
    })
}

/// The manifest to push: the one berth pulled, byte for byte, when it still describes this
/// image's config and blobs (so the digest is unchanged); otherwise a new one, Docker schema2
/// when every layer has a Docker media type and OCI otherwise.
fn manifest_for(
    store: &ImageStore,
    known: &[Digest],
    id: &Digest,
    config_len: usize,
    blobs: &[BlobDescriptor],
) -> (Vec<u8>, &'static str) {
    for d in known {
        let Ok(bytes) = store.content.read(d) else {
            continue;
        };
        let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
            continue;
        };
        let same_layers = m.layers.len() == blobs.len()
            && m.layers
                .iter()
                .zip(blobs)
                .all(|(l, b)| l.digest == b.digest);
        if m.config.digest == *id && same_layers {
            let mt = if m.media_type == media::OCI_MANIFEST || m.media_type.is_empty() {
                media::OCI_MANIFEST
            } else {
                media::DOCKER_MANIFEST
            };
            return (bytes, mt);
        }
    }
    let docker = blobs
        .iter()
        .all(|b| b.media_type.starts_with("application/vnd.docker."));
    let (mt, cmt) = if docker {
        (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
    } else {
        (media::OCI_MANIFEST, media::OCI_CONFIG)
    };
    let m = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "size": config_len, "digest": id},
        "layers": blobs.iter().map(|b| json!({"mediaType": b.media_type, "size": b.size, "digest": b.digest})).collect::<Vec<_>>(),
    });
    (serde_json::to_vec(&m).expect("manifest serialises"), mt)
}
