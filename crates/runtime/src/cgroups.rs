//! Which cgroup layout the host has. Detected, never assumed: hosts run pure v1, the v1/v2
//! hybrid (v1 controllers plus an often empty `/sys/fs/cgroup/unified`), or pure v2.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The cgroup layout of the host, as `docker info` reports it (`CgroupVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Controllers on v1 hierarchies (pure v1 or hybrid).
    V1,
    /// The unified v2 hierarchy at the cgroup root.
    V2,
}

impl CgroupVersion {
    /// "1" or "2", as in the Docker API.
    pub fn as_api_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        }
    }
}

const CGROUP2_SUPER_MAGIC: libc::c_long = 0x6367_7270;

/// Looks at the filesystem mounted on `root` (normally `/sys/fs/cgroup`): cgroup2 there means
/// v2; anything else (a tmpfs of v1 hierarchies) means v1. `None` if `root` cannot be read.
pub fn detect_at(root: &Path) -> Option<CgroupVersion> {
    let c = CString::new(root.as_os_str().as_encoded_bytes()).ok()?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a properly sized out-parameter.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(if st.f_type as libc::c_long == CGROUP2_SUPER_MAGIC {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    })
}

/// The host's cgroup layout, from `/sys/fs/cgroup`.
pub fn detect() -> Option<CgroupVersion> {
    detect_at(Path::new("/sys/fs/cgroup"))
}

/// Starts the RCU grace period that the next task migration between cgroups has to wait for,
/// so that it passes while a container start does other work.
///
/// Moving a process into a cgroup (what a runtime does with the container's first process)
/// takes the kernel's cgroup threadgroup lock for writing, and the first writer after a quiet
/// spell waits for a full RCU grace period: 5 to 30 ms on a VM, the largest single wait of a
/// start. Writers that follow within a grace period do not wait. Writing our own PID into the
/// cgroup we are already in is such a migration that changes nothing; done on a spare thread
/// when a start begins, it pays that wait alongside the bundle, the shim and the runtime's
/// setup instead of in front of them. Errors are of no consequence and ignored.
pub fn prime_migration() {
    static OWN_PROCS: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    if let Some(procs) = OWN_PROCS.get_or_init(own_cgroup_procs) {
        let _ = std::fs::write(procs, std::process::id().to_string());
    }
}

/// The `cgroup.procs` file of the cgroup this process is in, in one hierarchy.
fn own_cgroup_procs() -> Option<std::path::PathBuf> {
    let table = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let root = Path::new("/sys/fs/cgroup");
    let (dir, rel) = match detect()? {
        CgroupVersion::V2 => (
            root.to_path_buf(),
            table.lines().find_map(|l| l.strip_prefix("0::"))?,
        ),
        CgroupVersion::V1 => ["pids", "memory", "cpu", "devices"].iter().find_map(|c| {
            let rel = table.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
                ctrls.split(',').any(|x| x == *c).then_some(path)
            })?;
            Some((root.join(c), rel))
        })?,
    };
    let procs = dir.join(rel.trim_start_matches('/')).join("cgroup.procs");
    procs.exists().then_some(procs)
}

/// Where the cgroup `cgroups_path` (as in the OCI spec, e.g. `/berth/<id>`) is in every mounted
/// hierarchy: the one tree on v2; on v1 every controller's tree and the named ones (runtimes
/// make the container's cgroup in all of them).
pub fn hierarchy_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    hierarchies().iter().map(|h| h.join(rel)).collect()
}

/// The processes in cgroup `cgroups_path`, in any of its hierarchies (a process is in each).
pub fn pids(cgroups_path: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = hierarchy_dirs(cgroups_path)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The mounted hierarchies, found once per process: a host's cgroup layout is set up at boot.
/// Listing them takes a couple of dozen system calls, which a shim would otherwise make at
/// its container's exit, before it can report it; a spare shim finds them while it waits
/// (see [`crate::builtin::warm_up`]).
pub fn hierarchies() -> &'static [PathBuf] {
    static HIERARCHIES: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    HIERARCHIES.get_or_init(|| {
        let root = Path::new("/sys/fs/cgroup");
        if version() == Some(CgroupVersion::V2) {
            return vec![root.to_path_buf()];
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            // Comounted controllers show up twice (cpu and cpu,cpuacct): only real directories.
            .filter(|p| !p.is_symlink() && p.join("cgroup.procs").exists())
            .collect();
        dirs.sort();
        dirs
    })
}

/// [`detect`], once per process.
pub fn version() -> Option<CgroupVersion> {
    static VERSION: std::sync::OnceLock<Option<CgroupVersion>> = std::sync::OnceLock::new();
    *VERSION.get_or_init(detect)
}

/// The v1 controllers runtimes put a container in (libcontainer's and runc's list); a
/// hierarchy holds one or several (`cpu,cpuacct`). Named hierarchies (`name=systemd`) and the
/// cgroup2 mount of a hybrid host are not among them.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_cls",
    "net_prio",
    "freezer",
];

/// Makes the container's cgroup in every v1 controller hierarchy, ahead of the runtime, which
/// then finds them made (runtimes make whatever is missing, so this only saves them time).
///
/// On v1 a container's cgroup is one directory per controller, and making one is dear for
/// the kernel (each holds dozens of control files): about 1.5 ms for the eight of a usual host,
/// which the runtime would otherwise spend in its process before the container's init can
/// start. Made here, on another thread while the bundle and the shim are being readied, that
/// time is off the start's path. On v2 it is one directory, and nothing is gained.
pub fn make_ahead(cgroups_path: &str) -> std::io::Result<()> {
    if version() != Some(CgroupVersion::V1) {
        return Ok(());
    }
    let rel = cgroups_path.trim_start_matches('/');
    for hierarchy in hierarchies() {
        let controllers = hierarchy
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if controllers.split(',').any(|c| V1_CONTROLLERS.contains(&c)) {
            std::fs::create_dir_all(hierarchy.join(rel))?;
        }
    }
    Ok(())
}

/// Removes a container's cgroup from every hierarchy, after killing whatever still runs in it.
/// A frozen cgroup is thawed first: a frozen process cannot act on SIGKILL. Sub-cgroups the
/// container made go too. Listing a cgroup directory is slow (it holds every control file),
/// so the tree is walked only where a plain rmdir finds it busy.
pub fn remove(cgroups_path: &str) -> std::io::Result<()> {
    let dirs: Vec<PathBuf> = hierarchy_dirs(cgroups_path)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    let Some(first) = dirs.first() else {
        return Ok(());
    };
    // v1 freezes in the freezer hierarchy, v2 in the one tree.
    let v2 = version() == Some(CgroupVersion::V2);
    for d in &dirs {
        let (file, thawed) = if v2 {
            ("cgroup.freeze", "0")
        } else if d.starts_with("/sys/fs/cgroup/freezer") {
            ("freezer.state", "THAWED")
        } else {
            continue;
        };
        let _ = std::fs::write(d.join(file), thawed);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    kill_members(std::slice::from_ref(first), deadline)?;
    for d in &dirs {
        remove_tree(d, deadline)?;
    }
    Ok(())
}

/// SIGKILLs the processes of the cgroups `dirs` until none is left.
fn kill_members(dirs: &[PathBuf], deadline: std::time::Instant) -> std::io::Result<()> {
    loop {
        let mut pids = std::collections::BTreeSet::new();
        for d in dirs {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if pids.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(std::io::Error::other(format!(
                "processes {pids:?} in {} do not die",
                dirs[0].display()
            )));
        }
        for pid in pids {
            // SAFETY: kill(2) with a PID read from the container's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The cgroups below `dir` (not `dir` itself), parents before children.
fn subgroups(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
                todo.push(e.path());
            }
        }
    }
    out
}

/// rmdir of a cgroup; when it is busy, its sub-cgroups are emptied and removed first, and a
/// cgroup whose last process has just died gets a moment to notice.
fn remove_tree(dir: &Path, deadline: std::time::Instant) -> std::io::Result<()> {
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                let subs = subgroups(dir);
                kill_members(&subs, deadline)?;
                for s in subs.iter().rev() {
                    let _ = std::fs::remove_dir(s);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "removing cgroup {}: {e}",
                    dir.display()
                )))
            }
        }
    }
}

/// How many times the kernel's OOM killer struck in the container's cgroup (`cgroups_path` as in
/// the OCI spec, relative to each hierarchy). Read before the runtime removes the cgroup.
pub fn oom_kill_count(cgroups_path: &str) -> u64 {
    let rel = cgroups_path.trim_start_matches('/');
    let (file, key) = match version() {
        Some(CgroupVersion::V2) => (
            Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
            "oom_kill",
        ),
        _ => (
            Path::new("/sys/fs/cgroup/memory")
                .join(rel)
                .join("memory.oom_control"),
            "oom_kill",
        ),
    };
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| counter(&t, key))
        .unwrap_or(0)
}

/// The value of `key` in a cgroup "key value" file.
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Applies new limits to a running container's cgroup (`docker update`), through libcgroups'
/// managers for v1 and v2, which write each controller's files in an order the kernel takes
/// (a v1 memory limit above the old memory+swap limit needs the latter raised first).
pub fn update(
    cgroups_path: &str,
    resources: &oci_spec::runtime::LinuxResources,
) -> Result<(), String> {
    use libcgroups::common::{CgroupConfig, CgroupManager, ControllerOpt};
    let manager = libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: std::path::PathBuf::from(cgroups_path),
        systemd_cgroup: false,
        container_name: String::new(),
    })
    .map_err(|e| e.to_string())?;
    let disable_oom_killer = resources
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    manager
        .apply(&ControllerOpt {
            resources,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_from_cgroup_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(counter(v1, "oom_kill"), Some(2));
        assert_eq!(
            counter("low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n", "oom_kill"),
            Some(1)
        );
        assert_eq!(counter("oom 1\n", "oom_kill"), None);
    }

    #[test]
    fn a_plain_directory_is_not_cgroup2() {
        assert_eq!(detect_at(Path::new("/")), Some(CgroupVersion::V1));
        assert_eq!(detect_at(Path::new("/nonexistent-berth-path")), None);
    }

    #[test]
    fn the_hybrid_unified_mount_is_cgroup2() {
        // On a hybrid host the v2 hierarchy sits at /sys/fs/cgroup/unified.
        let unified = Path::new("/sys/fs/cgroup/unified");
        if unified.exists() {
            assert_eq!(detect_at(unified), Some(CgroupVersion::V2));
        }
    }

    #[test]
    fn priming_a_migration_leaves_us_where_we_are() {
        let Some(procs) = own_cgroup_procs() else {
            eprintln!("skipped: no cgroup hierarchy mounted");
            return;
        };
        let ours = std::process::id().to_string();
        let listed = std::fs::read_to_string(&procs).unwrap();
        assert!(listed.lines().any(|l| l == ours), "{}", procs.display());
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        prime_migration();
        assert_eq!(
            std::fs::read_to_string("/proc/self/cgroup").unwrap(),
            before
        );
    }

    #[test]
    fn cgroups_are_made_ahead_in_the_controller_hierarchies_only() {
        if version() != Some(CgroupVersion::V1) {
            eprintln!("skipped: not cgroup v1");
            return;
        }
        let path = format!("/berth-unit-ahead-{}/c", std::process::id());
        if make_ahead(&path).is_err() {
            eprintln!("skipped: making cgroups needs root");
            let _ = remove(&path);
            return;
        }
        let dirs = hierarchy_dirs(&path);
        let hierarchy = |d: &Path| {
            let top = d.parent().and_then(Path::parent).and_then(Path::file_name);
            top.unwrap().to_string_lossy().into_owned()
        };
        let made: Vec<String> = dirs
            .iter()
            .filter(|d| d.exists())
            .map(|d| hierarchy(d))
            .collect();
        remove(&path).unwrap();
        for d in &dirs {
            assert!(!d.exists(), "{} left", d.display());
            let _ = std::fs::remove_dir(d.parent().unwrap());
        }
        // A named hierarchy (systemd's) or a hybrid host's cgroup2 mount holds no container.
        assert!(
            !made.iter().any(|h| h == "systemd" || h == "unified"),
            "{made:?}"
        );
        let mounted = |h: &str| dirs.iter().any(|d| hierarchy(d) == h);
        for controller in ["memory", "pids", "cpuset", "freezer", "devices"] {
            assert_eq!(
                made.iter().any(|h| h == controller),
                mounted(controller),
                "{controller}: {made:?}"
            );
        }
    }

    #[test]
    fn removing_a_cgroup_kills_its_processes_and_removes_it_everywhere() {
        let path = format!("/berth-unit-{}/c", std::process::id());
        let dirs = hierarchy_dirs(&path);
        if dirs.is_empty() || dirs.iter().any(|d| std::fs::create_dir_all(d).is_err()) {
            eprintln!("skipped: making cgroups needs root");
            return;
        }
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        for d in &dirs {
            // Some hierarchies (an empty cgroup2 beside v1) may refuse; one is enough.
            let _ = std::fs::write(d.join("cgroup.procs"), child.id().to_string());
        }
        // A sub-cgroup the container could have made, holding the process in one hierarchy.
        let inner = dirs[0].join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("cgroup.procs"), child.id().to_string()).unwrap();
        remove(&path).unwrap();
        assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
        for d in &dirs {
            assert!(!d.exists(), "{} left", d.display());
            let _ = std::fs::remove_dir(d.parent().unwrap());
        }
        // Already gone: nothing to do.
        remove(&path).unwrap();
    }
}
