//! Facts about the host for `/info` and `/version`, read once at start.

use std::path::Path;

use berth_api::HostInfo;

use crate::config::Config;

pub fn gather(cfg: &Config) -> HostInfo {
    let uts = nix_uname();
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let cgroup = berth_runtime::cgroups::detect()
        .map(|v| v.as_api_str())
        .unwrap_or("1");
    HostInfo {
        id: engine_id(&cfg.data_root),
        name: uts.1,
        data_root: cfg.data_root.clone(),
        exec_root: cfg.exec_root.clone(),
        kernel_version: uts.0,
        operating_system: field("PRETTY_NAME"),
        os_version: field("VERSION_ID"),
        ncpu: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        mem_total: mem_total(),
        cgroup_version: cgroup.to_string(),
        cgroup_driver: "cgroupfs".into(),
        debug: cfg.debug,
    }
}

/// (kernel release, node name).
fn nix_uname() -> (String, String) {
    // SAFETY: uname fills a zeroed utsname we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let s = |f: &[libc::c_char]| {
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    (s(&u.release), s(&u.nodename))
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| {
                    l.strip_prefix("MemTotal:")
                        .map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .flatten()
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A stable identity for this engine, kept in the data root.
fn engine_id(data_root: &Path) -> String {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
    }
    use rand::Rng;
    let b: [u8; 16] = rand::thread_rng().gen();
    let id = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]),
        u16::from_be_bytes([b[8], b[9]]),
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    );
    let _ = berth_image::atomic_write(&path, id.as_bytes());
    id
}
