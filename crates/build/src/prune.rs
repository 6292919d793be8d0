//! `builder prune` / `POST /build/prune`: the build cache's entries, and the step images only
//! the cache holds (untagged, used by no container, not under a kept image).

use std::collections::HashSet;

use berth_image::{Digest, ImageStore};

use crate::builder::Builder;
use crate::BuildError;

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub deleted: Vec<Digest>,
    pub reclaimed: u64,
}

/// The images that must stay: tagged, used by a container, and every ancestor of one.
fn kept(images: &ImageStore, used: &dyn Fn(&Digest) -> bool) -> HashSet<Digest> {
    let mut keep = HashSet::new();
    for id in images.ids() {
        if images.is_dangling(&id) && !used(&id) {
            continue;
        }
        let mut at = Some(id);
        while let Some(i) = at {
            if !keep.insert(i.clone()) {
                break;
            }
            at = images.get(&i).and_then(|r| r.parent);
        }
    }
    keep
}

impl Builder {
    /// The cache's images and their total size, for `system df`: (entries, size, in use).
    pub fn cache_usage(&self) -> Vec<(Digest, u64, bool)> {
        let used = |id: &Digest| self.containers.image_user(id).is_some();
        let keep = kept(&self.images, &used);
        let mut seen = HashSet::new();
        self.cache
            .images()
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .filter_map(|id| {
                let rec = self.images.get(&id)?;
                let size = rec
                    .layers
                    .last()
                    .and_then(|l| self.images.layers.meta(&l.chain_id).ok())
                    .map_or(0, |m| m.size);
                Some((id.clone(), size, keep.contains(&id)))
            })
            .collect()
    }

    /// Drops the cache entries of images nothing else keeps, and those images; with `all`,
    /// every entry (kept images stay, only their cache entries go). The caller holds the
    /// GC lock exclusively.
    pub fn prune(&self, all: bool) -> Result<Pruned, BuildError> {
        let used = |id: &Digest| self.containers.image_user(id).is_some();
        let keep = kept(&self.images, &used);
        let mut out = Pruned::default();
        let mut sizes = std::collections::HashMap::new();
        let mut cached: Vec<Digest> = self.cache.images();
        cached.sort_by_key(|d| d.to_string());
        cached.dedup();
        // Children before parents, so each delete leaves no dangling child behind.
        let depth = |id: &Digest| {
            let mut n = 0;
            let mut at = self.images.get(id).and_then(|r| r.parent);
            while let Some(p) = at {
                n += 1;
                at = self.images.get(&p).and_then(|r| r.parent);
            }
            n
        };
        cached.sort_by_key(|d| std::cmp::Reverse(depth(d)));
        for id in cached {
            if keep.contains(&id) {
                if all {
                    self.cache.forget(&id);
                }
                continue;
            }
            self.cache.forget(&id);
            let Some(rec) = self.images.get(&id) else {
                continue;
            };
            if self.images.has_children(&id) {
                continue;
            }
            for l in &rec.layers {
                if let Ok(m) = self.images.layers.meta(&l.chain_id) {
                    sizes.entry(l.chain_id.clone()).or_insert(m.size);
                }
            }
            self.images.delete(id.as_str(), true, false, |_| None)?;
            out.deleted.push(id);
        }
        // What was freed: the layers the deletes took with them.
        out.reclaimed = sizes
            .iter()
            .filter(|(chain, _)| !self.images.layers.exists(chain))
            .map(|(_, size)| size)
            .sum();
        Ok(out)
    }
}
