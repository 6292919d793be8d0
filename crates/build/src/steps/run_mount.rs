//! RUN's `--mount`s, as BuildKit reads them: `type=cache` (a directory kept under the
//! builder's root per id, across builds), `type=tmpfs`, and `type=bind` of the context or of
//! a stage or image (`from=`), read-only unless `rw`, a `rw` bind of an image writing only
//! into a throwaway container of it.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use berth_container::CopyRoot;
use berth_image::Digest;
use nix::fcntl::OFlag;
use serde_json::{json, Value};

use super::copy::content_digest;
use crate::builder::{Builder, Output, Prepared};
use crate::BuildError;

/// One `--mount` as written.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct MountSpec {
    pub kind: String,
    pub target: String,
    pub id: Option<String>,
    pub from: Option<String>,
    pub source: String,
    pub readonly: bool,
    pub readwrite: bool,
}

impl MountSpec {
    pub fn parse(spec: &str) -> Result<MountSpec, BuildError> {
        let mut m = MountSpec {
            kind: "bind".into(),
            ..Default::default()
        };
        let mut options = Vec::new();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if k == "type" {
                m.kind = v.to_string();
            } else {
                options.push((k, v));
            }
        }
        // The type decides which options mean anything, so it is checked first.
        if !matches!(m.kind.as_str(), "cache" | "tmpfs" | "bind") {
            return Err(BuildError::Invalid(format!(
                "RUN --mount=type={} is not supported yet",
                m.kind
            )));
        }
        for (k, v) in options {
            let flag = || v.is_empty() || v == "true";
            match (m.kind.as_str(), k) {
                (_, "target" | "dst" | "destination") => m.target = v.to_string(),
                ("cache", "id") => m.id = Some(v.to_string()),
                ("cache" | "bind", "readonly" | "ro") => m.readonly = flag(),
                ("bind", "rw" | "readwrite") => m.readwrite = flag(),
                ("bind", "from") => m.from = Some(v.to_string()),
                ("bind", "source" | "src") => m.source = v.to_string(),
                ("cache", "sharing") if matches!(v, "shared" | "private" | "locked") => {}
                _ => {
                    return Err(BuildError::Invalid(format!(
                        "RUN --mount=type={}: option {k:?} is not supported yet",
                        m.kind
                    )))
                }
            }
        }
        if m.target.is_empty() {
            return Err(BuildError::Invalid(
                "RUN --mount: target is required".into(),
            ));
        }
        Ok(m)
    }
}

/// A RUN's mounts, ready for its create body, with what they hold open until it ends.
#[derive(Default)]
pub(crate) struct RunMounts {
    pub mounts: Vec<Value>,
    /// What the cache key sees of them: the image or content a bind shows, never a host path.
    pub key: Vec<String>,
    /// Containers of `from=` images, mounted for their root to be bound.
    held: Vec<CopyRoot>,
}

impl Builder {
    pub(crate) async fn run_mounts(
        &self,
        p: &Prepared,
        specs: &[String],
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<RunMounts, BuildError> {
        let mut rm = RunMounts::default();
        for spec in specs {
            let m = MountSpec::parse(spec)?;
            if let Err(e) = self.run_mount(p, &m, done, out, &mut rm).await {
                self.release_mounts(rm).await;
                return Err(e);
            }
        }
        Ok(rm)
    }

    /// Ends what the mounts held: the `from=` images' containers and their mounts.
    pub(crate) async fn release_mounts(&self, rm: RunMounts) {
        for root in rm.held {
            let id = root.container_id.clone();
            drop(root);
            self.drop_container(&id).await;
        }
    }

    async fn run_mount(
        &self,
        p: &Prepared,
        m: &MountSpec,
        done: &HashMap<usize, Digest>,
        out: &Output,
        rm: &mut RunMounts,
    ) -> Result<(), BuildError> {
        match m.kind.as_str() {
            "cache" => {
                let id = m.id.clone().unwrap_or_else(|| m.target.clone());
                let dir: PathBuf = self.root.join("cache-mounts").join(hex::encode(
                    <sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()),
                ));
                std::fs::create_dir_all(&dir)?;
                rm.key
                    .push(format!("cache:{id}:{}:{}", m.target, m.readonly));
                rm.mounts.push(json!({
                    "Type": "bind",
                    "Source": dir.to_string_lossy(),
                    "Target": m.target,
                    "ReadOnly": m.readonly,
                }));
            }
            "tmpfs" => {
                rm.key.push(format!("tmpfs:{}", m.target));
                rm.mounts
                    .push(json!({ "Type": "tmpfs", "Target": m.target }));
            }
            _ => {
                let (source, what) = match &m.from {
                    None => {
                        if m.readwrite {
                            return Err(BuildError::Invalid(
                                "RUN --mount=type=bind,rw of the build context is not supported yet"
                                    .into(),
                            ));
                        }
                        let path = host_path(p.context.root(), &m.source)?;
                        let digest = content_digest(p.context.root(), &m.source)?;
                        (path, format!("context:{digest}"))
                    }
                    Some(name) => {
                        let image = self.image_named(p, name, done, out).await?;
                        let wc = self.work_container(&image, "RUN --mount")?;
                        let root = match self.containers.copy_root(&wc).await {
                            Ok(root) => root,
                            Err(e) => {
                                self.drop_container(&wc).await;
                                return Err(e.into());
                            }
                        };
                        let path = host_path(&root.fd, &m.source);
                        rm.held.push(root);
                        (path?, format!("image:{image}"))
                    }
                };
                rm.key.push(format!(
                    "bind:{what}:{}:{}:{}",
                    m.source, m.target, m.readwrite
                ));
                rm.mounts.push(json!({
                    "Type": "bind",
                    "Source": source.to_string_lossy(),
                    "Target": m.target,
                    "ReadOnly": !m.readwrite,
                }));
            }
        }
        Ok(())
    }
}

/// Where `path` inside `root` is on the host, resolved in the root so that no symlink in it
/// leads out. The roots bound are a build's context and never-started containers of images,
/// which nothing changes while the RUN uses them.
fn host_path(root: &OwnedFd, path: &str) -> Result<PathBuf, BuildError> {
    let fd = berth_volume::tree::open_in_root(root, path, OFlag::O_PATH)?.ok_or_else(|| {
        BuildError::Invalid(format!(
            "failed to compute cache key: \"/{}\" not found",
            path.trim_start_matches('/')
        ))
    })?;
    Ok(berth_volume::tree::fd_path(&fd)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_buildkit_reads_them() {
        let m = MountSpec::parse("type=bind,from=deps,source=/out,target=/in,rw").unwrap();
        assert_eq!(m.from.as_deref(), Some("deps"));
        assert_eq!((m.source.as_str(), m.target.as_str()), ("/out", "/in"));
        assert!(m.readwrite);
        // The type defaults to bind.
        let m = MountSpec::parse("target=/src").unwrap();
        assert_eq!(m.kind, "bind");
        let m = MountSpec::parse("type=cache,id=go,target=/root/.cache,sharing=locked").unwrap();
        assert_eq!(m.id.as_deref(), Some("go"));
    }

    #[test]
    fn what_is_not_implemented_is_refused_by_name() {
        let err = |s: &str| MountSpec::parse(s).unwrap_err().to_string();
        assert!(err("type=secret,id=x,target=/s").contains("type=secret is not supported yet"));
        assert!(err("type=cache,target=/c,uid=1000").contains("\"uid\""));
        assert!(err("type=tmpfs,target=/t,from=x").contains("\"from\""));
        assert!(err("type=bind,source=/x").contains("target is required"));
    }
}
