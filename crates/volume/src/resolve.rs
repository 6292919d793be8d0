//! From what a container asks for to the mounts it gets: volumes found or created, sources
//! checked, precedence and duplicates as dockerd has them. The result ([`MountPoint`]s) is
//! kept in the container's record, shown by inspect, and turned into the OCI spec's mounts
//! at each start.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::VolumeError;
use crate::spec::{self, clean_target, MountKind, MountRequest};
use crate::store::{VolumeStore, ANONYMOUS_LABEL};

/// One mount of a container, as inspect's `Mounts` shows it (the first eight fields) and as
/// each start mounts it (the rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: MountKind,
    /// The volume's name; empty for binds and tmpfs.
    pub name: String,
    /// The host path mounted: the bind's source, or the volume's data directory.
    pub source: PathBuf,
    pub destination: String,
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
    /// Copy the image's content at the destination into the volume while it is empty.
    #[serde(default)]
    pub copy_data: bool,
    #[serde(default)]
    pub subpath: String,
    #[serde(default)]
    pub non_recursive: bool,
    /// Give the volume's root to the container's user at start (`:U`).
    #[serde(default)]
    pub chown: bool,
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// Made for this container alone: goes with it on `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
}

/// A mount as the OCI spec takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecMount {
    pub destination: String,
    pub typ: String,
    pub source: PathBuf,
    pub options: Vec<String>,
}

impl MountPoint {
    /// The spec entry: binds and volumes as binds (`rbind`, the propagation, `ro`), tmpfs
    /// with Docker's defaults (`noexec,nosuid,nodev`) under the options asked for. `source`
    /// is where the volume's data is mounted from at this start (see
    /// [`VolumeStore::mount_source`]).
    pub fn spec(&self, source: PathBuf) -> SpecMount {
        let mut options: Vec<String> = Vec::new();
        let typ = match self.kind {
            MountKind::Tmpfs => {
                let mut defaults = vec!["noexec", "nosuid", "nodev"];
                for o in &self.tmpfs_options {
                    match o.as_str() {
                        "exec" => defaults.retain(|d| *d != "noexec"),
                        "suid" => defaults.retain(|d| *d != "nosuid"),
                        "dev" => defaults.retain(|d| *d != "nodev"),
                        _ => {}
                    }
                }
                options.extend(defaults.into_iter().map(str::to_string));
                options.extend(
                    self.tmpfs_options
                        .iter()
                        .filter(|o| !matches!(o.as_str(), "exec" | "suid" | "dev"))
                        .cloned(),
                );
                "tmpfs"
            }
            MountKind::Bind | MountKind::Volume => {
                options.push(if self.non_recursive { "bind" } else { "rbind" }.into());
                options.push(if self.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    self.propagation.clone()
                });
                "bind"
            }
        };
        if !self.rw {
            options.push("ro".into());
        }
        SpecMount {
            destination: self.destination.clone(),
            typ: typ.into(),
            source: if self.kind == MountKind::Tmpfs {
                PathBuf::from("tmpfs")
            } else {
                source
            },
            options,
        }
    }
}

/// What a container asks for, from its create body and its image.
#[derive(Debug, Default)]
pub struct Requested<'a> {
    /// `HostConfig.Binds`.
    pub binds: &'a [String],
    /// `HostConfig.Mounts`.
    pub mounts: &'a [serde_json::Value],
    /// `HostConfig.Tmpfs`.
    pub tmpfs: Option<&'a BTreeMap<String, String>>,
    /// `Config.Volumes` and the image's `VOLUME`s: anonymous volumes.
    pub anonymous: Vec<String>,
    /// `--volumes-from`: another container's mount points, and `Some(read_only)` if the
    /// `:ro`/`:rw` suffix overrides theirs.
    pub volumes_from: Vec<(Vec<MountPoint>, Option<bool>)>,
}

impl VolumeStore {
    /// Resolves a container's mounts at create: named volumes are created if missing, and
    /// every volume is recorded as used by `container`. Returns the mount points and the
    /// names of the volumes it created. On an error nothing is left: the volumes made for it
    /// go, the uses are released.
    pub fn resolve(
        &self,
        container: &str,
        req: &Requested,
    ) -> Result<(Vec<MountPoint>, Vec<String>), VolumeError> {
        let mut made: Vec<String> = Vec::new();
        let mut used: Vec<String> = Vec::new();
        match self.resolve_into(container, req, &mut made, &mut used) {
            Ok(points) => Ok((points, made)),
            Err(e) => {
                for n in &used {
                    self.release(n, container);
                }
                for n in &made {
                    let _ = self.remove(n, true);
                }
                Err(e)
            }
        }
    }

    fn resolve_into(
        &self,
        container: &str,
        req: &Requested,
        made: &mut Vec<String>,
        used: &mut Vec<String>,
    ) -> Result<Vec<MountPoint>, VolumeError> {
        // Lowest first; a later layer replaces an earlier one at the same destination:
        // anonymous volumes (image and Config.Volumes), then --volumes-from, then what the
        // user named (binds, mounts, tmpfs), which must not name one destination twice.
        let mut by_dest: BTreeMap<String, MountPoint> = BTreeMap::new();
        let mut anonymous: Vec<MountRequest> = Vec::new();
        for t in &req.anonymous {
            anonymous.push(MountRequest::anonymous(&clean_target(t)));
        }
        let mut pending: BTreeMap<String, MountRequest> = BTreeMap::new();
        for a in anonymous {
            pending.insert(a.target.clone(), a);
        }
        for (points, read_only) in &req.volumes_from {
            for p in points {
                let mut p = p.clone();
                if let Some(ro) = read_only {
                    p.rw = !ro;
                }
                // Theirs, not ours: their anonymous volumes stay theirs.
                p.anonymous = false;
                p.copy_data = false;
                pending.remove(&p.destination);
                by_dest.insert(p.destination.clone(), p);
            }
        }
        let mut named: Vec<MountRequest> = Vec::new();
        for b in req.binds {
            named.push(spec::parse_bind(b)?);
        }
        for m in req.mounts {
            named.push(spec::parse_mount(m)?);
        }
        for (t, o) in req.tmpfs.into_iter().flatten() {
            named.push(spec::parse_tmpfs(t, o)?);
        }
        let mut seen = std::collections::BTreeSet::new();
        for mut r in named {
            r.target = clean_target(&r.target);
            if !seen.insert(r.target.clone()) {
                return Err(VolumeError::Invalid(format!(
                    "Duplicate mount point: {}",
                    r.target
                )));
            }
            by_dest.remove(&r.target);
            pending.insert(r.target.clone(), r);
        }
        for (dest, r) in pending {
            let p = self.mount_point(container, r, made, used)?;
            by_dest.insert(dest, p);
        }
        for p in by_dest.values() {
            if p.kind == MountKind::Volume && !used.contains(&p.name) {
                self.acquire(&p.name, container)?;
                used.push(p.name.clone());
            }
        }
        // Parents before children (`/a` before `/a/b`), as the runtime must mount them.
        let mut out: Vec<MountPoint> = by_dest.into_values().collect();
        out.sort_by_key(|p| p.destination.split('/').filter(|c| !c.is_empty()).count());
        Ok(out)
    }

    fn mount_point(
        &self,
        container: &str,
        r: MountRequest,
        made: &mut Vec<String>,
        used: &mut Vec<String>,
    ) -> Result<MountPoint, VolumeError> {
        let mut p = MountPoint {
            kind: r.kind,
            name: String::new(),
            source: PathBuf::new(),
            destination: r.target.clone(),
            driver: String::new(),
            mode: r.mode.clone(),
            rw: !r.read_only,
            propagation: String::new(),
            copy_data: false,
            subpath: r.subpath.clone(),
            non_recursive: r.non_recursive,
            chown: r.chown,
            tmpfs_options: r.tmpfs_options.clone(),
            anonymous: false,
        };
        match r.kind {
            MountKind::Tmpfs => {}
            MountKind::Bind => {
                let src = PathBuf::from(&r.source);
                if !src.exists() {
                    if r.create_source {
                        std::fs::create_dir_all(&src).map_err(VolumeError::io(format!(
                            "creating the bind source {}",
                            src.display()
                        )))?;
                    } else {
                        return Err(VolumeError::Invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            src.display()
                        )));
                    }
                }
                p.source = src;
                p.propagation = if r.propagation.is_empty() {
                    "rprivate".into()
                } else {
                    r.propagation.clone()
                };
            }
            MountKind::Volume => {
                let anonymous = r.source.is_empty();
                let mut labels = r.labels.clone();
                if anonymous {
                    labels.insert(ANONYMOUS_LABEL.into(), String::new());
                }
                let name = (!anonymous).then_some(r.source.as_str());
                let (v, new) = match name.map(|n| self.get(n)) {
                    Some(Ok(v)) => (v, false),
                    _ => self.create(name, "local", labels, r.driver_opts.clone())?,
                };
                if new {
                    made.push(v.name.clone());
                }
                self.acquire(&v.name, container)?;
                used.push(v.name.clone());
                p.name = v.name.clone();
                p.source = self.data_path(&v.name);
                p.driver = v.driver;
                p.copy_data = !r.no_copy;
                p.anonymous = anonymous;
            }
        }
        Ok(p)
    }

    /// A container is gone: its uses end, and with `remove_anonymous` (`rm -v`, `--rm`) its
    /// anonymous volumes go if nothing else uses them. Named volumes always stay.
    pub fn release_all(&self, container: &str, points: &[MountPoint], remove_anonymous: bool) {
        for p in points.iter().filter(|p| p.kind == MountKind::Volume) {
            self.release(&p.name, container);
            if remove_anonymous && p.anonymous {
                match self.remove(&p.name, true) {
                    Ok(()) | Err(VolumeError::InUse { .. }) => {}
                    Err(e) => {
                        tracing::warn!(volume = p.name, error = %e, "removing anonymous volume")
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
