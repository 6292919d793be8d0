//! The build cache: for each step, the image it made, keyed by what the step depends on (the
//! parent image, the instruction with its expanded values and build args, and for COPY/ADD the
//! content and metadata of what it copies). Kept under `<data-root>/builder/cache`, one file
//! per key, so it survives restarts; an entry whose image is gone is a miss.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_image::Digest;
use sha2::{Digest as _, Sha256};

/// A step's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of a step on `parent` described by `parts` (each part length-prefixed, so no
    /// two different lists hash alike).
    pub fn new(parent: &str, parts: &[&str]) -> CacheKey {
        let mut h = Sha256::new();
        for p in std::iter::once(parent).chain(parts.iter().copied()) {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        CacheKey(hex::encode(h.finalize()))
    }
}

pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    pub fn open(data_root: &Path) -> io::Result<BuildCache> {
        let dir = data_root.join("builder").join("cache");
        fs::create_dir_all(&dir)?;
        Ok(BuildCache { dir })
    }

    pub fn get(&self, key: &CacheKey) -> Option<Digest> {
        let text = fs::read_to_string(self.dir.join(&key.0)).ok()?;
        Digest::parse(text.trim()).ok()
    }

    /// Records `image` for `key`: written to a temporary file and renamed, so a crash leaves
    /// the old entry or the new one.
    pub fn put(&self, key: &CacheKey, image: &Digest) -> io::Result<()> {
        let tmp = self.dir.join(format!(".{}.tmp", key.0));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(image.to_string().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, self.dir.join(&key.0))
    }

    /// Every entry's image.
    pub fn images(&self) -> Vec<Digest> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return vec![];
        };
        rd.flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .filter_map(|t| Digest::parse(t.trim()).ok())
            .collect()
    }

    /// Drops every entry; returns how many there were.
    pub fn clear(&self) -> io::Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.dir)?.flatten() {
            fs::remove_file(e.path())?;
            n += 1;
        }
        Ok(n)
    }

    /// Drops the entries that name `image`.
    pub fn forget(&self, image: &Digest) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            if fs::read_to_string(e.path()).is_ok_and(|t| t.trim() == image.to_string()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_entries_and_clearing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache::open(dir.path()).unwrap();
        let k = CacheKey::new("sha256:aa", &["RUN", "echo hi"]);
        assert_ne!(k, CacheKey::new("sha256:aa", &["RUN echo", "hi"]));
        assert_ne!(k, CacheKey::new("sha256:ab", &["RUN", "echo hi"]));
        assert_eq!(cache.get(&k), None);
        let id = Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap();
        cache.put(&k, &id).unwrap();
        assert_eq!(
            BuildCache::open(dir.path()).unwrap().get(&k),
            Some(id.clone())
        );
        assert_eq!(cache.images(), vec![id.clone()]);
        cache.forget(&id);
        assert_eq!(cache.get(&k), None);
        cache.put(&k, &id).unwrap();
        assert_eq!(cache.clear().unwrap(), 1);
        assert!(cache.images().is_empty());
    }
}
