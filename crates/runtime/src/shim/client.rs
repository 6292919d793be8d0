//! berthd's side of the shim: starting one, and its requests on the shim's socket.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// The shim is there but did not answer in time (it is stuck on a container's stdio).
    #[error("the shim of container {0} did not answer in time")]
    Timeout(String),
}

/// How long berthd waits for a shim's answer to anything but `wait`.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

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
            ShimError::Runtime(_) | ShimError::Timeout(_) => false,
        }
    }
}

/// A shim process started ahead of its container, waiting for its config on stdin: its exec
/// and start-up are done by the time the container's bundle is ready. berthd keeps one spare
/// between starts. Dropped unconfigured, it reads the end of its stdin and exits; its socket
/// goes with [`StartingShim::discard`] or [`remove_spare_sockets`].
pub struct StartingShim {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    /// The socket the shim listens on, which berthd made before starting it: under a spare's
    /// name until the shim is configured, then under its container's.
    socket: PathBuf,
}

/// How the sockets of shims not yet configured are named, in the sockets directory.
const SPARE_SOCKET_PREFIX: &str = "spare-";

/// Starts a shim for a container whose state dir will be under `run_dir` (the shim refuses any
/// other); it waits for its config (see [`StartingShim::configure`]). `exe` is berthd's own
/// executable.
///
/// berthd makes the shim's listening socket, in `socket_dir`, and the shim inherits it: the
/// socket exists before the shim has even started, so that once the shim has its config,
/// berthd can queue requests on it (attaches, the start) while the shim creates the
/// container, rather than waiting for it to say it has. Without a `pre_exec` hook (which
/// would make the daemon fork itself rather than posix_spawn the shim) a child gets only the
/// three standard descriptors, so the socket rides as the shim's stderr, which the shim moves
/// off at once: its stderr goes nowhere until it has its config, then to `shim.log` in the
/// container's state dir.
pub fn start(exe: &Path, run_dir: &Path, socket_dir: &Path) -> Result<StartingShim, ShimError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(socket_dir)?;
    // Only one berthd uses an exec-root, and it clears the spare sockets a berthd before it
    // left: a counter keeps names apart, and short (sun_path holds 107 bytes).
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let socket = socket_dir.join(format!("{SPARE_SOCKET_PREFIX}{n}.sock"));
    let _ = std::fs::remove_file(&socket);
    let listener = std::os::unix::net::UnixListener::bind(&socket)?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("shim")
        .arg("--stdin")
        .arg(run_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(OwnedFd::from(listener)))
        .kill_on_drop(false);
    // The shim calls setsid itself; see above for why there is no pre_exec hook.
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&socket);
            return Err(e.into());
        }
    };
    let stdin = child.stdin.take().expect("piped stdin");
    Ok(StartingShim {
        child,
        stdin,
        socket,
    })
}

/// Removes the sockets of spare shims in `socket_dir` that a berthd left behind (killed before
/// it could let its spares go); their shims ended with their stdin.
pub fn remove_spare_sockets(socket_dir: &Path) {
    for e in std::fs::read_dir(socket_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name()
            .to_string_lossy()
            .starts_with(SPARE_SOCKET_PREFIX)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl StartingShim {
    /// Whether the shim is still there to be configured (a spare may have been killed).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Puts the shim at the normal scheduling policy (see [`super::to_normal_policy`]); a
    /// shim already gone is left to the start to find out.
    pub fn to_normal_priority(&self) {
        if let Some(pid) = self.child.id() {
            let _ = super::to_normal_policy(pid as libc::pid_t);
        }
    }

    /// Lets an unconfigured shim go: it ends with its stdin; its socket is removed.
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Hands the shim its config (also kept as `shim.json`, for cleaning up after a shim that
    /// died, beside `shim.pid`), its socket renamed to the container's first: from then on
    /// requests to the container's shim queue on it, to be taken in order once the container
    /// is created. [`ShimError::Gone`] if the shim was gone before it got the config: nothing
    /// of the container was started, and another shim can be tried.
    pub async fn configure(self, cfg: &ShimConfig) -> Result<ConfiguredShim, ShimError> {
        let StartingShim {
            mut child,
            mut stdin,
            socket,
        } = self;
        let gone = |child: &mut tokio::process::Child, source| {
            let _ = child.start_kill();
            ShimError::Gone {
                id: cfg.id.clone(),
                source,
            }
        };
        let config = serde_json::to_vec_pretty(cfg).map_err(std::io::Error::other)?;
        let written =
            std::fs::write(ShimConfig::config_file(&cfg.state_dir), &config).and_then(|_| {
                match child.id() {
                    Some(pid) => {
                        std::fs::write(ShimConfig::pid_file(&cfg.state_dir), pid.to_string())
                    }
                    None => Ok(()),
                }
            });
        if let Err(e) = written {
            // Not the shim's fault: it is let go, with its socket.
            let _ = std::fs::remove_file(&socket);
            return Err(e.into());
        }
        if let Err(source) = std::fs::rename(&socket, &cfg.socket) {
            let _ = std::fs::remove_file(&socket);
            return Err(gone(&mut child, source));
        }
        if let Err(source) = stdin.write_all(&config).await {
            return Err(gone(&mut child, source));
        }
        drop(stdin);
        Ok(ConfiguredShim {
            child,
            id: cfg.id.clone(),
            state_dir: cfg.state_dir.clone(),
        })
    }
}

/// A shim that has its config and is creating its container (see [`Self::created`]).
pub struct ConfiguredShim {
    child: tokio::process::Child,
    id: String,
    state_dir: PathBuf,
}

impl ConfiguredShim {
    /// Waits until the shim has created the container; returns the pid of the container's
    /// first process, or the runtime's refusal.
    pub async fn created(self) -> Result<i32, ShimError> {
        let ConfiguredShim {
            mut child,
            id,
            state_dir,
        } = self;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        // Creating a container takes milliseconds; a shim that says nothing for this long is
        // stuck.
        let mut reader = BufReader::new(stdout);
        let read = reader.read_line(&mut line);
        if tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .is_err()
        {
            let _ = child.start_kill();
            return Err(ShimError::Timeout(id));
        }
        // The shim lives on after this; it is reaped here when it ends while berthd runs.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let reply: Reply = serde_json::from_str(line.trim()).map_err(|_| {
            let log = std::fs::read_to_string(state_dir.join("shim.log")).unwrap_or_default();
            ShimError::Runtime(format!("shim failed to start: {}", log.trim()))
        })?;
        match reply.error {
            Some(e) => Err(ShimError::Runtime(e)),
            None => Ok(reply.pid),
        }
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

    /// Sends a request and reads the one-line reply. A shim that does not answer within
    /// [`CALL_TIMEOUT`] is reported, not waited for: berthd must not hang on one container.
    pub async fn call(&self, req: &Request) -> Result<Reply, ShimError> {
        self.call_within(req, CALL_TIMEOUT).await
    }

    pub async fn call_within(&self, req: &Request, limit: Duration) -> Result<Reply, ShimError> {
        let deadline = tokio::time::Instant::now() + limit;
        let sent = tokio::time::timeout_at(deadline, self.send(req))
            .await
            .map_err(|_| ShimError::Timeout(self.id.clone()))??;
        sent.reply_until(deadline).await
    }

    /// Sends a request without waiting for its answer (see [`SentRequest::reply`]). The shim
    /// takes connections in the order they came: requests sent one after the other are
    /// handled in that order, even if they were sent before the shim could take any.
    pub async fn send(&self, req: &Request) -> Result<SentRequest, ShimError> {
        Ok(SentRequest {
            conn: self.connect(req).await?,
            id: self.id.clone(),
        })
    }

    /// Waits for the container's exit, however long that is; `Gone` if the shim dies
    /// without saying.
    pub async fn wait(&self) -> Result<ExitInfo, ShimError> {
        self.wait_for(&Request::Wait).await
    }

    /// Sends a request answered with an exit (`wait`, `exec_wait`) and waits for it.
    async fn wait_for(&self, req: &Request) -> Result<ExitInfo, ShimError> {
        let mut conn = self.connect(req).await?;
        let reply = read_whole_reply(&mut conn).await?;
        if let Some(e) = reply.error {
            return Err(ShimError::Runtime(e));
        }
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
        self.request_attach(stdin, stdout, stderr)
            .await?
            .accepted()
            .await
    }

    /// Sends an attach request without waiting for its answer. The shim takes connections in
    /// the order they came, so a request sent after this one (a start) is handled after it.
    pub async fn request_attach(
        &self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<AttachRequest, ShimError> {
        let conn = self
            .connect(&Request::Attach {
                stdin,
                stdout,
                stderr,
            })
            .await?;
        Ok(AttachRequest { conn })
    }
}

impl Shim {
    /// Starts an exec (`req` is a [`Request::Exec`]); returns its pid and, when it asked for
    /// one, the exec's attach stream. The start may take a while (runc's exec is a process of
    /// its own), so the wait is a long one.
    pub async fn exec(&self, req: &Request) -> Result<(i32, UnixStream), ShimError> {
        let mut conn = self.connect(req).await?;
        let reply = tokio::time::timeout(EXEC_START_TIMEOUT, read_reply(&mut conn))
            .await
            .map_err(|_| ShimError::Timeout(self.id.clone()))??;
        match reply.error {
            Some(e) => Err(ShimError::Runtime(e)),
            None => Ok((reply.pid, conn)),
        }
    }

    /// Waits for an exec's end, however long that is.
    pub async fn exec_wait(&self, exec_id: &str) -> Result<ExitInfo, ShimError> {
        self.wait_for(&Request::ExecWait {
            exec_id: exec_id.to_string(),
        })
        .await
    }
}

/// How long an exec's start may take, the runtime's own process included.
const EXEC_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A request on its way (see [`Shim::send`]).
pub struct SentRequest {
    conn: UnixStream,
    id: String,
}

impl SentRequest {
    /// The shim's answer, within [`CALL_TIMEOUT`].
    pub async fn reply(self) -> Result<Reply, ShimError> {
        self.reply_until(tokio::time::Instant::now() + CALL_TIMEOUT)
            .await
    }

    async fn reply_until(mut self, deadline: tokio::time::Instant) -> Result<Reply, ShimError> {
        let reply = tokio::time::timeout_at(deadline, read_whole_reply(&mut self.conn))
            .await
            .map_err(|_| ShimError::Timeout(self.id))??;
        match reply.error {
            Some(e) => Err(ShimError::Runtime(e)),
            None => Ok(reply),
        }
    }
}

/// An attach request on its way (see [`Shim::request_attach`]).
pub struct AttachRequest {
    conn: UnixStream,
}

impl AttachRequest {
    /// The shim's answer: the attach stream, or why it was refused.
    pub async fn accepted(mut self) -> Result<UnixStream, ShimError> {
        let reply = read_reply(&mut self.conn).await?;
        match reply.error {
            Some(e) => Err(ShimError::Runtime(e)),
            None => Ok(self.conn),
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
        if line.len() > MAX_REPLY {
            return Err(std::io::Error::other("shim reply too long").into());
        }
    }
    Ok(serde_json::from_slice(&line).map_err(std::io::Error::other)?)
}

/// Reads a reply after which nothing follows, in as few reads as it arrives in.
async fn read_whole_reply(conn: &mut UnixStream) -> Result<Reply, ShimError> {
    let mut line = Vec::new();
    let mut buf = [0u8; 4096];
    while !line.contains(&b'\n') {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        line.extend_from_slice(&buf[..n]);
        if line.len() > MAX_REPLY {
            return Err(std::io::Error::other("shim reply too long").into());
        }
    }
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    Ok(serde_json::from_slice(&line[..end]).map_err(std::io::Error::other)?)
}

const MAX_REPLY: usize = 64 * 1024;
