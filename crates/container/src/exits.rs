//! What happens when a container's program ends: the shim's answer (or its absence), the
//! record, `--rm` and restart policies; and picking containers up again after a daemon restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_runtime::shim::client::{Shim, ShimError};
use berth_runtime::shim::protocol::{ExitInfo, Request};
use berth_runtime::shim::{read_exit, ShimConfig};
use chrono::Utc;

use crate::rootfs;
use crate::service::ContainerService;
use crate::state::{self, ContainerStatus};

impl ContainerService {
    /// Waits for the shim's word on the exit, whatever happens to the shim.
    pub(crate) async fn monitor(self: Arc<Self>, id: String, shim: Shim, started: Instant) {
        let exit = match shim.wait().await {
            Ok(exit) => exit,
            Err(e) => {
                let state_dir = self.paths.state_dir(&id);
                match read_exit(&state_dir) {
                    Some(exit) => exit,
                    None => {
                        tracing::warn!(id, error = %e, "shim gone without recording an exit; killing what is left");
                        self.cleanup_orphan(&id).await;
                        self.handle_exit(
                            &id,
                            lost_shim_exit(),
                            "container shim exited unexpectedly",
                            started.elapsed(),
                        );
                        return;
                    }
                }
            }
        };
        self.handle_exit(&id, exit, "", started.elapsed());
    }

    /// Kills and deletes a container whose shim died, through a one-off shim process (the
    /// builtin runtime must not run inside the multi-threaded daemon).
    async fn cleanup_orphan(&self, id: &str) {
        let cfg_file = ShimConfig::config_file(&self.paths.state_dir(id));
        let out = tokio::process::Command::new(&self.exe)
            .arg("shim")
            .arg("--delete")
            .arg(&cfg_file)
            .output()
            .await;
        if let Ok(o) = out {
            if !o.status.success() {
                tracing::warn!(id, stderr = %String::from_utf8_lossy(&o.stderr), "deleting orphaned container");
            }
        }
    }

    /// Records an exit, then applies `--rm` and restart policies.
    fn handle_exit(self: &Arc<Self>, id: &str, exit: ExitInfo, error: &str, ran_for: Duration) {
        let t0 = Instant::now();
        // The exit is saved before anything of the run is cleared (exit.json included): a crash
        // in between leaves leftovers that the next start clears, never a wrong exit code.
        let finished = state::parse_timestamp(&exit.finished_at);
        // The restart decision is taken with the exit, in one update: a stop that came in
        // between would otherwise find the container neither running nor restarting, do
        // nothing, and be overtaken by the restart.
        let record_exit = |c: &mut crate::record::Container| {
            c.state
                .set_exited(exit.exit_code, exit.oom_killed, error, finished);
            c.network_settings = None;
            if !c.host_config.auto_remove
                && state::should_restart(
                    &c.host_config.restart_policy,
                    exit.exit_code,
                    c.manually_stopped,
                    c.restart_count,
                )
            {
                c.state.set_restarting();
            }
        };
        // An `--rm` container is removed right after: its exit is not worth a write.
        let auto_remove = self.get(id).is_ok_and(|c| c.host_config.auto_remove);
        let recorded = if auto_remove {
            self.update_unsaved(id, record_exit)
        } else {
            self.update(id, record_exit)
        };
        let Some(c) = recorded else {
            return;
        };
        if c.host_config.auto_remove {
            // The removal that follows detaches the rootfs without waiting for the overlay to
            // be torn down; unmounting it here would wait.
            self.clear_run_state(id);
        } else {
            self.clear_run(id);
        }
        if exit.oom_killed {
            self.emit(&c, "oom", &[]);
        }
        self.volumes.unmount(&c.id, &c.mount_points);
        self.emit(&c, "die", &[("exitCode", exit.exit_code.to_string())]);
        tracing::debug!(id, us = t0.elapsed().as_micros() as u64, "exit recorded");
        self.signal_progress(id, |p| {
            p.exits += 1;
            p.exit_code = exit.exit_code;
            p.error = (!error.is_empty()).then(|| error.to_string());
        });
        if c.host_config.auto_remove {
            let svc = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                let lock = svc.op_lock(&id);
                let _g = lock.lock().await;
                // A restart that held the lock has started it again: it stays (as in dockerd,
                // where a restart suspends AutoRemove).
                if svc.get(&id).is_ok_and(|c| !c.state.running) {
                    svc.destroy(&id, true);
                }
            });
            return;
        }
        if c.state.restarting {
            let Some(delay) = self.with_entry(id, |e| e.backoff.next_delay(ran_for)) else {
                return;
            };
            let svc = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                svc.policy_restart(&id).await;
            });
        }
    }

    async fn policy_restart(self: &Arc<Self>, id: &str) {
        let lock = self.op_lock(id);
        let _g = lock.lock().await;
        let Ok(c) = self.get(id) else { return };
        if !c.state.restarting {
            return;
        }
        if c.manually_stopped {
            self.cancel_restart(id);
            return;
        }
        self.update(id, |c| c.restart_count += 1);
        if let Err(e) = self.run(id).await {
            tracing::warn!(id, error = %e, "restart by policy failed");
        }
    }

    /// At daemon start: reconnects to the shims of running containers, records the exits of
    /// those that ended while berthd was away, and applies restart policies.
    pub async fn recover(self: &Arc<Self>) {
        for c in self.list() {
            let id = c.id.clone();
            let status = c.state.computed_status();
            if status == ContainerStatus::Removing {
                self.destroy(&id, false);
                continue;
            }
            // As dockerd at its start: a stopped `--rm` container (its removal was cut short)
            // is removed.
            if c.host_config.auto_remove && status == ContainerStatus::Exited {
                self.destroy(&id, true);
                continue;
            }
            if !matches!(
                status,
                ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
            ) {
                // A run berthd did not see through (it died mid-start or mid-exit) may have
                // left a shim, a mount or a namespace behind.
                if self.paths.state_dir(&id).join("shim.json").exists() {
                    self.cleanup_orphan(&id).await;
                }
                self.clear_run(&id);
                continue;
            }
            if c.state.restarting {
                // Its restart was pending when berthd went down; the daemon-start pass decides.
                self.update(&id, |c| {
                    let code = c.state.exit_code;
                    c.state.set_exited(code, false, "", Utc::now());
                });
                continue;
            }
            let shim = self.shim(&id);
            // A shim that is there but slow to answer still owns a live container.
            let state = shim
                .call_within(&Request::State, Duration::from_secs(3))
                .await;
            if state.is_ok() || matches!(state, Err(ShimError::Timeout(_))) {
                tracing::info!(id = %c.short_id(), "reconnected to running container");
                if let Some(s) = &c.network_settings {
                    self.network.readopt(&id, s);
                    if crate::bundle::on_user_network(s) {
                        let upstream = berth_network::dns::upstreams(&Self::container_resolv(&c));
                        let netns = std::path::Path::new(&s.sandbox_key);
                        if let Err(e) = self.network.serve_dns(&id, netns, upstream) {
                            tracing::warn!(id = %c.short_id(), error = %e, "serving DNS again");
                        }
                    }
                }
                let svc = self.clone();
                tokio::spawn(async move { svc.monitor(id, shim, Instant::now()).await });
                continue;
            }
            let (exit, err) = match read_exit(&self.paths.state_dir(&id)) {
                Some(e) => (e, ""),
                None => {
                    self.cleanup_orphan(&id).await;
                    (lost_shim_exit(), "container shim exited unexpectedly")
                }
            };
            self.handle_exit(&id, exit, err, Duration::from_secs(10));
        }
        // Containers Docker would bring back with the daemon.
        for c in self.list() {
            let s = &c.state;
            if c.has_been_started
                && !s.running
                && !c.host_config.auto_remove
                && state::should_start_on_daemon_start(
                    &c.host_config.restart_policy,
                    s.exit_code,
                    c.manually_stopped,
                    c.restart_count,
                )
                && c.host_config.restart_policy.name != "on-failure"
            {
                if let Err(e) = self.start(&c.id).await {
                    tracing::warn!(id = %c.short_id(), error = %e, "restart at daemon start failed");
                }
            }
        }
    }
}

/// What is recorded when the shim vanished without writing an exit: killed, as SIGKILL would.
fn lost_shim_exit() -> ExitInfo {
    ExitInfo {
        exit_code: 137,
        oom_killed: false,
        finished_at: state::format_timestamp(Utc::now()),
    }
}

impl ContainerService {
    /// Clears what one run of a container used: the rootfs mount, the shim's state dir and
    /// sockets, the network namespace. Idempotent.
    pub(crate) fn clear_run(&self, id: &str) {
        let dir = self.paths.dir(id);
        if let Err(e) = rootfs::unmount_rootfs(&dir) {
            tracing::error!(id, error = %e, "unmounting rootfs");
        }
        self.clear_run_state(id);
    }

    /// [`Self::clear_run`] but the rootfs, which stays mounted (for a removal to detach).
    pub(crate) fn clear_run_state(&self, id: &str) {
        self.network.detach_all(id);
        let _ = std::fs::remove_dir_all(self.paths.state_dir(id));
        let _ = std::fs::remove_file(self.paths.shim_socket(id));
        let _ = std::fs::remove_file(self.paths.console_socket(id));
        if let Err(e) = berth_network::netns::remove(&self.paths.netns_path(id)) {
            tracing::error!(id, error = %e, "removing network namespace");
        }
    }
}
