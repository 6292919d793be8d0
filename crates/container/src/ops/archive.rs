//! `HEAD`, `GET` and `PUT /containers/{id}/archive`: `docker cp` in both directions.

use std::os::fd::OwnedFd;

use crate::cp::{self, CpError, ExtractOptions, PathStat};
use crate::error::ContainerError;
use crate::ops::ExportMount;
use crate::service::ContainerService;

/// The root a copy works in, and the mount made for it when the container is not running.
pub struct CopyRoot {
    pub fd: OwnedFd,
    pub container_id: String,
    _mount: Option<ExportMount>,
}

impl CopyRoot {
    /// A copy error in dockerd's words for this container.
    pub fn error(&self, e: CpError) -> ContainerError {
        match e {
            CpError::NotFound(p) => ContainerError::NotFound(format!(
                "Could not find the file {p} in container {}",
                self.container_id
            )),
            CpError::Invalid(m) => ContainerError::Invalid(m),
            CpError::Io(e) => ContainerError::Io {
                context: "copying".into(),
                source: e,
            },
        }
    }

    pub fn stat(&self, path: &str) -> Result<PathStat, ContainerError> {
        cp::stat(&self.fd, path).map_err(|e| self.error(e))
    }

    pub fn archive(&self, path: &str, out: &mut dyn std::io::Write) -> Result<(), ContainerError> {
        cp::archive(&self.fd, path, out).map_err(|e| self.error(e))
    }

    pub fn extract(
        &self,
        dest: &str,
        input: impl std::io::Read,
        opts: ExtractOptions,
    ) -> Result<(), ContainerError> {
        cp::extract(&self.fd, dest, input, opts).map_err(|e| self.error(e))
    }
}

impl ContainerService {
    /// The container's root for a copy: as its process sees it while it runs (volumes and
    /// all, through `/proc/<pid>/root`); otherwise its overlay, mounted for the copy.
    pub async fn copy_root(&self, key: &str) -> Result<CopyRoot, ContainerError> {
        let c = self.get(key)?;
        if c.state.running && c.state.pid > 0 {
            let fd = cp::open_root(std::path::Path::new(&format!("/proc/{}/root", c.state.pid)))
                .map_err(ContainerError::io("opening the container's root"))?;
            return Ok(CopyRoot {
                fd,
                container_id: c.id,
                _mount: None,
            });
        }
        let (root, mount) = self.export(&c.id).await?;
        let fd =
            cp::open_root(&root).map_err(ContainerError::io("opening the container's root"))?;
        Ok(CopyRoot {
            fd,
            container_id: c.id,
            _mount: mount,
        })
    }
}
