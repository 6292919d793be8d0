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
