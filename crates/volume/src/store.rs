//! The volume store and its local driver: one entry per volume in one map (the record kept on
//! disk, and beside it what lives only while berthd runs: the containers that reference it and
//! those running with it mounted), and the volume's directory.
//!
//! On disk, each volume is `<data-root>/volumes/<name>/` with `volume.json` (the record) and
//! `_data` (what containers see). A volume is made whole in a `.creating-*` directory and
//! renamed into place; a removal renames it to `.removing-*` first. Either leftover of a crash
//! is cleared at the next start, so a volume is there complete or not at all.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VolumeError};
use crate::kernel::Kernel;
use crate::parse::LOCAL_DRIVER;

/// The label Docker puts on volumes made without a name (`-v /data`, an image's `VOLUME`):
/// those are what `volume prune` removes by default, and what `rm -v` takes with a container.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const RECORD: &str = "volume.json";
const DATA: &str = "_data";
/// Staging directories: a volume being made, a volume being removed, a copy-up under way.
const CREATING: &str = ".creating-";
const REMOVING: &str = ".removing-";
pub(crate) const COPY_UP: &str = ".copy-up-";

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// `None` when the request sent none (inspect shows `null`, as dockerd does).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// The local driver's options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    pub created_at: DateTime<Utc>,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
    }

    fn option(&self, k: &str) -> &str {
        self.options
            .as_ref()
            .and_then(|o| o.get(k))
            .map_or("", String::as_str)
    }

    /// Whether the local driver mounts something on `_data` for it (`type`/`device` given).
    pub fn has_device(&self) -> bool {
        !self.option("device").is_empty() || !self.option("type").is_empty()
    }

    /// Whether it has driver options at all (prune and `system df` leave those alone, as
    /// Docker: their data is not really local).
    pub fn has_options(&self) -> bool {
        self.options.as_ref().is_some_and(|o| !o.is_empty())
    }
}

/// A volume as the API shows it: the record, its data directory, and how many containers
/// reference it.
#[derive(Debug, Clone)]
pub struct VolumeView {
    pub volume: Volume,
    pub mountpoint: PathBuf,
    pub refs: usize,
}

/// One volume and what berthd knows about its use while it runs.
struct Entry {
    record: Volume,
    /// Containers (by ID) whose mount points name it, stopped ones included: a referenced
    /// volume is not removed.
    refs: BTreeSet<String>,
    /// Containers running with it mounted.
    active: BTreeSet<String>,
    /// Its device is mounted on `_data` (volumes with `type`/`device` options).
    device_mounted: bool,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. The name is a directory
/// under the store, so nothing else may pass.
pub fn check_name(name: &str) -> Result<()> {
    if name.len() == 1 {
        return Err(VolumeError::invalid(
            "volume name is too short, names should be at least two alphanumeric characters",
        ));
    }
    let mut b = name.bytes();
    let ok = matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        return Err(VolumeError::invalid(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// The local driver's options, checked as dockerd's (`daemon/volume/local/local_unix.go`).
/// `size` needs project quotas, which berth does not set up.
pub fn check_options(opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "o" | "device" | "size") {
            return Err(VolumeError::invalid(format!("invalid option: {k:?}")));
        }
    }
    if let Some(size) = opts.get("size") {
        let n = crate::units::ram_in_bytes(size).map_err(VolumeError::Invalid)?;
        if n > 0 {
            return Err(VolumeError::invalid(
                "quota size requested but no quota support",
            ));
        }
    }
    // Go's map order is random; dockerd names whichever comes first. A fixed order here.
    for (opt, needs) in [
        ("device", &["type"][..]),
        ("o", &["device", "type"][..]),
        ("type", &["device"][..]),
    ] {
        if opts.contains_key(opt) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(VolumeError::invalid(format!(
                    "missing required option: {missing:?}"
                )));
            }
        }
    }
    Ok(())
}

fn no_such(op: &str, name: &str) -> VolumeError {
    VolumeError::NotFound(format!("{op} {name}: no such volume"))
}

/// The volumes under `<data-root>/volumes`.
pub struct VolumeStore {
    root: PathBuf,
    kernel: Arc<dyn Kernel>,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl VolumeStore {
    /// Reads every volume under `root`, clearing what a crash left half-made or half-removed.
    pub fn open(root: &Path, kernel: Arc<dyn Kernel>) -> Result<VolumeStore> {
        std::fs::create_dir_all(root).map_err(VolumeError::io("creating the volumes dir"))?;
        let mut entries = BTreeMap::new();
        let dir = std::fs::read_dir(root).map_err(VolumeError::io("reading the volumes dir"))?;
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(CREATING) || name.starts_with(REMOVING) {
                remove_unmounted(kernel.as_ref(), &path);
                continue;
            }
            if check_name(&name).is_err() || !path.is_dir() {
                continue;
            }
            let Some(record) = load_record(&path, &name) else {
                tracing::warn!(dir = %path.display(), "skipping a directory that is no volume");
                continue;
            };
            clear_copy_ups(&path);
            let device_mounted = record.has_device() && kernel.is_mounted(&path.join(DATA));
            entries.insert(
                name,
                Entry {
                    record,
                    refs: BTreeSet::new(),
                    active: BTreeSet::new(),
                    device_mounted,
                },
            );
        }
        Ok(VolumeStore {
            root: root.to_path_buf(),
            kernel,
            entries: Mutex::new(entries),
        })
    }

    /// Where a volume's data lives.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA)
    }

    pub(crate) fn kernel(&self) -> &dyn Kernel {
        self.kernel.as_ref()
    }

    pub(crate) fn volume_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates a volume (a random 64-hex name, labelled anonymous, when `name` is `None`), or
    /// returns the one already there by that name, as dockerd does. With `reference`, the
    /// container is recorded as its user in the same step, so no prune can come between.
    /// Returns the volume and whether it was made now.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        options: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
        reference: Option<&str>,
    ) -> Result<(Volume, bool)> {
        let (name, labels) = match name.filter(|n| !n.is_empty()) {
            Some(n) => (n.to_string(), labels),
            None => {
                let mut l = labels.unwrap_or_default();
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (hex::encode(rand::random::<[u8; 32]>()), Some(l))
            }
        };
        let wrap = |e: VolumeError| match e {
            VolumeError::Invalid(m) => VolumeError::Invalid(format!("create {name}: {m}")),
            e => e,
        };
        check_name(&name).map_err(wrap)?;
        crate::parse::check_driver(driver)?;
        if let Some(o) = &options {
            check_options(o).map_err(wrap)?;
        }
        let mut entries = self.entries.lock().unwrap();
        if let Some(e) = entries.get_mut(&name) {
            if let Some(r) = reference {
                e.refs.insert(r.to_string());
            }
            return Ok((e.record.clone(), false));
        }
        let record = Volume {
            name: name.clone(),
            driver: LOCAL_DRIVER.into(),
            labels,
            options,
            created_at: Utc::now(),
        };
        self.make_on_disk(&record)
            .map_err(VolumeError::io(format!("creating volume {name}")))?;
        let mut refs = BTreeSet::new();
        refs.extend(reference.map(str::to_string));
        entries.insert(
            name,
            Entry {
                record: record.clone(),
                refs,
                active: BTreeSet::new(),
                device_mounted: false,
            },
        );
        Ok((record, true))
    }

    /// The volume directory made whole beside its place, then renamed into it: the record
    /// and `_data` appear together or not at all.
    fn make_on_disk(&self, v: &Volume) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let tmp = self.root.join(format!(
            "{CREATING}{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let made = (|| {
            std::fs::DirBuilder::new().mode(0o701).create(&tmp)?;
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(tmp.join(DATA))?;
            let bytes = serde_json::to_vec(v).map_err(io::Error::other)?;
            let mut f = std::fs::File::create(tmp.join(RECORD))?;
            io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, self.root.join(&v.name))?;
            std::fs::File::open(&self.root)?.sync_all()
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        made
    }

    pub fn get(&self, name: &str) -> Result<VolumeView> {
        let entries = self.entries.lock().unwrap();
        let e = entries.get(name).ok_or_else(|| no_such("get", name))?;
        Ok(self.view(e))
    }

    fn view(&self, e: &Entry) -> VolumeView {
        VolumeView {
            volume: e.record.clone(),
            mountpoint: self.data_path(&e.record.name),
            refs: e.refs.len(),
        }
    }

    pub fn list(&self) -> Vec<VolumeView> {
        let entries = self.entries.lock().unwrap();
        entries.values().map(|e| self.view(e)).collect()
    }

    /// Removes a volume and its data; refused while any container references it. `force`
    /// only makes a missing volume no error, as with dockerd.
    pub fn remove(&self, name: &str, force: bool) -> Result<Option<Volume>> {
        let mut entries = self.entries.lock().unwrap();
        let Some(e) = entries.get(name) else {
            return if force {
                Ok(None)
            } else {
                Err(no_such("get", name))
            };
        };
        if !e.refs.is_empty() {
            let refs: Vec<&str> = e.refs.iter().map(String::as_str).collect();
            return Err(VolumeError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                refs.join(", ")
            )));
        }
        let data = self.data_path(name);
        if e.device_mounted || (e.record.has_device() && self.kernel.is_mounted(&data)) {
            self.kernel
                .unmount(&data)
                .map_err(VolumeError::io(format!("remove {name}: unmounting")))?;
        }
        let gone = self.root.join(format!(
            "{REMOVING}{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        std::fs::rename(self.root.join(name), &gone)
            .map_err(VolumeError::io(format!("remove {name}")))?;
        let record = entries.remove(name).map(|e| e.record);
        drop(entries);
        remove_unmounted(self.kernel.as_ref(), &gone);
        Ok(record)
    }

    /// Records that `container` uses the volume.
    pub fn add_ref(&self, name: &str, container: &str) -> Result<Volume> {
        let mut entries = self.entries.lock().unwrap();
        let e = entries.get_mut(name).ok_or_else(|| no_such("get", name))?;
        e.refs.insert(container.to_string());
        Ok(e.record.clone())
    }

    /// `container` no longer uses the volume. Returns whether anyone still does.
    pub fn release(&self, name: &str, container: &str) -> bool {
        let mut entries = self.entries.lock().unwrap();
        match entries.get_mut(name) {
            Some(e) => {
                e.refs.remove(container);
                !e.refs.is_empty()
            }
            None => false,
        }
    }

    /// At a start: `container` runs with the volume mounted; a volume with a device gets it
    /// mounted on `_data` first, once for all its containers. Returns the data path.
    pub fn mount(&self, name: &str, container: &str) -> Result<PathBuf> {
        let mut entries = self.entries.lock().unwrap();
        let e = entries.get_mut(name).ok_or_else(|| no_such("get", name))?;
        let data = self.data_path(name);
        if e.record.has_device() && !e.device_mounted {
            let (t, dev, o) = (
                e.record.option("type").to_string(),
                e.record.option("device").to_string(),
                e.record.option("o").to_string(),
            );
            self.kernel.mount(&dev, &data, &t, &o).map_err(|err| {
                // A password in `o` (cifs) is not for the logs.
                VolumeError::Io {
                    context: format!("error while mounting volume '{}'", data.display()),
                    source: io::Error::new(
                        err.kind(),
                        format!(
                            "failed to mount local volume: {}",
                            hide_password(&err.to_string(), &o)
                        ),
                    ),
                }
            })?;
            e.device_mounted = true;
        }
        e.active.insert(container.to_string());
        Ok(data)
    }

    /// At an exit: `container` no longer has the volume mounted; the last one out unmounts
    /// its device. Returns whether it had it mounted.
    pub fn unmount(&self, name: &str, container: &str) -> bool {
        let mut entries = self.entries.lock().unwrap();
        let Some(e) = entries.get_mut(name) else {
            return false;
        };
        let was = e.active.remove(container);
        if e.active.is_empty() && e.device_mounted {
            let data = self.data_path(name);
            match self.kernel.unmount(&data) {
                Ok(()) => e.device_mounted = false,
                Err(err) => tracing::warn!(volume = name, error = %err, "unmounting volume"),
            }
        }
        was
    }

    /// Whether any container runs with it mounted (a copy-up then writes in place: a
    /// running container holds the directory it was given).
    pub fn in_active_use(&self, name: &str) -> bool {
        let entries = self.entries.lock().unwrap();
        entries
            .get(name)
            .is_some_and(|e| !e.active.is_empty() || e.device_mounted)
    }
}

fn hide_password(msg: &str, o: &str) -> String {
    match o.split(',').find_map(|kv| kv.strip_prefix("password=")) {
        Some(p) if !p.is_empty() => msg.replace(p, "********"),
        _ => msg.to_string(),
    }
}

fn load_record(dir: &Path, name: &str) -> Option<Volume> {
    if let Ok(b) = std::fs::read(dir.join(RECORD)) {
        return serde_json::from_slice::<Volume>(&b)
            .ok()
            .filter(|v| v.name == name);
    }
    // A directory holding `_data` is a volume, as dockerd counts them (one copied in from
    // elsewhere, say): without a record it has no labels or options.
    let meta = std::fs::metadata(dir.join(DATA)).ok()?;
    let created = meta
        .modified()
        .ok()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(Utc::now);
    Some(Volume {
        name: name.to_string(),
        driver: LOCAL_DRIVER.into(),
        labels: None,
        options: None,
        created_at: created,
    })
}

/// Copies into a volume cut short by a crash: their target was still empty, and the next
/// copy starts afresh.
fn clear_copy_ups(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(COPY_UP) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes a volume directory that is out of the store, never through a mount on its data.
fn remove_unmounted(kernel: &dyn Kernel, dir: &Path) {
    let data = dir.join(DATA);
    if kernel.is_mounted(&data) && kernel.unmount(&data).is_err() {
        tracing::error!(dir = %dir.display(), "a removed volume's data is still mounted; left in place");
        return;
    }
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::error!(dir = %dir.display(), error = %e, "removing a volume directory");
    }
}

#[cfg(test)]
mod tests;
