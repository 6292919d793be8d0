//! A container's resource use as its cgroups count it, on cgroup v1 and v2, in the shape
//! `GET /containers/{id}/stats` reports (moby's `types.StatsJSON` fields).
//!
//! The files are read through [`CgroupFiles`], so the parsing of both layouts is tested on
//! fixed file contents without a kernel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cgroups::CgroupVersion;

/// Where cgroup files are read from: the real `/sys/fs/cgroup`, or a test's fixture.
pub trait CgroupFiles {
    fn read(&self, path: &Path) -> Option<String>;
}

/// The host's cgroup filesystem.
pub struct HostCgroups;

impl CgroupFiles for HostCgroups {
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUsage {
    pub total_usage: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// What the cgroups say at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupStats {
    pub cpu: CpuUsage,
    pub throttling: Throttling,
    pub memory_usage: u64,
    pub memory_max_usage: Option<u64>,
    /// `None`: no limit of its own.
    pub memory_limit: Option<u64>,
    pub memory_stats: BTreeMap<String, u64>,
    pub pids_current: u64,
    pub pids_limit: Option<u64>,
    pub io_service_bytes: Vec<BlkioEntry>,
    pub io_serviced: Vec<BlkioEntry>,
}

/// A v1 limit this large means none (the kernel's `PAGE_COUNTER_MAX` in bytes).
const V1_UNLIMITED: u64 = 1 << 62;

fn num(s: Option<String>) -> Option<u64> {
    s?.trim().parse().ok()
}

fn key_values(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// Reads the stats of the cgroup `cgroups_path` (as in the OCI spec, `/berth/<id>`) under
/// `root` (`/sys/fs/cgroup`).
pub fn read(
    files: &dyn CgroupFiles,
    root: &Path,
    version: CgroupVersion,
    cgroups_path: &str,
) -> CgroupStats {
    let rel = cgroups_path.trim_start_matches('/');
    match version {
        CgroupVersion::V2 => read_v2(files, &root.join(rel)),
        _ => read_v1(files, root, rel),
    }
}

fn read_v1(f: &dyn CgroupFiles, root: &Path, rel: &str) -> CgroupStats {
    let at = |ctl: &str, file: &str| -> PathBuf { root.join(ctl).join(rel).join(file) };
    let mut s = CgroupStats::default();
    // cpuacct counts nanoseconds; its user/sys split is in clock ticks (USER_HZ).
    s.cpu.total_usage = num(f.read(&at("cpuacct", "cpuacct.usage"))).unwrap_or(0);
    s.cpu.percpu_usage = f.read(&at("cpuacct", "cpuacct.usage_percpu")).map(|t| {
        t.split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect()
    });
    if let Some(t) = f.read(&at("cpuacct", "cpuacct.stat")) {
        let kv = key_values(&t);
        let ns = |k: &str| kv.get(k).copied().unwrap_or(0) * (1_000_000_000 / clock_ticks());
        s.cpu.usage_in_usermode = ns("user");
        s.cpu.usage_in_kernelmode = ns("system");
    }
    if let Some(t) = f.read(&at("cpu", "cpu.stat")) {
        let kv = key_values(&t);
        s.throttling = Throttling {
            periods: kv.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: kv.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: kv.get("throttled_time").copied().unwrap_or(0),
        };
    }
    s.memory_usage = num(f.read(&at("memory", "memory.usage_in_bytes"))).unwrap_or(0);
    s.memory_max_usage = num(f.read(&at("memory", "memory.max_usage_in_bytes")));
    s.memory_limit =
        num(f.read(&at("memory", "memory.limit_in_bytes"))).filter(|l| *l < V1_UNLIMITED);
    if let Some(t) = f.read(&at("memory", "memory.stat")) {
        s.memory_stats = key_values(&t);
    }
    s.pids_current = num(f.read(&at("pids", "pids.current"))).unwrap_or(0);
    s.pids_limit = num(f.read(&at("pids", "pids.max")));
    let blkio = |file: &str| {
        f.read(&at("blkio", file))
            .map(|t| blkio_v1(&t))
            .unwrap_or_default()
    };
    s.io_service_bytes = blkio("blkio.throttle.io_service_bytes_recursive");
    s.io_serviced = blkio("blkio.throttle.io_serviced_recursive");
    s
}

/// `8:0 Read 4096` lines (the `Total` line left out, as dockerd leaves it).
fn blkio_v1(t: &str) -> Vec<BlkioEntry> {
    t.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, op, value) = (it.next()?, it.next()?, it.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn read_v2(f: &dyn CgroupFiles, dir: &Path) -> CgroupStats {
    let at = |file: &str| dir.join(file);
    let mut s = CgroupStats::default();
    if let Some(t) = f.read(&at("cpu.stat")) {
        // microseconds on v2
        let kv = key_values(&t);
        let g = |k: &str| kv.get(k).copied().unwrap_or(0);
        s.cpu.total_usage = g("usage_usec") * 1000;
        s.cpu.usage_in_usermode = g("user_usec") * 1000;
        s.cpu.usage_in_kernelmode = g("system_usec") * 1000;
        s.throttling = Throttling {
            periods: g("nr_periods"),
            throttled_periods: g("nr_throttled"),
            throttled_time: g("throttled_usec") * 1000,
        };
    }
    s.memory_usage = num(f.read(&at("memory.current"))).unwrap_or(0);
    s.memory_limit = num(f.read(&at("memory.max")));
    if let Some(t) = f.read(&at("memory.stat")) {
        s.memory_stats = key_values(&t);
    }
    s.pids_current = num(f.read(&at("pids.current"))).unwrap_or(0);
    s.pids_limit = num(f.read(&at("pids.max")));
    if let Some(t) = f.read(&at("io.stat")) {
        for l in t.lines() {
            let mut it = l.split_whitespace();
            let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
                continue;
            };
            for kv in it {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(value) = v.parse() else { continue };
                let (list, op) = match k {
                    "rbytes" => (&mut s.io_service_bytes, "read"),
                    "wbytes" => (&mut s.io_service_bytes, "write"),
                    "rios" => (&mut s.io_serviced, "read"),
                    "wios" => (&mut s.io_serviced, "write"),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value,
                });
            }
        }
    }
    s
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes a plain constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// The host's CPU time since boot in nanoseconds (`system_cpu_usage`): the sum of the `cpu`
/// line of `/proc/stat`, in clock ticks.
pub fn system_cpu_usage(proc_stat: &str) -> u64 {
    proc_stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|x| x.parse::<u64>().ok())
                .sum::<u64>()
        })
        .unwrap_or(0)
        * (1_000_000_000 / clock_ticks())
}

/// One interface's counters from `/proc/<pid>/net/dev`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InterfaceStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// The interfaces of a network namespace as `/proc/<pid>/net/dev` lists them, loopback left
/// out (dockerd reports only the container's endpoints).
pub fn net_dev(text: &str) -> BTreeMap<String, InterfaceStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some((
                name.to_string(),
                InterfaceStats {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
