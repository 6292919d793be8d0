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
}

impl Config {
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
