//! `docker build --cache-from`: a step's image found in another image's history rather than in
//! the local build cache, as the classic builder finds it. An image matches a step when its
//! history and layers begin with the step's parent's and its next history entry is the step
//! (the same `created_by`); the step's image is then the parent with that entry and, unless
//! the entry is an empty layer, that image's next layer, so the layer is reused, not rebuilt.

use serde_json::Value;

use crate::archive::ArchiveError;
use crate::commit::{child, Commit};
use crate::store::{ImageError, ImageStore};
use crate::Digest;

/// Where a step falls in a cache source's history.
#[derive(Debug, PartialEq)]
struct Found {
    /// The step's history entry, and the layer it adds if any.
    entry: usize,
    layer: Option<usize>,
}

/// The step `created_by` on a parent (its image config) inside `source` (another image's
/// config), if `source` was built that way.
fn find(parent: &Value, source: &Value, created_by: &str) -> Option<Found> {
    let empty = |h: &Value| h["empty_layer"].as_bool().unwrap_or(false);
    let no_history = Vec::new();
    let ph = parent["history"].as_array().unwrap_or(&no_history);
    let sh = source["history"].as_array()?;
    let same = |a: &Value, b: &Value| a["created_by"] == b["created_by"] && empty(a) == empty(b);
    if sh.len() <= ph.len() || !ph.iter().zip(sh).all(|(a, b)| same(a, b)) {
        return None;
    }
    let pl = parent["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    let sl = source["rootfs"]["diff_ids"].as_array()?;
    if sl.len() < pl
        || parent["rootfs"]["diff_ids"]
            .as_array()
            .is_some_and(|p| p[..] != sl[..pl])
    {
        return None;
    }
    let next = &sh[ph.len()];
    if next["created_by"].as_str() != Some(created_by) {
        return None;
    }
    let layer = if empty(next) {
        None
    } else if pl < sl.len() {
        Some(pl)
    } else {
        return None;
    };
    Some(Found {
        entry: ph.len(),
        layer,
    })
}

/// The step's image from the first of `sources` built with it, `None` when none was. An
/// exact match (the source's last step, with the same config) is the source itself.
pub fn reuse(
    store: &ImageStore,
    c: Commit,
    sources: &[Digest],
) -> Result<Option<Digest>, ArchiveError> {
    let parent = store
        .get(c.parent)
        .ok_or_else(|| ImageError::NotFound(c.parent.to_string()))?;
    let parent_cfg = config(store, c.parent)?;
    for id in sources {
        let Some(source) = store.get(id) else {
            continue;
        };
        let source_cfg = config(store, id)?;
        let Some(found) = find(&parent_cfg, &source_cfg, c.created_by) else {
            continue;
        };
        let last = source_cfg["history"].as_array().map_or(0, Vec::len) == found.entry + 1;
        if last && source_cfg["config"] == c.config {
            return Ok(Some(id.clone()));
        }
        let mut layers = parent.layers.clone();
        if let Some(i) = found.layer {
            layers.push(source.layers[i].clone());
        }
        return child(store, &c, layers, found.layer.is_none()).map(Some);
    }
    Ok(None)
}

fn config(store: &ImageStore, id: &Digest) -> Result<Value, ArchiveError> {
    serde_json::from_slice(&store.config_bytes(id)?)
        .map_err(|e| ArchiveError::from(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(steps: &[(&str, bool)], layers: &[&str]) -> Value {
        let history: Vec<Value> = steps
            .iter()
            .map(|(c, e)| json!({ "created_by": c, "empty_layer": e }))
            .collect();
        json!({ "history": history, "rootfs": { "diff_ids": layers } })
    }

    #[test]
    fn a_step_is_found_after_the_parents_history() {
        let parent = image(&[("base", false)], &["l1"]);
        let source = image(
            &[("base", false), ("ENV A=1", true), ("RUN make", false)],
            &["l1", "l2"],
        );
        assert_eq!(
            find(&parent, &source, "ENV A=1"),
            Some(Found {
                entry: 1,
                layer: None
            })
        );
        let after_env = image(&[("base", false), ("ENV A=1", true)], &["l1"]);
        assert_eq!(
            find(&after_env, &source, "RUN make"),
            Some(Found {
                entry: 2,
                layer: Some(1)
            })
        );
        // Another step, another base, or a base with other layers: no match.
        assert_eq!(find(&parent, &source, "ENV A=2"), None);
        let other = image(&[("other", false)], &["l1"]);
        assert_eq!(find(&other, &source, "ENV A=1"), None);
        let relayered = image(&[("base", false)], &["l9"]);
        assert_eq!(find(&relayered, &source, "ENV A=1"), None);
        // Nothing after the parent's history.
        assert_eq!(find(&source, &source, "RUN make"), None);
    }
}
