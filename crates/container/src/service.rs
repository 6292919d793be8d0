//! The container service: creates, finds, renames and removes containers, and keeps the
//! signals that `wait` and `stop` listen to. Running them is in `lifecycle`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_image::{Digest, ImageStore};
use berth_runtime::runtime::RuntimeConfig;
use chrono::Utc;
use tokio::sync::watch;

use crate::config::CreateBody;
use crate::entry::Progress;
use crate::error::ContainerError;
use crate::events::{Event, EventLog};
use crate::names;
use crate::process;
use crate::record::{new_id, valid_name, Container, Paths, Records};
use crate::rootfs;
use crate::spares::Spares;
use crate::state::{ContainerState, ContainerStatus};

/// How long an `--rm` container may wait for its start before its record is made durable
/// (see `ContainerService::create`).
const UNSTARTED_SYNC_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The runtimes berthd knows (`--runtime` names), and the default one.
#[derive(Debug, Clone)]
pub struct Runtimes {
    pub default: String,
    pub known: BTreeMap<String, RuntimeConfig>,
}

pub struct ContainerService {
    pub(crate) paths: Paths,
    pub(crate) images: Arc<ImageStore>,
    pub(crate) records: Mutex<Records>,
    pub(crate) runtimes: Runtimes,
    /// berthd's own executable: shims are its hidden `shim` subcommand.
    pub(crate) exe: PathBuf,
    /// What the next start takes ready-made: a shim and a network namespace.
    pub(crate) spares: Arc<Spares>,
    events: Arc<EventLog>,
}

impl ContainerService {
    pub fn open(
        paths: Paths,
        images: Arc<ImageStore>,
        runtimes: Runtimes,
        exe: PathBuf,
        events: Arc<EventLog>,
    ) -> Result<Arc<Self>, ContainerError> {
        std::fs::create_dir_all(&paths.run)
            .map_err(ContainerError::io("creating the containers run dir"))?;
        let records =
            Records::load(&paths.data).map_err(ContainerError::io("reading container records"))?;
        let spares = Arc::new(Spares::new(&exe, &paths));
        Ok(Arc::new(ContainerService {
            paths,
            spares,
            images,
            records: Mutex::new(records),
            runtimes,
            exe,
            events,
        }))
    }

    /// See [`Spares::make`].
    pub fn make_spares(&self) {
        self.spares.make();
    }

    /// At shutdown: releases what berthd holds for containers to come (see [`Spares::release`]).
    pub fn shutdown(&self) {
        self.spares.release();
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub(crate) fn emit(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        self.events.publish(Event::container(c, action, extra));
    }

    /// A copy of the record for `key` (ID, name or unique prefix).
    pub fn get(&self, key: &str) -> Result<Container, ContainerError> {
        Ok(self.records.lock().unwrap().find(key)?.clone())
    }

    pub fn list(&self) -> Vec<Container> {
        self.records.lock().unwrap().all().cloned().collect()
    }

    /// A container made from image `id`, a running one first if there is one.
    pub fn image_user(&self, id: &Digest) -> Option<berth_image::ImageUser> {
        let id = id.to_string();
        let recs = self.records.lock().unwrap();
        let mut users: Vec<&Container> = recs.all().filter(|c| c.image == id).collect();
        users.sort_by_key(|c| !c.state.running);
        users.first().map(|c| berth_image::ImageUser {
            container: c.id.clone(),
            running: c.state.running,
        })
    }

    /// Changes a record's state under the lock and saves it; `None` if the container is gone.
    pub(crate) fn update(&self, id: &str, f: impl FnOnce(&mut Container)) -> Option<Container> {
        let mut recs = self.records.lock().unwrap();
        let mut c = recs.get(id)?.clone();
        f(&mut c);
        if let Err(e) = recs.save_state(&self.paths, &c) {
            tracing::error!(id, error = %e, "saving container record");
        }
        Some(c)
    }

    /// [`Self::update`] without saving: for a state the container is about to leave for good
    /// (an `--rm` container's exit, a removal under way), which a crash must not leave on
    /// disk either. The saved record keeps the state before; a crash in between is repaired
    /// at the next start (a stopped `--rm` container is removed then, as dockerd does).
    pub(crate) fn update_unsaved(
        &self,
        id: &str,
        f: impl FnOnce(&mut Container),
    ) -> Option<Container> {
        let mut recs = self.records.lock().unwrap();
        let mut c = recs.get(id)?.clone();
        f(&mut c);
        recs.set_unsaved(&c);
        Some(c)
    }

    /// The lock that puts the container's lifecycle operations one after another; a
    /// container that is gone gets one of its own, which guards nothing.
    pub(crate) fn op_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let recs = self.records.lock().unwrap();
        recs.entry(id)
            .map(|e| e.op_lock.clone())
            .unwrap_or_default()
    }

    /// What `wait` and `stop` watch. A container that is gone reads as removed.
    pub fn progress(&self, id: &str) -> watch::Receiver<Progress> {
        let recs = self.records.lock().unwrap();
        match recs.entry(id) {
            Some(e) => e.progress.subscribe(),
            None => {
                watch::channel(Progress {
                    removed: true,
                    ..Default::default()
                })
                .1
            }
        }
    }

    pub(crate) fn signal_progress(&self, id: &str, f: impl FnOnce(&mut Progress)) {
        let recs = self.records.lock().unwrap();
        if let Some(e) = recs.entry(id) {
            e.progress.send_modify(f);
        }
    }

    /// Changes the runtime-only part of a container's entry (see [`crate::entry::Entry`]).
    pub(crate) fn with_entry<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut crate::entry::Entry) -> T,
    ) -> Option<T> {
        self.records.lock().unwrap().entry_mut(id).map(f)
    }

    /// `POST /containers/create`: checks everything that can be checked before a start, merges
    /// the image's config in as Docker does, and writes the record. Returns ID and warnings.
    pub fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        platform: Option<&berth_image::manifest::Platform>,
        mut body: CreateBody,
    ) -> Result<(String, Vec<String>), ContainerError> {
        crate::lifecycle::prime_cgroup_migration();
        // A start is likely to follow (`run` is create and start): what it takes ready-made is
        // made while the record is being written, unless it is ready already.
        self.make_spares();
        let image_name = body.config.image.clone();
        if image_name.is_empty() {
            return Err(ContainerError::Invalid(
                "Config cannot be empty in order to create a container".into(),
            ));
        }
        let image_id = self
            .images
            .resolve(&image_name)
            .map_err(|_| ContainerError::NoSuchImage(image_name.clone()))?;
        let image_cfg = self
            .images
            .config(&image_id)
            .map_err(|_| ContainerError::NoSuchImage(image_name.clone()))?;
        if let Some(wanted) = platform {
            let actual = berth_image::manifest::Platform {
                architecture: image_cfg.architecture.clone(),
                os: image_cfg.os.clone(),
                variant: image_cfg.variant.clone(),
                os_version: None,
            };
            if !wanted.matches(&actual) {
                return Err(ContainerError::NotFound(format!(
                    "image with reference {image_name} was found but does not match the specified platform: wanted {}, actual: {}",
                    wanted, actual
                )));
            }
        }
        let hc = &body.host_config;
        let runtime = if hc.runtime.is_empty() {
            self.runtimes.default.clone()
        } else {
            hc.runtime.clone()
        };
        if !self.runtimes.known.contains_key(&runtime) {
            return Err(ContainerError::Invalid(format!(
                "unknown or invalid runtime name: {runtime}"
            )));
        }
        hc.restart_policy
            .validate()
            .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        if hc.auto_remove && !hc.restart_policy.is_none() {
            return Err(ContainerError::Invalid(
                "can't create 'AutoRemove' container with restart policy".into(),
            ));
        }
        validate_host_config(hc)?;
        let img = image_cfg.config.clone().unwrap_or_default();
        let strings = |k: &str| -> Option<Vec<String>> {
            img.get(k)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        };
        let merged = process::merge_config_command(
            strings("Entrypoint").as_deref(),
            strings("Cmd").as_deref(),
            body.config.entrypoint.as_deref(),
            body.config.cmd.as_deref(),
        )
        .map_err(|e| ContainerError::Invalid(e.to_string()))?;
        let argv = merged.argv();
        body.config.entrypoint = merged.entrypoint;
        body.config.cmd = merged.cmd;
        body.config.env = Some(process::merge_config_env(
            &strings("Env").unwrap_or_default(),
            body.config.env.as_deref().unwrap_or_default(),
        ));
        if body.config.working_dir.is_empty() {
            body.config.working_dir = img
                .get("WorkingDir")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
        }
        if body.config.user.is_empty() {
            body.config.user = img
                .get("User")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
        }
        if body.config.stop_signal.is_none() {
            body.config.stop_signal = img
                .get("StopSignal")
                .and_then(|v| v.as_str())
                .map(str::to_string);
        }
        let mut labels: BTreeMap<String, String> = img
            .get("Labels")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        labels.extend(std::mem::take(&mut body.config.labels));
        body.config.labels = labels;
        if body.config.exposed_ports.is_none() {
            body.config.exposed_ports = img
                .get("ExposedPorts")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
        }
        if body.host_config.network_mode.is_empty() {
            body.host_config.network_mode = "bridge".into();
        }
        if body.host_config.log_config.kind.is_empty() {
            body.host_config.log_config.kind = "json-file".into();
        }
        if body.host_config.shm_size == 0 {
            body.host_config.shm_size = 64 * 1024 * 1024;
        }
        body.host_config.runtime = runtime.clone();

        let id = new_id();
        if body.config.hostname.is_empty() {
            body.config.hostname = id[..12].to_string();
        }
        let mut recs = self.records.lock().unwrap();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    return Err(ContainerError::Invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = format!("/{}", n.trim_start_matches('/'));
                if let Some(other) = recs.by_name(&n) {
                    return Err(ContainerError::Conflict(format!(
                        "Conflict. The container name \"{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
                n
            }
            None => loop {
                let n = format!("/{}", names::random_name(0));
                if recs.by_name(&n).is_none() {
                    break n;
                }
            },
        };
        let dir = self.paths.dir(&id);
        crate::rootfs::prepare_dirs(&dir)
            .map_err(ContainerError::io("creating the container's directories"))?;
        let c = Container {
            id: id.clone(),
            name,
            created: Utc::now(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            image: image_id.to_string(),
            config: body.config,
            host_config: body.host_config,
            state: ContainerState::new_created(),
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            runtime,
        };
        // An `--rm` container's record is made durable only if the container is still
        // waiting for its start a second later. Once started, an `--rm` container is lost to a
        // power loss whatever is on disk (the recovery at the next start removes it), so
        // `run --rm`, which starts it at once, never needs the fsync of the file and
        // directory: 0.5 to 1.5 ms of the disk's time, whose journal commit also held up the
        // next container's directories.
        let durable = !c.host_config.auto_remove;
        if let Err(e) = recs.save_new(&self.paths, &c, durable) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ContainerError::io("saving the container record")(e));
        }
        drop(recs);
        if !durable {
            self.sync_record_if_not_started(&id);
        }
        self.emit(&c, "create", &[]);
        Ok((id, Vec::new()))
    }

    /// Makes a record written without fsync durable, off the request's path, if its
    /// container has not been started [`UNSTARTED_SYNC_AFTER`] from now (see `create`). A
    /// record removed meanwhile has nothing left to sync.
    fn sync_record_if_not_started(self: &Arc<Self>, id: &str) {
        let (svc, id) = (self.clone(), id.to_string());
        let sync = move || {
            if svc.get(&id).is_ok_and(|c| c.has_been_started) {
                return;
            }
            if let Err(e) = crate::record::sync_new(&svc.paths, &id) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(id, error = %e, "syncing the container record");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(async move {
                tokio::time::sleep(UNSTARTED_SYNC_AFTER).await;
                let _ = tokio::task::spawn_blocking(sync).await;
            })),
            Err(_) => sync(),
        }
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, key: &str, new_name: &str) -> Result<(), ContainerError> {
        if !valid_name(new_name) {
            return Err(ContainerError::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let new = format!("/{}", new_name.trim_start_matches('/'));
        let mut recs = self.records.lock().unwrap();
        let mut c = recs.find(key)?.clone();
        if c.name == new {
            return Err(ContainerError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = recs.by_name(&new) {
            return Err(ContainerError::Conflict(format!(
                "Conflict. The container name \"{new}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        let old = std::mem::replace(&mut c.name, new);
        recs.save(&self.paths, &c)
            .map_err(ContainerError::io("saving the container record"))?;
        drop(recs);
        self.emit(&c, "rename", &[("oldName", old)]);
        Ok(())
    }

    /// `DELETE /containers/{id}`: a running container only with `force`.
    pub async fn remove(self: &Arc<Self>, key: &str, force: bool) -> Result<(), ContainerError> {
        let c = self.get(key)?;
        let lock = self.op_lock(&c.id);
        let _guard = lock.lock().await;
        let c = self.get(&c.id)?;
        let status = c.state.computed_status();
        if matches!(
            status,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        ) {
            if !force {
                let what = if status == ContainerStatus::Paused {
                    "container is paused and must be unpaused first"
                } else {
                    "container is running: stop the container before removing or force remove"
                };
                return Err(ContainerError::Conflict(format!(
                    "cannot remove container \"{}\": {what}",
                    c.name
                )));
            }
            self.update(&c.id, |c| c.manually_stopped = true);
            if status == ContainerStatus::Paused {
                let _ = self
                    .shim(&c.id)
                    .call(&berth_runtime::shim::protocol::Request::Resume)
                    .await;
            }
            // A container waiting for its policy restart has no process to kill.
            if status != ContainerStatus::Restarting {
                self.kill_and_wait(&c.id, 9, None).await?;
            }
        }
        self.destroy(&c.id);
        Ok(())
    }

    /// Removes a stopped container's files and record.
    pub(crate) fn destroy(&self, id: &str) {
        // The record file goes first: from then on, whatever a crash leaves of the container is
        // no container's and is cleared at the next start.
        let Some(c) = self.update_unsaved(id, |c| c.state.set_removing()) else {
            return;
        };
        let removed = self.records.lock().unwrap().remove(&self.paths, id);
        let dir = self.paths.dir(id);
        let detached = rootfs::detach_rootfs(&dir);
        self.clear_run_state(id);
        // The container is gone from here on; its files go on a spare thread. Tearing the
        // overlay down syncs the upper filesystem, and removing the directory then waits on
        // that: milliseconds nobody needs to wait for. A crash in between leaves a directory
        // without a record, which the next start clears.
        let id_owned = id.to_string();
        let remove_files = move || match detached {
            // Never remove files through a mount that is still there.
            Err(e) => tracing::error!(id = id_owned, error = %e, "unmounting rootfs"),
            Ok(hold) => {
                drop(hold);
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::error!(id = id_owned, error = %e, "removing container directory");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove_files)),
            Err(_) => remove_files(),
        }
        self.emit(&c, "destroy", &[]);
        // Its entry goes with the record: the waiting attaches fail, and the watchers see
        // it removed.
        if let Some(gone) = removed {
            gone.progress.send_modify(|p| p.removed = true);
        }
    }
}

fn validate_host_config(hc: &crate::config::HostConfig) -> Result<(), ContainerError> {
    if hc.memory > 0 && hc.memory < 6 * 1024 * 1024 {
        return Err(ContainerError::Invalid(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if hc.memory > 0 && hc.memory_swap > 0 && hc.memory_swap < hc.memory {
        return Err(ContainerError::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if hc.memory == 0 && hc.memory_swap > 0 {
        return Err(ContainerError::Invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if hc.nano_cpus != 0 && (hc.cpu_period != 0 || hc.cpu_quota != 0) {
        return Err(ContainerError::Invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
        ));
    }
    // Counted once: it reads the cgroup's CPU quota files each time.
    static CPUS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64
    });
    if hc.nano_cpus < 0 || hc.nano_cpus > cpus * 1_000_000_000 {
        return Err(ContainerError::Invalid(format!(
            "range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    // A parent that climbs out of the cgroup hierarchy would put the container's cgroup
    // somewhere else in /sys/fs.
    if hc.cgroup_parent.split('/').any(|c| c == "..") {
        return Err(ContainerError::Invalid(format!(
            "invalid cgroup parent {:?}: it must not contain \"..\"",
            hc.cgroup_parent
        )));
    }
    match hc.network_mode.as_str() {
        "" | "default" | "bridge" | "host" | "none" => {}
        m if m.starts_with("container:") => {}
        m => return Err(ContainerError::Invalid(format!("network {m} not found"))),
    }
    Ok(())
}
