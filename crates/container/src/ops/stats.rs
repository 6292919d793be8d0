//! `GET /containers/{id}/stats`: one sample of what a container uses, from its cgroups and
//! its network namespace.

use std::collections::BTreeMap;
use std::path::Path;

use berth_runtime::stats::{self, CgroupStats, HostCgroups, InterfaceStats};
use chrono::{DateTime, Utc};

use crate::error::ContainerError;
use crate::service::ContainerService;

/// One sample; a container that is not running has none of its own (zeros, as dockerd).
#[derive(Debug, Clone, Default)]
pub struct StatsSample {
    pub read: Option<DateTime<Utc>>,
    pub cgroup: CgroupStats,
    /// The host's CPU time in nanoseconds, the base of CPU percentages.
    pub system_cpu_usage: u64,
    pub online_cpus: u64,
    /// The memory limit that applies: the container's own, or the host's memory.
    pub memory_limit: u64,
    pub networks: BTreeMap<String, InterfaceStats>,
}

impl ContainerService {
    /// A sample of the container's use now.
    pub fn stats(&self, key: &str) -> Result<StatsSample, ContainerError> {
        let c = self.get(key)?;
        if !c.state.running || c.state.restarting {
            return Ok(StatsSample::default());
        }
        let Some(version) = berth_runtime::cgroups::version() else {
            return Ok(StatsSample::default());
        };
        let path = self.paths.cgroups_path(&c.id, &c.host_config.cgroup_parent);
        let cgroup = stats::read(&HostCgroups, Path::new("/sys/fs/cgroup"), version, &path);
        let proc_stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let networks = std::fs::read_to_string(format!("/proc/{}/net/dev", c.state.pid))
            .map(|t| stats::net_dev(&t))
            .unwrap_or_default();
        let online_cpus = cgroup
            .cpu
            .percpu_usage
            .as_ref()
            .map(|p| p.len() as u64)
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64));
        let memory_limit = cgroup.memory_limit.unwrap_or_else(host_memory);
        Ok(StatsSample {
            read: Some(Utc::now()),
            system_cpu_usage: stats::system_cpu_usage(&proc_stat),
            online_cpus,
            memory_limit,
            networks,
            cgroup,
        })
    }
}

/// The host's memory in bytes (`MemTotal`), read once.
fn host_memory() -> u64 {
    static MEM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MEM.get_or_init(|| {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    })
}
