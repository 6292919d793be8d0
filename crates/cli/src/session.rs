//! Streaming a hijacked attach connection, as the docker CLI's `hijackedIOStreamer` does:
//! container output to our stdout/stderr (demultiplexed unless the container has a TTY), our
//! stdin to the container (its end signalled by closing our write side), and with a TTY the
//! terminal in raw mode and the detach keys watched for.

use std::io::Write;

use tokio::io::AsyncWriteExt;

use crate::hijack::{HijackReader, Hijacked};
use crate::stdcopy::{Demux, Stream};
use crate::tty::{self, DetachMatcher, RawMode};

/// What to connect, mirroring the attach request's query.
#[derive(Debug, Clone)]
pub struct StreamOpts {
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `--detach-keys` (or the config file's `detachKeys`); empty for the default.
    pub detach_keys: String,
}

/// How a session ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The daemon closed the output stream (or there was none to wait for).
    Done,
    /// The user typed the detach sequence.
    Detached,
}

/// The error `docker attach` reports when the user detaches (moby's `term.EscapeError`).
pub const ESCAPE_ERROR: &str = "read escape sequence";

/// Runs the session until output ends, stdin ends with no output to wait for, or the user
/// detaches. The terminal is restored whenever this returns or is dropped.
pub async fn stream(conn: Hijacked, opts: StreamOpts) -> anyhow::Result<StreamEnd> {
    let Hijacked {
        mut reader,
        mut writer,
        ..
    } = conn;
    let mut raw: Option<RawMode> = None;
    let mut matcher = None;
    if opts.stdin && opts.tty {
        if tty::is_terminal(tty::STDIN) {
            raw = Some(RawMode::enable(tty::STDIN).map_err(|e| {
                anyhow::anyhow!(
                    "unable to setup input stream: unable to set IO streams as raw terminal: {e}"
                )
            })?);
        }
        let keys = if opts.detach_keys.is_empty() {
            tty::DEFAULT_DETACH_KEYS.to_vec()
        } else {
            tty::detach_keys(&opts.detach_keys).unwrap_or_else(|e| {
                eprintln!("WARN[0000] invalid detach escape keys, using default: {e}");
                tty::DEFAULT_DETACH_KEYS.to_vec()
            })
        };
        matcher = Some(DetachMatcher::new(keys));
    }

    let want_output = opts.stdout || opts.stderr;
    let output = copy_output(&mut reader, opts.tty, opts.stdout, opts.stderr);
    let input = async {
        if opts.stdin {
            let mut chunks = stdin_chunks();
            while let Some(bytes) = chunks.recv().await {
                let (forward, detached) = match &mut matcher {
                    Some(m) => m.feed(&bytes),
                    None => (bytes, false),
                };
                if !forward.is_empty() && writer.write_all(&forward).await.is_err() {
                    break;
                }
                if detached {
                    return StreamEnd::Detached;
                }
            }
        }
        // stdin is over (or was never attached): tell the daemon by closing our write side.
        let _ = writer.shutdown().await;
        StreamEnd::Done
    };
    tokio::pin!(output, input);
    let end = tokio::select! {
        r = &mut output => r.map(|_| StreamEnd::Done),
        end = &mut input => match end {
            StreamEnd::Detached => Ok(StreamEnd::Detached),
            StreamEnd::Done if want_output => output.await.map(|_| StreamEnd::Done),
            StreamEnd::Done => Ok(StreamEnd::Done),
        },
    };
    drop(raw);
    end
}

/// Copies the container's output until the daemon closes the stream.
async fn copy_output(
    reader: &mut HijackReader,
    tty: bool,
    stdout: bool,
    stderr: bool,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut demux = Demux::new();
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if tty {
            write_to(Stream::Stdout, &buf[..n])?;
        } else {
            demux.feed(&buf[..n], &mut |s, p| match s {
                Stream::Stdout if stdout => write_to(s, p),
                Stream::Stderr if stderr => write_to(s, p),
                _ => Ok(()),
            })?;
        }
    }
}

/// Writes and flushes at once: output from an interactive container must show as it comes.
pub fn write_to(s: Stream, bytes: &[u8]) -> std::io::Result<()> {
    match s {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes)?;
            err.flush()
        }
    }
}

/// Our stdin as chunks, read on a plain thread: a blocked terminal read cannot be cancelled,
/// and a detached thread does not keep the process alive at exit the way a runtime blocking
/// task would.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = vec![0u8; 32 * 1024];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}
