//! `POST /containers/{id}/resize`.

use berth_runtime::shim::protocol::Request;

use crate::error::ContainerError;
use crate::service::ContainerService;

impl ContainerService {
    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, key: &str, height: u16, width: u16) -> Result<(), ContainerError> {
        let c = self.get(key)?;
        if !c.state.running {
            return Err(ContainerError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        self.shim(&c.id)
            .call(&Request::Resize {
                height,
                width,
                exec: None,
            })
            .await
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        Ok(())
    }
}
