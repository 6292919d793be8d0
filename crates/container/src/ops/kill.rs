//! `POST /containers/{id}/kill`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ContainerError;
use crate::service::ContainerService;
use crate::signal::parse_signal;

/// How long a SIGKILL's answer waits for the exit (dockerd waits as long).
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long another signal's answer waits for an exit it may cause.
const SIGNAL_WAIT: Duration = Duration::from_millis(100);

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
        // As dockerd: a kill that ends the container answers once its exit is recorded, so
        // that what the client asks next (inspect, rm, start) finds it exited. SIGKILL always
        // ends it; another signal that ends it does so at once or not at all, as far as the
        // client can tell.
        let wait = if sig == 9 { KILL_WAIT } else { SIGNAL_WAIT };
        self.kill_and_wait(&c.id, sig, Some(wait)).await?;
        Ok(())
    }
}
