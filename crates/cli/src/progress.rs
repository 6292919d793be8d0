//! Shows a daemon's JSON progress stream as the docker CLI does (`jsonmessage`): on a terminal,
//! one line per layer updated in place with a bar; otherwise plain status lines only.

use std::collections::HashMap;
use std::io::Write;

use berth_image::progress::{progress_bar, JsonMessage};
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// An error the daemon reported inside the stream.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamError(pub String);

pub fn stdout_is_terminal() -> bool {
    // SAFETY: isatty on a standard descriptor.
    unsafe { libc::isatty(1) == 1 }
}

pub fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills a zeroed winsize we own.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        200
    }
}

/// Reads the stream to its end, printing each message; returns the `aux` values seen and the
/// first in-band error as `Err`.
pub async fn display(
    body: Incoming,
    out: &mut impl Write,
    terminal: bool,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut state = Display {
        ids: HashMap::new(),
        terminal,
        width: if terminal { terminal_width() } else { 200 },
        aux: Vec::new(),
    };
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buf.extend_from_slice(data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            state.line(&line, out)?;
        }
    }
    if !buf.is_empty() {
        state.line(&buf, out)?;
    }
    Ok(state.aux)
}

struct Display {
    ids: HashMap<String, usize>,
    terminal: bool,
    width: usize,
    aux: Vec<serde_json::Value>,
}

impl Display {
    fn line(&mut self, raw: &[u8], out: &mut impl Write) -> anyhow::Result<()> {
        let text = String::from_utf8_lossy(raw);
        if text.trim().is_empty() {
            return Ok(());
        }
        let m: JsonMessage = serde_json::from_str(text.trim())?;
        if let Some(e) = m
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .or(m.error.clone())
        {
            return Err(StreamError(e).into());
        }
        if let Some(aux) = m.aux {
            self.aux.push(aux);
            return Ok(());
        }
        let has_progress = m.progress_detail.is_some();
        let mut diff = 0;
        if let (Some(id), true) = (&m.id, has_progress || m.progress.is_some()) {
            let n = self.ids.len();
            let line = *self.ids.entry(id.clone()).or_insert_with(|| {
                if self.terminal {
                    let _ = writeln!(out);
                }
                n
            });
            diff = self.ids.len() - line;
            if self.terminal && diff > 0 {
                write!(out, "\x1b[{diff}A")?;
            }
        } else {
            self.ids.clear();
        }
        let bar = m
            .progress_detail
            .as_ref()
            .and_then(|d| match (d.current, d.total) {
                (Some(c), Some(t)) if c > 0 || t > 0 => Some(progress_bar(c, t, self.width)),
                (Some(c), None) if c > 0 => Some(progress_bar(c, 0, self.width)),
                _ => None,
            });
        let status = m.status.clone().unwrap_or_default();
        let prefix =
            m.id.as_ref()
                .map(|id| format!("{id}: "))
                .unwrap_or_default();
        if self.terminal && has_progress && m.stream.is_none() {
            write!(
                out,
                "\x1b[2K\r{prefix}{status} {}\r",
                bar.unwrap_or_default()
            )?;
        } else if bar.is_some() {
            return Ok(()); // progress bars are for terminals only
        } else if let Some(s) = &m.stream {
            write!(out, "{prefix}{s}")?;
        } else {
            writeln!(out, "{prefix}{status}")?;
        }
        if self.terminal && diff > 0 {
            write!(out, "\x1b[{diff}B")?;
        }
        out.flush()?;
        Ok(())
    }
}
