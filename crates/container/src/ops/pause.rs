//! `POST /containers/{id}/pause` and `/unpause`.

use std::sync::Arc;

use berth_runtime::shim::protocol::Request;

use crate::error::ContainerError;
use crate::service::ContainerService;

impl ContainerService {
    /// `POST /containers/{id}/pause` and `/unpause`.
    pub async fn set_paused(
        self: &Arc<Self>,
        key: &str,
        pause: bool,
    ) -> Result<(), ContainerError> {
        let c = self.get(key)?;
        if !c.state.running || c.state.restarting {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if pause && c.state.paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is already paused",
                c.id
            )));
        }
        if !pause && !c.state.paused {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not paused",
                c.id
            )));
        }
        let req = if pause {
            Request::Pause
        } else {
            Request::Resume
        };
        self.shim(&c.id)
            .call(&req)
            .await
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        if let Some(c) = self.update(&c.id, |c| c.state.set_paused(pause)) {
            self.emit(&c, if pause { "pause" } else { "unpause" }, &[]);
        }
        Ok(())
    }
}
