//! Which cgroup layout the host has. Detected, never assumed: hosts run pure v1, the v1/v2
//! hybrid (v1 controllers plus an often empty `/sys/fs/cgroup/unified`), or pure v2.

use std::ffi::CString;
use std::path::Path;

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

/// How many times the kernel's OOM killer struck in the container's cgroup (`cgroups_path` as in
/// the OCI spec, relative to each hierarchy). Read before the runtime removes the cgroup.
pub fn oom_kill_count(cgroups_path: &str) -> u64 {
    let rel = cgroups_path.trim_start_matches('/');
    let (file, key) = match detect() {
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
}
