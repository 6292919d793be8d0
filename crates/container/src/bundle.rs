//! What a start writes before the shim takes over: the rootfs mount, the /etc files, the
//! network namespace, the OCI spec and the shim's config.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_image::Digest;
use berth_runtime::runtime::RuntimeConfig;
use berth_runtime::shim::client::Shim;
use berth_runtime::shim::ShimConfig;
use berth_runtime::spec::{self, NamespaceMode, Resources, SpecOptions};

use crate::error::ContainerError;
use crate::process;
use crate::record::Container;
use crate::rootfs;
use crate::service::ContainerService;

impl ContainerService {
    pub(crate) fn shim(&self, id: &str) -> Shim {
        Shim::new(id, &self.paths.shim_socket(id))
    }

    fn runtime_config(&self, c: &Container) -> Result<RuntimeConfig, ContainerError> {
        self.runtimes.known.get(&c.runtime).cloned().ok_or_else(|| {
            ContainerError::Invalid(format!("unknown or invalid runtime name: {}", c.runtime))
        })
    }

    /// The image's layers as overlay lower dirs, topmost first.
    pub(crate) fn lower_dirs(&self, image_id: &Digest) -> Result<Vec<PathBuf>, String> {
        let rec = self
            .images
            .get(image_id)
            .ok_or_else(|| format!("No such image: {image_id}"))?;
        Ok(rec
            .layers
            .iter()
            .rev()
            .map(|l| self.images.layers.diff_dir(&l.chain_id))
            .collect())
    }

    /// Mounts the rootfs and writes everything the shim needs; returns the shim's config.
    pub(crate) fn prepare_bundle(
        &self,
        c: &Container,
        dir: &std::path::Path,
        state_dir: &std::path::Path,
    ) -> Result<ShimConfig, String> {
        let image_id = Digest::parse(&c.image).map_err(|_| format!("bad image id {}", c.image))?;
        let lower = self
            .lower_dirs(&image_id)
            .map_err(|_| format!("No such image: {}", c.config.image))?;
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
        let mut settings = None;
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
                if !c.endpoints.is_empty() {
                    settings = Some(self.attach_networks(c, &ns)?);
                }
                NamespaceMode::Path(ns)
            }
        };
        let host_files = self
            .write_etc_files(c, settings.as_ref())
            .map_err(|e| format!("writing /etc files: {e}"))?;
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
        let mounts = self.user_mounts(c, &user)?;
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
            domainname: c.config.domainname.clone(),
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
            resources: resources_of(hc),
            ulimits: hc
                .ulimits
                .iter()
                .flatten()
                .map(|u| {
                    let n = |k: &str| u[k].as_i64().unwrap_or(0).max(0) as u64;
                    (
                        u["Name"].as_str().unwrap_or("").to_string(),
                        n("Soft"),
                        n("Hard"),
                    )
                })
                .collect(),
            oom_score_adj: (hc.oom_score_adj != 0).then_some(hc.oom_score_adj as i32),
            cgroups_path: self.paths.cgroups_path(&c.id, &hc.cgroup_parent),
            seccomp_unconfined: security
                .iter()
                .any(|s| s == "seccomp=unconfined" || s == "seccomp:unconfined"),
            no_new_privileges: security
                .iter()
                .any(|s| s.starts_with("no-new-privileges") && !s.ends_with("false")),
            rlimits_nofile: None,
            mounts,
        };
        let spec = spec::build_spec(&opts).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(state_dir).map_err(|e| e.to_string())?;
        spec::write_spec(&spec, state_dir).map_err(|e| e.to_string())?;
        Ok(ShimConfig {
            id: c.id.clone(),
            bundle: state_dir.to_path_buf(),
            state_dir: state_dir.to_path_buf(),
            log_path: c.log_file(&self.paths).unwrap_or_default(),
            log: c.log_settings(),
            runtime: self.runtime_config(c).map_err(|e| e.to_string())?,
            tty: c.config.tty,
            open_stdin: c.config.open_stdin,
            stdin_once: c.config.stdin_once,
            cgroups_path: self.paths.cgroups_path(&c.id, &c.host_config.cgroup_parent),
            console_socket: self.paths.console_socket(&c.id),
            socket: self.paths.shim_socket(&c.id),
        })
    }

    /// The container's volumes, binds and tmpfs mounts as spec entries, each readied by the
    /// volume service (a volume's device mounted, a `-v` source made, `U` sources given to
    /// the container's user).
    fn user_mounts(
        &self,
        c: &Container,
        user: &process::ResolvedUser,
    ) -> Result<Vec<berth_runtime::spec::SpecMount>, String> {
        let owner = berth_volume::Owner {
            uid: user.uid,
            gid: user.gid,
        };
        let mounts = self
            .volumes
            .mount(&c.id, &c.mount_points, owner)
            .map_err(|e| e.to_string())?;
        Ok(mounts
            .iter()
            .map(|m| {
                berth_runtime::spec::user_mount(
                    &m.destination,
                    m.kind,
                    std::path::Path::new(&m.source),
                    &m.options,
                )
            })
            .collect())
    }

    /// Joins the container's namespace to its networks and publishes its ports; the record
    /// keeps what that gave, so that an exit, or a start that fails later, undoes it.
    fn attach_networks(
        &self,
        c: &Container,
        netns: &std::path::Path,
    ) -> Result<berth_network::NetworkSettings, String> {
        let hc = &c.host_config;
        let obj = |m: &Option<BTreeMap<String, serde_json::Value>>| {
            m.as_ref().map(|m| serde_json::Map::from_iter(m.clone()))
        };
        let ports = berth_network::ports::requests(
            obj(&hc.port_bindings).as_ref(),
            obj(&c.config.exposed_ports).as_ref(),
            hc.publish_all_ports,
        )
        .map_err(|e| e.to_string())?;
        let names = [c.bare_name().to_string(), c.short_id().to_string()];
        let settings = self
            .network
            .attach(&c.id, netns, &c.endpoints, &names, &ports)
            .map_err(|e| {
                format!(
                    "driver failed programming external connectivity on endpoint {} ({}): {e}",
                    c.bare_name(),
                    c.id
                )
            })?;
        self.update(&c.id, |r| r.network_settings = Some(settings.clone()));
        Ok(settings)
    }

    /// The resolv.conf a container on a bridge gets: the host's servers (no loopback ones)
    /// or `--dns`, with `--dns-search` and `--dns-option`.
    pub(crate) fn container_resolv(c: &Container) -> String {
        let hc = &c.host_config;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        rootfs::resolv_conf(
            &host_resolv,
            hc.dns.as_deref().unwrap_or_default(),
            hc.dns_search.as_deref().unwrap_or_default(),
            hc.dns_options.as_deref().unwrap_or_default(),
        )
    }

    fn write_etc_files(
        &self,
        c: &Container,
        settings: Option<&berth_network::NetworkSettings>,
    ) -> std::io::Result<Vec<(PathBuf, &'static str)>> {
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
        // `host-gateway` is the default bridge's gateway: the host as containers reach it.
        let host_gateway = || {
            self.network
                .get("bridge")
                .ok()
                .and_then(|n| n.gateway)
                .map(|g| g.to_string())
                .unwrap_or_default()
        };
        let extra: Vec<(String, String)> = hc
            .extra_hosts
            .iter()
            .flatten()
            .filter_map(|e| {
                let (h, ip) = e.split_once('=').or_else(|| e.split_once(':'))?;
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                let ip = if ip == "host-gateway" {
                    host_gateway()
                } else {
                    ip.to_string()
                };
                Some((h.to_string(), ip))
            })
            .collect();
        let own_ip = settings
            .and_then(|s| c.endpoints.first().and_then(|(n, _)| s.endpoints.get(n)))
            .map(|e| e.ip.to_string());
        let own_name = if c.config.domainname.is_empty() {
            hostname.clone()
        } else {
            format!("{hostname}.{} {hostname}", c.config.domainname)
        };
        let hosts = if host_net {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            rootfs::hosts_file(own_ip.as_deref().map(|ip| (ip, own_name.as_str())), &extra)
        };
        std::fs::write(&hosts_path, hosts)?;
        let resolv = if host_net {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        } else {
            Self::container_resolv(c)
        };
        // On a user network the container asks the embedded server, which answers the
        // network's names and passes the rest to what the file would have named.
        let resolv = match settings.filter(|s| on_user_network(s)) {
            Some(s) => {
                let upstream = berth_network::dns::upstreams(&resolv);
                self.network
                    .serve_dns(&c.id, std::path::Path::new(&s.sandbox_key), upstream)
                    .map_err(std::io::Error::other)?;
                rootfs::embedded_dns_resolv(&resolv)
            }
            None => resolv,
        };
        std::fs::write(&resolv_path, resolv)?;
        Ok(vec![
            (resolv_path, "/etc/resolv.conf"),
            (hostname_path, "/etc/hostname"),
            (hosts_path, "/etc/hosts"),
        ])
    }
}

/// The cgroup limits a container's HostConfig asks for, in the spec's terms (at each start,
/// and for `update` on a running one).
pub(crate) fn resources_of(hc: &crate::config::HostConfig) -> Resources {
    Resources {
        memory: (hc.memory > 0).then_some(hc.memory),
        memory_swap: (hc.memory_swap != 0).then_some(hc.memory_swap),
        cpu_shares: (hc.cpu_shares > 0).then_some(hc.cpu_shares as u64),
        nano_cpus: (hc.nano_cpus > 0).then_some(hc.nano_cpus),
        cpuset_cpus: (!hc.cpuset_cpus.is_empty()).then(|| hc.cpuset_cpus.clone()),
        cpuset_mems: (!hc.cpuset_mems.is_empty()).then(|| hc.cpuset_mems.clone()),
        pids_limit: hc.pids_limit.filter(|p| *p != 0),
        memory_reservation: (hc.memory_reservation > 0).then_some(hc.memory_reservation),
        memory_swappiness: hc.memory_swappiness.filter(|s| *s >= 0).map(|s| s as u64),
        oom_kill_disable: hc.oom_kill_disable.unwrap_or(false),
        cpu_period: (hc.cpu_period > 0).then_some(hc.cpu_period as u64),
        cpu_quota: (hc.cpu_quota != 0).then_some(hc.cpu_quota),
    }
}

/// Whether the container is on a network of the user's (which has the embedded DNS).
pub(crate) fn on_user_network(s: &berth_network::NetworkSettings) -> bool {
    s.endpoints.keys().any(|n| n != "bridge")
}
