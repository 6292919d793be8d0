//! `docker commit`'s image side: a layer tar made from a container's read-write layer becomes
//! a new image on top of the container's image, its layer stored compressed like a pulled one.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use chrono::Utc;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::archive::{store_layer, ArchiveError};
use crate::layers::chain_ids;
use crate::store::{ImageError, ImageRecord, ImageStore, LayerRecord};
use crate::Digest;

/// What the new image says of itself.
pub struct Commit<'a> {
    pub parent: &'a Digest,
    /// The container's config, with the request's config and changes applied.
    pub config: Value,
    pub comment: &'a str,
    pub author: &'a str,
    /// The container's command, for the history entry.
    pub created_by: &'a str,
}

/// Gzips `layer` (an uncompressed layer tar) next to it, returning the compressed file and the
/// layer's diff ID (the digest of the uncompressed tar).
fn compress(layer: &Path) -> io::Result<(std::path::PathBuf, Digest)> {
    let gz = layer.with_extension("tar.gz");
    let mut input = BufReader::new(File::open(layer)?);
    let mut enc = flate2::write::GzEncoder::new(File::create(&gz)?, flate2::Compression::fast());
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        enc.write_all(&buf[..n])?;
    }
    enc.finish()?.sync_all()?;
    Ok((gz, Digest::from_sha256(&hasher.finalize())))
}

/// Stores the layer in `layer` and the image made of `c.parent`'s layers and it. Returns the
/// new image's ID.
pub fn commit(store: &ImageStore, layer: &Path, c: Commit) -> Result<Digest, ArchiveError> {
    let parent = store
        .get(c.parent)
        .ok_or_else(|| ImageError::NotFound(c.parent.to_string()))?;
    let (gz, diff_id) = compress(layer)?;
    let mut diff_ids: Vec<Digest> = parent.layers.iter().map(|l| l.diff_id.clone()).collect();
    diff_ids.push(diff_id.clone());
    let chain = chain_ids(&diff_ids).pop().expect("at least the new layer");
    let stored = store_layer(store, &gz, Some((&diff_id, &chain)));
    let _ = std::fs::remove_file(&gz);
    let (blob, _) = stored?;
    let mut layers = parent.layers.clone();
    layers.push(LayerRecord {
        diff_id,
        chain_id: chain,
        blob: Some(blob),
    });
    child(store, &c, layers, false)
}

/// An image that is `c.parent` with another config and a history entry but no new layer
/// (a build's ENV, CMD, LABEL… steps).
pub fn derive(store: &ImageStore, c: Commit) -> Result<Digest, ArchiveError> {
    let parent = store
        .get(c.parent)
        .ok_or_else(|| ImageError::NotFound(c.parent.to_string()))?;
    child(store, &c, parent.layers.clone(), true)
}

/// Writes the config of an image on `c.parent` with `layers`, and its record.
pub(crate) fn child(
    store: &ImageStore,
    c: &Commit,
    layers: Vec<LayerRecord>,
    empty_layer: bool,
) -> Result<Digest, ArchiveError> {
    let mut config: Value = serde_json::from_slice(&store.config_bytes(c.parent)?)
        .map_err(|e| ArchiveError::from(io::Error::other(e)))?;
    let diff_ids: Vec<&Digest> = layers.iter().map(|l| &l.diff_id).collect();
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    config["created"] = json!(now);
    config["config"] = c.config.clone();
    config["rootfs"] = json!({ "type": "layers", "diff_ids": diff_ids });
    for (key, v) in [("author", c.author), ("comment", c.comment)] {
        match v {
            "" => {
                if let Some(m) = config.as_object_mut() {
                    m.remove(key);
                }
            }
            v => config[key] = json!(v),
        }
    }
    let mut entry = json!({ "created": now, "created_by": c.created_by });
    if !c.author.is_empty() {
        entry["author"] = json!(c.author);
    }
    if !c.comment.is_empty() {
        entry["comment"] = json!(c.comment);
    }
    if empty_layer {
        entry["empty_layer"] = json!(true);
    }
    match config["history"].as_array_mut() {
        Some(h) => h.push(entry),
        None => config["history"] = json!([entry]),
    }
    let bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let id = store.content.put(&bytes, None).map_err(ImageError::from)?;
    store.put(ImageRecord {
        id: id.clone(),
        layers,
        manifests: vec![],
        stored_at: Utc::now(),
        last_tag_time: None,
        parent: Some(c.parent.clone()),
    })?;
    Ok(id)
}

/// The image `FROM scratch` starts from: no layers, no config, this platform. Its ID is the
/// same each time, so builds on scratch share it.
pub fn scratch(store: &ImageStore, architecture: &str, os: &str) -> Result<Digest, ArchiveError> {
    let config = json!({
        "architecture": architecture,
        "os": os,
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [] },
    });
    let bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let id = store.content.put(&bytes, None).map_err(ImageError::from)?;
    if store.get(&id).is_none() {
        store.put(ImageRecord {
            id: id.clone(),
            layers: vec![],
            manifests: vec![],
            stored_at: Utc::now(),
            last_tag_time: None,
            parent: None,
        })?;
    }
    Ok(id)
}
