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

#[cfg(test)]
mod tests {
    use super::*;

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
