//! Attaching to a container's stdio. A client may attach before the container starts (that is
//! how `docker run` works); such an attach waits here and is connected to the shim after it has
//! created the container and before the program runs, so no output is lost.

use std::sync::Arc;

use berth_runtime::shim::client::Shim;
use tokio::net::UnixStream;
use tokio::sync::oneshot;

use crate::error::ContainerError;
use crate::service::ContainerService;
use crate::state::ContainerStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

pub(crate) struct Pending {
    streams: AttachStreams,
    tx: oneshot::Sender<Result<UnixStream, String>>,
}

/// An attach in progress: resolves to the shim's stream once the container runs.
pub struct AttachWait {
    rx: oneshot::Receiver<Result<UnixStream, String>>,
}

impl AttachWait {
    pub async fn stream(self) -> Result<UnixStream, ContainerError> {
        match self.rx.await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ContainerError::Start(e)),
            Err(_) => Err(ContainerError::Conflict("container was removed".into())),
        }
    }
}

impl ContainerService {
    /// Attaches to a running container at once, or waits for its next start.
    pub async fn attach(
        self: &Arc<Self>,
        key: &str,
        streams: AttachStreams,
    ) -> Result<AttachWait, ContainerError> {
        let c = self.get(key)?;
        self.emit(&c, "attach", &[]);
        let (tx, rx) = oneshot::channel();
        let running = matches!(
            c.state.computed_status(),
            ContainerStatus::Running | ContainerStatus::Paused
        );
        if running {
            let shim = self.shim(&c.id);
            let r = shim
                .attach(streams.stdin, streams.stdout, streams.stderr)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(r);
        } else {
            self.pending_attach
                .lock()
                .unwrap()
                .entry(c.id.clone())
                .or_default()
                .push(Pending { streams, tx });
        }
        Ok(AttachWait { rx })
    }

    /// Connects the attaches waiting for this start to its freshly created shim.
    pub(crate) async fn connect_pending(&self, id: &str, shim: &Shim) {
        let pending = self
            .pending_attach
            .lock()
            .unwrap()
            .remove(id)
            .unwrap_or_default();
        for p in pending {
            let s = p.streams;
            let r = shim
                .attach(s.stdin, s.stdout, s.stderr)
                .await
                .map_err(|e| e.to_string());
            let _ = p.tx.send(r);
        }
    }

    /// Ends attaches that wait for a start that failed or a container that is gone.
    pub(crate) fn fail_pending_attach(&self, id: &str) {
        self.pending_attach.lock().unwrap().remove(id);
    }
}
