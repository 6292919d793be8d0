//! The shim's life: create the container, report to berthd, then serve its socket and move
//! output until the container's first process is gone.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::exec::{Exec, ExecStart};
use super::protocol::{frame_header, ExitInfo, Reply, Request};
use super::stdio::{self, ContainerIo, StdinState};
use super::ShimConfig;
use crate::logfile::LogWriter;
use crate::runtime::Runtime;

/// How long output may keep coming after the first process exited (from processes that
/// escaped its end, say with a shared PID namespace) before the shim stops reading.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// A client that does not read its attach stream for this long is dropped, not waited for.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

static SIGCHLD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the wake-up, which is
        // fine because one pending byte already wakes the loop. errno is put back so that the
        // interrupted call's own error is not replaced by this write's.
        unsafe {
            let saved = *libc::__errno_location();
            libc::write(fd, [0u8].as_ptr().cast(), 1);
            *libc::__errno_location() = saved;
        }
    }
}

/// Runs a shim whose config comes on stdin (berthd starts shims ahead of their containers and
/// sends the config when the bundle is ready). `run_dir` is where berthd keeps containers'
/// state dirs: a config naming a state dir elsewhere is refused. Named on the command line, it
/// also tells `ps` whose shim this is. Returns the process exit code.
pub fn run_from_stdin(run_dir: &Path) -> i32 {
    // Out of berthd's session and process group, so that a signal to those (ctrl-c on a
    // berthd in a terminal) does not reach the shim.
    let _ = nix::unistd::setsid();
    let listener = inherited_listener();
    crate::builtin::warm_up();
    // The container must not inherit a spare's idle priority: back to normal before waiting
    // for the config, or not at all.
    if let Err(e) = super::to_normal_policy(0) {
        report(&Reply::error(format!("shim: scheduling policy: {e}")));
        return 1;
    }
    let mut config = Vec::new();
    let cfg: ShimConfig = match io::stdin()
        .lock()
        .read_to_end(&mut config)
        .map(|_| config)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .and_then(|cfg: ShimConfig| {
            let inside = cfg.state_dir.starts_with(run_dir)
                && cfg.state_dir != run_dir
                && !cfg
                    .state_dir
                    .components()
                    .any(|c| c == std::path::Component::ParentDir);
            if inside {
                Ok(cfg)
            } else {
                Err(format!(
                    "state dir {} is not under {}",
                    cfg.state_dir.display(),
                    run_dir.display()
                ))
            }
        }) {
        Ok(c) => c,
        Err(e) => {
            report(&Reply::error(format!("shim config: {e}")));
            return 1;
        }
    };
    // Until now stderr went nowhere: the container was not known.
    if let Ok(log) = File::options()
        .create(true)
        .append(true)
        .open(cfg.state_dir.join("shim.log"))
    {
        let _ = nix::unistd::dup2(log.as_raw_fd(), 2);
    }
    match Shim::create(cfg, listener) {
        Ok(mut shim) => {
            shim.serve();
            0
        }
        Err(msg) => {
            report(&Reply::error(msg));
            1
        }
    }
}

/// The listening socket berthd made for this shim and passed as its stderr (see
/// `client::start`), moved to a descriptor of its own; stderr then goes nowhere until the
/// container's `shim.log` is open. `None` when stderr is not a listening socket (a shim started
/// some other way), and the shim makes its socket itself.
fn inherited_listener() -> Option<UnixListener> {
    let listening =
        nix::sys::socket::getsockopt(&std::io::stderr(), nix::sys::socket::sockopt::AcceptConn);
    if !matches!(listening, Ok(true)) {
        return None;
    }
    let fd = nix::fcntl::fcntl(2, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)).ok()?;
    // SAFETY: fcntl returned a new descriptor that nothing else owns.
    let listener = UnixListener::from(unsafe { OwnedFd::from_raw_fd(fd) });
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
    }
    Some(listener)
}

/// Tells berthd (reading our stdout) how `create` went, then lets go of stdout so that berthd
/// sees the end of it.
fn report(reply: &Reply) {
    let mut out = io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, reply);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}

struct Attached {
    conn: UnixStream,
    stdout: bool,
    stderr: bool,
    /// Still reading this client's stdin.
    reading: bool,
    stdin: bool,
}

struct Shim {
    cfg: ShimConfig,
    runtime: Box<dyn Runtime>,
    pid: i32,
    io: ContainerIo,
    log: LogWriter,
    listener: UnixListener,
    sigchld: File,
    attached: Vec<Attached>,
    waiters: Vec<UnixStream>,
    exit: Option<(i32, Instant)>,
    /// A client's stdin has ended with `stdin_once`: later clients get none either.
    stdin_closed: bool,
    execs: Vec<Exec>,
    /// How the execs that are over ended, for waiters that come late.
    exec_exits: HashMap<String, ExitInfo>,
    /// Execs started so far.
    exec_serial: u64,
}

/// What one descriptor in the poll set stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Sigchld,
    Listener,
    Output(usize),
    Client(usize),
    Stdin,
    ExecOutput(usize, usize),
    ExecClient(usize),
    ExecStdin(usize),
}

impl Shim {
    fn create(cfg: ShimConfig, listener: Option<UnixListener>) -> Result<Shim, String> {
        // The container's first process is reparented to us when the runtime's helper
        // processes exit, so that we can reap it and read its status.
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes a plain integer argument.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let sigchld = install_sigchld().map_err(|e| format!("shim: {e}"))?;
        let sock = cfg.socket.clone();
        let _ = std::fs::remove_file(ShimConfig::exit_file(&cfg.state_dir));
        // berthd's socket is already at `sock` (renamed there before the config was sent),
        // and requests may be queued on it.
        let listener = match listener {
            Some(l) => l,
            None => {
                let _ = std::fs::remove_file(&sock);
                if let Some(dir) = sock.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                UnixListener::bind(&sock)
                    .map_err(|e| format!("shim socket {}: {e}", sock.display()))?
            }
        };
        let log = LogWriter::open(&cfg.log_path, &cfg.log)
            .map_err(|e| format!("log {}: {e}", cfg.log_path.display()))?;
        let console = cfg.console_socket.clone();
        let (child_stdio, prepared) = stdio::prepare(cfg.tty, cfg.open_stdin, &console)
            .map_err(|e| format!("container stdio: {e}"))?;
        let runtime = cfg.runtime.open();
        let pid = match runtime.create(&cfg.id, &cfg.bundle, child_stdio, &cfg.init_pid_file()) {
            Ok(pid) => pid,
            Err(e) => {
                let _ = runtime.delete(&cfg.id, true);
                let _ = std::fs::remove_file(&sock);
                return Err(e.to_string());
            }
        };
        let io = match stdio::finish(prepared, &console) {
            Ok(io) => io,
            Err(e) => {
                let _ = runtime.delete(&cfg.id, true);
                let _ = std::fs::remove_file(&sock);
                return Err(format!("container terminal: {e}"));
            }
        };
        report(&Reply::ok(pid));
        Ok(Shim {
            cfg,
            runtime,
            pid,
            io,
            log,
            listener,
            sigchld,
            attached: Vec::new(),
            waiters: Vec::new(),
            exit: None,
            stdin_closed: false,
            execs: Vec::new(),
            exec_exits: HashMap::new(),
            exec_serial: 0,
        })
    }

    fn serve(&mut self) {
        // A reaped child may have gone before the handler was in place.
        self.reap();
        loop {
            if let Some((_, at)) = self.exit {
                if self.io.outputs.is_empty() || at.elapsed() > DRAIN_AFTER_EXIT {
                    break;
                }
            }
            self.poll_once();
        }
        self.finish();
    }

    fn poll_once(&mut self) {
        let stdin_full = self
            .io
            .stdin
            .as_ref()
            .is_some_and(|s| s.pending() >= stdio::STDIN_HIGH_WATER);
        let mut slots = Vec::new();
        let mut fds = vec![
            PollFd::new(self.sigchld.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
        ];
        slots.extend([Slot::Sigchld, Slot::Listener]);
        for (i, (_, f)) in self.io.outputs.iter().enumerate() {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Output(i));
        }
        // With the container's stdin backed up, its writers wait; other clients are still
        // read so that their leaving is noticed.
        for (i, a) in self.attached.iter().enumerate() {
            if a.reading && !(stdin_full && a.stdin) {
                fds.push(PollFd::new(a.conn.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Client(i));
            }
        }
        if let Some(stdin) = self.io.stdin.as_ref().filter(|s| s.pending() > 0) {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLOUT));
            slots.push(Slot::Stdin);
        }
        for (e, x) in self.execs.iter().enumerate() {
            for (i, (_, f)) in x.io.outputs.iter().enumerate() {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::ExecOutput(e, i));
            }
            let pending = x.io.stdin.as_ref().map_or(0, |s| s.pending());
            if let Some(conn) = x.client.as_ref() {
                if x.reading && pending < stdio::STDIN_HIGH_WATER {
                    fds.push(PollFd::new(conn.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::ExecClient(e));
                }
            }
            if let Some(stdin) = x.io.stdin.as_ref().filter(|s| s.pending() > 0) {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLOUT));
                slots.push(Slot::ExecStdin(e));
            }
        }
        let timeout = if self.exit.is_some() || self.execs.iter().any(Exec::draining) {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => return,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return,
            Err(e) => {
                eprintln!("shim: poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
        let wake = PollFlags::POLLIN | PollFlags::POLLOUT | PollFlags::POLLHUP | PollFlags::POLLERR;
        let ready: Vec<Slot> = fds
            .iter()
            .zip(&slots)
            .filter(|(f, _)| f.revents().is_some_and(|r| r.intersects(wake)))
            .map(|(_, s)| *s)
            .collect();
        drop(fds);
        // Slots are handled from the last to the first: removing an output or a client then
        // never shifts an index still to be handled. Clients' stdin comes before output, since
        // moving output may drop clients.
        for slot in ready.iter().rev() {
            match *slot {
                Slot::Stdin => self.flush_stdin(),
                Slot::ExecStdin(e) => self.execs[e].flush_stdin(),
                _ => {}
            }
        }
        for slot in ready.iter().rev() {
            match *slot {
                Slot::Client(i) => self.read_stdin(i),
                Slot::ExecClient(e) => self.execs[e].read_client(),
                _ => {}
            }
        }
        for slot in ready.iter().rev() {
            match *slot {
                Slot::Output(i) => self.read_output(i),
                Slot::ExecOutput(e, i) => self.execs[e].read_output(i),
                _ => {}
            }
        }
        if ready.contains(&Slot::Sigchld) {
            let mut b = [0u8; 256];
            while matches!((&self.sigchld).read(&mut b), Ok(n) if n == b.len()) {}
            self.reap();
        }
        if ready.contains(&Slot::Listener) {
            if let Ok((conn, _)) = self.listener.accept() {
                self.handle(conn);
            }
        }
        self.finish_execs(false);
    }

    /// Ends the execs that are done (all of them at the container's end, `all`).
    fn finish_execs(&mut self, all: bool) {
        let mut i = 0;
        while i < self.execs.len() {
            if all || self.execs[i].done() {
                let x = self.execs.swap_remove(i);
                let id = x.id.clone();
                // An exec still running when its container is gone was killed with it.
                let exit = x.finish(137);
                self.exec_exits.insert(id, exit);
            } else {
                i += 1;
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.exited(pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exited(pid.as_raw(), 128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Records the end of the container's first process or of an exec; other children
    /// (the runtime's helpers, orphans reparented to the shim) are just reaped.
    fn exited(&mut self, pid: i32, code: i32) {
        let at = Some((code, Instant::now()));
        if pid == self.pid {
            self.exit = at;
        } else if let Some(x) = self.execs.iter_mut().find(|x| x.pid == pid) {
            x.exit = at;
        }
    }

    fn read_output(&mut self, i: usize) {
        let mut buf = [0u8; 32 * 1024];
        let Some((stream, n)) = self.io.read_output(i, &mut buf) else {
            return;
        };
        let data = &buf[..n];
        if let Err(e) = self.log.write(stream, data) {
            eprintln!("shim: log: {e}");
        }
        let header = frame_header(stream, n);
        self.attached.retain_mut(|a| {
            let wanted = if stream == super::protocol::STDERR {
                a.stderr
            } else {
                a.stdout
            };
            !wanted || (a.conn.write_all(&header).is_ok() && a.conn.write_all(data).is_ok())
        });
    }

    fn read_stdin(&mut self, i: usize) {
        let mut buf = [0u8; 32 * 1024];
        let a = &mut self.attached[i];
        match a.conn.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(n) if n > 0 => {
                if !a.stdin {
                    return;
                }
                let state = self.io.stdin.as_mut().map(|s| s.push(&buf[..n]));
                self.stdin_state(state);
            }
            _ => {
                a.reading = false;
                if a.stdin && self.cfg.stdin_once && self.io.pty.is_none() {
                    self.stdin_closed = true;
                    let state = self.io.stdin.as_mut().map(|s| s.close_when_drained());
                    self.stdin_state(state);
                }
            }
        }
    }

    fn flush_stdin(&mut self) {
        let state = self.io.stdin.as_mut().map(|s| s.flush());
        self.stdin_state(state);
    }

    /// Lets go of the container's stdin once it is closed, so that the container sees its end.
    fn stdin_state(&mut self, state: Option<StdinState>) {
        if state == Some(StdinState::Closed) {
            self.io.stdin = None;
            for a in &mut self.attached {
                a.stdin = false;
            }
        }
    }

    fn handle(&mut self, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = conn.set_write_timeout(Some(CLIENT_WRITE_TIMEOUT));
        let req = match read_line(&mut conn)
            .and_then(|l| serde_json::from_slice::<Request>(&l).map_err(io::Error::other))
        {
            Ok(r) => r,
            Err(e) => {
                let _ = send(&mut conn, &Reply::error(format!("bad request: {e}")));
                return;
            }
        };
        let reply = match req {
            Request::Start => self
                .runtime
                .start(&self.cfg.id)
                .map(|_| self.pid)
                .map_err(|e| e.to_string()),
            Request::Kill { signal } => self.kill(signal),
            Request::Resize {
                height,
                width,
                exec,
            } => self.resize(exec.as_deref(), height, width),
            Request::Exec {
                exec_id,
                process,
                tty,
                stdin,
                stdout,
                stderr,
                attach,
            } => {
                self.exec_serial += 1;
                let start = ExecStart {
                    exec_id: &exec_id,
                    process: &process,
                    tty,
                    stdin,
                    stdout,
                    stderr,
                    serial: self.exec_serial,
                };
                match self.start_exec(start) {
                    Ok(mut x) => {
                        if send(&mut conn, &Reply::ok(x.pid)).is_ok() && attach {
                            x.attach(conn);
                        }
                        self.execs.push(x);
                    }
                    Err(e) => {
                        let _ = send(&mut conn, &Reply::error(e));
                    }
                }
                return;
            }
            Request::ExecWait { exec_id } => {
                if let Some(x) = self.execs.iter_mut().find(|x| x.id == exec_id) {
                    x.waiters.push(conn);
                    return;
                }
                let reply = match self.exec_exits.get(&exec_id) {
                    Some(exit) => Reply {
                        exit: Some(exit.clone()),
                        ..Default::default()
                    },
                    None => Reply::error(format!("no such exec: {exec_id}")),
                };
                let _ = send(&mut conn, &reply);
                return;
            }
            Request::Pause => self
                .runtime
                .pause(&self.cfg.id)
                .map(|_| self.pid)
                .map_err(|e| e.to_string()),
            Request::Resume => self
                .runtime
                .resume(&self.cfg.id)
                .map(|_| self.pid)
                .map_err(|e| e.to_string()),
            Request::State => Ok(self.pid),
            Request::Wait => {
                self.waiters.push(conn);
                return;
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                if send(&mut conn, &Reply::ok(self.pid)).is_err() {
                    return;
                }
                let stdin = stdin && self.io.stdin.is_some() && !self.stdin_closed;
                let _ = conn.set_read_timeout(None);
                self.attached.push(Attached {
                    conn,
                    stdout,
                    stderr,
                    reading: true,
                    stdin,
                });
                return;
            }
        };
        let reply = match reply {
            Ok(pid) => Reply::ok(pid),
            Err(e) => Reply::error(e),
        };
        let _ = send(&mut conn, &reply);
    }

    fn resize(&self, exec: Option<&str>, height: u16, width: u16) -> Result<i32, String> {
        let pty = match exec {
            None => self.io.pty.as_ref(),
            Some(id) => match self.execs.iter().find(|x| x.id == id) {
                Some(x) => x.io.pty.as_ref(),
                None => return Err(format!("no such exec: {id}")),
            },
        };
        match pty {
            Some(pty) => stdio::resize(pty, height, width)
                .map(|_| self.pid)
                .map_err(|e| e.to_string()),
            None => Ok(self.pid),
        }
    }

    fn start_exec(&self, start: ExecStart) -> Result<Exec, String> {
        if self.exit.is_some() {
            return Err(format!("container {} is not running", self.cfg.id));
        }
        Exec::start(&self.cfg, self.runtime.as_ref(), start)
    }

    fn kill(&self, signal: i32) -> Result<i32, String> {
        if self.exit.is_some() {
            return Ok(self.pid);
        }
        let sig = Signal::try_from(signal).map_err(|_| format!("invalid signal: {signal}"))?;
        match signal::kill(Pid::from_raw(self.pid), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(self.pid),
            Err(e) => Err(format!("kill: {e}")),
        }
    }

    fn finish(&mut self) {
        let code = self.exit.map(|(c, _)| c).unwrap_or(255);
        let _ = self.log.flush();
        let oom_killed = crate::cgroups::oom_kill_count(&self.cfg.cgroups_path) > 0;
        if let Err(e) = self.runtime.delete(&self.cfg.id, true) {
            eprintln!("shim: delete {}: {e}", self.cfg.id);
        }
        // The delete killed whatever of the container's execs was left.
        self.reap();
        self.finish_execs(true);
        let exit = ExitInfo {
            exit_code: code,
            oom_killed,
            finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        if let Err(e) = write_exit(&self.cfg.state_dir, &exit) {
            eprintln!("shim: exit file: {e}");
        }
        let _ = std::fs::remove_file(&self.cfg.socket);
        let reply = Reply {
            pid: self.pid,
            exit: Some(exit),
            ..Default::default()
        };
        for mut w in self.waiters.drain(..) {
            let _ = send(&mut w, &reply);
        }
        for a in self.attached.drain(..) {
            let _ = a.conn.shutdown(std::net::Shutdown::Both);
        }
    }
}

fn install_sigchld() -> io::Result<File> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    SIGCHLD_PIPE.store(std::os::fd::IntoRawFd::into_raw_fd(w), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(on_sigchld),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: the handler only calls write(2) on a descriptor that stays open for our life.
    unsafe {
        signal::sigaction(Signal::SIGCHLD, &action)?;
        // A client gone away must be a write error, not the end of the shim.
        signal::signal(Signal::SIGPIPE, SigHandler::SigIgn)?;
    }
    Ok(File::from(r))
}

fn write_exit(dir: &Path, exit: &ExitInfo) -> io::Result<()> {
    let path = ShimConfig::exit_file(dir);
    let tmp = dir.join("exit.json.tmp");
    // Whole (rename) but not fsynced: it must outlive berthd, not the machine; after a reboot
    // no container is running anyway.
    std::fs::write(&tmp, serde_json::to_vec(exit).map_err(io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

/// Reads one request line; byte by byte, since what follows on an attach belongs to the stream.
pub(super) fn read_line(conn: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        // SIGCHLD interrupts reads on sockets with a timeout even with SA_RESTART.
        match conn.read(&mut b) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if b[0] == b'\n' {
            return Ok(line);
        }
        line.push(b[0]);
        if line.len() > 64 * 1024 {
            return Err(io::Error::other("request line too long"));
        }
    }
}

pub(super) fn send(conn: &mut UnixStream, reply: &Reply) -> io::Result<()> {
    let mut b = serde_json::to_vec(reply).map_err(io::Error::other)?;
    b.push(b'\n');
    conn.write_all(&b)
}
