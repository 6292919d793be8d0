//! Image records and the references (tags and digests) that name them.
//!
//! Layout under `<data-root>/image`: `records/<id-hex>.json` per image and `refs.json` mapping
//! canonical references to image IDs, both written atomically. The config bytes themselves live
//! in the content store under the image ID, which is their digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::{ContentError, ContentStore};
use crate::fsutil::atomic_write;
use crate::layers::LayerStore;
use crate::reference::{ImageRef, ReferenceError};
use crate::{Digest, ImageConfig};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("image store i/o: {0}")]
    Io(#[from] io::Error),
}

/// A compressed layer blob as a registry serves it; kept so push and save can reuse it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobDescriptor {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerRecord {
    pub diff_id: Digest,
    pub chain_id: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<BlobDescriptor>,
}

/// What berth knows of an image beyond its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    pub layers: Vec<LayerRecord>,
    /// Manifests (and indexes) this image was pulled through, kept in the content store.
    #[serde(default)]
    pub manifests: Vec<Digest>,
    /// When the image arrived in this store.
    pub stored_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<DateTime<Utc>>,
    /// The image this one was made on by a commit or a build step (Docker's `Parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

/// A container that uses an image, which a delete must respect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container: String,
    pub running: bool,
}

/// One line of a delete's answer, as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

#[derive(Default)]
struct State {
    refs: BTreeMap<String, Digest>,
    images: HashMap<Digest, ImageRecord>,
}

/// The image store: records, references, and the content and layer stores under them.
pub struct ImageStore {
    root: PathBuf,
    pub content: ContentStore,
    pub layers: LayerStore,
    state: RwLock<State>,
}

impl ImageStore {
    /// Opens the store under `data_root`, reading every record and the reference map.
    pub fn open(data_root: &std::path::Path) -> Result<Self, ImageError> {
        let root = data_root.join("image");
        fs::create_dir_all(root.join("records"))?;
        let content = ContentStore::open(data_root.join("content"))?;
        let layers = LayerStore::open(data_root.join("layers"))?;
        let mut state = State::default();
        for e in fs::read_dir(root.join("records"))?.flatten() {
            let Ok(bytes) = fs::read(e.path()) else {
                continue;
            };
            match serde_json::from_slice::<ImageRecord>(&bytes) {
                Ok(rec) if content.contains(&rec.id) => {
                    state.images.insert(rec.id.clone(), rec);
                }
                _ => tracing::warn!(path = %e.path().display(), "skipping unreadable image record"),
            }
        }
        if let Ok(bytes) = fs::read(root.join("refs.json")) {
            let refs: BTreeMap<String, Digest> =
                serde_json::from_slice(&bytes).map_err(io::Error::other)?;
            state.refs = refs
                .into_iter()
                .filter(|(_, id)| state.images.contains_key(id))
                .collect();
        }
        let store = ImageStore {
            root,
            content,
            layers,
            state: RwLock::new(state),
        };
        store.remove_unreferenced()?;
        Ok(store)
    }

    /// Removes blobs and layers no image record names: what a load or pull that failed half-way
    /// stored before it gave up. Only safe while nothing is adding images, as at start-up.
    fn remove_unreferenced(&self) -> Result<(), ImageError> {
        let state = self.state.read().unwrap();
        let (blobs, layers) = referenced(&state);
        for d in self
            .content
            .list()?
            .into_iter()
            .filter(|d| !blobs.contains(d))
        {
            tracing::info!(blob = %d, "removing unreferenced blob");
            self.content.remove(&d)?;
        }
        for c in self
            .layers
            .list()?
            .into_iter()
            .filter(|c| !layers.contains(c))
        {
            tracing::info!(layer = %c, "removing unreferenced layer");
            self.layers.remove(&c)?;
        }
        Ok(())
    }

    fn save_refs(&self, state: &State) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(&state.refs).map_err(io::Error::other)?;
        atomic_write(&self.root.join("refs.json"), &bytes)?;
        Ok(())
    }

    fn record_path(&self, id: &Digest) -> PathBuf {
        self.root.join("records").join(format!("{}.json", id.hex()))
    }

    /// Adds (or replaces) an image record. Its config blob and layers must already be stored.
    pub fn put(&self, record: ImageRecord) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(&record).map_err(io::Error::other)?;
        atomic_write(&self.record_path(&record.id), &bytes)?;
        self.state
            .write()
            .unwrap()
            .images
            .insert(record.id.clone(), record);
        Ok(())
    }

    pub fn get(&self, id: &Digest) -> Option<ImageRecord> {
        self.state.read().unwrap().images.get(id).cloned()
    }

    pub fn config(&self, id: &Digest) -> Result<ImageConfig, ImageError> {
        Ok(ImageConfig::parse(&self.content.read(id)?)?)
    }

    pub fn config_bytes(&self, id: &Digest) -> Result<Vec<u8>, ImageError> {
        Ok(self.content.read(id)?)
    }

    pub fn ids(&self) -> Vec<Digest> {
        self.state.read().unwrap().images.keys().cloned().collect()
    }

    /// Finds the image a user means by `name`: a reference (`busybox`, `repo:tag`, `repo@digest`),
    /// a full ID (`sha256:…`), or a unique prefix of an ID.
    pub fn resolve(&self, name: &str) -> Result<Digest, ImageError> {
        let state = self.state.read().unwrap();
        if let Ok(d) = Digest::parse(name) {
            if state.images.contains_key(&d) {
                return Ok(d);
            }
        }
        if let Ok(r) = ImageRef::parse_with_default_tag(name) {
            if let Some(id) = state.refs.get(&r.to_string()) {
                return Ok(id.clone());
            }
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<&Digest> = state
                .images
                .keys()
                .filter(|id| id.hex().starts_with(hex))
                .collect();
            match matches.len() {
                1 => return Ok(matches[0].clone()),
                n if n > 1 => {
                    return Err(ImageError::NotFound(format!(
                        "{name} (ambiguous: matches {n} images)"
                    )))
                }
                _ => {}
            }
        }
        Err(ImageError::NotFound(not_found_name(name)))
    }

    /// Points `reference` at `id`, replacing what it named before.
    pub fn tag(&self, id: &Digest, reference: &ImageRef) -> Result<(), ImageError> {
        let mut state = self.state.write().unwrap();
        if !state.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        state.refs.insert(reference.to_string(), id.clone());
        self.save_refs(&state)?;
        if reference.tag().is_some() {
            if let Some(rec) = state.images.get_mut(id) {
                rec.last_tag_time = Some(Utc::now());
                let bytes = serde_json::to_vec_pretty(&*rec).map_err(io::Error::other)?;
                atomic_write(&self.record_path(id), &bytes)?;
            }
        }
        Ok(())
    }

    /// The references naming `id`, tags and digests apart, canonical and sorted.
    pub fn refs_of(&self, id: &Digest) -> (Vec<ImageRef>, Vec<ImageRef>) {
        let state = self.state.read().unwrap();
        refs_of(&state, id)
    }

    /// Removes an image by reference or ID with Docker's rules: a reference that is not the
    /// image's last name is only untagged; an image named in several repositories needs `force`
    /// to go by ID. `in_use` says whether a container still uses the image (409 unless forced). With
    /// `prune_parents`, the parents left without a use go too (dockerd unless `noprune`).
    pub fn delete(
        &self,
        name: &str,
        force: bool,
        prune_parents: bool,
        in_use: impl Fn(&Digest) -> Option<ImageUser>,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let id = self.resolve(name)?;
        let mut state = self.state.write().unwrap();
        let mut out = Vec::new();
        let by_reference = self.is_reference_name(&state, name, &id);
        // A refused delete must leave every name where it was.
        let refs_before = state.refs.clone();
        if by_reference {
            let r = ImageRef::parse_with_default_tag(name)?;
            state.refs.remove(&r.to_string());
            out.push(DeleteItem::Untagged(r.familiar()));
            let (tags, digests) = refs_of(&state, &id);
            // The last tag of a repository takes that repository's digest references with it.
            if r.tag().is_some() && !tags.iter().any(|t| t.name() == r.name()) {
                for d in digests.iter().filter(|d| d.name() == r.name()) {
                    state.refs.remove(&d.to_string());
                    out.push(DeleteItem::Untagged(d.familiar()));
                }
            }
            let (tags, digests) = refs_of(&state, &id);
            if !tags.is_empty() || !digests.is_empty() {
                self.save_refs(&state)?;
                return Ok(out);
            }
        } else {
            let (tags, digests) = refs_of(&state, &id);
            let repos: HashSet<String> = tags
                .iter()
                .chain(digests.iter())
                .map(|r| r.name())
                .collect();
            if repos.len() > 1 && !force {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    id.short()
                )));
            }
        }
        if let Some(user) = in_use(&id) {
            let what = if by_reference {
                name.to_string()
            } else {
                id.short().to_string()
            };
            let short = &user.container[..12.min(user.container.len())];
            if user.running || !force {
                state.refs = refs_before;
                let (how, state_word) = if user.running {
                    ("cannot be forced", "running")
                } else {
                    ("must be forced", "stopped")
                };
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {what} ({how}) - image is being used by {state_word} container {short}"
                )));
            }
            // Forced past a stopped container: the names go, the image stays (dangling) for
            // as long as the container needs its layers.
            let (tags, digests) = refs_of(&state, &id);
            for r in tags.iter().chain(digests.iter()) {
                state.refs.remove(&r.to_string());
                out.push(DeleteItem::Untagged(r.familiar()));
            }
            self.save_refs(&state)?;
            return Ok(out);
        }
        let (tags, digests) = refs_of(&state, &id);
        for r in tags.iter().chain(digests.iter()) {
            state.refs.remove(&r.to_string());
            out.push(DeleteItem::Untagged(r.familiar()));
        }
        self.save_refs(&state)?;
        let record = state.images.remove(&id).expect("resolved image present");
        let _ = fs::remove_file(self.record_path(&id));
        out.push(DeleteItem::Deleted(id.to_string()));
        let mut gone = vec![record];
        if prune_parents {
            self.delete_parents(&mut state, &mut gone, &mut out, &in_use);
        }
        for record in &gone {
            for chain in self.collect_garbage(&state, record)? {
                out.push(DeleteItem::Deleted(chain.to_string()));
            }
        }
        Ok(out)
    }

    /// The parents a deleted image leaves without a use: untagged, no other child, no
    /// container. The first one still in use ends the walk, as dockerd's prune does.
    fn delete_parents(
        &self,
        state: &mut State,
        gone: &mut Vec<ImageRecord>,
        out: &mut Vec<DeleteItem>,
        in_use: &impl Fn(&Digest) -> Option<ImageUser>,
    ) {
        let mut at = gone[0].parent.clone();
        while let Some(p) = at {
            let (tags, digests) = refs_of(state, &p);
            let has_child = state.images.values().any(|r| r.parent.as_ref() == Some(&p));
            if !tags.is_empty() || !digests.is_empty() || has_child || in_use(&p).is_some() {
                break;
            }
            let Some(record) = state.images.remove(&p) else {
                break;
            };
            let _ = fs::remove_file(self.record_path(&p));
            out.push(DeleteItem::Deleted(p.to_string()));
            at = record.parent.clone();
            gone.push(record);
        }
    }

    fn is_reference_name(&self, state: &State, name: &str, id: &Digest) -> bool {
        ImageRef::parse_with_default_tag(name)
            .is_ok_and(|r| state.refs.get(&r.to_string()) == Some(id))
    }

    /// Removes the layers and blobs of `gone` that no remaining image uses; returns the
    /// chain IDs of the removed layers, top first, as Docker lists them.
    fn collect_garbage(
        &self,
        state: &State,
        gone: &ImageRecord,
    ) -> Result<Vec<Digest>, ImageError> {
        let (used_blobs, used_layers) = referenced(state);
        let mut removed = Vec::new();
        for l in gone.layers.iter().rev() {
            if !used_layers.contains(&l.chain_id) && self.layers.exists(&l.chain_id) {
                self.layers.remove(&l.chain_id)?;
                removed.push(l.chain_id.clone());
            }
            if let Some(b) = &l.blob {
                if !used_blobs.contains(&b.digest) {
                    self.content.remove(&b.digest)?;
                }
            }
        }
        for d in std::iter::once(&gone.id).chain(gone.manifests.iter()) {
            if !used_blobs.contains(d) {
                self.content.remove(d)?;
            }
        }
        Ok(removed)
    }

    /// Sum of the image's layer sizes, Docker's `Size`.
    pub fn size(&self, rec: &ImageRecord) -> u64 {
        rec.layers
            .iter()
            .filter_map(|l| self.layers.meta(&l.chain_id).ok())
            .map(|m| m.size)
            .sum()
    }

    /// Whether some image was made on this one (an intermediate image of a build, or a
    /// commit's parent): `image ls` shows only images without children unless `-a`.
    pub fn has_children(&self, id: &Digest) -> bool {
        let st = self.state.read().unwrap();
        st.images.values().any(|r| r.parent.as_ref() == Some(id))
    }

    /// Images with no tag (digest references do not count), the `dangling=true` set.
    pub fn is_dangling(&self, id: &Digest) -> bool {
        self.refs_of(id).0.is_empty()
    }

    /// Ensures every layer named in `rec` is present, for "Image is up to date" decisions.
    pub fn is_complete(&self, rec: &ImageRecord) -> bool {
        self.content.contains(&rec.id) && rec.layers.iter().all(|l| self.layers.exists(&l.chain_id))
    }
}

/// The blobs (configs, manifests, layer blobs) and layer chain IDs that some image record names.
fn referenced(state: &State) -> (HashSet<Digest>, HashSet<Digest>) {
    let mut blobs = HashSet::new();
    let mut layers = HashSet::new();
    for rec in state.images.values() {
        blobs.insert(rec.id.clone());
        blobs.extend(rec.manifests.iter().cloned());
        for l in &rec.layers {
            layers.insert(l.chain_id.clone());
            blobs.extend(l.blob.as_ref().map(|b| b.digest.clone()));
        }
    }
    (blobs, layers)
}

fn refs_of(state: &State, id: &Digest) -> (Vec<ImageRef>, Vec<ImageRef>) {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for (r, target) in &state.refs {
        if target != id {
            continue;
        }
        if let Ok(parsed) = ImageRef::parse(r) {
            if parsed.digest().is_some() {
                digests.push(parsed);
            } else {
                tags.push(parsed);
            }
        }
    }
    (tags, digests)
}

/// How Docker names a missing image: a reference with its default tag, or the string as given.
fn not_found_name(name: &str) -> String {
    match ImageRef::parse_with_default_tag(name) {
        Ok(r) => r.familiar(),
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_image(dir: &std::path::Path, config: &[u8]) -> (ImageStore, Digest) {
        let store = ImageStore::open(dir).unwrap();
        let id = store.content.put(config, None).unwrap();
        store
            .put(ImageRecord {
                id: id.clone(),
                layers: vec![],
                manifests: vec![],
                stored_at: Utc::now(),
                last_tag_time: None,
                parent: None,
            })
            .unwrap();
        (store, id)
    }

    #[test]
    fn untag_then_delete_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) =
            store_with_image(dir.path(), br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#);
        store
            .tag(&id, &ImageRef::parse_with_default_tag("a").unwrap())
            .unwrap();
        store
            .tag(&id, &ImageRef::parse_with_default_tag("a:v2").unwrap())
            .unwrap();
        assert_eq!(store.resolve("a").unwrap(), id);
        assert_eq!(store.resolve(&id.hex()[..6]).unwrap(), id);

        let out = store.delete("a:v2", false, true, |_| None).unwrap();
        assert_eq!(out, vec![DeleteItem::Untagged("a:v2".into())]);
        let out = store.delete("a", false, true, |_| None).unwrap();
        assert_eq!(
            out,
            vec![
                DeleteItem::Untagged("a:latest".into()),
                DeleteItem::Deleted(id.to_string())
            ]
        );
        assert!(matches!(store.resolve("a"), Err(ImageError::NotFound(n)) if n == "a:latest"));
        assert!(!store.content.contains(&id));
    }

    #[test]
    fn open_collects_what_no_record_names() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) =
            store_with_image(dir.path(), br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#);
        let orphan = store.content.put(b"left by a failed load", None).unwrap();
        drop(store);
        let store = ImageStore::open(dir.path()).unwrap();
        assert!(!store.content.contains(&orphan));
        assert!(store.content.contains(&id), "referenced config kept");
    }

    #[test]
    fn delete_by_id_across_repositories_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) =
            store_with_image(dir.path(), br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#);
        store
            .tag(&id, &ImageRef::parse_with_default_tag("a").unwrap())
            .unwrap();
        store
            .tag(&id, &ImageRef::parse_with_default_tag("b").unwrap())
            .unwrap();
        let err = store.delete(id.short(), false, true, |_| None).unwrap_err();
        assert!(err
            .to_string()
            .contains("referenced in multiple repositories"));
        let out = store.delete(id.short(), true, true, |_| None).unwrap();
        assert_eq!(out.len(), 3);
        // A fresh open sees the same (empty) state.
        let again = ImageStore::open(dir.path()).unwrap();
        assert!(again.ids().is_empty());
    }

    #[test]
    fn images_in_use_keep_their_names_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let (store, id) =
            store_with_image(dir.path(), br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#);
        store
            .tag(&id, &ImageRef::parse_with_default_tag("a").unwrap())
            .unwrap();
        let user = |running| {
            move |_: &Digest| {
                Some(ImageUser {
                    container: "0123456789abcdef".into(),
                    running,
                })
            }
        };
        let err = store.delete("a", true, true, user(true)).unwrap_err();
        assert!(err.to_string().contains(
            "unable to delete a (cannot be forced) - image is being used by running container 0123456789ab"
        ));
        let err = store.delete("a", false, true, user(false)).unwrap_err();
        assert!(err
            .to_string()
            .contains("(must be forced) - image is being used by stopped container"));
        assert_eq!(
            store.resolve("a").unwrap(),
            id,
            "a refused delete keeps the tag"
        );
        let out = store.delete("a", true, true, user(false)).unwrap();
        assert_eq!(out, vec![DeleteItem::Untagged("a:latest".into())]);
        assert!(
            store.get(&id).is_some(),
            "the image stays for its container"
        );
    }
}
