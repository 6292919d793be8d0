//! The `Runtime` trait: what the shim needs from an OCI runtime, whichever one it is.
//!
//! Every call is blocking and meant for the shim's single thread: the builtin runtime forks, and
//! forking is only safe in a process with one thread.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::builtin::Builtin;
use crate::ocicli::OciCli;

/// The runtime a container runs under, as recorded in its shim config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RuntimeConfig {
    /// youki's libcontainer, linked into the shim.
    Builtin { root: PathBuf },
    /// An OCI runtime command line (runc, crun, youki) driven as runc is.
    Cli {
        name: String,
        path: PathBuf,
        root: PathBuf,
    },
}

impl RuntimeConfig {
    pub fn open(&self) -> Box<dyn Runtime> {
        match self {
            RuntimeConfig::Builtin { root } => Box::new(Builtin::new(root.clone())),
            RuntimeConfig::Cli { name, path, root } => {
                Box::new(OciCli::new(name.clone(), path.clone(), root.clone()))
            }
        }
    }
}

/// Where the container's first process gets its stdio from.
pub enum Stdio {
    /// Plain file descriptors (pipes, /dev/null) handed to the process as 0, 1 and 2.
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A new pty whose master the runtime sends over this unix socket (OCI `--console-socket`).
    Console { socket: PathBuf },
}

/// A second process in a running container (`exec`).
pub struct ExecProcess {
    /// Path of an OCI `process` JSON document.
    pub process_json: PathBuf,
    pub pid_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime could not create or start the container; the message is the runtime's own.
    #[error("{0}")]
    Failed(String),
    #[error("runtime {name}: {source}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// The operations of an OCI runtime that berth uses, named as in the OCI runtime spec.
pub trait Runtime {
    /// Creates the container from `bundle/config.json`: the process exists, stopped before its
    /// user program runs, until `start`. Returns the pid of the container's first process.
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio,
        pid_file: &Path,
    ) -> Result<i32, RuntimeError>;
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// Runs a second process inside the running container; returns its pid.
    fn exec(&self, id: &str, process: &ExecProcess, stdio: Stdio) -> Result<i32, RuntimeError>;
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// Signals every process of the container (used when the first process is already gone).
    fn kill_all(&self, id: &str, signal: i32) -> Result<(), RuntimeError>;
    /// Removes the runtime's state and the container's cgroup; `force` kills what still runs.
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
}

/// The pid a runtime wrote to its `--pid-file`.
pub(crate) fn read_pid(pid_file: &Path) -> Result<i32, RuntimeError> {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| RuntimeError::Failed(format!("no pid in {}", pid_file.display())))
}
