//! Container records on disk (`containers/<id>/config.v2.json`) and their lookup by ID, name or
//! unique ID prefix, as Docker resolves them.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, HostConfig};
use crate::entry::Entry;
use crate::state::ContainerState;

/// Everything berthd keeps about a container between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// With Docker's leading slash: "/sleepy_turing".
    pub name: String,
    pub created: DateTime<Utc>,
    /// The first process: program and arguments, after Entrypoint/Cmd merging.
    pub path: String,
    pub args: Vec<String>,
    /// The image ID (`sha256:…`); `config.image` keeps the name the user gave.
    pub image: String,
    pub config: Config,
    pub host_config: HostConfig,
    pub state: ContainerState,
    pub restart_count: u64,
    /// The user stopped it (stop, kill, or a restart in progress): no restart policy applies,
    /// and `unless-stopped` stays down across a daemon restart.
    #[serde(default)]
    pub manually_stopped: bool,
    #[serde(default)]
    pub has_been_started: bool,
    /// The runtime name the container was created with.
    pub runtime: String,
    /// Its volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mount_points: Vec<berth_volume::MountPoint>,
    /// The networks it joins at each start, the first its `NetworkMode`'s, with what it asks
    /// of each (empty for host, none and container: modes).
    #[serde(default)]
    pub endpoints: Vec<(String, berth_network::EndpointRequest)>,
    /// What networking gave this run of it; `None` while it is not running.
    #[serde(default)]
    pub network_settings: Option<berth_network::NetworkSettings>,
}

impl Container {
    /// Its log driver and rotation, from `HostConfig.LogConfig` (checked at create).
    pub fn log_settings(&self) -> berth_runtime::logfile::LogSettings {
        let lc = &self.host_config.log_config;
        berth_runtime::logfile::LogSettings::parse(&lc.kind, &lc.config).unwrap_or_default()
    }

    /// Where its log is; `None` with the `none` driver.
    pub fn log_file(&self, paths: &Paths) -> Option<PathBuf> {
        self.log_settings().file(&paths.dir(&self.id), &self.id)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
}

/// Where each container's files live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `<data-root>/containers`
    pub data: PathBuf,
    /// `<exec-root>/containers`: the shim's state dir and the OCI bundle.
    pub run: PathBuf,
    /// `<exec-root>/netns`: the network namespaces berthd makes for containers.
    pub netns: PathBuf,
    /// `<exec-root>/s`: shim and console sockets, on paths short enough for a socket.
    pub sockets: PathBuf,
    /// The cgroup (in every hierarchy) under which containers' cgroups go unless a container
    /// names its own: dockerd's `--cgroup-parent`, `/berth` by default.
    pub cgroup_parent: String,
}

impl Paths {
    pub fn dir(&self, id: &str) -> PathBuf {
        self.data.join(id)
    }
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.run.join(id)
    }
    /// The shim's socket: short, since a unix socket path must fit in 108 bytes (the first
    /// 24 hex digits of an ID are as unique as the whole in practice).
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        self.sockets
            .join(format!("{}.sock", &id[..24.min(id.len())]))
    }
    pub fn console_socket(&self, id: &str) -> PathBuf {
        self.sockets
            .join(format!("{}.tty", &id[..24.min(id.len())]))
    }
    /// The container's cgroup: `<parent>/<id>`, the parent being the container's own
    /// `--cgroup-parent` or the daemon's.
    pub fn cgroups_path(&self, id: &str, container_parent: &str) -> String {
        let parent = if container_parent.is_empty() {
            &self.cgroup_parent
        } else {
            container_parent
        };
        format!("{}/{id}", parent.trim_end_matches('/'))
    }
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.netns.join(id)
    }
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.dir(id).join("rootfs")
    }
    pub fn hostname_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("hostname")
    }
    pub fn hosts_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("hosts")
    }
    pub fn resolv_conf_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("resolv.conf")
    }
}

const RECORD: &str = "config.v2.json";

/// Every container berthd knows: its entry in memory (the record and what lives beside it
/// while berthd runs, see [`Entry`]) and its record on disk.
#[derive(Default)]
pub struct Records {
    by_id: BTreeMap<String, Entry>,
}

impl Records {
    /// Reads every record under `data`; a directory without a readable record is the leftover of
    /// a create cut short and is removed.
    pub fn load(data: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(data)?;
        let mut by_id = BTreeMap::new();
        for e in std::fs::read_dir(data)?.flatten() {
            let rec = std::fs::read(e.path().join(RECORD))
                .ok()
                .and_then(|b| serde_json::from_slice::<Container>(&b).ok());
            match rec {
                Some(c) => {
                    by_id.insert(c.id.clone(), Entry::new(c));
                }
                None => {
                    tracing::warn!(dir = %e.path().display(), "removing container directory without a record");
                    // Its rootfs may still be mounted: never remove through a mount.
                    if crate::rootfs::unmount_rootfs(&e.path()).is_ok() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        Ok(Records { by_id })
    }

    /// Writes a record (temp file, fsync, rename) and keeps it.
    pub fn save(&mut self, paths: &Paths, c: &Container) -> io::Result<()> {
        let bytes = serde_json::to_vec(c).map_err(io::Error::other)?;
        // The record holds the container's environment: its owner's only.
        berth_image::atomic_write_mode(&paths.dir(&c.id).join(RECORD), &bytes, 0o600)?;
        self.set_unsaved(c);
        Ok(())
    }

    /// Writes the record of a container just created, in its new directory: there is no old
    /// record to keep, so it is written in place rather than beside and renamed (a crash
    /// mid-write leaves a directory without a readable record, which the next start removes;
    /// the create had not answered). With `durable`, the file and its directory entry are on
    /// disk before this returns (see [`sync_new`]); otherwise the caller syncs them soon after.
    pub fn save_new(&mut self, paths: &Paths, c: &Container, durable: bool) -> io::Result<()> {
        use std::io::Write;
        let bytes = serde_json::to_vec(c).map_err(io::Error::other)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(paths.dir(&c.id).join(RECORD))?;
        f.write_all(&bytes)?;
        if durable {
            sync_new(paths, &c.id)?;
        }
        self.by_id.insert(c.id.clone(), Entry::new(c.clone()));
        Ok(())
    }

    /// Saves a change of state (running, exited, paused, restart count) whole but without
    /// fsync: after a power loss no container runs any more, and the recovery at start
    /// corrects whatever state the disk kept; an fsync here would cost every start and stop.
    pub fn save_state(&mut self, paths: &Paths, c: &Container) -> io::Result<()> {
        let bytes = serde_json::to_vec(c).map_err(io::Error::other)?;
        let path = paths.dir(&c.id).join(RECORD);
        let tmp = paths.dir(&c.id).join(format!(".{RECORD}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            .and_then(|_| std::fs::rename(&tmp, &path))?;
        self.set_unsaved(c);
        Ok(())
    }

    /// Changes a record in memory only: for a state that lasts no longer than the removal
    /// right behind it (see [`ContainerService::update_unsaved`](crate::service::ContainerService)).
    pub fn set_unsaved(&mut self, c: &Container) {
        match self.by_id.get_mut(&c.id) {
            Some(e) => e.record = c.clone(),
            None => {
                self.by_id.insert(c.id.clone(), Entry::new(c.clone()));
            }
        }
    }

    /// Forgets a container: its record file goes at once, so that whatever is left of its
    /// directory is no container's (and is cleared at the next load if a crash interrupts its
    /// removal).
    pub(crate) fn remove(&mut self, paths: &Paths, id: &str) -> Option<Entry> {
        let _ = std::fs::remove_file(paths.dir(id).join(RECORD));
        self.by_id.remove(id)
    }

    pub fn get(&self, id: &str) -> Option<&Container> {
        self.by_id.get(id).map(|e| &e.record)
    }

    pub(crate) fn entry(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id)
    }

    pub(crate) fn entry_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.by_id.get_mut(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Container> {
        self.by_id.values().map(|e| &e.record)
    }

    /// Docker's order: full ID, then exact name, then a unique ID prefix.
    pub fn find(&self, key: &str) -> Result<&Container, LookupError> {
        if let Some(c) = self.get(key) {
            return Ok(c);
        }
        let name = format!("/{}", key.trim_start_matches('/'));
        if let Some(c) = self.by_name(&name) {
            return Ok(c);
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LookupError::NotFound(key.to_string()));
        }
        let mut hits = self
            .by_id
            .range(key.to_string()..)
            .take_while(|(id, _)| id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some((_, e)), None) => Ok(&e.record),
            (Some(_), Some(_)) => Err(LookupError::Ambiguous(key.to_string())),
            (None, _) => Err(LookupError::NotFound(key.to_string())),
        }
    }

    /// The container holding `name` ("/x"), if any.
    pub fn by_name(&self, name: &str) -> Option<&Container> {
        self.all().find(|c| c.name == name)
    }
}

/// Makes a record written by [`Records::save_new`] durable: the file, then its directory
/// entry (after the file's fsync the directory's has little left to write; the directory's
/// own entry, made just before, is in the same journal commit on ext4 and xfs, and its parent
/// is not synced as well, as it was not with the rename this replaced).
pub fn sync_new(paths: &Paths, id: &str) -> io::Result<()> {
    let dir = paths.dir(id);
    std::fs::File::open(dir.join(RECORD))?.sync_all()?;
    std::fs::File::open(&dir)?.sync_all()
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (one leading slash allowed).
pub fn valid_name(name: &str) -> bool {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut b = n.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A new container ID: 32 random bytes in hex, never all digits (Docker avoids IDs that a
/// short form would read as a number).
pub fn new_id() -> String {
    loop {
        let bytes: [u8; 32] = rand::random();
        let id = hex::encode(bytes);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> Container {
        Container {
            id: id.into(),
            name: name.into(),
            created: Utc::now(),
            path: "true".into(),
            args: vec![],
            image: "sha256:00".into(),
            config: Config::default(),
            host_config: HostConfig::default(),
            state: ContainerState::new_created(),
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            runtime: "builtin".into(),
            mount_points: Vec::new(),
            endpoints: Vec::new(),
            network_settings: None,
        }
    }

    #[test]
    fn lookup_by_id_name_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            data: dir.path().join("c"),
            run: dir.path().join("r"),
            netns: dir.path().join("n"),
            sockets: dir.path().join("s"),
            cgroup_parent: "/berth".into(),
        };
        let mut r = Records::load(&paths.data).unwrap();
        r.save(&paths, &record("abc123", "/first")).unwrap();
        r.save(&paths, &record("abd456", "/abc")).unwrap();
        assert_eq!(r.find("abc123").unwrap().name, "/first");
        // A name wins over a prefix.
        assert_eq!(r.find("abc").unwrap().id, "abd456");
        assert_eq!(r.find("/first").unwrap().id, "abc123");
        assert!(matches!(r.find("ab"), Err(LookupError::Ambiguous(_))));
        assert_eq!(r.find("abd").unwrap().id, "abd456");
        assert_eq!(paths.cgroups_path("abc123", ""), "/berth/abc123");
        assert_eq!(paths.cgroups_path("abc123", "/mine/"), "/mine/abc123");
        assert!(matches!(r.find("zzz"), Err(LookupError::NotFound(_))));
        std::fs::create_dir_all(paths.data.join("half-made")).unwrap();
        let again = Records::load(&paths.data).unwrap();
        assert_eq!(again.all().count(), 2);
        assert!(!paths.data.join("half-made").exists());
    }

    #[test]
    fn names_and_ids() {
        assert!(valid_name("web-1.a_b") && valid_name("/ab"));
        assert!(!valid_name("a") && !valid_name("-x") && !valid_name("a b") && !valid_name(""));
        let id = new_id();
        assert_eq!(id.len(), 64);
    }
}
