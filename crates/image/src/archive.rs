//! `docker save` and `docker load` archives.
//!
//! Save writes what dockerd 25+ writes: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) plus the legacy `manifest.json` that older loaders read. Load reads both that
//! and the older docker-archive layout (`<id>/layer.tar`, `<id>.json`, `manifest.json`), and a
//! plain OCI layout without `manifest.json`.
//!
//! A loaded archive is first spooled into a scratch directory under the data root, accepting
//! only plain files and directories at clean relative paths (symlinks, which old archives use to
//! share `layer.tar` files, are kept as aliases and resolved inside the archive), so a hostile
//! tarball can write nothing outside it.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::layers::{chain_ids, LayerMeta};
use crate::manifest::{Descriptor, Index, Manifest};
use crate::store::{BlobDescriptor, ImageError, ImageRecord, ImageStore, LayerRecord};
use crate::unpack::{clean_relative, decompress, unpack_blob};
use crate::{fsutil, media, Digest, ImageConfig, ImageRef};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("invalid archive: {0}")]
    Invalid(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn invalid(s: impl Into<String>) -> ArchiveError {
    ArchiveError::Invalid(s.into())
}

/// Writes `names` (references or IDs, already resolved to `ids`) as one archive to `out`.
pub fn save(
    store: &ImageStore,
    images: &[(Digest, Vec<ImageRef>)],
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let mut written: std::collections::HashSet<Digest> = Default::default();
    let mut index_entries = Vec::new();
    let mut legacy = Vec::new();
    let mut add_blob = |tar: &mut tar::Builder<_>,
                        digest: &Digest,
                        source: &mut dyn Read,
                        size: u64|
     -> Result<(), ArchiveError> {
        if written.insert(digest.clone()) {
            append(tar, &format!("blobs/sha256/{}", digest.hex()), size, source)?;
        }
        Ok(())
    };
    for (id, tags) in images {
        let rec = store
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let config = store.config_bytes(id)?;
        add_blob(&mut tar, id, &mut &config[..], config.len() as u64)?;
        let mut layers = Vec::new();
        for l in &rec.layers {
            let blob = layer_blob(store, l)?;
            let mut f = store
                .content
                .open_blob(&blob.digest)
                .map_err(ImageError::from)?;
            add_blob(&mut tar, &blob.digest, &mut f, blob.size)?;
            layers.push(blob);
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": id, "size": config.len()},
            "layers": layers.iter().map(|b| json!({"mediaType": oci_layer_type(&b.media_type), "digest": b.digest, "size": b.size})).collect::<Vec<_>>(),
        }))
        .map_err(io::Error::other)?;
        let mdigest = Digest::of(&manifest);
        add_blob(
            &mut tar,
            &mdigest,
            &mut &manifest[..],
            manifest.len() as u64,
        )?;
        if tags.is_empty() {
            index_entries.push(json!({"mediaType": media::OCI_MANIFEST, "digest": mdigest, "size": manifest.len()}));
        }
        for t in tags {
            index_entries.push(json!({
                "mediaType": media::OCI_MANIFEST, "digest": mdigest, "size": manifest.len(),
                "annotations": {"io.containerd.image.name": t.to_string(), "org.opencontainers.image.ref.name": t.tag().unwrap_or("latest")}
            }));
        }
        legacy.push(json!({
            "Config": format!("blobs/sha256/{}", id.hex()),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags.iter().map(ImageRef::familiar).collect::<Vec<_>>()) },
            "Layers": layers.iter().map(|b| format!("blobs/sha256/{}", b.digest.hex())).collect::<Vec<_>>(),
        }));
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": index_entries}),
    )
    .map_err(io::Error::other)?;
    let legacy = serde_json::to_vec(&legacy).map_err(io::Error::other)?;
    append(&mut tar, "index.json", index.len() as u64, &mut &index[..])?;
    append(
        &mut tar,
        "manifest.json",
        legacy.len() as u64,
        &mut &legacy[..],
    )?;
    append(
        &mut tar,
        "oci-layout",
        30,
        &mut &br#"{"imageLayoutVersion":"1.0.0"}"#[..],
    )?;
    tar.into_inner()?.flush()?;
    Ok(())
}

fn oci_layer_type(mt: &str) -> &str {
    match mt {
        media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => media::OCI_LAYER_TAR,
        other => other,
    }
}

/// The stored blob of a layer, or another image's blob of the same layer (an image whose base
/// layer "Already exists" at pull time never downloaded its own copy).
pub fn layer_blob(store: &ImageStore, l: &LayerRecord) -> Result<BlobDescriptor, ArchiveError> {
    if let Some(b) = l
        .blob
        .as_ref()
        .filter(|b| store.content.contains(&b.digest))
    {
        return Ok(b.clone());
    }
    for id in store.ids() {
        if let Some(rec) = store.get(&id) {
            for other in rec.layers.iter().filter(|o| o.diff_id == l.diff_id) {
                if let Some(b) = other
                    .blob
                    .as_ref()
                    .filter(|b| store.content.contains(&b.digest))
                {
                    return Ok(b.clone());
                }
            }
        }
    }
    Err(invalid(format!(
        "the content of layer {} is not in the store",
        l.diff_id
    )))
}

fn append(
    tar: &mut tar::Builder<impl Write>,
    path: &str,
    size: u64,
    data: &mut dyn Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data)
}

/// An image that [`load`] stored.
#[derive(Debug)]
pub struct Loaded {
    pub id: Digest,
    pub tags: Vec<ImageRef>,
}

/// Reads an archive from `input` into the store. `scratch` is an empty directory inside the data
/// root, removed by the caller.
pub fn load(
    store: &ImageStore,
    input: impl Read,
    scratch: &Path,
) -> Result<Vec<Loaded>, ArchiveError> {
    let files = spool(input, scratch)?;
    if let Some(m) = files.read("manifest.json")? {
        let entries: Vec<Value> =
            serde_json::from_slice(&m).map_err(|e| invalid(format!("manifest.json: {e}")))?;
        let mut out = Vec::new();
        for e in entries {
            let config_path = e["Config"]
                .as_str()
                .ok_or_else(|| invalid("manifest.json entry without Config"))?;
            let layers: Vec<String> = e["Layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect();
            let tags: Vec<String> = e["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            let config = files
                .read(config_path)?
                .ok_or_else(|| invalid(format!("{config_path} is missing")))?;
            let paths: Vec<PathBuf> = layers
                .iter()
                .map(|l| files.resolve(l))
                .collect::<Result<_, _>>()?;
            out.push(import_image(store, &config, &paths, &tags)?);
        }
        return Ok(out);
    }
    if let Some(idx) = files.read("index.json")? {
        let index: Index =
            serde_json::from_slice(&idx).map_err(|e| invalid(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for d in &index.manifests {
            let bytes = files
                .read(&format!("blobs/sha256/{}", d.digest.hex()))?
                .ok_or_else(|| invalid(format!("manifest {} is missing", d.digest)))?;
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("manifest {}: {e}", d.digest)))?;
            let config = files
                .read(&format!("blobs/sha256/{}", m.config.digest.hex()))?
                .ok_or_else(|| invalid("config blob is missing"))?;
            let paths: Vec<PathBuf> = m
                .layers
                .iter()
                .map(|l| files.resolve(&format!("blobs/sha256/{}", l.digest.hex())))
                .collect::<Result<_, _>>()?;
            let tags = ref_annotation(d).into_iter().collect::<Vec<_>>();
            out.push(import_image(store, &config, &paths, &tags)?);
        }
        return Ok(out);
    }
    Err(invalid(
        "no manifest.json or index.json: not an image archive",
    ))
}

fn ref_annotation(d: &Descriptor) -> Option<String> {
    let a = d.annotations.as_ref()?;
    a.get("io.containerd.image.name").cloned()
}

/// Stores one image from its config bytes and layer files (any compression).
fn import_image(
    store: &ImageStore,
    config_bytes: &[u8],
    layer_files: &[PathBuf],
    tags: &[String],
) -> Result<Loaded, ArchiveError> {
    let config = ImageConfig::parse(config_bytes).map_err(|e| invalid(e.to_string()))?;
    if config.rootfs.diff_ids.len() != layer_files.len() {
        return Err(invalid(format!(
            "the config lists {} layers but the archive has {}",
            config.rootfs.diff_ids.len(),
            layer_files.len()
        )));
    }
    let refs: Vec<ImageRef> = tags
        .iter()
        .map(|t| ImageRef::parse_with_default_tag(t))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    let chains = chain_ids(&config.rootfs.diff_ids);
    let mut layers = Vec::new();
    for (i, path) in layer_files.iter().enumerate() {
        let (blob, _) = store_layer(store, path, Some((&config.rootfs.diff_ids[i], &chains[i])))?;
        layers.push(LayerRecord {
            diff_id: config.rootfs.diff_ids[i].clone(),
            chain_id: chains[i].clone(),
            blob: Some(blob),
        });
    }
    let id = store
        .content
        .put(config_bytes, None)
        .map_err(ImageError::from)?;
    let prior = store.get(&id);
    store.put(ImageRecord {
        id: id.clone(),
        layers,
        manifests: prior
            .as_ref()
            .map(|p| p.manifests.clone())
            .unwrap_or_default(),
        stored_at: prior.as_ref().map(|p| p.stored_at).unwrap_or_else(Utc::now),
        last_tag_time: prior.and_then(|p| p.last_tag_time),
        parent: None,
    })?;
    for r in &refs {
        store.tag(&id, r)?;
    }
    Ok(Loaded { id, tags: refs })
}

/// Copies a layer file into the content store and, unless the layer is already unpacked,
/// unpacks it. With `expect = (diff_id, chain_id)` the uncompressed digest must be `diff_id`;
/// without, the layer is a base layer whose chain ID is its diff ID. Returns the stored blob and
/// the diff ID.
pub fn store_layer(
    store: &ImageStore,
    path: &Path,
    expect: Option<(&Digest, &Digest)>,
) -> Result<(BlobDescriptor, Digest), ArchiveError> {
    let mut f = File::open(path)?;
    let mut ingest = store.content.ingest().map_err(ImageError::from)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut head = Vec::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 4 {
            head.extend_from_slice(&buf[..n.min(4)]);
        }
        hasher.update(&buf[..n]);
        ingest.write_all(&buf[..n])?;
        size += n as u64;
    }
    let digest = Digest::from_sha256(&hasher.finalize());
    ingest
        .commit(&digest, Some(size))
        .map_err(ImageError::from)?;
    let media_type = if head.starts_with(&[0x1f, 0x8b]) {
        media::OCI_LAYER_GZIP
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        media::OCI_LAYER_ZSTD
    } else {
        media::OCI_LAYER_TAR
    };
    let blob = BlobDescriptor {
        digest: digest.clone(),
        size,
        media_type: media_type.into(),
    };
    if let Some((diff_id, chain)) = expect {
        if store.layers.exists(chain) {
            return Ok((blob, diff_id.clone()));
        }
    }
    let writer = store.layers.begin()?;
    let file = store.content.open_blob(&digest).map_err(ImageError::from)?;
    let (files, actual) = unpack_blob(file, &writer.diff_dir())
        .map_err(|e| invalid(format!("layer {digest}: {e}")))?;
    let chain = match expect {
        Some((diff_id, _)) if actual != *diff_id => {
            return Err(invalid(format!(
                "layer {digest} has diff ID {actual}, but the image config says {diff_id}"
            )));
        }
        Some((_, chain)) => chain.clone(),
        None => actual.clone(),
    };
    if !store.layers.exists(&chain) {
        writer.commit(&LayerMeta {
            chain_id: chain,
            diff_id: actual.clone(),
            size: files,
        })?;
    }
    Ok((blob, actual))
}

/// `docker import`: makes a one-layer image from a root filesystem tarball at `path`, with
/// `container_config` as its config and `comment` in its history. Returns the image ID.
pub fn import_rootfs(
    store: &ImageStore,
    path: &Path,
    container_config: Value,
    comment: &str,
    message: Option<&str>,
    platform: &crate::manifest::Platform,
) -> Result<Digest, ArchiveError> {
    let (blob, diff) = store_layer(store, path, None)?;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "created": now,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [diff]},
        "history": [{"created": now, "comment": comment}],
    });
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        config["comment"] = json!(m);
    }
    let bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let id = store.content.put(&bytes, None).map_err(ImageError::from)?;
    store.put(ImageRecord {
        id: id.clone(),
        layers: vec![LayerRecord {
            diff_id: diff.clone(),
            chain_id: diff,
            blob: Some(blob),
        }],
        manifests: vec![],
        stored_at: Utc::now(),
        last_tag_time: None,
        parent: None,
    })?;
    Ok(id)
}

/// The archive's files, spooled under a scratch directory, with symlink entries as aliases.
struct Spool {
    root: PathBuf,
    links: HashMap<PathBuf, PathBuf>,
}

fn spool(input: impl Read, root: &Path) -> Result<Spool, ArchiveError> {
    let mut archive = tar::Archive::new(decompress(input)?);
    let mut links = HashMap::new();
    let mut seen = BTreeMap::new();
    for entry in archive
        .entries()
        .map_err(|e| invalid(format!("reading tar: {e}")))?
    {
        let mut entry = entry.map_err(|e| invalid(format!("reading tar: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| invalid(format!("reading tar: {e}")))?
            .into_owned();
        let Some(rel) = clean_relative(&raw).map_err(|e| invalid(e.to_string()))? else {
            continue;
        };
        let dest = root.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&dest)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut f = File::create(&dest)?;
                io::copy(&mut entry, &mut f).map_err(|e| invalid(format!("reading tar: {e}")))?;
                seen.insert(rel, ());
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| invalid("link without target"))?
                    .into_owned();
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    rel.parent().unwrap_or(Path::new("")).join(&target)
                } else {
                    target
                };
                let resolved = clean_relative(&base)
                    .map_err(|e| invalid(e.to_string()))?
                    .ok_or_else(|| invalid("link to the archive root"))?;
                links.insert(rel, resolved);
            }
            _ => {}
        }
    }
    Ok(Spool {
        root: root.to_path_buf(),
        links,
    })
}

impl Spool {
    /// The file behind an archive path, following alias links (a bounded number of hops).
    fn resolve(&self, path: &str) -> Result<PathBuf, ArchiveError> {
        let mut rel = clean_relative(Path::new(path))
            .map_err(|e| invalid(e.to_string()))?
            .ok_or_else(|| invalid("empty path"))?;
        for _ in 0..16 {
            match self.links.get(&rel) {
                Some(next) => rel = next.clone(),
                None => {
                    let p = self.root.join(&rel);
                    return if p.is_file() {
                        Ok(p)
                    } else {
                        Err(invalid(format!("{path} is missing from the archive")))
                    };
                }
            }
        }
        Err(invalid(format!("too many links resolving {path}")))
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        match self.resolve(path) {
            Ok(p) => Ok(Some(fs::read(p)?)),
            Err(_) => Ok(None),
        }
    }
}

/// A fresh scratch directory for a load or import, under `<data-root>/tmp`.
pub fn scratch_dir(data_root: &Path) -> io::Result<PathBuf> {
    let p = data_root
        .join("tmp")
        .join(format!("load-{}", fsutil::random_suffix()));
    fs::create_dir_all(&p)?;
    Ok(p)
}
