//! Running containers: start (rootfs, spec, shim), stop, kill, pause, restart, what happens
//! when a container exits, and picking running containers up again after a daemon restart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_image::Digest;
use berth_runtime::runtime::RuntimeConfig;
use berth_runtime::shim::client::{self as shim_client, Shim, ShimError};
use berth_runtime::shim::protocol::{ExitInfo, Request};
use berth_runtime::shim::{read_exit, ShimConfig};
use berth_runtime::spec::{self, NamespaceMode, Resources, SpecOptions};
use chrono::Utc;

use crate::error::ContainerError;
use crate::process;
use crate::record::Container;
use crate::rootfs;
use crate::service::ContainerService;
use crate::signal::parse_signal;
use crate::state::{self, ContainerStatus};

/// Docker's default time between the stop signal and SIGKILL.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl ContainerService {
    pub(crate) fn shim(&self, id: &str) -> Shim {
        Shim::new(id, &self.paths.state_dir(id))
    }

    fn runtime_config(&self, c: &Container) -> Result<RuntimeConfig, ContainerError> {
        self.runtimes.known.get(&c.runtime).cloned().ok_or_else(|| {
            ContainerError::Invalid(format!("unknown or invalid runtime name: {}", c.runtime))
        })
    }

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
            ContainerStatus::Running => return Err(ContainerError::NotModified),
            ContainerStatus::Removing | ContainerStatus::Dead => {
                return Err(ContainerError::Conflict(format!(
                    "container is marked for removal and cannot be started"
                )))
            }
            _ => {}
        }
        self.restart_backoff.lock().unwrap().remove(&id);
        self.update(&id, |c| c.manually_stopped = false);
        self.run(&id).await
    }

    /// Starts the container's program: mounts the rootfs, writes the spec, starts a shim,
    /// connects waiting attaches, runs the program, and watches for its exit.
    async fn run(self: &Arc<Self>, id: &str) -> Result<(), ContainerError> {
        let c = self.get(id)?;
        let dir = self.paths.dir(id);
        let state_dir = self.paths.state_dir(id);
        let prepared = self.prepare_bundle(&c, &dir, &state_dir);
        let cfg = match prepared {
            Ok(cfg) => cfg,
            Err(e) => {
                let _ = rootfs::unmount_rootfs(&dir);
                return Err(self.start_failed(id, e));
            }
        };
        let pid = match shim_client::spawn(&self.exe, &cfg).await {
            Ok(pid) => pid,
            Err(e) => {
                let _ = rootfs::unmount_rootfs(&dir);
                return Err(self.start_failed(id, e.to_string()));
            }
        };
        let shim = self.shim(id);
        self.connect_pending(id, &shim).await;
        if let Err(e) = shim.call(&Request::Start).await {
            let _ = shim.call(&Request::Kill { signal: 9 }).await;
            let _ = shim.wait().await;
            let _ = rootfs::unmount_rootfs(&dir);
            return Err(self.start_failed(id, e.to_string()));
        }
        let Some(c) = self.update(id, |c| {
            c.state.set_running(pid, Utc::now());
            c.has_been_started = true;
        }) else {
            return Err(ContainerError::Conflict(
                "container was removed while starting".into(),
            ));
        };
        self.emit(&c, "start", &[]);
        let svc = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { svc.monitor(id, shim, Instant::now()).await });
        Ok(())
    }

    /// Records a start that failed as Docker does (exit code 127/126/128 and the message) and
    /// words the error as dockerd's.
    fn start_failed(&self, id: &str, msg: String) -> ContainerError {
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
        let _ = std::fs::remove_dir_all(self.paths.state_dir(id));
        let _ = berth_network::netns::remove(&self.paths.netns_path(id));
        if let Some(c) = self.update(id, |c| {
            c.state.set_exited(code, false, &full, Utc::now());
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
            self.destroy(id);
        }
        ContainerError::Start(full)
    }

    /// Mounts the rootfs and writes everything the shim needs; returns the shim's config.
    fn prepare_bundle(
        &self,
        c: &Container,
        dir: &std::path::Path,
        state_dir: &std::path::Path,
    ) -> Result<ShimConfig, String> {
        let image_id = Digest::parse(&c.image).map_err(|_| format!("bad image id {}", c.image))?;
        let rec = self
            .images
            .get(&image_id)
            .ok_or_else(|| format!("No such image: {}", c.config.image))?;
        let lower: Vec<PathBuf> = rec
            .layers
            .iter()
            .rev()
            .map(|l| self.images.layers.diff_dir(&l.chain_id))
            .collect();
        rootfs::prepare_dirs(dir).map_err(|e| e.to_string())?;
        let root = rootfs::mount_rootfs(&lower, dir).map_err(|e| e.to_string())?;
        let user = process::resolve_user(&root, &c.config.user).map_err(|e| e.to_string())?;
        let hostname = c.config.hostname.clone();
        let env = process::process_env(
            c.config.env.as_deref().unwrap_or_default(),
            &hostname,
            &user.home,
            c.config.tty,
        );
        let hc = &c.host_config;
        let host_files = self
            .write_etc_files(c)
            .map_err(|e| format!("writing /etc files: {e}"))?;
        let network = match hc.network_mode.as_str() {
            "host" => NamespaceMode::Host,
            m if m.starts_with("container:") => {
                let other = self
                    .get(&m["container:".len()..])
                    .map_err(|e| e.to_string())?;
                if !other.state.running {
                    return Err(format!(
                        "cannot join network of a non running container: {}",
                        other.id
                    ));
                }
                let held = self.paths.netns_path(&other.id);
                if held.exists() {
                    NamespaceMode::Path(held)
                } else {
                    NamespaceMode::Path(PathBuf::from(format!("/proc/{}/ns/net", other.state.pid)))
                }
            }
            _ => {
                // Made here rather than by the runtime so that loopback is up whichever runtime
                // runs the container, and so that berthd owns it for the bridge to come.
                let ns = self.paths.netns_path(&c.id);
                let _ = berth_network::netns::remove(&ns);
                berth_network::netns::create(&ns).map_err(|e| e.to_string())?;
                NamespaceMode::Path(ns)
            }
        };
        let security = hc.security_opt.clone().unwrap_or_default();
        let cwd = if c.config.working_dir.is_empty() {
            "/".to_string()
        } else {
            c.config.working_dir.clone()
        };
        let mut gids = user.additional_gids.clone();
        for g in hc.group_add.iter().flatten() {
            gids.push(g.parse().map_err(|_| format!("unable to find group {g}"))?);
        }
        let opts = SpecOptions {
            rootfs: root,
            readonly_rootfs: hc.readonly_rootfs,
            args: std::iter::once(c.path.clone())
                .chain(c.args.iter().cloned())
                .collect(),
            env,
            cwd,
            uid: user.uid,
            gid: user.gid,
            additional_gids: gids,
            terminal: c.config.tty,
            hostname,
            network: network.clone(),
            ipc: if hc.ipc_mode == "host" {
                NamespaceMode::Host
            } else {
                NamespaceMode::New
            },
            pid: if hc.pid_mode == "host" {
                NamespaceMode::Host
            } else {
                NamespaceMode::New
            },
            uts_host: hc.uts_mode == "host" || matches!(network, NamespaceMode::Host),
            etc_files: host_files,
            shm_size: hc.shm_size as u64,
            privileged: hc.privileged,
            cap_add: hc.cap_add.clone().unwrap_or_default(),
            cap_drop: hc.cap_drop.clone().unwrap_or_default(),
            resources: Resources {
                memory: (hc.memory > 0).then_some(hc.memory),
                memory_swap: (hc.memory_swap != 0).then_some(hc.memory_swap),
                cpu_shares: (hc.cpu_shares > 0).then_some(hc.cpu_shares as u64),
                nano_cpus: (hc.nano_cpus > 0).then_some(hc.nano_cpus),
                cpuset_cpus: (!hc.cpuset_cpus.is_empty()).then(|| hc.cpuset_cpus.clone()),
                pids_limit: hc.pids_limit.filter(|p| *p != 0),
            },
            cgroups_path: format!("/berth/{}", c.id),
            seccomp_unconfined: security
                .iter()
                .any(|s| s == "seccomp=unconfined" || s == "seccomp:unconfined"),
            no_new_privileges: security
                .iter()
                .any(|s| s.starts_with("no-new-privileges") && !s.ends_with("false")),
            rlimits_nofile: None,
            mounts: Vec::new(),
        };
        let spec = spec::build_spec(&opts).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(state_dir).map_err(|e| e.to_string())?;
        spec::write_spec(&spec, state_dir).map_err(|e| e.to_string())?;
        Ok(ShimConfig {
            id: c.id.clone(),
            bundle: state_dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            log_path: self.paths.log_path(&c.id),
            runtime: self.runtime_config(c).map_err(|e| e.to_string())?,
            tty: c.config.tty,
            open_stdin: c.config.open_stdin,
            stdin_once: c.config.stdin_once,
            cgroups_path: format!("/berth/{}", c.id),
            console_socket: self
                .paths
                .run
                .join("console")
                .join(format!("{}.sock", &c.id[..12])),
        })
    }

    fn write_etc_files(&self, c: &Container) -> std::io::Result<Vec<(PathBuf, &'static str)>> {
        let hc = &c.host_config;
        let host_net = hc.network_mode == "host";
        let hostname_path = self.paths.hostname_path(&c.id);
        let hosts_path = self.paths.hosts_path(&c.id);
        let resolv_path = self.paths.resolv_conf_path(&c.id);
        let hostname = if host_net {
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            c.config.hostname.clone()
        };
        std::fs::write(&hostname_path, rootfs::hostname_file(&hostname))?;
        let extra: Vec<(String, String)> = hc
            .extra_hosts
            .iter()
            .flatten()
            .filter_map(|e| {
                e.split_once(':')
                    .map(|(h, ip)| (h.to_string(), ip.to_string()))
            })
            .collect();
        let hosts = if host_net {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            rootfs::hosts_file(None, &extra)
        };
        std::fs::write(&hosts_path, hosts)?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = if host_net {
            host_resolv
        } else {
            rootfs::resolv_conf(
                &host_resolv,
                hc.dns.as_deref().unwrap_or_default(),
                hc.dns_search.as_deref().unwrap_or_default(),
                hc.dns_options.as_deref().unwrap_or_default(),
            )
        };
        std::fs::write(&resolv_path, resolv)?;
        Ok(vec![
            (resolv_path, "/etc/resolv.conf"),
            (hostname_path, "/etc/hostname"),
            (hosts_path, "/etc/hosts"),
        ])
    }

    /// Waits for the shim's word on the exit, whatever happens to the shim.
    async fn monitor(self: Arc<Self>, id: String, shim: Shim, started: Instant) {
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
        let dir = self.paths.dir(id);
        if let Err(e) = rootfs::unmount_rootfs(&dir) {
            tracing::error!(id, error = %e, "unmounting rootfs after exit");
        }
        let _ = std::fs::remove_dir_all(self.paths.state_dir(id));
        if let Err(e) = berth_network::netns::remove(&self.paths.netns_path(id)) {
            tracing::error!(id, error = %e, "removing network namespace");
        }
        let finished = state::parse_timestamp(&exit.finished_at);
        let Some(c) = self.update(id, |c| {
            c.state
                .set_exited(exit.exit_code, exit.oom_killed, error, finished)
        }) else {
            return;
        };
        if exit.oom_killed {
            self.emit(&c, "oom", &[]);
        }
        self.emit(&c, "die", &[("exitCode", exit.exit_code.to_string())]);
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
                svc.destroy(&id);
            });
            return;
        }
        let policy = &c.host_config.restart_policy;
        if state::should_restart(policy, exit.exit_code, c.manually_stopped, c.restart_count) {
            let delay = self
                .restart_backoff
                .lock()
                .unwrap()
                .entry(id.to_string())
                .or_default()
                .next_delay(ran_for);
            self.update(id, |c| c.state.set_restarting());
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
        if !c.state.restarting || c.manually_stopped {
            return;
        }
        self.update(id, |c| c.restart_count += 1);
        if let Err(e) = self.run(id).await {
            tracing::warn!(id, error = %e, "restart by policy failed");
        }
    }

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

    async fn stop_locked(
        self: &Arc<Self>,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), ContainerError> {
        let c = self.get(id)?;
        if c.state.restarting {
            // Waiting to be restarted: cancelling the restart is the stop.
            let c = self.update(id, |c| {
                c.manually_stopped = true;
                let code = c.state.exit_code;
                c.state.set_exited(code, false, "", Utc::now());
            });
            if let Some(c) = c {
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
        match self.shim(id).call(&Request::Kill { signal }).await {
            Ok(_) => {}
            Err(ShimError::Gone { .. }) => {}
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
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        Ok(())
    }

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
            .call(&Request::Resize { height, width })
            .await
            .map_err(|e| ContainerError::Start(e.to_string()))?;
        Ok(())
    }

    /// At daemon start: reconnects to the shims of running containers, records the exits of
    /// those that ended while berthd was away, and applies restart policies.
    pub async fn recover(self: &Arc<Self>) {
        for c in self.list() {
            let id = c.id.clone();
            let status = c.state.computed_status();
            if status == ContainerStatus::Removing {
                self.destroy(&id);
                continue;
            }
            if !matches!(
                status,
                ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
            ) {
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
            if shim.call(&Request::State).await.is_ok() {
                tracing::info!(id = %c.short_id(), "reconnected to running container");
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
