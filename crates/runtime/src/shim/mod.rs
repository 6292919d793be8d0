//! The per-container shim: a small single-threaded process (the hidden `shim` subcommand of
//! berthd's executable) that berthd starts for each run of a container.
//!
//! It creates the container through the [`Runtime`](crate::runtime::Runtime), holds its stdio
//! (pipes, or the pty master with a TTY), writes the json-file log, serves attach, resize,
//! kill, pause and wait on a unix socket, reaps the container's first process, and writes its
//! exit to `exit.json` before it goes. berthd can die and come back meanwhile: the socket and
//! `exit.json` are all it needs to pick the container up again.

pub mod client;
mod exec;
pub mod protocol;
mod server;
mod stdio;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::RuntimeConfig;

pub use server::run_from_stdin;

/// Everything a shim needs to know, written by berthd as `shim.json` in the shim's state dir.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    /// The OCI bundle: `config.json` (the rootfs is an absolute path inside it).
    pub bundle: PathBuf,
    /// Where the shim keeps its socket, pid files and `exit.json`.
    pub state_dir: PathBuf,
    /// The container's log (unused with the `none` driver).
    pub log_path: PathBuf,
    /// Its log driver and rotation.
    #[serde(default)]
    pub log: crate::logfile::LogSettings,
    pub runtime: RuntimeConfig,
    pub tty: bool,
    /// `-i`: the container's stdin is a pipe fed by attached clients, not /dev/null.
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client's stdin ends (`docker run -i`).
    pub stdin_once: bool,
    /// The OCI `cgroupsPath`, to read the OOM-kill counter before the cgroup goes.
    pub cgroups_path: String,
    /// The shim's socket. Like the console socket it lives on a short path: a unix socket
    /// path must fit in 108 bytes.
    pub socket: PathBuf,
    /// Where the runtime hands over the pty master with a TTY. Kept short: a unix socket path
    /// must fit in 108 bytes, and the state dir, named by the full container ID, may not.
    pub console_socket: PathBuf,
}

impl ShimConfig {
    pub fn config_file(state_dir: &Path) -> PathBuf {
        state_dir.join("shim.json")
    }
    /// The shim's process ID, written by berthd when it hands the shim its config.
    pub fn pid_file(state_dir: &Path) -> PathBuf {
        state_dir.join("shim.pid")
    }
    pub fn exit_file(state_dir: &Path) -> PathBuf {
        state_dir.join("exit.json")
    }
    fn init_pid_file(&self) -> PathBuf {
        self.state_dir.join("init.pid")
    }
}

/// Puts process `pid` (0: the caller) at the normal scheduling policy. A spare shim starts up
/// at idle priority (see berthd's spares); berthd moves it back when a start takes it, and the
/// shim itself before it waits for its config, so that neither it nor the container it makes
/// waits for CPU time nobody else wants.
pub(crate) fn to_normal_policy(pid: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: sched_getscheduler/sched_setscheduler with a valid sched_param.
    unsafe {
        if libc::sched_getscheduler(pid) == libc::SCHED_OTHER {
            return Ok(());
        }
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(pid, libc::SCHED_OTHER, &param) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The exit berthd finds in a state dir whose shim is gone.
pub fn read_exit(state_dir: &Path) -> Option<protocol::ExitInfo> {
    let b = std::fs::read(ShimConfig::exit_file(state_dir)).ok()?;
    serde_json::from_slice(&b).ok()
}

/// Kills and removes a container whose shim is gone (`berthd shim --delete <config>`), so that
/// the builtin runtime runs in a process of its own rather than in the daemon.
pub fn delete(config_path: &Path) -> i32 {
    let cfg: ShimConfig = match std::fs::read(config_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shim config {}: {e}", config_path.display());
            return 1;
        }
    };
    match cfg.runtime.open().delete(&cfg.id, true) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("deleting {}: {e}", cfg.id);
            1
        }
    }
}
