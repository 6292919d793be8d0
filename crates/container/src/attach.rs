//! Attaching to a container's stdio. A client may attach before the container starts (that is
//! how `docker run` works); such an attach waits here and is connected to the shim after it has
//! created the container and before the program runs, so no output is lost.

use std::sync::Arc;

use berth_runtime::shim::client::{AttachRequest, Shim, ShimError};
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

/// A waiting attach and its request to the shim.
pub(crate) type RequestedAttach = (Pending, Result<AttachRequest, ShimError>);

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
            // A container removed meanwhile drops the sender: the attach ends.
            self.with_entry(&c.id, |e| e.pending_attach.push(Pending { streams, tx }));
        }
        Ok(AttachWait { rx })
    }

    /// Sends the shim an attach request for each attach waiting for this start; the answers
    /// are read by [`Self::hand_over`], after the start has been sent too (one round trip
    /// instead of two: the shim handles the attaches first, as they came first).
    pub(crate) async fn request_pending(&self, id: &str, shim: &Shim) -> Vec<RequestedAttach> {
        let pending = self
            .with_entry(id, |e| std::mem::take(&mut e.pending_attach))
            .unwrap_or_default();
        let mut requested = Vec::with_capacity(pending.len());
        for p in pending {
            let s = p.streams;
            let r = shim.request_attach(s.stdin, s.stdout, s.stderr).await;
            requested.push((p, r));
        }
        requested
    }

    /// Gives each waiting attach its stream, or the shim's refusal.
    pub(crate) async fn hand_over(requested: Vec<RequestedAttach>) {
        for (p, r) in requested {
            let r = match r {
                Ok(req) => req.accepted().await,
                Err(e) => Err(e),
            };
            let _ = p.tx.send(r.map_err(|e| e.to_string()));
        }
    }

    /// Ends attaches that wait for a start that failed or a container that is gone.
    pub(crate) fn fail_pending_attach(&self, id: &str) {
        self.with_entry(id, |e| e.pending_attach.clear());
    }
}
