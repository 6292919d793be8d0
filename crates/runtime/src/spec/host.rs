//! What the spec depends on beyond the options: CPUs, capabilities, cgroup version, limits.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::caps::caps_from_mask;
use super::{io_err, SpecError};

/// What build_spec needs to know about the machine, gathered once so tests can fake it.
#[derive(Debug, Clone)]
pub(super) struct Host {
    pub(super) cpus: usize,
    /// Our own bounding set; `None` if unreadable, in which case (as in Docker) every known
    /// capability counts as available and the runtime has the last word.
    pub(super) bounding: Option<Vec<&'static str>>,
    pub(super) cgroup_v2: bool,
    pub(super) swap_limit: bool,
    /// Our hard RLIMIT_NOFILE; `None` when unlimited.
    pub(super) nofile_hard: Option<u64>,
    pub(super) oom_score_adj: i32,
    /// Docker's per-netns sysctls that this kernel has.
    pub(super) net_sysctls: Vec<(&'static str, &'static str)>,
    /// Per-CPU thermal_throttle directories, masked since GHSA-6fw5-f8r9-fgfm.
    pub(super) thermal_throttle: Vec<String>,
}

impl Host {
    pub(super) fn probe() -> Host {
        let cgroup_v2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false);
        let mut net_sysctls = Vec::new();
        // Inside a user namespace the group range cannot reach beyond our own mapping.
        let in_userns = fs::read_to_string("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
            .unwrap_or(false);
        if !in_userns && Path::new("/proc/sys/net/ipv4/ping_group_range").exists() {
            net_sysctls.push(("net.ipv4.ping_group_range", "0 2147483647"));
        }
        if Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start").exists() {
            net_sysctls.push(("net.ipv4.ip_unprivileged_port_start", "0"));
        }
        Host {
            cpus: online_cpus(),
            bounding: bounding_set(),
            cgroup_v2,
            swap_limit: cgroup_v2
                || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
            nofile_hard: nofile_hard_limit(),
            oom_score_adj: fs::read_to_string("/proc/self/oom_score_adj")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            net_sysctls,
            thermal_throttle: thermal_throttle_paths(),
        }
    }
}

/// The CPUs we may run on, as Go's runtime.NumCPU counts them for Docker's `--cpus` check.
pub(super) fn online_cpus() -> usize {
    use nix::sched::{sched_getaffinity, CpuSet};
    match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .count()
            .max(1),
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

pub(super) fn bounding_set() -> Option<Vec<&'static str>> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(caps_from_mask(mask))
}

fn nofile_hard_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    (lim.rlim_max != libc::RLIM_INFINITY).then_some(lim.rlim_max)
}

fn thermal_throttle_paths() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/sys/devices/system/cpu") else {
        return Vec::new();
    };
    let mut cpus: Vec<u32> = entries
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("cpu")?
                .parse()
                .ok()
        })
        .collect();
    cpus.sort_unstable();
    cpus.into_iter()
        .map(|n| format!("/sys/devices/system/cpu/cpu{n}/thermal_throttle"))
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// Every device node under `dir`, for `--privileged`, skipping what the runtime mounts
/// itself (pts, shm, mqueue) and the console, which belongs to the container's own pty.
pub(super) fn host_devices(dir: &Path) -> Result<Vec<LinuxDevice>, SpecError> {
    const SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(io_err("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err("listing", dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Devices come and go (hotplug); one that vanished is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("inspecting", &path)(e)),
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            if !SKIP_DIRS.iter().any(|d| name == *d) {
                out.extend(host_devices(&path)?);
            }
            continue;
        }
        let typ = if ft.is_char_device() {
            LinuxDeviceType::C
        } else if ft.is_block_device() {
            LinuxDeviceType::B
        } else {
            continue;
        };
        if name == "console" {
            continue;
        }
        let rdev = meta.rdev();
        let mut dev = LinuxDevice::default();
        dev.set_path(path)
            .set_typ(typ)
            .set_major(nix::sys::stat::major(rdev) as i64)
            .set_minor(nix::sys::stat::minor(rdev) as i64)
            .set_file_mode(Some(meta.mode() & 0o7777))
            .set_uid(Some(meta.uid()))
            .set_gid(Some(meta.gid()));
        out.push(dev);
    }
    Ok(out)
}
