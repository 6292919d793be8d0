//! `POST /containers/{id}/restart`.

use std::sync::Arc;

use crate::error::ContainerError;
use crate::service::ContainerService;

impl ContainerService {
    /// `POST /containers/{id}/restart`.
    pub async fn restart(
        self: &Arc<Self>,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), ContainerError> {
        let id = self.get(key)?.id;
        let lock = self.op_lock(&id);
        let _g = lock.lock().await;
        match self.stop_locked(&id, timeout, signal).await {
            Ok(()) | Err(ContainerError::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.update(&id, |c| c.manually_stopped = false);
        self.run(&id).await?;
        if let Ok(c) = self.get(&id) {
            self.emit(&c, "restart", &[]);
        }
        Ok(())
    }
}
