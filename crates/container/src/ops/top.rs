//! `GET /containers/{id}/top`.

use berth_runtime::top::{self, Top};

use crate::error::ContainerError;
use crate::service::ContainerService;

impl ContainerService {
    /// The container's processes as the host's `ps` shows them with `ps_args`.
    pub async fn top(&self, key: &str, ps_args: &str) -> Result<Top, ContainerError> {
        let c = self.get(key)?;
        if !c.state.running {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.state.restarting {
            return Err(ContainerError::Conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        let cgroup = self.paths.cgroups_path(&c.id, &c.host_config.cgroup_parent);
        let ps_args = ps_args.to_string();
        tokio::task::spawn_blocking(move || {
            let pids = berth_runtime::cgroups::pids(&cgroup);
            top::top(&ps_args, &pids)
        })
        .await
        .map_err(|e| ContainerError::Start(e.to_string()))?
        .map_err(|e| ContainerError::Start(e.to_string()))
    }
}
