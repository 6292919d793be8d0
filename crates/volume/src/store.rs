//! The local volume driver: one directory per volume under `<data-root>/volumes/<name>`, its
//! data in `_data` and its record in `volume.json` (written whole: temp file, fsync, rename),
//! and in memory the containers that use each volume.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::VolumeError;
use crate::spec::check_volume_name;

/// The label dockerd (23+) puts on anonymous volumes; `volume prune` without `--all` removes
/// only those.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const RECORD: &str = "volume.json";

/// A volume as berth keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// The local driver's options, as `-o` gives them: a tmpfs (`type=tmpfs`, `o=size=…,mode=…`),
/// or a bind of a host directory (`type=none`, `o=bind`, `device=/path`). Anything else
/// needs a mount berth does not do yet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Backing {
    Directory,
    Tmpfs { options: String },
    Bind { device: PathBuf },
}

fn backing(options: &BTreeMap<String, String>) -> Result<Backing, VolumeError> {
    for k in options.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(VolumeError::Invalid(format!("invalid option key: {k:?}")));
        }
    }
    let get = |k: &str| options.get(k).map(String::as_str).unwrap_or("");
    match (get("type"), get("device"), get("o")) {
        ("", "", "") => Ok(Backing::Directory),
        ("tmpfs", _, o) => {
            for opt in o.split(',').filter(|x| !x.is_empty()) {
                let key = opt.split('=').next().unwrap_or("");
                if !matches!(key, "size" | "mode" | "uid" | "gid" | "nr_inodes") {
                    return Err(VolumeError::Invalid(format!(
                        "tmpfs volume option {opt:?} is not supported yet by berth"
                    )));
                }
            }
            Ok(Backing::Tmpfs {
                options: o.to_string(),
            })
        }
        ("none", device, o) if o.split(',').any(|x| x == "bind") => {
            if !device.starts_with('/') {
                return Err(VolumeError::Invalid(format!(
                    "bind volume device must be an absolute path, not {device:?}"
                )));
            }
            if o.split(',').any(|x| x != "bind" && x != "rbind") {
                return Err(VolumeError::Invalid(format!(
                    "bind volume option o={o:?} is not supported yet by berth"
                )));
            }
            Ok(Backing::Bind {
                device: PathBuf::from(device),
            })
        }
        (t, d, o) => Err(VolumeError::Invalid(format!(
            "local volume options type={t:?} device={d:?} o={o:?} are not supported yet by berth (type=tmpfs, or type=none with o=bind are)"
        ))),
    }
}

struct Entry {
    volume: Volume,
    /// The containers whose mounts name this volume.
    users: BTreeSet<String>,
}

/// Every volume, on disk and in memory.
pub struct VolumeStore {
    root: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl VolumeStore {
    /// Opens `<data-root>/volumes`, reading every volume's record. A directory without one is
    /// a create cut short, before it answered: removed if its data is empty, kept otherwise
    /// (berth never deletes data it cannot account for).
    pub fn open(root: &Path) -> Result<VolumeStore, VolumeError> {
        std::fs::create_dir_all(root).map_err(VolumeError::io("creating the volumes dir"))?;
        let mut entries = BTreeMap::new();
        for e in std::fs::read_dir(root)
            .map_err(VolumeError::io("reading the volumes dir"))?
            .flatten()
        {
            let dir = e.path();
            let rec = std::fs::read(dir.join(RECORD))
                .ok()
                .and_then(|b| serde_json::from_slice::<Volume>(&b).ok());
            match rec {
                Some(v) => {
                    entries.insert(
                        v.name.clone(),
                        Entry {
                            volume: v,
                            users: BTreeSet::new(),
                        },
                    );
                }
                None => {
                    let data = dir.join("_data");
                    let empty = std::fs::read_dir(&data).map_or(true, |mut d| d.next().is_none());
                    if empty && !is_mount_point(&data) {
                        tracing::warn!(dir = %dir.display(), "removing volume directory without a record");
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
            }
        }
        Ok(VolumeStore {
            root: root.to_path_buf(),
            entries: Mutex::new(entries),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where a volume's data is: what containers mount.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// `POST /volumes/create`: a new volume, or the existing one of that name if the request
    /// asks nothing it lacks (as dockerd answers a second create). `None` names it with 64
    /// random hex digits.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(Volume, bool), VolumeError> {
        if !matches!(driver, "" | "local") {
            return Err(VolumeError::Invalid(format!(
                "volume driver {driver:?} is not supported yet by berth; local is"
            )));
        }
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                check_volume_name(n)?;
                n.to_string()
            }
            None => hex::encode(rand::random::<[u8; 32]>()),
        };
        backing(&options)?;
        let mut entries = self.entries.lock().unwrap();
        if let Some(e) = entries.get(&name) {
            let v = &e.volume;
            if (!options.is_empty() && options != v.options)
                || (!labels.is_empty() && labels != v.labels)
            {
                return Err(VolumeError::Conflict(format!(
                    "create {name}: volume already exists with different options or labels"
                )));
            }
            return Ok((v.clone(), false));
        }
        let v = Volume {
            name: name.clone(),
            driver: "local".into(),
            created_at: Utc::now(),
            labels,
            options,
        };
        let dir = self.dir(&name);
        let made = (|| {
            std::fs::create_dir_all(dir.join("_data"))?;
            let bytes = serde_json::to_vec(&v).map_err(std::io::Error::other)?;
            berth_image::atomic_write(&dir.join(RECORD), &bytes)
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(VolumeError::io(format!("creating volume {name}"))(e));
        }
        entries.insert(
            name,
            Entry {
                volume: v.clone(),
                users: BTreeSet::new(),
            },
        );
        Ok((v, true))
    }

    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        self.entries
            .lock()
            .unwrap()
            .get(name)
            .map(|e| e.volume.clone())
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    /// Every volume with the number of containers using it.
    pub fn list(&self) -> Vec<(Volume, usize)> {
        self.entries
            .lock()
            .unwrap()
            .values()
            .map(|e| (e.volume.clone(), e.users.len()))
            .collect()
    }

    /// The containers using a volume.
    pub fn users(&self, name: &str) -> Vec<String> {
        self.entries
            .lock()
            .unwrap()
            .get(name)
            .map(|e| e.users.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Records that `container` uses the volume (at its create, and for every container at
    /// berthd's start).
    pub fn acquire(&self, name: &str, container: &str) -> Result<(), VolumeError> {
        let mut entries = self.entries.lock().unwrap();
        let e = entries
            .get_mut(name)
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))?;
        e.users.insert(container.to_string());
        Ok(())
    }

    pub fn release(&self, name: &str, container: &str) {
        if let Some(e) = self.entries.lock().unwrap().get_mut(name) {
            e.users.remove(container);
        }
    }

    /// `DELETE /volumes/{name}`: refused while a container uses it, even with `force` (as
    /// dockerd: force only hides a missing volume).
    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let mut entries = self.entries.lock().unwrap();
        let Some(e) = entries.get(name) else {
            return if force {
                Ok(())
            } else {
                Err(VolumeError::NotFound(name.to_string()))
            };
        };
        if !e.users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users: e.users.iter().cloned().collect(),
            });
        }
        let dir = self.dir(name);
        let data = dir.join("_data");
        if is_mount_point(&data) {
            nix::mount::umount2(&data, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| VolumeError::io(format!("unmounting volume {name}"))(e.into()))?;
        }
        // The record goes first: a crash after it leaves a directory without one, which the
        // next start clears only if its data is empty.
        std::fs::remove_file(dir.join(RECORD))
            .map_err(VolumeError::io(format!("removing volume {name}")))?;
        entries.remove(name);
        drop(entries);
        std::fs::remove_dir_all(&dir).map_err(VolumeError::io(format!("removing volume {name}")))
    }

    /// The path a container mounts for this volume, with the driver's own mount made first
    /// (a tmpfs or a bound host directory on `_data`) if it is not there yet.
    pub fn mount_source(&self, name: &str) -> Result<PathBuf, VolumeError> {
        let v = self.get(name)?;
        let data = self.data_path(name);
        let b = backing(&v.options)?;
        if b == Backing::Directory || is_mount_point(&data) {
            return Ok(data);
        }
        let err = |e: nix::Error| VolumeError::io(format!("mounting volume {name}"))(e.into());
        match b {
            Backing::Directory => {}
            Backing::Tmpfs { options } => {
                let opts = (!options.is_empty()).then_some(options.as_str());
                nix::mount::mount(
                    Some("tmpfs"),
                    &data,
                    Some("tmpfs"),
                    nix::mount::MsFlags::empty(),
                    opts,
                )
                .map_err(err)?;
            }
            Backing::Bind { device } => {
                if !device.is_dir() {
                    return Err(VolumeError::Invalid(format!(
                        "error while mounting volume '{}': failed to mount local volume: no such file or directory: {}",
                        data.display(),
                        device.display()
                    )));
                }
                nix::mount::mount(
                    Some(&device),
                    &data,
                    None::<&str>,
                    nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(err)?;
            }
        }
        Ok(data)
    }

    /// Bytes the volume's data takes (`UsageData`, `system df -v`).
    pub fn size(&self, name: &str) -> u64 {
        berth_image::dir_size(&self.data_path(name))
    }

    /// Unmounts what the driver mounted (at berthd's shutdown nothing is unmounted: running
    /// containers keep their mounts). For tests and removal.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Whether `path` is a mount point: its device differs from its parent's.
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(m), Some(parent)) = (std::fs::symlink_metadata(path), path.parent()) else {
        return false;
    };
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != m.dev())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn create_get_use_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        let (v, new) = s
            .create(Some("db"), "local", labels(&[("a", "1")]), BTreeMap::new())
            .unwrap();
        assert!(new && v.driver == "local" && !v.anonymous());
        assert!(s.data_path("db").is_dir());
        // A second create of the same name answers the existing volume.
        let (again, new) = s
            .create(Some("db"), "", BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(!new && again == v);
        assert!(matches!(
            s.create(Some("db"), "", labels(&[("b", "2")]), BTreeMap::new()),
            Err(VolumeError::Conflict(_))
        ));
        let (anon, _) = s
            .create(None, "", labels(&[(ANONYMOUS_LABEL, "")]), BTreeMap::new())
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert!(anon.anonymous());
        s.acquire("db", "c1").unwrap();
        let e = s.remove("db", true).unwrap_err();
        assert_eq!(e.to_string(), "remove db: volume is in use - [c1]");
        s.release("db", "c1");
        std::fs::write(s.data_path("db").join("f"), b"kept").unwrap();
        // Records survive a reopen; users are the container service's to give again.
        let s = VolumeStore::open(dir.path()).unwrap();
        assert_eq!(s.list().len(), 2);
        assert_eq!(std::fs::read(s.data_path("db").join("f")).unwrap(), b"kept");
        s.remove("db", false).unwrap();
        assert!(!dir.path().join("db").exists());
        assert!(matches!(
            s.remove("db", false),
            Err(VolumeError::NotFound(_))
        ));
        s.remove("db", true).unwrap();
    }

    #[test]
    fn bad_names_drivers_and_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        let none = BTreeMap::new;
        assert!(s.create(Some("a/b"), "", none(), none()).is_err());
        assert!(s.create(Some("ok"), "nfs", none(), none()).is_err());
        let o = |kv: &[(&str, &str)]| labels(kv);
        assert!(s
            .create(Some("xx"), "", none(), o(&[("type", "nfs")]))
            .is_err());
        assert!(s
            .create(Some("xx"), "", none(), o(&[("bogus", "1")]))
            .is_err());
        assert!(s
            .create(
                Some("tt"),
                "",
                none(),
                o(&[("type", "tmpfs"), ("o", "size=1m")])
            )
            .is_ok());
        assert!(s
            .create(
                Some("bb"),
                "",
                none(),
                o(&[("type", "none"), ("o", "bind"), ("device", "/srv")])
            )
            .is_ok());
        assert!(s
            .create(
                Some("b2"),
                "",
                none(),
                o(&[("type", "none"), ("o", "bind"), ("device", "rel")])
            )
            .is_err());
        // Nothing half-made is left of the refused ones.
        let mut names: Vec<_> = s.list().into_iter().map(|(v, _)| v.name).collect();
        names.sort();
        assert_eq!(names, ["bb", "tt"]);
    }

    #[test]
    fn a_directory_without_a_record_is_cleared_only_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("half/_data")).unwrap();
        std::fs::create_dir_all(dir.path().join("data-kept/_data")).unwrap();
        std::fs::write(dir.path().join("data-kept/_data/f"), b"x").unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        assert!(s.list().is_empty());
        assert!(!dir.path().join("half").exists());
        assert!(dir.path().join("data-kept/_data/f").exists());
    }
}
