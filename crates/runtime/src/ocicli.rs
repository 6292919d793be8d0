//! Any OCI runtime command line (runc, crun, youki), driven with runc's flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio as ProcStdio};

use crate::runtime::{read_pid, ExecProcess, Runtime, RuntimeError, Stdio};

pub struct OciCli {
    name: String,
    path: PathBuf,
    root: PathBuf,
}

impl OciCli {
    pub fn new(name: String, path: PathBuf, root: PathBuf) -> Self {
        OciCli { name, path, root }
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.log"))
    }

    fn command(&self, id: &str) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(self.log_path(id))
            .arg("--log-format")
            .arg("json");
        c
    }

    /// Runs a runtime command whose stdio is the container's (create, exec) or nobody's.
    fn run(&self, id: &str, mut cmd: Command, stdio: Option<Stdio>) -> Result<(), RuntimeError> {
        let log = self.log_path(id);
        let _ = std::fs::remove_file(&log);
        std::fs::create_dir_all(&self.root).map_err(|source| RuntimeError::Spawn {
            name: self.name.clone(),
            source,
        })?;
        match stdio {
            Some(Stdio::Fds {
                stdin,
                stdout,
                stderr,
            }) => {
                cmd.stdin(stdin).stdout(stdout).stderr(stderr);
            }
            Some(Stdio::Console { socket }) => {
                cmd.arg("--console-socket").arg(socket);
                cmd.stdin(ProcStdio::null())
                    .stdout(ProcStdio::null())
                    .stderr(ProcStdio::null());
            }
            None => {
                cmd.stdin(ProcStdio::null())
                    .stdout(ProcStdio::null())
                    .stderr(ProcStdio::piped());
            }
        }
        let out = cmd.output().map_err(|source| RuntimeError::Spawn {
            name: self.name.clone(),
            source,
        })?;
        if out.status.success() {
            return Ok(());
        }
        let mut msg = last_error(&log)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        if msg.is_empty() {
            msg = format!("{} exited with {}", self.name, out.status);
        }
        Err(RuntimeError::Failed(msg))
    }

    fn simple(&self, id: &str, args: &[&str]) -> Result<(), RuntimeError> {
        let mut c = self.command(id);
        c.args(args);
        self.run(id, c, None)
    }
}

/// The runtime's last error-level message from its JSON log, the one that says why.
fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .next_back()
}

impl Runtime for OciCli {
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        stdio: Stdio,
        pid_file: &Path,
    ) -> Result<i32, RuntimeError> {
        let mut c = self.command(id);
        c.arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id);
        self.run(id, c, Some(stdio))?;
        read_pid(pid_file)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple(id, &["start", id])
    }

    fn exec(&self, id: &str, process: &ExecProcess, stdio: Stdio) -> Result<i32, RuntimeError> {
        let mut c = self.command(id);
        c.arg("exec")
            .arg("--detach")
            .arg("--process")
            .arg(&process.process_json)
            .arg("--pid-file")
            .arg(&process.pid_file)
            .arg(id);
        self.run(id, c, Some(stdio))?;
        read_pid(&process.pid_file)
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple(id, &["pause", id])
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple(id, &["resume", id])
    }

    fn kill_all(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        self.simple(id, &["kill", "--all", id, &signal.to_string()])
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let r = if force {
            self.simple(id, &["delete", "--force", id])
        } else {
            self.simple(id, &["delete", id])
        };
        let _ = std::fs::remove_file(self.log_path(id));
        match r {
            Err(RuntimeError::Failed(m)) if m.contains("does not exist") => Ok(()),
            r => r,
        }
    }
}
