//! Starting containers: rootfs, /etc files, network namespace, OCI spec, shim, and the words
//! of a start that fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use berth_image::Digest;
use berth_runtime::runtime::RuntimeConfig;
use berth_runtime::shim::client::{Shim, ShimError};
use berth_runtime::shim::protocol::Request;
use berth_runtime::shim::ShimConfig;
use berth_runtime::spec::{self, NamespaceMode, Resources, SpecOptions};
use chrono::Utc;

use crate::error::ContainerError;
use crate::process;
use crate::record::Container;
use crate::rootfs;
use crate::service::ContainerService;
use crate::state::{self, ContainerStatus};

impl ContainerService {
    pub(crate) fn shim(&self, id: &str) -> Shim {
        Shim::new(id, &self.paths.shim_socket(id))
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
        let Some(c) = self.update(id, |c| {
            c.state.set_running(pid, Utc::now());
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
        let root = rootfs::mount_rootfs(&lower, dir, c.host_config.auto_remove)
            .map_err(|e| e.to_string())?;
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
                self.spares.netns.take(&ns).map_err(|e| e.to_string())?;
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
            cgroups_path: self.paths.cgroups_path(&c.id, &hc.cgroup_parent),
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
            cgroups_path: self.paths.cgroups_path(&c.id, &c.host_config.cgroup_parent),
            console_socket: self.paths.console_socket(&c.id),
            socket: self.paths.shim_socket(&c.id),
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
