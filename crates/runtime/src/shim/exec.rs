//! Execs: second processes in the container, each with stdio of its own and at most one
//! client. The shim reaps them (it is their subreaper once the runtime's helpers are gone),
//! moves their output to their client, and tells waiters how they ended.

use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use super::protocol::{frame_header, ExitInfo, Reply, STDERR};
use super::stdio::{self, ContainerIo, StdinState};
use super::ShimConfig;
use crate::runtime::{ExecProcess, Runtime};

/// How long an exec's output may keep coming after it exited (from children it left behind
/// holding its stdout) before the exec counts as done.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

pub(super) struct Exec {
    pub id: String,
    pub pid: i32,
    pub io: ContainerIo,
    tty: bool,
    /// Which of its outputs the client gets.
    stdout: bool,
    stderr: bool,
    /// The attach connection, while the client is there.
    pub client: Option<UnixStream>,
    /// Still reading the client (its stdin, or its going away).
    pub reading: bool,
    pub exit: Option<(i32, Instant)>,
    pub waiters: Vec<UnixStream>,
}

/// What an exec needs to start.
pub(super) struct ExecStart<'a> {
    pub exec_id: &'a str,
    pub process: &'a serde_json::Value,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Numbers the exec's console socket, which must be unique among the shim's.
    pub serial: u64,
}

/// Exec IDs become file names: only what berthd makes them of (hex digits) is taken.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Exec {
    pub fn start(cfg: &ShimConfig, runtime: &dyn Runtime, s: ExecStart) -> Result<Exec, String> {
        if !valid_id(s.exec_id) {
            return Err(format!("invalid exec id {:?}", s.exec_id));
        }
        let process = ExecProcess {
            process_json: cfg.state_dir.join(format!("exec-{}.json", s.exec_id)),
            pid_file: cfg.state_dir.join(format!("exec-{}.pid", s.exec_id)),
        };
        let console = cfg.console_socket.with_extension(format!("e{}", s.serial));
        let result = Self::run(cfg, runtime, &s, &process, &console);
        let _ = std::fs::remove_file(&process.process_json);
        let _ = std::fs::remove_file(&process.pid_file);
        let _ = std::fs::remove_file(&console);
        let (pid, io) = result?;
        Ok(Exec {
            id: s.exec_id.to_string(),
            pid,
            io,
            tty: s.tty,
            stdout: s.stdout,
            stderr: s.stderr,
            client: None,
            reading: false,
            exit: None,
            waiters: Vec::new(),
        })
    }

    fn run(
        cfg: &ShimConfig,
        runtime: &dyn Runtime,
        s: &ExecStart,
        process: &ExecProcess,
        console: &Path,
    ) -> Result<(i32, ContainerIo), String> {
        let doc = serde_json::to_vec(s.process).map_err(|e| format!("exec process: {e}"))?;
        std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&process.process_json)
            .and_then(|mut f| f.write_all(&doc))
            .map_err(|e| format!("exec process: {e}"))?;
        let (child_stdio, prepared) =
            stdio::prepare(s.tty, s.stdin, console).map_err(|e| format!("exec stdio: {e}"))?;
        // The runtime's ends of the stdio go with `child_stdio` when exec returns, so that
        // the exec's output ends when its last holder in the container does.
        let pid = runtime
            .exec(&cfg.id, process, child_stdio)
            .map_err(|e| e.to_string())?;
        let io = stdio::finish(prepared, console).map_err(|e| format!("exec terminal: {e}"))?;
        // Not every runtime sizes the terminal from the process's `consoleSize`.
        let size = &s.process["consoleSize"];
        if let (Some(pty), Some(h), Some(w)) =
            (&io.pty, size["height"].as_u64(), size["width"].as_u64())
        {
            let _ = stdio::resize(
                pty,
                h.min(u16::MAX.into()) as u16,
                w.min(u16::MAX.into()) as u16,
            );
        }
        Ok((pid, io))
    }

    /// Takes `conn` as the exec's client.
    pub fn attach(&mut self, conn: UnixStream) {
        let _ = conn.set_read_timeout(None);
        self.client = Some(conn);
        self.reading = true;
    }

    /// Exited, and its output is over (or has had its time).
    pub fn done(&self) -> bool {
        self.exit
            .is_some_and(|(_, at)| self.io.outputs.is_empty() || at.elapsed() > DRAIN_AFTER_EXIT)
    }

    /// Exited, with output still to drain: the shim's loop must wake up to look again.
    pub fn draining(&self) -> bool {
        self.exit.is_some() && !self.done()
    }

    pub fn read_output(&mut self, i: usize) {
        let mut buf = [0u8; 32 * 1024];
        let Some((stream, n)) = self.io.read_output(i, &mut buf) else {
            return;
        };
        let wanted = if stream == STDERR {
            self.stderr
        } else {
            self.stdout
        };
        let Some(conn) = self.client.as_mut().filter(|_| wanted) else {
            return;
        };
        let header = frame_header(stream, n);
        if conn.write_all(&header).is_err() || conn.write_all(&buf[..n]).is_err() {
            // The client went away; the exec runs on, as with Docker.
            self.client = None;
            self.reading = false;
        }
    }

    /// Reads the client: bytes for the exec's stdin, or its end.
    pub fn read_client(&mut self) {
        let mut buf = [0u8; 32 * 1024];
        let Some(conn) = self.client.as_mut() else {
            self.reading = false;
            return;
        };
        match conn.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(n) if n > 0 => {
                let state = self.io.stdin.as_mut().map(|s| s.push(&buf[..n]));
                self.stdin_state(state);
            }
            _ => {
                self.reading = false;
                // Without a TTY the end of the client's stdin is the end of the exec's
                // (`echo x | docker exec -i c cat`); a terminal stays open.
                if !self.tty {
                    let state = self.io.stdin.as_mut().map(|s| s.close_when_drained());
                    self.stdin_state(state);
                }
            }
        }
    }

    pub fn flush_stdin(&mut self) {
        let state = self.io.stdin.as_mut().map(|s| s.flush());
        self.stdin_state(state);
    }

    fn stdin_state(&mut self, state: Option<StdinState>) {
        if state == Some(StdinState::Closed) {
            self.io.stdin = None;
        }
    }

    /// Tells the waiters how the exec ended, then closes its client: berthd learns the exit
    /// before the client sees its stream end, so the client's next look finds it.
    pub fn finish(mut self, fallback: i32) -> ExitInfo {
        let code = self.exit.map(|(c, _)| c).unwrap_or(fallback);
        let exit = ExitInfo {
            exit_code: code,
            oom_killed: false,
            finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        let reply = Reply {
            pid: self.pid,
            exit: Some(exit.clone()),
            ..Default::default()
        };
        for mut w in self.waiters.drain(..) {
            let _ = super::server::send(&mut w, &reply);
        }
        if let Some(c) = self.client.take() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        exit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_ids_become_file_names() {
        assert!(valid_id(&"ab12".repeat(16)));
        assert!(!valid_id(""));
        assert!(!valid_id("../../etc/passwd"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
