//! The container service: the records of every container and their entries (one map), the
//! lookups, and what its operations share. The operations are in `ops/`, one per file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_image::{Digest, ImageStore};
use berth_runtime::runtime::RuntimeConfig;
use tokio::sync::watch;

use crate::entry::Progress;
use crate::error::ContainerError;
use crate::events::{Event, EventLog};
use crate::record::{Container, Paths, Records};
use crate::spares::Spares;
use berth_volume::VolumeService;

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
    /// The volumes containers mount.
    pub(crate) volumes: Arc<VolumeService>,
    /// The networks containers join.
    pub(crate) network: Arc<berth_network::NetworkService>,
    pub(crate) events: Arc<EventLog>,
    /// Every exec, by its ID.
    pub(crate) execs: Mutex<crate::exec::Execs>,
}

impl ContainerService {
    pub fn open(
        paths: Paths,
        images: Arc<ImageStore>,
        runtimes: Runtimes,
        exe: PathBuf,
        volumes: Arc<VolumeService>,
        network: Arc<berth_network::NetworkService>,
        events: Arc<EventLog>,
    ) -> Result<Arc<Self>, ContainerError> {
        std::fs::create_dir_all(&paths.run)
            .map_err(ContainerError::io("creating the containers run dir"))?;
        let records =
            Records::load(&paths.data).map_err(ContainerError::io("reading container records"))?;
        // The volumes' users are known from the containers' records only.
        for c in records.all() {
            volumes.restore(&c.id, &c.mount_points, c.state.running);
        }
        let spares = Arc::new(Spares::new(&exe, &paths));
        Ok(Arc::new(ContainerService {
            volumes,
            network,
            paths,
            spares,
            images,
            records: Mutex::new(records),
            runtimes,
            exe,
            events,
            execs: Mutex::default(),
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

    /// The runtimes containers can be created with.
    pub fn runtimes(&self) -> &Runtimes {
        &self.runtimes
    }

    pub fn network(&self) -> &Arc<berth_network::NetworkService> {
        &self.network
    }

    pub fn volumes(&self) -> &Arc<VolumeService> {
        &self.volumes
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
}
