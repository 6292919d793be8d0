//! The container's stdio as the shim holds it: pipes, or the master side of a pty that the
//! runtime hands over on the console socket.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::runtime::Stdio;

use super::protocol::{STDERR, STDOUT};

/// The shim's ends of the container's stdio.
pub struct ContainerIo {
    /// Where attached clients' stdin goes; `None` once closed (or never opened, without `-i`).
    pub stdin: Option<StdinPipe>,
    /// Output to read, with its stream id; a pty is one stdout stream.
    pub outputs: Vec<(u8, File)>,
    /// The pty master, kept for resizing.
    pub pty: Option<File>,
}

impl ContainerIo {
    /// Reads what output `i` has into `buf`: its stream id and length, or `None` when there
    /// is nothing now. An output that ended (EOF, or EIO from a pty whose other side is all
    /// closed) is dropped.
    pub fn read_output(&mut self, i: usize, buf: &mut [u8]) -> Option<(u8, usize)> {
        let (stream, file) = &mut self.outputs[i];
        match io::Read::read(file, buf) {
            // A pty master shares its non-blocking flag with the stdin side.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                None
            }
            Ok(0) | Err(_) => {
                self.outputs.remove(i);
                None
            }
            Ok(n) => Some((*stream, n)),
        }
    }
}

/// Stdio prepared before `create`; the shim's ends become usable afterwards.
pub enum Prepared {
    Pipes(ContainerIo),
    Console(UnixListener),
}

fn pipe() -> io::Result<(File, File)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((File::from(r), File::from(w)))
}

/// Makes the runtime's side of stdio and keeps the shim's.
pub fn prepare(tty: bool, open_stdin: bool, console: &Path) -> io::Result<(Stdio, Prepared)> {
    if tty {
        let _ = std::fs::remove_file(console);
        if let Some(dir) = console.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let listener = UnixListener::bind(console)?;
        let stdio = Stdio::Console {
            socket: console.to_path_buf(),
        };
        return Ok((stdio, Prepared::Console(listener)));
    }
    let (stdin_r, stdin_w): (OwnedFd, Option<File>) = if open_stdin {
        let (r, w) = pipe()?;
        (r.into(), Some(w))
    } else {
        (File::open("/dev/null")?.into(), None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let stdio = Stdio::Fds {
        stdin: stdin_r,
        stdout: out_w.into(),
        stderr: err_w.into(),
    };
    let io = ContainerIo {
        stdin: stdin_w.map(StdinPipe::new).transpose()?,
        outputs: vec![(STDOUT, out_r), (STDERR, err_r)],
        pty: None,
    };
    Ok((stdio, Prepared::Pipes(io)))
}

/// After `create`: for a TTY, takes the pty master the runtime sent.
pub fn finish(p: Prepared, console: &Path) -> io::Result<ContainerIo> {
    let listener = match p {
        Prepared::Pipes(io) => return Ok(io),
        Prepared::Console(l) => l,
    };
    listener.set_nonblocking(true)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    };
    let _ = std::fs::remove_file(console);
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let master = receive_fd(conn.as_raw_fd())?;
    let read = master.try_clone()?;
    let write = master.try_clone()?;
    Ok(ContainerIo {
        stdin: Some(StdinPipe::new(write)?),
        outputs: vec![(STDOUT, read)],
        pty: Some(master),
    })
}

/// The container's stdin as the shim feeds it: non-blocking, with what the container has not
/// taken yet held here. A blocking write would stall the shim's only thread while the
/// container itself waits for us to drain its output, and neither would move again.
pub struct StdinPipe {
    file: File,
    pending: VecDeque<u8>,
    /// Close once `pending` is written (a client's stdin ended with `stdin_once`).
    close_when_drained: bool,
}

/// Beyond this much unwritten stdin, clients' stdin is not read until the container takes some.
pub const STDIN_HIGH_WATER: usize = 1 << 20;

/// What became of the container's stdin after a write.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinState {
    /// Still open; maybe with bytes waiting for the container to read.
    Open,
    /// Closed: drained after a close was asked for, or the container's end is gone.
    Closed,
}

impl StdinPipe {
    /// Takes the shim's end of the container's stdin and makes it non-blocking. For a pty this
    /// is shared with the master's read side, whose reader must then expect `WouldBlock`.
    pub fn new(file: File) -> io::Result<StdinPipe> {
        let flags = fcntl(file.as_raw_fd(), FcntlArg::F_GETFL)?;
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(flags))?;
        Ok(StdinPipe {
            file,
            pending: VecDeque::new(),
            close_when_drained: false,
        })
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Bytes waiting for the container.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Queues `data` and writes what the container will take now.
    pub fn push(&mut self, data: &[u8]) -> StdinState {
        self.pending.extend(data);
        self.flush()
    }

    /// Closes the container's stdin once everything queued is written.
    pub fn close_when_drained(&mut self) -> StdinState {
        self.close_when_drained = true;
        self.flush()
    }

    /// Writes as much of what is queued as the container takes without blocking.
    pub fn flush(&mut self) -> StdinState {
        while !self.pending.is_empty() {
            let (front, _) = self.pending.as_slices();
            match (&self.file).write(front) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return StdinState::Open,
                // EPIPE: nothing reads the container's stdin any more; what is queued is lost,
                // as it would be with Docker.
                Err(_) => return StdinState::Closed,
            }
        }
        if self.close_when_drained {
            StdinState::Closed
        } else {
            StdinState::Open
        }
    }
}

/// Receives one file descriptor sent with SCM_RIGHTS (the OCI console-socket protocol).
fn receive_fd(sock: RawFd) -> io::Result<File> {
    let mut buf = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
        }
    }
    Err(io::Error::other(
        "the runtime sent no pty master on the console socket",
    ))
}

/// Sets the pty's window size.
pub fn resize(pty: &File, height: u16, width: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid for the call.
    if unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
