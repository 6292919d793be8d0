//! `POST /containers/{id}/kill`.

use std::sync::Arc;

use berth_runtime::shim::protocol::Request;

use crate::error::ContainerError;
use crate::service::ContainerService;
use crate::signal::parse_signal;

impl ContainerService {
    /// `POST /containers/{id}/kill`.
    pub async fn kill(
        self: &Arc<Self>,
        key: &str,
        signal: Option<&str>,
    ) -> Result<(), ContainerError> {
        let c = self.get(key)?;
        let name = signal.unwrap_or("SIGKILL");
        let sig = parse_signal(name)
            .ok_or_else(|| ContainerError::Invalid(format!("Invalid signal: {name}")))?;
        if !c.state.running || c.state.restarting {
            return Err(ContainerError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                c.bare_name(),
                c.id
            )));
        }
        if sig == 9 || sig == 15 || sig == 2 {
            self.update(&c.id, |c| c.manually_stopped = true);
        }
        self.emit(&c, "kill", &[("signal", sig.to_string())]);
        self.shim(&c.id)
            .call(&Request::Kill { signal: sig })
            .await
            .map_err(|e| {
                if e.is_gone() {
                    // It ended between the check above and the signal.
                    ContainerError::Conflict(format!(
                        "Cannot kill container: {}: Container {} is not running",
                        c.bare_name(),
                        c.id
                    ))
                } else {
                    ContainerError::Start(e.to_string())
                }
            })?;
        Ok(())
    }
}
