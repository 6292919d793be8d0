//! berthd's side of the shim: starting one, and its requests on the shim's socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{ExitInfo, Reply, Request};
use super::ShimConfig;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The runtime refused the container; the message is the runtime's.
    #[error("{0}")]
    Runtime(String),
    /// The shim is not there (it exited, or was killed).
    #[error("shim for container {id} is gone: {source}")]
    Gone {
        id: String,
        #[source]
        source: std::io::Error,
    },
    #[error("shim: {0}")]
    Io(#[from] std::io::Error),
}

impl ShimError {
    /// Whether the shim is gone or on its way out (the container's process has ended), as
    /// opposed to refusing the request.
    pub fn is_gone(&self) -> bool {
        use std::io::ErrorKind::*;
        match self {
            ShimError::Gone { .. } => true,
            ShimError::Io(e) => matches!(
                e.kind(),
                ConnectionReset | ConnectionRefused | BrokenPipe | UnexpectedEof | NotFound
            ),
            ShimError::Runtime(_) => false,
        }
    }
}

/// Starts the shim for a container and waits until it has created it; returns the pid of
/// the container's first process. `exe` is berthd's own executable.
pub async fn spawn(exe: &Path, cfg: &ShimConfig) -> Result<i32, ShimError> {
    std::fs::create_dir_all(&cfg.state_dir)?;
    let config_file = ShimConfig::config_file(&cfg.state_dir);
    std::fs::write(
        &config_file,
        serde_json::to_vec_pretty(cfg).map_err(std::io::Error::other)?,
    )?;
    let shim_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.state_dir.join("shim.log"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("shim")
        .arg(&config_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(shim_log)
        .kill_on_drop(false);
    // SAFETY: setsid is async-signal-safe; it detaches the shim from berthd's session so a
    // signal to berthd's process group (ctrl-c in a terminal) does not reach the shim.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await?;
    // The shim lives on after this; it is reaped here when it ends while berthd runs.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let reply: Reply = serde_json::from_str(line.trim()).map_err(|_| {
        let log = std::fs::read_to_string(cfg.state_dir.join("shim.log")).unwrap_or_default();
        ShimError::Runtime(format!("shim failed to start: {}", log.trim()))
    })?;
    match reply.error {
        Some(e) => Err(ShimError::Runtime(e)),
        None => Ok(reply.pid),
    }
}

/// A running shim, addressed by its socket.
#[derive(Debug, Clone)]
pub struct Shim {
    pub id: String,
    pub socket: PathBuf,
}

impl Shim {
    pub fn new(id: &str, socket: &Path) -> Self {
        Shim {
            id: id.to_string(),
            socket: socket.to_path_buf(),
        }
    }

    async fn connect(&self, req: &Request) -> Result<UnixStream, ShimError> {
        let mut conn =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ShimError::Gone {
                    id: self.id.clone(),
                    source,
                })?;
        let mut b = serde_json::to_vec(req).map_err(std::io::Error::other)?;
        b.push(b'\n');
        conn.write_all(&b).await?;
        Ok(conn)
    }

    /// Sends a request and reads the one-line reply.
    pub async fn call(&self, req: &Request) -> Result<Reply, ShimError> {
        let mut conn = self.connect(req).await?;
        let reply = read_reply(&mut conn).await?;
        match reply.error {
            Some(e) => Err(ShimError::Runtime(e)),
            None => Ok(reply),
        }
    }

    /// Waits for the container's exit; `Gone` if the shim dies without saying.
    pub async fn wait(&self) -> Result<ExitInfo, ShimError> {
        let reply = self.call(&Request::Wait).await?;
        reply.exit.ok_or_else(|| ShimError::Gone {
            id: self.id.clone(),
            source: std::io::ErrorKind::UnexpectedEof.into(),
        })
    }

    /// Opens an attach stream: frames of output come out, stdin bytes go in.
    pub async fn attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<UnixStream, ShimError> {
        let mut conn = self
            .connect(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        let reply = read_reply(&mut conn).await?;
        match reply.error {
            Some(e) => Err(ShimError::Runtime(e)),
            None => Ok(conn),
        }
    }
}

/// Reads the reply line byte by byte: on an attach, the stream follows it directly.
async fn read_reply(conn: &mut UnixStream) -> Result<Reply, ShimError> {
    let mut line = Vec::new();
    loop {
        let b = conn.read_u8().await?;
        if b == b'\n' {
            break;
        }
        line.push(b);
        if line.len() > 64 * 1024 {
            return Err(std::io::Error::other("shim reply too long").into());
        }
    }
    Ok(serde_json::from_slice(&line).map_err(std::io::Error::other)?)
}
