//! `GET /containers/{id}/changes` (diff) and `GET /containers/{id}/export`.

use std::path::PathBuf;

use berth_image::changes::{self, Change};
use berth_image::Digest;

use crate::error::ContainerError;
use crate::rootfs;
use crate::service::ContainerService;

impl ContainerService {
    /// What the container's read-write layer changed over its image, sorted by path.
    pub async fn changes(&self, key: &str) -> Result<Vec<Change>, ContainerError> {
        let c = self.get(key)?;
        let image = Digest::parse(&c.image)
            .map_err(|_| ContainerError::Invalid(format!("bad image id {}", c.image)))?;
        let mut lower = self.lower_dirs(&image).map_err(ContainerError::NotFound)?;
        lower.insert(0, self.paths.dir(&c.id).join(rootfs::INIT_LAYER));
        let upper = self.paths.dir(&c.id).join("upper");
        tokio::task::spawn_blocking(move || {
            if !upper.exists() {
                return Ok(Vec::new());
            }
            changes::changes(&upper, &lower)
        })
        .await
        .map_err(|e| ContainerError::Start(e.to_string()))?
        .map_err(ContainerError::io("reading the container's changes"))
    }

    /// The container's merged filesystem, for `export`: its mounted rootfs while it runs;
    /// otherwise the overlay is mounted for the export and unmounted after, under the
    /// container's operation lock so that no start comes in between.
    pub async fn export(
        &self,
        key: &str,
    ) -> Result<(PathBuf, Option<ExportMount>), ContainerError> {
        let c = self.get(key)?;
        let lock = self.op_lock(&c.id).lock_owned().await;
        let c = self.get(&c.id)?;
        let dir = self.paths.dir(&c.id);
        if c.state.running {
            return Ok((dir.join("rootfs"), None));
        }
        let image = Digest::parse(&c.image)
            .map_err(|_| ContainerError::Invalid(format!("bad image id {}", c.image)))?;
        let lower = self.lower_dirs(&image).map_err(ContainerError::NotFound)?;
        rootfs::prepare_dirs(&dir).map_err(ContainerError::io("preparing the rootfs"))?;
        let root = rootfs::mount_rootfs(&lower, &dir, false)
            .map_err(ContainerError::io("mounting the rootfs"))?;
        Ok((root, Some(ExportMount { dir, _lock: lock })))
    }
}

/// A rootfs mounted for an export: unmounted, and the container's lock released, when dropped.
pub struct ExportMount {
    dir: PathBuf,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for ExportMount {
    fn drop(&mut self) {
        if let Err(e) = rootfs::unmount_rootfs(&self.dir) {
            tracing::warn!(error = %e, "unmounting an exported rootfs");
        }
    }
}
