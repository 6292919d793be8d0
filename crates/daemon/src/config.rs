//! berthd's flags, named and defaulted as dockerd's.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "berthd",
    version,
    about = "The berth daemon: a Docker-compatible container engine"
)]
pub struct Config {
    /// Root directory of persistent state (images, containers, volumes)
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    pub data_root: PathBuf,
    /// Root directory for execution state (sockets, pid files)
    #[arg(long = "exec-root", default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// Daemon socket to listen on (unix:///path)
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    /// Registries reachable over plain HTTP (CIDR or host[:port]); 127.0.0.0/8 always is
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Logging level: debug, info, warn, error, fatal
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Register an OCI runtime command line: name=path (runc and crun are found on PATH)
    #[arg(long = "add-runtime", value_name = "NAME=PATH")]
    pub add_runtime: Vec<String>,
    /// Runtime containers use unless `--runtime` says otherwise
    #[arg(long = "default-runtime", default_value = "builtin")]
    pub default_runtime: String,
    /// Parent cgroup of containers' cgroups
    #[arg(long = "cgroup-parent", default_value = "/berth")]
    pub cgroup_parent: String,
    /// Group for the unix socket: its members may use the API (default: root only)
    #[arg(short = 'G', long = "group")]
    pub group: Option<String>,
    /// The default bridge's device ("none": no default bridge)
    #[arg(short = 'b', long = "bridge", default_value = "berth0")]
    pub bridge: String,
    /// The default bridge's address and subnet (e.g. 172.17.0.1/16)
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Default address pools for new networks (base=172.30.0.0/16,size=24)
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// Keep the firewall rules networks need
    #[arg(long = "iptables", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub iptables: bool,
    /// Turn on IPv4 forwarding
    #[arg(long = "ip-forward", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ip_forward: bool,
    /// Proxy published ports on loopback in userland (berth routes them in the kernel)
    #[arg(long = "userland-proxy", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub userland_proxy: bool,
}

impl Config {
    /// The runtimes containers can choose: the builtin one, runc and crun where installed, and
    /// every `--add-runtime`.
    pub fn runtimes(&self) -> Result<berth_container::Runtimes> {
        use berth_runtime::runtime::RuntimeConfig;
        let roots = self.exec_root.join("runtime");
        let mut known = std::collections::BTreeMap::new();
        known.insert(
            "builtin".to_string(),
            RuntimeConfig::Builtin {
                root: roots.join("builtin"),
            },
        );
        let mut add = |name: &str, path: PathBuf| {
            let root = roots.join(name);
            known.insert(
                name.to_string(),
                RuntimeConfig::Cli {
                    name: name.to_string(),
                    path,
                    root,
                },
            );
        };
        for name in ["runc", "crun"] {
            if let Some(p) = find_in_path(name) {
                add(name, p);
            }
        }
        for spec in &self.add_runtime {
            match spec.split_once('=') {
                Some((n, p)) if !n.is_empty() && !p.is_empty() && n != "builtin" => {
                    add(n, PathBuf::from(p))
                }
                _ => bail!("invalid --add-runtime {spec:?}: use name=path"),
            }
        }
        if !known.contains_key(&self.default_runtime) {
            bail!(
                "default runtime {:?} is not a known runtime",
                self.default_runtime
            );
        }
        Ok(berth_container::Runtimes {
            default: self.default_runtime.clone(),
            known,
        })
    }

    /// The network service's settings from the flags.
    pub fn network(&self) -> Result<berth_network::NetworkConfig> {
        use berth_network::ipam::Subnet;
        if self.userland_proxy {
            bail!("--userland-proxy=true is not supported yet: berth routes published ports, loopback included, in the kernel");
        }
        let mut pools = Vec::new();
        for spec in &self.default_address_pool {
            let mut base: Option<Subnet> = None;
            let mut size: Option<u8> = None;
            for kv in spec.split(',') {
                match kv.split_once('=') {
                    Some(("base", v)) => {
                        base = Some(
                            v.parse()
                                .map_err(|e| anyhow::anyhow!("--default-address-pool: {e}"))?,
                        )
                    }
                    Some(("size", v)) => {
                        size = Some(v.parse().map_err(|_| {
                            anyhow::anyhow!("--default-address-pool: invalid size {v:?}")
                        })?)
                    }
                    _ => bail!("--default-address-pool {spec:?}: use base=CIDR,size=N"),
                }
            }
            let (Some(base), Some(size)) = (base, size) else {
                bail!("--default-address-pool {spec:?}: use base=CIDR,size=N");
            };
            if size < base.prefix || size > 30 {
                bail!("--default-address-pool {spec:?}: size must be between the base's prefix and 30");
            }
            let count = 1u64 << (size - base.prefix);
            let step = 1u64 << (32 - size);
            for i in 0..count.min(65536) {
                let ip = u32::from(base.base) as u64 + i * step;
                pools.push(Subnet::new(std::net::Ipv4Addr::from(ip as u32), size));
            }
        }
        if pools.is_empty() {
            pools = berth_network::ipam::default_pools();
        }
        Ok(berth_network::NetworkConfig {
            data_dir: self.data_root.join("network"),
            bridge: self.bridge.clone(),
            bip: self.bip.clone(),
            pools,
            iptables: self.iptables,
            ip_forward: self.ip_forward,
        })
    }

    /// The unix socket path from `-H`, or `<exec-root>/berth.sock`.
    pub fn socket_path(&self) -> Result<PathBuf> {
        match &self.host {
            None => Ok(self.exec_root.join("berth.sock")),
            Some(h) => match h.strip_prefix("unix://") {
                Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
                _ if h.starts_with('/') => Ok(PathBuf::from(h)),
                _ => bail!("unsupported listen address {h:?}: berthd listens on unix sockets (unix:///path)"),
            },
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
