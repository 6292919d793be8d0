//! Pulling an image: resolve the reference to a platform manifest, then fetch the config and the
//! missing layers in parallel, each streamed through its digest check, its decompressor and the
//! layer unpacker at once, and report progress as dockerd does.
//!
//! Nothing becomes visible before it is verified: the blob lands in the content store's ingest
//! area and the layer in a temporary directory, and both are committed only once the compressed
//! digest and the config's diff ID have been checked.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::mpsc;

use berth_image::content::Ingest;
use berth_image::layers::{chain_ids, LayerMeta, LayerWriter};
use berth_image::manifest::{Descriptor, Manifest, ManifestKind, Platform};
use berth_image::progress::JsonMessage;
use berth_image::{
    unpack, BlobDescriptor, Digest, ImageConfig, ImageRecord, ImageRef, ImageStore, LayerRecord,
};

use crate::auth::AuthConfig;
use crate::client::{transport_error, FetchedManifest, RegistryClient, Session};
use crate::RegistryError;

/// How many layers download at once (dockerd's `max-concurrent-downloads` default).
pub const MAX_CONCURRENT_DOWNLOADS: usize = 3;

/// A pull whose manifest has been found; [`ResolvedPull::fetch`] does the rest.
pub struct ResolvedPull<'a> {
    session: Session<'a>,
    reference: ImageRef,
    /// What the tag or digest named: an index or the manifest itself. Its digest is the one
    /// Docker reports and records as the repo digest.
    top: FetchedManifest,
    manifest: Manifest,
    manifest_blob: FetchedManifest,
}

impl RegistryClient {
    /// Finds the manifest for `reference` (tag or digest; `:latest` already added) and
    /// `platform` (this machine's when `None`). Errors here come before any output.
    pub async fn resolve<'a>(
        &'a self,
        reference: &ImageRef,
        auth: Option<AuthConfig>,
        platform: Option<Platform>,
    ) -> Result<ResolvedPull<'a>, RegistryError> {
        let session = self.session(reference, auth, false).await?;
        let target = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => berth_image::reference::DEFAULT_TAG.to_string(),
        };
        let top = session.fetch_manifest(&target, reference).await?;
        let want = platform.unwrap_or_else(Platform::host);
        let (manifest, manifest_blob) = match ManifestKind::parse(&top.bytes, &top.media_type)? {
            ManifestKind::Image(m) => (m, top.clone()),
            ManifestKind::Index(idx) => {
                let chosen = idx.select(&want).map_err(RegistryError::NotFound)?;
                let fetched = session
                    .fetch_manifest(chosen.digest.as_str(), reference)
                    .await?;
                match ManifestKind::parse(&fetched.bytes, &fetched.media_type)? {
                    ManifestKind::Image(m) => (m, fetched),
                    ManifestKind::Index(_) => {
                        return Err(RegistryError::Other(
                            "an index entry points at another index".into(),
                        ))
                    }
                }
            }
        };
        Ok(ResolvedPull {
            session,
            reference: reference.clone(),
            top,
            manifest,
            manifest_blob,
        })
    }
}

/// Docker's last line of a pull: whether anything new arrived for `name`.
pub fn status_line(updated: bool, name: &str) -> JsonMessage {
    let status = if updated {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    JsonMessage::status(format!("Status: {status} {name}"))
}

/// The image a pull ended with.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    pub image_id: Digest,
    /// The digest Docker prints after `Digest:` (the index's when the tag named one).
    pub digest: Digest,
    pub updated: bool,
}

impl ResolvedPull<'_> {
    /// The digest the reference resolved to.
    pub fn digest(&self) -> &Digest {
        &self.top.digest
    }

    /// Downloads what is missing, stores the image and points the reference at it, sending
    /// progress to `progress` (a closed receiver does not stop the pull), and ends with
    /// Docker's `Status:` line.
    pub async fn fetch(
        self,
        store: Arc<ImageStore>,
        progress: mpsc::Sender<JsonMessage>,
    ) -> Result<PullOutcome, RegistryError> {
        let name = self.reference.familiar();
        let outcome = self.fetch_image(store, progress.clone()).await?;
        let _ = progress.send(status_line(outcome.updated, &name)).await;
        Ok(outcome)
    }

    /// [`ResolvedPull::fetch`] without the final `Status:` line, for pulls of several tags
    /// that end with one line for all of them.
    pub async fn fetch_image(
        self,
        store: Arc<ImageStore>,
        progress: mpsc::Sender<JsonMessage>,
    ) -> Result<PullOutcome, RegistryError> {
        let id_label = match (self.reference.tag(), self.reference.digest()) {
            (Some(t), _) => t.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => String::new(),
        };
        let _ = progress
            .send(JsonMessage::header(
                id_label,
                format!("Pulling from {}", self.reference.path()),
            ))
            .await;

        let config_desc = &self.manifest.config;
        let config_bytes = self.fetch_small_blob(config_desc).await?;
        let config =
            ImageConfig::parse(&config_bytes).map_err(|e| RegistryError::Other(e.to_string()))?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != self.manifest.layers.len() {
            return Err(RegistryError::Verification(format!(
                "invalid manifest: {} layers but the image config lists {} diff IDs",
                self.manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(diff_ids);
        let image_id = config_desc.digest.clone();
        let was = store.resolve(&self.reference.to_string()).ok();
        let existed = store.get(&image_id).is_some_and(|r| store.is_complete(&r));

        let mut jobs = Vec::new();
        for (i, desc) in self.manifest.layers.iter().enumerate() {
            if store.layers.exists(&chains[i]) {
                let _ = progress
                    .send(JsonMessage::item(desc.digest.short(), "Already exists"))
                    .await;
            } else {
                let _ = progress
                    .send(JsonMessage::item(desc.digest.short(), "Pulling fs layer"))
                    .await;
                jobs.push(i);
            }
        }
        for &i in jobs.iter().skip(MAX_CONCURRENT_DOWNLOADS) {
            let _ = progress
                .send(JsonMessage::item(
                    self.manifest.layers[i].digest.short(),
                    "Waiting",
                ))
                .await;
        }
        let mut downloads = Vec::with_capacity(jobs.len());
        for &i in &jobs {
            downloads.push(self.pull_layer(
                &store,
                &self.manifest.layers[i],
                &diff_ids[i],
                &chains[i],
                progress.clone(),
            ));
        }
        let results: Vec<Result<(), RegistryError>> = futures::stream::iter(downloads)
            .buffer_unordered(MAX_CONCURRENT_DOWNLOADS)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;

        store.content.put(&config_bytes, Some(&image_id))?;
        store
            .content
            .put(&self.manifest_blob.bytes, Some(&self.manifest_blob.digest))?;
        store.content.put(&self.top.bytes, Some(&self.top.digest))?;
        let layers = self
            .manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, d)| LayerRecord {
                diff_id: diff_ids[i].clone(),
                chain_id: chains[i].clone(),
                blob: Some(BlobDescriptor {
                    digest: d.digest.clone(),
                    size: d.size,
                    media_type: d.media_type.clone(),
                }),
            })
            .collect();
        let mut manifests = vec![self.top.digest.clone()];
        if self.manifest_blob.digest != self.top.digest {
            manifests.push(self.manifest_blob.digest.clone());
        }
        let prior = store.get(&image_id);
        let record = ImageRecord {
            id: image_id.clone(),
            layers,
            manifests: merge(
                prior
                    .as_ref()
                    .map(|r| r.manifests.clone())
                    .unwrap_or_default(),
                manifests,
            ),
            stored_at: prior.as_ref().map(|r| r.stored_at).unwrap_or_else(Utc::now),
            last_tag_time: prior.as_ref().and_then(|r| r.last_tag_time),
            parent: None,
        };
        store.put(record)?;
        if self.reference.tag().is_some() {
            store.tag(
                &image_id,
                &self.reference.with_tag(self.reference.tag().unwrap()),
            )?;
        }
        store.tag(
            &image_id,
            &self.reference.with_digest(self.top.digest.clone()),
        )?;

        let updated = !(existed && jobs.is_empty() && was.as_ref() == Some(&image_id));
        let _ = progress
            .send(JsonMessage::status(format!("Digest: {}", self.top.digest)))
            .await;
        Ok(PullOutcome {
            image_id,
            digest: self.top.digest.clone(),
            updated,
        })
    }

    /// Fetches a config blob into memory (they are small), checking its digest.
    async fn fetch_small_blob(&self, desc: &Descriptor) -> Result<Vec<u8>, RegistryError> {
        let resp = self
            .session
            .get_blob(&desc.digest, 0, &self.reference)
            .await?;
        let url = self.session.url(&format!("blobs/{}", desc.digest));
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error("Get", &url, &e))?;
        if Digest::of(&bytes) != desc.digest {
            return Err(RegistryError::Verification(format!(
                "image config verification failed for digest {}",
                desc.digest
            )));
        }
        Ok(bytes.to_vec())
    }

    /// Downloads one layer blob (with retries and ranged resume) while a blocking task
    /// decompresses and unpacks it; commits both only when every digest checks out.
    async fn pull_layer(
        &self,
        store: &Arc<ImageStore>,
        desc: &Descriptor,
        diff_id: &Digest,
        chain_id: &Digest,
        progress: mpsc::Sender<JsonMessage>,
    ) -> Result<(), RegistryError> {
        let short = desc.digest.short().to_string();
        let writer = store.layers.begin()?;
        let have_blob = store.content.contains(&desc.digest);
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(32);
        let ingest = if have_blob {
            None
        } else {
            Some(store.content.ingest()?)
        };
        let source: Box<dyn Read + Send> = if have_blob {
            Box::new(store.content.open_blob(&desc.digest)?)
        } else {
            Box::new(ChannelReader::new(rx))
        };
        let (d, diff, chain) = (desc.clone(), diff_id.clone(), chain_id.clone());
        let unpacker = tokio::task::spawn_blocking(move || {
            unpack_verified(source, ingest, writer, &d, &diff, &chain)
        });

        if !have_blob {
            let downloaded = self.download(desc, &tx, &progress, &short).await;
            if let Err(e) = downloaded {
                let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
                drop(tx);
                let _ = unpacker.await;
                return Err(e);
            }
            let _ = progress
                .send(JsonMessage::item(&short, "Verifying Checksum"))
                .await;
        }
        drop(tx);
        unpacker
            .await
            .map_err(|e| RegistryError::Other(format!("layer unpacker failed: {e}")))??;
        if !have_blob {
            let _ = progress
                .send(JsonMessage::item(&short, "Download complete"))
                .await;
        }
        let _ = progress
            .send(JsonMessage::bytes(
                &short,
                "Extracting",
                desc.size,
                desc.size,
            ))
            .await;
        let _ = progress
            .send(JsonMessage::item(&short, "Pull complete"))
            .await;
        Ok(())
    }

    /// Streams the blob into `tx`, resuming with a `Range` request after a broken connection.
    async fn download(
        &self,
        desc: &Descriptor,
        tx: &mpsc::Sender<io::Result<Bytes>>,
        progress: &mpsc::Sender<JsonMessage>,
        short: &str,
    ) -> Result<(), RegistryError> {
        let client = self.session.client();
        let mut offset = 0u64;
        let mut attempt = 0u32;
        let mut last_report = Instant::now() - Duration::from_secs(1);
        loop {
            attempt += 1;
            let result: Result<(), RegistryError> = async {
                let resp = self.session.get_blob(&desc.digest, offset, &self.reference).await?;
                // A registry that ignores Range sends the whole blob again: skip what we have.
                let mut skip = if offset > 0 && resp.status() != reqwest::StatusCode::PARTIAL_CONTENT { offset } else { 0 };
                let url = resp.url().to_string();
                let mut body = resp.bytes_stream();
                while let Some(chunk) = body.next().await {
                    let mut chunk = chunk.map_err(|e| transport_error("Get", &url, &e))?;
                    if skip > 0 {
                        let n = skip.min(chunk.len() as u64);
                        chunk = chunk.slice(n as usize..);
                        skip -= n;
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    offset += chunk.len() as u64;
                    if offset > desc.size {
                        return Err(RegistryError::Verification(format!(
                            "filesystem layer verification failed for digest {}: registry sent more than the {} bytes declared",
                            desc.digest, desc.size
                        )));
                    }
                    if tx.send(Ok(chunk)).await.is_err() {
                        // The unpacker stopped (bad archive); its error is the one to report.
                        return Ok(());
                    }
                    if last_report.elapsed() >= Duration::from_millis(100) || offset == desc.size {
                        last_report = Instant::now();
                        let _ = progress.send(JsonMessage::bytes(short, "Downloading", offset, desc.size)).await;
                    }
                }
                if offset < desc.size {
                    return Err(RegistryError::Transport(format!("unexpected EOF after {offset} of {} bytes of {}", desc.size, desc.digest)));
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() && attempt < client.attempts => {
                    let wait = client.retry_delay * attempt;
                    tracing::warn!(digest = %desc.digest, attempt, error = %e, "layer download failed, retrying");
                    let _ = progress
                        .send(JsonMessage::item(
                            short,
                            format!(
                                "Retrying in {} second{}",
                                wait.as_secs().max(1),
                                if wait.as_secs() > 1 { "s" } else { "" }
                            ),
                        ))
                        .await;
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn merge(mut a: Vec<Digest>, b: Vec<Digest>) -> Vec<Digest> {
    for d in b {
        if !a.contains(&d) {
            a.push(d);
        }
    }
    a
}

/// Unpacks a layer from `source` while copying the raw bytes into `ingest` (when the blob is new),
/// then checks the blob digest and the diff ID before committing either.
fn unpack_verified(
    source: Box<dyn Read + Send>,
    ingest: Option<Ingest>,
    writer: LayerWriter,
    desc: &Descriptor,
    diff_id: &Digest,
    chain_id: &Digest,
) -> Result<(), RegistryError> {
    let mut tee = Tee {
        inner: source,
        ingest,
    };
    let unpacked = unpack::unpack_blob(&mut tee, &writer.diff_dir()).map_err(|e| match e {
        unpack::UnpackError::Archive(e) => {
            RegistryError::Layer(format!("reading layer {}: {e}", desc.digest))
        }
        other => RegistryError::Layer(format!("failed to register layer: {other}")),
    });
    // Read to the end either way, so the blob digest can be checked: a corrupt blob usually
    // breaks the decompressor first, and its digest mismatch is the truer error.
    let drained = io::copy(&mut tee, &mut io::sink());
    if let Some(ingest) = tee.ingest.take() {
        if let Err(e) = drained {
            return Err(RegistryError::Transport(e.to_string()));
        }
        ingest
            .commit(&desc.digest, Some(desc.size))
            .map_err(|e| match e {
                berth_image::content::ContentError::DigestMismatch { .. }
                | berth_image::content::ContentError::SizeMismatch { .. } => {
                    RegistryError::Verification(format!(
                        "filesystem layer verification failed for digest {}",
                        desc.digest
                    ))
                }
                other => RegistryError::Content(other),
            })?;
    }
    let (size, actual_diff) = unpacked?;
    if actual_diff != *diff_id {
        return Err(RegistryError::Verification(format!(
            "layer {} has diff ID {actual_diff}, but the image config says {diff_id}",
            desc.digest
        )));
    }
    writer.commit(&LayerMeta {
        chain_id: chain_id.clone(),
        diff_id: diff_id.clone(),
        size,
    })?;
    Ok(())
}

/// Reads from the download channel as a byte stream; an `Err` item ends it with that error.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Copies everything read into the ingest file, which hashes it.
struct Tee {
    inner: Box<dyn Read + Send>,
    ingest: Option<Ingest>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(i) = self.ingest.as_mut() {
            io::Write::write_all(i, &buf[..n])?;
        }
        Ok(n)
    }
}
