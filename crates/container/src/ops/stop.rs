//! `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.

use std::sync::Arc;
use std::time::Duration;

use berth_runtime::shim::protocol::Request;
use chrono::Utc;

use crate::error::ContainerError;
use crate::service::ContainerService;
use crate::signal::parse_signal;

/// How long to wait for the exit of a container whose shim no longer answers.
const GONE_GRACE: Duration = Duration::from_secs(5);

/// Docker's default time between the stop signal and SIGKILL.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl ContainerService {
    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout` seconds.
    pub async fn stop(
        self: &Arc<Self>,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), ContainerError> {
        let id = self.get(key)?.id;
        let lock = self.op_lock(&id);
        let _g = lock.lock().await;
        self.stop_locked(&id, timeout, signal).await
    }

    /// Turns a container waiting for its policy restart into an exited one that stays so.
    pub(crate) fn cancel_restart(&self, id: &str) -> Option<crate::record::Container> {
        self.update(id, |c| {
            c.manually_stopped = true;
            if c.state.restarting {
                let code = c.state.exit_code;
                c.state.set_exited(code, false, "", Utc::now());
            }
        })
    }

    pub(super) async fn stop_locked(
        self: &Arc<Self>,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), ContainerError> {
        let c = self.get(id)?;
        if c.state.restarting {
            // Waiting to be restarted: cancelling the restart is the stop.
            if let Some(c) = self.cancel_restart(id) {
                self.emit(&c, "stop", &[]);
            }
            return Ok(());
        }
        if !c.state.running {
            return Err(ContainerError::NotModified);
        }
        self.update(id, |c| c.manually_stopped = true);
        let sig_name = signal
            .map(str::to_string)
            .or(c.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)
            .ok_or_else(|| ContainerError::Invalid(format!("Invalid signal: {sig_name}")))?;
        let timeout = timeout
            .or(c.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        if c.state.paused {
            let _ = self.shim(id).call(&Request::Resume).await;
        }
        let wait = if timeout < 0 {
            None
        } else {
            Some(Duration::from_secs(timeout as u64))
        };
        let exited = self.kill_and_wait(id, sig, wait).await?;
        if !exited {
            self.kill_and_wait(id, 9, None).await?;
        }
        // An exit just before this stop may already have scheduled a restart.
        if self.get(id).is_ok_and(|c| c.state.restarting) {
            self.cancel_restart(id);
        }
        if let Ok(c) = self.get(id) {
            self.emit(&c, "stop", &[]);
        }
        Ok(())
    }

    /// Sends `signal` and waits up to `wait` (forever if `None`) for the exit to be recorded.
    /// Returns whether it exited.
    pub(crate) async fn kill_and_wait(
        &self,
        id: &str,
        signal: i32,
        wait: Option<Duration>,
    ) -> Result<bool, ContainerError> {
        let mut progress = self.progress(id);
        let before = progress.borrow().exits;
        let mut wait = wait;
        match self.shim(id).call(&Request::Kill { signal }).await {
            Ok(_) => {}
            // The shim is going or gone: its monitor records the exit any moment now; if none
            // comes, the caller must not hang on it.
            Err(e) if e.is_gone() => wait = Some(wait.map_or(GONE_GRACE, |w| w.min(GONE_GRACE))),
            Err(e) => return Err(ContainerError::Start(e.to_string())),
        }
        let exited = async {
            while progress.borrow_and_update().exits == before && !progress.borrow().removed {
                if progress.changed().await.is_err() {
                    break;
                }
            }
        };
        match wait {
            None => {
                exited.await;
                Ok(true)
            }
            Some(d) => Ok(tokio::time::timeout(d, exited).await.is_ok()),
        }
    }
}
