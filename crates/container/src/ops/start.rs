//! `POST /containers/{id}/start`: a run of the container, from its rootfs to its watched exit,
//! and the words of a start that fails.

use std::sync::Arc;
use std::time::Instant;

use berth_runtime::shim::client::ShimError;
use berth_runtime::shim::protocol::Request;
use chrono::Utc;

use crate::error::ContainerError;
use crate::service::ContainerService;
use crate::state::{self, ContainerStatus};

impl ContainerService {
    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, key: &str) -> Result<(), ContainerError> {
        let id = self.get(key)?.id;
        let lock = self.op_lock(&id);
        let _g = lock.lock().await;
        let c = self.get(&id)?;
        match c.state.computed_status() {
            ContainerStatus::Paused => {
                return Err(ContainerError::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            ContainerStatus::Running | ContainerStatus::Restarting => {
                return Err(ContainerError::NotModified)
            }
            ContainerStatus::Removing | ContainerStatus::Dead => {
                return Err(ContainerError::Conflict(
                    "container is marked for removal and cannot be started".to_string(),
                ))
            }
            _ => {}
        }
        self.with_entry(&id, |e| e.backoff = Default::default());
        if c.manually_stopped {
            self.update(&id, |c| c.manually_stopped = false);
        }
        self.run(&id).await
    }

    /// Starts the container's program: mounts the rootfs, writes the spec, starts a shim,
    /// connects waiting attaches, runs the program, and watches for its exit.
    pub(crate) async fn run(self: &Arc<Self>, id: &str) -> Result<(), ContainerError> {
        prime_cgroup_migration();
        let c = self.get(id)?;
        let dir = self.paths.dir(id);
        let state_dir = self.paths.state_dir(id);
        let t0 = Instant::now();
        let cgroups = CgroupsAhead::make(self.paths.cgroups_path(id, &c.host_config.cgroup_parent));
        // The shim is the spare one, already started and waiting for its config; or, without
        // a spare, one started now, whose exec and start-up overlap the bundle's preparation.
        let (starting, spare) = match self.spares.take_shim() {
            Ok(s) => s,
            Err(e) => return Err(self.start_failed(id, e.to_string(), cgroups).await),
        };
        let prepared = self.prepare_bundle(&c, &dir, &state_dir);
        tracing::debug!(
            id,
            spare,
            us = t0.elapsed().as_micros() as u64,
            "bundle prepared"
        );
        let cfg = match prepared {
            Ok(cfg) => cfg,
            Err(e) => return Err(self.start_failed(id, e, cgroups).await),
        };
        let configured = match starting.configure(&cfg).await {
            // A spare that died before it got its config started nothing: a new shim does.
            Err(ShimError::Gone { .. }) if spare => match self.spares.new_shim() {
                Ok(fresh) => fresh.configure(&cfg).await,
                Err(e) => Err(e),
            },
            r => r,
        };
        let configured = match configured {
            Ok(c) => c,
            Err(e) => return Err(self.start_failed(id, e.to_string(), cgroups).await),
        };
        // While the shim creates the container, the waiting attaches and then the start queue
        // on its socket; it takes them in that order once the container is created, so the
        // program starts without a round trip through berthd and no output is missed.
        let shim = self.shim(id);
        let attaches = self.request_pending(id, &shim).await;
        // A TTY gets the client's size (`ConsoleSize`) before its program starts, so that the
        // program's first look at its terminal sees it.
        let [height, width] = c.host_config.console_size;
        let resize = if c.config.tty && height > 0 && width > 0 {
            let (height, width) = (height.min(u16::MAX as u32), width.min(u16::MAX as u32));
            Some(
                shim.send(&Request::Resize {
                    height: height as u16,
                    width: width as u16,
                    exec: None,
                })
                .await,
            )
        } else {
            None
        };
        let start = shim.send(&Request::Start).await;
        let pid = match configured.created().await {
            Ok(pid) => pid,
            // The attaches and the start go unanswered; their clients see the start fail.
            Err(e) => return Err(self.start_failed(id, e.to_string(), cgroups).await),
        };
        tracing::debug!(
            id,
            us = t0.elapsed().as_micros() as u64,
            "shim created the container"
        );
        if let Some(Ok(sent)) = resize {
            if let Err(e) = sent.reply().await {
                tracing::debug!(id, error = %e, "setting the console size");
            }
        }
        let started = match start {
            Ok(sent) => sent.reply().await.map(|_| ()),
            Err(e) => Err(e),
        };
        Self::hand_over(attaches).await;
        if let Err(e) = started {
            let _ = shim.call(&Request::Kill { signal: 9 }).await;
            let _ = shim.wait().await;
            return Err(self.start_failed(id, e.to_string(), cgroups).await);
        }
        let health = self.health_config(&c);
        let Some(c) = self.update(id, |c| {
            c.state.set_running(pid, Utc::now());
            c.state.health = health.as_ref().map(|_| crate::health::Health::starting());
            c.has_been_started = true;
        }) else {
            return Err(ContainerError::Conflict(
                "container was removed while starting".into(),
            ));
        };
        tracing::debug!(id, us = t0.elapsed().as_micros() as u64, "started");
        self.emit(&c, "start", &[]);
        let svc = self.clone();
        let id = id.to_string();
        if let Some(h) = health {
            self.clone().watch_health(&c, h);
        }
        tokio::spawn(async move { svc.monitor(id, shim, Instant::now()).await });
        Ok(())
    }

    /// Records a start that failed as Docker does (exit code 127/126/128 and the message) and
    /// words the error as dockerd's. The cgroups made ahead go too, once made: the runtime
    /// removes what it made, but a start can fail before the runtime ran at all.
    async fn start_failed(&self, id: &str, msg: String, cgroups: CgroupsAhead) -> ContainerError {
        cgroups.remove().await;
        let code = if msg.contains("executable file not found")
            || msg.contains("no such file or directory")
        {
            127
        } else if msg.contains("permission denied") {
            126
        } else {
            128
        };
        let full = format!(
            "failed to create task for container: OCI runtime create failed: {msg}: unknown"
        );
        self.clear_run(id);
        if let Ok(c) = self.get(id) {
            self.volumes.unmount(id, &c.mount_points);
        }
        if let Some(c) = self.update(id, |c| {
            c.state.set_exited(code, false, &full, Utc::now());
            c.network_settings = None;
            c.state.started_at = state::ZERO_TIME.into();
        }) {
            self.emit(&c, "die", &[("exitCode", code.to_string())]);
        }
        self.fail_pending_attach(id);
        self.signal_progress(id, |p| {
            p.exits += 1;
            p.exit_code = code;
            // The start's own answer carries the error; a waiting `docker run` must not print
            // it a second time.
            p.error = None;
        });
        // As dockerd: a `--rm` container that cannot start is removed (the client waits for that).
        if self.get(id).is_ok_and(|c| c.host_config.auto_remove) {
            self.destroy(id, true);
        }
        ContainerError::Start(full)
    }
}

/// A container's cgroups being made on a spare thread while its start goes on (see
/// [`berth_runtime::cgroups::make_ahead`]).
struct CgroupsAhead {
    path: String,
    made: Option<tokio::task::JoinHandle<()>>,
}

impl CgroupsAhead {
    fn make(path: String) -> CgroupsAhead {
        let made = tokio::runtime::Handle::try_current().ok().map(|rt| {
            let p = path.clone();
            rt.spawn_blocking(move || {
                // The runtime makes whatever is missing: a failure here costs it time only.
                if let Err(e) = berth_runtime::cgroups::make_ahead(&p) {
                    tracing::debug!(cgroup = p, error = %e, "making cgroups ahead");
                }
            })
        });
        CgroupsAhead { path, made }
    }

    /// Removes them, once they are made, for a start that failed.
    async fn remove(self) {
        if let Some(made) = self.made {
            let _ = made.await;
        }
        let path = self.path;
        let removed = tokio::task::spawn_blocking(move || berth_runtime::cgroups::remove(&path));
        if let Ok(Err(e)) = removed.await {
            tracing::warn!(error = %e, "removing the cgroups of a start that failed");
        }
    }
}

/// Starts, on a spare thread, the RCU grace period a start's cgroup migration would otherwise
/// wait for (see [`berth_runtime::cgroups::prime_migration`]). Called at create too: `run`
/// creates and then starts at once, and the earlier the wait begins the less of it is left.
pub(crate) fn prime_cgroup_migration() {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn_blocking(berth_runtime::cgroups::prime_migration);
    }
}
