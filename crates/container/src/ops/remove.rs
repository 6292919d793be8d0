//! `DELETE /containers/{id}`, and the removal of a stopped container's files and record.

use std::sync::Arc;

use crate::error::ContainerError;
use crate::rootfs;
use crate::service::ContainerService;
use crate::state::ContainerStatus;

impl ContainerService {
    /// `DELETE /containers/{id}`: a running container only with `force`; with `volumes`
    /// (`rm -v`), its anonymous volumes go too.
    pub async fn remove(
        self: &Arc<Self>,
        key: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ContainerError> {
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
        self.destroy(&c.id, volumes);
        Ok(())
    }

    /// Removes a stopped container's files and record.
    pub(crate) fn destroy(&self, id: &str, remove_volumes: bool) {
        // The record file goes first: from then on, whatever a crash leaves of the container is
        // no container's and is cleared at the next start.
        let Some(c) = self.update_unsaved(id, |c| c.state.set_removing()) else {
            return;
        };
        let removed = self.records.lock().unwrap().remove(&self.paths, id);
        self.volumes.release(id, &c.mount_points, remove_volumes);
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
        self.execs.lock().unwrap().remove_of(id);
        self.emit(&c, "destroy", &[]);
        // Its entry goes with the record: the waiting attaches fail, and the watchers see
        // it removed.
        if let Some(gone) = removed {
            gone.progress.send_modify(|p| p.removed = true);
        }
    }
}
