//! The volume service: the store for the API's volume endpoints, and the narrow interface the
//! container service calls through a container's life.
//!
//! - at create, [`VolumeService::resolve`] turns the container's `-v`, `--mount`, `--tmpfs`,
//!   `--volumes-from` and `VOLUME`s into its mount points (making the volumes they name, and
//!   recording the container as their user), and [`VolumeService::populate`] copies the
//!   image's content into the volumes that are still empty;
//! - at each start, [`VolumeService::mount`] readies every mount point and returns the mounts
//!   for the OCI spec; at each exit, [`VolumeService::unmount`];
//! - at removal, [`VolumeService::release`] (which removes the container's anonymous volumes
//!   for `rm -v` and `--rm`); at berthd's start, [`VolumeService::restore`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::OFlag;

use crate::error::{Result, VolumeError};
use crate::kernel::Kernel;
use crate::mount::{Mount, MountPoint, MountType};
use crate::parse;
use crate::store::{Volume, VolumeStore, VolumeView, COPY_UP};
use crate::tree;

/// Where volume events go: `(action, volume name, attributes)`, as `/events` reports them
/// (create, mount, unmount, destroy, prune).
pub type EventSink = Box<dyn Fn(&str, &str, BTreeMap<String, String>) + Send + Sync>;

/// One mount for the OCI spec: `bind` or `tmpfs`, with the runtime's option words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecMount {
    pub destination: String,
    pub kind: &'static str,
    pub source: String,
    pub options: Vec<String>,
}

/// What a container asks to have mounted, from its create body.
#[derive(Debug, Default)]
pub struct Request<'a> {
    /// `HostConfig.Binds`.
    pub binds: &'a [String],
    /// `HostConfig.Mounts`, as the request sent them.
    pub mounts: &'a [serde_json::Value],
    /// `HostConfig.Tmpfs`.
    pub tmpfs: Option<&'a BTreeMap<String, String>>,
    /// For each `HostConfig.VolumesFrom` entry: that container's mount points, and whether
    /// they stay writable (`:ro` makes them read-only).
    pub volumes_from: Vec<(Vec<MountPoint>, bool)>,
    /// `Config.Volumes` (the image's `VOLUME`s merged in): anonymous volumes where nothing
    /// else is mounted.
    pub volumes: Vec<String>,
    /// `HostConfig.VolumeDriver`.
    pub volume_driver: &'a str,
}

/// The user a container runs as, for the `U` option.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Sizes and users of a volume (`system df -v`).
#[derive(Debug, Clone)]
pub struct Usage {
    pub view: VolumeView,
    /// Bytes of its data.
    pub size: u64,
}

pub struct VolumeService {
    store: VolumeStore,
    events: EventSink,
    /// `<exec-root>/volumes/idmap`: where id-mapped copies are mounted while their container
    /// runs.
    idmap_dir: PathBuf,
    /// The id-mapped copies made for each running container.
    idmapped: std::sync::Mutex<BTreeMap<String, Vec<PathBuf>>>,
}

impl VolumeService {
    /// Opens the store under `root` (`<data-root>/volumes`); `run` (`<exec-root>/volumes`)
    /// holds what lives only while containers run. Id-mapped copies a crash left there are
    /// taken down (running containers hold their own).
    pub fn open(
        root: &Path,
        run: &Path,
        kernel: Arc<dyn Kernel>,
        events: EventSink,
    ) -> Result<VolumeService> {
        let idmap_dir = run.join("idmap");
        for e in std::fs::read_dir(&idmap_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            drop_staged(kernel.as_ref(), &e.path());
        }
        std::fs::create_dir_all(&idmap_dir)
            .map_err(VolumeError::io("creating the volumes' run dir"))?;
        Ok(VolumeService {
            store: VolumeStore::open(root, kernel)?,
            events,
            idmap_dir,
            idmapped: Default::default(),
        })
    }

    fn emit(&self, action: &str, name: &str, attrs: &[(&str, String)]) {
        let attributes = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        (self.events)(action, name, attributes);
    }

    // ---- the API's endpoints ----

    /// `POST /volumes/create`.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        options: Option<BTreeMap<String, String>>,
        labels: Option<BTreeMap<String, String>>,
    ) -> Result<VolumeView> {
        let (v, made) = self.store.create(name, driver, options, labels, None)?;
        if made {
            self.emit("create", &v.name, &[("driver", v.driver.clone())]);
        }
        self.store.get(&v.name)
    }

    pub fn get(&self, name: &str) -> Result<VolumeView> {
        self.store.get(name)
    }

    pub fn list(&self) -> Vec<VolumeView> {
        self.store.list()
    }

    /// `DELETE /volumes/{name}`.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        if let Some(v) = self.store.remove(name, force)? {
            self.emit("destroy", &v.name, &[("driver", v.driver)]);
        }
        Ok(())
    }

    /// `POST /volumes/prune`: removes the volumes no container references, anonymous ones
    /// only unless `all` (as Docker 23+), among those `keep` lets through. Volumes with driver
    /// options are left alone, as dockerd leaves them. Returns their names and the bytes freed.
    pub fn prune(&self, all: bool, wanted: &dyn Fn(&Volume) -> bool) -> (Vec<String>, u64) {
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for v in self.store.list() {
            if v.refs > 0 || v.volume.has_options() || (!all && !v.volume.is_anonymous()) {
                continue;
            }
            if !wanted(&v.volume) {
                continue;
            }
            let size = berth_image::dir_size(&v.mountpoint);
            match self.remove(&v.volume.name, false) {
                Ok(()) => {
                    deleted.push(v.volume.name.clone());
                    reclaimed += size;
                }
                // Taken by a container created meanwhile: not unused any more.
                Err(VolumeError::Conflict(_)) => {}
                Err(e) => tracing::warn!(volume = v.volume.name, error = %e, "pruning volume"),
            }
        }
        self.emit("prune", "", &[("reclaimed", reclaimed.to_string())]);
        (deleted, reclaimed)
    }

    /// Local volumes without driver options, with the size of their data and how many
    /// containers use them (`system df`; volumes whose data is mounted from elsewhere are
    /// left out, as dockerd leaves them out).
    pub fn usage(&self) -> Vec<Usage> {
        self.store
            .list()
            .into_iter()
            .filter(|v| !v.volume.has_options())
            .map(|view| Usage {
                size: berth_image::dir_size(&view.mountpoint),
                view,
            })
            .collect()
    }

    /// The size of one volume's data (inspect's `UsageData`); `-1` for volumes with driver
    /// options, as Docker reports what it does not measure.
    pub fn size(&self, view: &VolumeView) -> i64 {
        if view.volume.has_options() {
            -1
        } else {
            berth_image::dir_size(&view.mountpoint) as i64
        }
    }

    // ---- the container's life ----

    /// At create: the container's mount points, ordered parents first, with every volume
    /// they name made (or found) and referenced by `container`. Nothing is kept if it fails.
    pub fn resolve(&self, container: &str, req: &Request) -> Result<Vec<MountPoint>> {
        let mut taken = Taken::default();
        match self.resolve_into(container, req, &mut taken) {
            Ok(points) => Ok(points),
            Err(e) => {
                self.undo(container, &taken);
                Err(e)
            }
        }
    }

    fn resolve_into(
        &self,
        container: &str,
        req: &Request,
        taken: &mut Taken,
    ) -> Result<Vec<MountPoint>> {
        let mut points: BTreeMap<String, MountPoint> = BTreeMap::new();
        // Destinations the user named (binds, mounts, tmpfs): two of them at one place is
        // an error; anything else there (volumes-from, VOLUME) gives way.
        let mut named = BTreeSet::new();
        let duplicate = |d: &str| VolumeError::invalid(format!("Duplicate mount point: {d}"));

        for (theirs, writable) in &req.volumes_from {
            for m in theirs.iter().filter(|m| !m.tmpfs_flag) {
                let mut m = m.clone();
                m.rw = m.rw && *writable;
                m.copy_data = false;
                if m.kind == MountType::Volume {
                    self.store.add_ref(&m.name, container)?;
                    taken.refs.push(m.name.clone());
                }
                points.insert(m.destination.clone(), m);
            }
        }
        for (dest, data) in req.tmpfs.into_iter().flatten() {
            let m = parse::parse_tmpfs(dest, data)?;
            if !named.insert(m.destination.clone()) {
                return Err(duplicate(&m.destination));
            }
            points.insert(m.destination.clone(), m);
        }
        let mut user_points = Vec::new();
        for b in req.binds {
            user_points.push(parse::parse_bind(b, req.volume_driver)?);
        }
        for m in req.mounts {
            let m: Mount = serde_json::from_value(m.clone())
                .map_err(|e| VolumeError::invalid(format!("invalid mount config: {e}")))?;
            user_points.push(parse::parse_mount(&m)?);
        }
        // Every spec is checked before any volume is made for one.
        for m in &user_points {
            if !named.insert(m.destination.clone()) {
                return Err(duplicate(&m.destination));
            }
        }
        for mut m in user_points {
            if m.kind == MountType::Volume {
                self.attach_volume(container, &mut m, taken)?;
            }
            points.insert(m.destination.clone(), m);
        }
        for dest in &req.volumes {
            let mut m = parse::parse_anonymous(dest)?;
            if points.contains_key(&m.destination) {
                continue;
            }
            if !req.volume_driver.is_empty() {
                parse::check_driver(req.volume_driver)?;
            }
            self.attach_volume(container, &mut m, taken)?;
            points.insert(m.destination.clone(), m);
        }
        // Points overridden by a later one at the same place gave their volume up.
        let kept: BTreeSet<&str> = points
            .values()
            .filter(|m| m.kind == MountType::Volume)
            .map(|m| m.name.as_str())
            .collect();
        let dropped: Vec<String> = taken
            .refs
            .iter()
            .filter(|n| !kept.contains(n.as_str()))
            .cloned()
            .collect();
        for n in dropped {
            self.store.release(&n, container);
        }
        let mut out: Vec<MountPoint> = points.into_values().collect();
        // Parents before children, so that no mount hides another (moby's sortMounts).
        out.sort_by_key(|m| m.destination.matches('/').count());
        Ok(out)
    }

    /// Makes (or finds) the volume a mount point names and references it.
    fn attach_volume(&self, container: &str, m: &mut MountPoint, taken: &mut Taken) -> Result<()> {
        let (options, labels) = match &m.spec.volume_options {
            Some(v) => (
                v.driver_config
                    .as_ref()
                    .map(|d| d.options.clone())
                    .filter(|o| !o.is_empty()),
                (!v.labels.is_empty()).then(|| v.labels.clone()),
            ),
            None => (None, None),
        };
        let name = (!m.name.is_empty()).then_some(m.name.as_str());
        let (v, made) =
            self.store
                .create(name, parse::LOCAL_DRIVER, options, labels, Some(container))?;
        taken.refs.push(v.name.clone());
        if made {
            self.emit("create", &v.name, &[("driver", v.driver.clone())]);
            taken.made.push(v.name.clone());
        }
        m.name = v.name.clone();
        m.driver = v.driver.clone();
        m.source = self.store.data_path(&v.name).display().to_string();
        if m.mode.is_empty() && !m.spec.kind.is_empty() {
            // moby's setBindModeIfNull, for volumes named by -v or --mount.
            m.mode = "z".into();
        }
        Ok(())
    }

    fn undo(&self, container: &str, taken: &Taken) {
        for n in &taken.refs {
            self.store.release(n, container);
        }
        for n in &taken.made {
            if let Ok(Some(v)) = self.store.remove(n, true) {
                self.emit("destroy", &v.name, &[("driver", v.driver)]);
            }
        }
    }

    /// Whether [`Self::populate`] has anything to do: a volume to be filled from the image
    /// that is still empty. Cheap (a directory read per volume), so that a create mounts the
    /// container's root filesystem only when a copy may follow.
    pub fn needs_population(&self, points: &[MountPoint]) -> bool {
        points
            .iter()
            .filter(|m| copies_up(m))
            .any(|m| tree::is_empty_dir(Path::new(&m.source)).unwrap_or(false))
    }

    /// At create, with the container's root filesystem mounted at `rootfs`: each volume
    /// still empty gets the image's content at its destination (owners, modes, times, links,
    /// extended attributes), unless it was asked with `nocopy`; binds never. The destination
    /// is looked up inside `rootfs` without leaving it, whatever its symlinks say.
    ///
    /// The copy is made beside the volume's `_data` and renamed over it once complete (after
    /// a `syncfs`), so a crash mid-copy leaves the volume empty, never half-filled; the next
    /// create copies again. A volume whose `_data` is a mount (driver options) or that a
    /// running container holds is filled in place instead.
    pub fn populate(&self, points: &[MountPoint], rootfs: &Path) -> Result<()> {
        let root =
            tree::open_dir(rootfs).map_err(VolumeError::io("opening the root filesystem"))?;
        for m in points.iter().filter(|m| m.kind == MountType::Volume) {
            let found = tree::open_in_root(&root, &m.destination, OFlag::O_PATH)
                .map_err(VolumeError::io(format!("looking up {}", m.destination)))?;
            let Some(found) = found else { continue };
            let is_dir = std::fs::metadata(tree::fd_path(&found).unwrap_or_default())
                .map(|md| md.is_dir())
                .unwrap_or(false);
            if !is_dir {
                return Err(VolumeError::invalid(format!(
                    "cannot mount volume over existing file, file exists {}",
                    rootfs.join(m.destination.trim_start_matches('/')).display()
                )));
            }
            if !copies_up(m) {
                continue;
            }
            let data = PathBuf::from(&m.source);
            if !tree::is_empty_dir(&data).unwrap_or(false) {
                continue;
            }
            let src =
                tree::open_in_root(&root, &m.destination, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                    .map_err(VolumeError::io(format!("opening {}", m.destination)))?
                    .ok_or_else(|| VolumeError::invalid(format!("{} vanished", m.destination)))?;
            self.copy_up(m, &src, &data)
                .map_err(VolumeError::io(format!(
                    "copying the image's {} into volume {}",
                    m.destination, m.name
                )))?;
        }
        Ok(())
    }

    fn copy_up(
        &self,
        m: &MountPoint,
        src: &std::os::fd::OwnedFd,
        data: &Path,
    ) -> std::io::Result<()> {
        let view = self.store.get(&m.name).map_err(std::io::Error::other)?;
        if view.volume.has_device() || self.store.in_active_use(&m.name) {
            return tree::copy_tree(src, &tree::open_dir(data)?);
        }
        let staging = self.store.volume_dir(&m.name).join(format!(
            "{COPY_UP}{}",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let copied = (|| {
            std::fs::create_dir(&staging)?;
            let dst = tree::open_dir(&staging)?;
            tree::copy_tree(src, &dst)?;
            // SAFETY: syncfs on a descriptor we hold.
            if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dst)) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Another create may have filled it meanwhile: its copy stands.
            if tree::is_empty_dir(data)? {
                std::fs::rename(&staging, data)?;
            }
            Ok(())
        })();
        if staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        copied
    }

    /// At a start: readies each mount point (a volume's device mounted, a `-v` bind's
    /// missing source made, `U` sources given to `owner`) and returns the OCI mounts, in
    /// order. What it readied is undone if it fails.
    pub fn mount(
        &self,
        container: &str,
        points: &[MountPoint],
        owner: Owner,
    ) -> Result<Vec<SpecMount>> {
        let mut out = Vec::with_capacity(points.len());
        for (i, m) in points.iter().enumerate() {
            match self.mount_one(container, m, owner) {
                Ok(s) => out.push(s),
                Err(e) => {
                    self.unmount(container, &points[..i]);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn mount_one(&self, container: &str, m: &MountPoint, owner: Owner) -> Result<SpecMount> {
        if m.kind == MountType::Tmpfs {
            return Ok(SpecMount {
                destination: m.destination.clone(),
                kind: "tmpfs",
                source: "tmpfs".into(),
                options: m
                    .data
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect(),
            });
        }
        let source = match m.kind {
            MountType::Volume => {
                let data = self.store.mount(&m.name, container)?;
                let subpath = m
                    .spec
                    .volume_options
                    .as_ref()
                    .map_or("", |v| v.subpath.as_str());
                let source = match subpath {
                    "" => data,
                    sub => match in_volume(&data, sub) {
                        Ok(p) => p,
                        Err(e) => {
                            self.store.unmount(&m.name, container);
                            return Err(e);
                        }
                    },
                };
                self.emit(
                    "mount",
                    &m.name,
                    &[
                        ("driver", m.driver.clone()),
                        ("container", container.to_string()),
                        ("destination", m.destination.clone()),
                        ("read/write", m.rw.to_string()),
                        ("propagation", m.propagation.clone()),
                    ],
                );
                source
            }
            _ => {
                let source = PathBuf::from(&m.source);
                if source.symlink_metadata().is_err() {
                    if !m.create_source {
                        return Err(VolumeError::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            m.source
                        )));
                    }
                    use std::os::unix::fs::DirBuilderExt;
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o755)
                        .create(&source)
                        .map_err(VolumeError::io(format!(
                            "error while creating mount source path '{}'",
                            m.source
                        )))?;
                }
                source
            }
        };
        if m.spec.chown {
            let chowned =
                tree::open_dir(&source).and_then(|d| tree::chown_tree(&d, owner.uid, owner.gid));
            if let Err(e) = chowned {
                if m.kind == MountType::Volume {
                    self.store.unmount(&m.name, container);
                }
                return Err(VolumeError::io(format!(
                    "giving {} to {}:{}",
                    source.display(),
                    owner.uid,
                    owner.gid
                ))(e));
            }
        }
        let source = match &m.idmap {
            None => source,
            Some(map) => match self.stage_idmapped(container, &source, map) {
                Ok(at) => at,
                Err(e) => {
                    if m.kind == MountType::Volume {
                        self.store.unmount(&m.name, container);
                    }
                    return Err(e);
                }
            },
        };
        Ok(SpecMount {
            destination: m.destination.clone(),
            kind: "bind",
            source: source.display().to_string(),
            options: bind_options(m),
        })
    }

    /// An id-mapped copy of `source` for `container`, mounted in berth's run dir; the
    /// runtime binds it like any source.
    fn stage_idmapped(
        &self,
        container: &str,
        source: &Path,
        map: &crate::mount::IdMap,
    ) -> Result<PathBuf> {
        let mut staged = self.idmapped.lock().unwrap();
        let list = staged.entry(container.to_string()).or_default();
        let at = self.idmap_dir.join(format!("{container}-{}", list.len()));
        std::fs::create_dir_all(&at)
            .map_err(VolumeError::io("making an id-mapped mount's place"))?;
        if let Err(e) = self.store.kernel().idmapped_bind(source, &at, map) {
            let _ = std::fs::remove_dir(&at);
            return Err(VolumeError::io(format!("idmap of {}", source.display()))(e));
        }
        list.push(at.clone());
        Ok(at)
    }

    /// At an exit (or a start that failed): the volumes are no longer mounted for
    /// `container`.
    pub fn unmount(&self, container: &str, points: &[MountPoint]) {
        let staged = self.idmapped.lock().unwrap().remove(container);
        for at in staged.into_iter().flatten() {
            drop_staged(self.store.kernel(), &at);
        }
        for m in points.iter().filter(|m| m.kind == MountType::Volume) {
            if !self.store.unmount(&m.name, container) {
                continue;
            }
            self.emit(
                "unmount",
                &m.name,
                &[
                    ("driver", m.driver.clone()),
                    ("container", container.to_string()),
                ],
            );
        }
    }

    /// At a removal: `container` no longer uses its volumes. With `remove_anonymous` (`rm -v`,
    /// `--rm`), the anonymous volumes it made go too, unless another container uses them;
    /// named volumes always stay.
    pub fn release(&self, container: &str, points: &[MountPoint], remove_anonymous: bool) {
        for m in points.iter().filter(|m| m.kind == MountType::Volume) {
            let in_use = self.store.release(&m.name, container);
            if remove_anonymous && m.spec.source.is_empty() && !in_use {
                match self.store.remove(&m.name, true) {
                    Ok(Some(v)) => self.emit("destroy", &v.name, &[("driver", v.driver)]),
                    Ok(None) | Err(VolumeError::Conflict(_)) => {}
                    Err(e) => tracing::warn!(volume = m.name, error = %e, "removing volume"),
                }
            }
        }
    }

    /// At berthd's start, for each container it knows: it uses its volumes again, and a
    /// running one has them mounted.
    pub fn restore(&self, container: &str, points: &[MountPoint], running: bool) {
        for m in points.iter().filter(|m| m.kind == MountType::Volume) {
            if let Err(e) = self.store.add_ref(&m.name, container) {
                tracing::warn!(container, volume = m.name, error = %e, "a container's volume is gone");
                continue;
            }
            if running {
                if let Err(e) = self.store.mount(&m.name, container) {
                    tracing::warn!(container, volume = m.name, error = %e, "remounting volume");
                }
            }
        }
    }
}

/// Takes an id-mapped copy down and its directory away; never removes through a mount (a
/// directory that is still one stays, and `rmdir` cannot go into it).
fn drop_staged(kernel: &dyn Kernel, at: &Path) {
    if let Err(e) = kernel.unmount(at) {
        tracing::warn!(path = %at.display(), error = %e, "unmounting an id-mapped copy");
    }
    if let Err(e) = std::fs::remove_dir(at) {
        tracing::warn!(path = %at.display(), error = %e, "removing an id-mapped copy's place");
    }
}

/// What a resolve took, for undoing it.
#[derive(Default)]
struct Taken {
    refs: Vec<String>,
    /// Volumes made by it: a create that fails leaves none behind (one another container
    /// took meanwhile stays, being in use).
    made: Vec<String>,
}

/// A volume that copies the image's content in: not `nocopy`, not a subpath of a volume (the
/// volume's own root is what a copy fills).
fn copies_up(m: &MountPoint) -> bool {
    m.kind == MountType::Volume
        && m.copy_data
        && m.spec
            .volume_options
            .as_ref()
            .is_none_or(|v| v.subpath.is_empty())
}

/// `sub` inside a volume's data, followed only inside it; it must exist (as dockerd's
/// `volume-subpath`).
fn in_volume(data: &Path, sub: &str) -> Result<PathBuf> {
    let root = tree::open_dir(data).map_err(VolumeError::io("opening the volume"))?;
    let found = tree::open_in_root(&root, sub, OFlag::O_PATH)
        .map_err(VolumeError::io(format!("looking up subpath {sub:?}")))?
        .ok_or_else(|| {
            VolumeError::invalid(format!(
                "cannot access path {}: no such file or directory",
                data.join(sub).display()
            ))
        })?;
    tree::fd_path(&found).map_err(VolumeError::io("resolving the subpath"))
}

/// The runtime's words for a bind (moby's `withMounts`): `rbind` (or `bind` when
/// non-recursive), `rro` for a read-only mount (every submount read-only too) unless asked
/// non-recursive or the kernel cannot, and the propagation.
fn bind_options(m: &MountPoint) -> Vec<String> {
    let b = m.spec.bind_options.clone().unwrap_or_default();
    let mut o = vec![if b.non_recursive { "bind" } else { "rbind" }.to_string()];
    if !m.rw {
        let rro = !b.read_only_non_recursive && recursive_read_only();
        o.push(if rro { "rro" } else { "ro" }.into());
    }
    if !m.propagation.is_empty() {
        o.push(m.propagation.clone());
    }
    o
}

/// Whether the kernel has mount_setattr(2) (5.12 and later), which recursive read-only
/// mounts need. Asked once.
fn recursive_read_only() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        // SAFETY: an invalid descriptor makes the call fail at once; only ENOSYS matters.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                c"".as_ptr(),
                0,
                std::ptr::null::<u8>(),
                0,
            )
        };
        !(r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS))
    })
}

#[cfg(test)]
mod tests;
