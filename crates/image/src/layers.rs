//! Unpacked layers, one directory per chain ID: `layers/<chain-id>/diff` is an overlayfs lower dir.
//!
//! A layer is unpacked into a temporary directory and renamed into place only after its
//! compressed and uncompressed digests have been checked, so a directory under its chain ID is
//! always complete. Leftover temporary directories from a crash are removed on open.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fsutil::{atomic_write, random_suffix};
use crate::Digest;

/// The chain ID of a stack of layers: the first layer's diff ID, then
/// `sha256(parent_chain + " " + diff_id)` for each layer above it (OCI image spec).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => Digest::of(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// What is recorded beside an unpacked layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Bytes of file content in the layer, Docker's per-layer `Size`.
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
}

impl LayerStore {
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        for e in fs::read_dir(&root)?.flatten() {
            if e.file_name().to_string_lossy().starts_with("tmp-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
        Ok(LayerStore { root })
    }

    fn dir(&self, chain: &Digest) -> PathBuf {
        self.root.join(chain.hex())
    }

    /// The directory holding the layer's files.
    pub fn diff_dir(&self, chain: &Digest) -> PathBuf {
        self.dir(chain).join("diff")
    }

    pub fn exists(&self, chain: &Digest) -> bool {
        self.dir(chain).join("meta.json").is_file()
    }

    pub fn meta(&self, chain: &Digest) -> io::Result<LayerMeta> {
        let bytes = fs::read(self.dir(chain).join("meta.json"))?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }

    /// Starts a new layer in a temporary directory.
    pub fn begin(&self) -> io::Result<LayerWriter> {
        let tmp = self.root.join(format!("tmp-{}", random_suffix()));
        fs::create_dir_all(tmp.join("diff"))?;
        // Other host users have no business in a layer (setuid binaries among them).
        fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o710))?;
        Ok(LayerWriter {
            store: self.clone(),
            tmp: Some(tmp),
        })
    }

    pub fn remove(&self, chain: &Digest) -> io::Result<()> {
        let dir = self.dir(chain);
        // Rename first so that a crash mid-delete never leaves a half-deleted layer under its ID.
        let doomed = self.root.join(format!("tmp-{}", random_suffix()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => fs::remove_dir_all(&doomed),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every complete layer.
    pub fn list(&self) -> io::Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.root)?.flatten() {
            if let Ok(d) = Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// A layer being unpacked. Dropped without [`LayerWriter::commit`], it is removed.
pub struct LayerWriter {
    store: LayerStore,
    tmp: Option<PathBuf>,
}

impl LayerWriter {
    pub fn diff_dir(&self) -> PathBuf {
        self.tmp.as_ref().expect("open layer").join("diff")
    }

    /// Records the layer's metadata and moves it under its chain ID. If another pull committed
    /// the same layer meanwhile, that one is kept and this copy discarded.
    pub fn commit(mut self, meta: &LayerMeta) -> io::Result<()> {
        let tmp = self.tmp.take().expect("open layer");
        let bytes = serde_json::to_vec(meta).map_err(io::Error::other)?;
        atomic_write(&tmp.join("meta.json"), &bytes)?;
        let dest = self.store.dir(&meta.chain_id);
        if self.store.exists(&meta.chain_id) {
            return fs::remove_dir_all(&tmp);
        }
        let _ = fs::remove_dir_all(&dest); // an incomplete directory without meta.json
        fs::rename(&tmp, &dest)
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_dir_all(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn uncommitted_layers_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(dir.path()).unwrap();
        let w = store.begin().unwrap();
        fs::write(w.diff_dir().join("f"), "x").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let w = store.begin().unwrap();
        let d = Digest::of(b"layer");
        w.commit(&LayerMeta {
            chain_id: d.clone(),
            diff_id: d.clone(),
            size: 1,
        })
        .unwrap();
        assert!(store.exists(&d));
        assert_eq!(store.list().unwrap(), vec![d]);
    }
}
