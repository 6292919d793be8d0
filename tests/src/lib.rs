//! The harness of berth's integration tests: a real registry with images built here, a real
//! `berthd` per test (own data root, exec root and socket), and the `berth` and `docker` CLIs
//! pointed at it.

pub mod daemon;
pub mod images;
pub mod net;
pub mod proxy;
pub mod registry;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

pub use daemon::{Daemon, Out};
pub use registry::Registry;

/// A loopback port nobody is listening on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Makes the child die with the test process, even if the test is killed.
pub fn kill_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Where cargo put the `berth` and `berthd` binaries (beside this test's `deps/` directory).
pub fn bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run `cargo build` before the tests (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The registry and its images, started for one test.
pub fn registry_with_images() -> (Registry, images::TestImages) {
    let reg = Registry::start();
    let imgs = images::push_test_images(&reg);
    (reg, imgs)
}

/// Every mount point under `dir` that belongs to a container, from the mount table: all but
/// the spare network namespace a running berthd keeps for its next start.
pub fn mounts_under(dir: &std::path::Path) -> Vec<String> {
    all_mounts_under(dir)
        .into_iter()
        .filter(|m| !m.contains("/netns/spare-"))
        .collect()
}

/// Every mount point under `dir`, from the mount table.
pub fn all_mounts_under(dir: &std::path::Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Unmounts (lazily) everything mounted under `dir`, deepest first.
pub fn unmount_under(dir: &std::path::Path) {
    let mut mounts = all_mounts_under(dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let c = std::ffi::CString::new(m).unwrap();
        // SAFETY: a valid C string; MNT_DETACH never blocks.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Where the cgroup `path` (e.g. `/berth/abc`) is in every mounted hierarchy: the v1
/// controllers' trees, or the one v2 tree. Found here rather than with berth's own
/// `cgroups::hierarchy_dirs`, so that a leak check does not share a blind spot with the code
/// it checks.
pub fn cgroup_dirs(path: &str) -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let rel = path.trim_start_matches('/');
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(rel)];
    }
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("cgroup.procs").exists())
        .map(|e| e.path().join(rel))
        .collect()
}

/// Removes the cgroup `path` and everything under it in every hierarchy, killing what still
/// runs there (a test that failed half-way may leave a container behind).
pub fn remove_cgroups(path: &str) {
    if let Err(e) = berth_runtime::cgroups::remove(path) {
        eprintln!("cleaning up cgroup {path}: {e}");
    }
}

/// Polls `cond` every 50 ms for up to 20 s; panics naming `what` if it never holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The STATUS column `docker ps -a` shows for the container named exactly `name`.
pub fn status(d: &Daemon, name: &str) -> String {
    d.docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Status}}",
    ])
    .ok()
    .stdout
    .trim()
    .to_string()
}
