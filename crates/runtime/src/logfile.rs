//! Docker's json-file log format: one JSON object per line of output,
//! `{"log":"hi\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`.
//!
//! The shim writes it; berthd reads it for `logs`. Lines are cut at newlines and, like Docker,
//! at 16 KiB so one endless line cannot hold memory hostage; a cut line's pieces carry no `\n`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: DateTime<Utc>,
}

impl LogEntry {
    pub fn time_text(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Nanos, true)
    }
}

/// Appends output to a json-file log, one entry per line.
pub struct LogWriter {
    file: File,
    pending: [Vec<u8>; 2],
}

#[derive(Serialize)]
struct Line<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

impl LogWriter {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(LogWriter {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Logs a chunk of output of `stream` (1 stdout, 2 stderr); a trailing partial line waits
    /// for the rest of it.
    pub fn write(&mut self, stream: u8, data: &[u8]) -> io::Result<()> {
        let i = usize::from(stream == 2);
        self.pending[i].extend_from_slice(data);
        let mut start = 0;
        let buf = std::mem::take(&mut self.pending[i]);
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = (start + nl + 1).min(start + MAX_LINE);
            self.emit(stream, &buf[start..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        self.pending[i] = buf[start..].to_vec();
        Ok(())
    }

    /// Writes out partial lines, at the end of the output.
    pub fn flush(&mut self) -> io::Result<()> {
        for (i, stream) in [(0, 1u8), (1, 2u8)] {
            let rest = std::mem::take(&mut self.pending[i]);
            if !rest.is_empty() {
                self.emit(stream, &rest)?;
            }
        }
        self.file.flush()
    }

    fn emit(&mut self, stream: u8, bytes: &[u8]) -> io::Result<()> {
        let line = Line {
            log: &String::from_utf8_lossy(bytes),
            stream: if stream == 2 { "stderr" } else { "stdout" },
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        let mut out = serde_json::to_vec(&line).map_err(io::Error::other)?;
        out.push(b'\n');
        self.file.write_all(&out)
    }
}

/// Reads log entries from `offset` on; returns them and the offset after the last whole line
/// (a line still being written is left for the next read).
pub fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<LogEntry>, u64)> {
    use std::io::Seek;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e),
    };
    f.seek(io::SeekFrom::Start(offset))?;
    let mut r = BufReader::new(f);
    let mut entries = Vec::new();
    let mut pos = offset;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_slice::<LogEntry>(&line) {
            entries.push(e);
        }
    }
    Ok((entries, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partials_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(1, b"hello\nwor").unwrap();
        w.write(2, b"oops\n").unwrap();
        w.write(1, b"ld\n").unwrap();
        w.write(1, &vec![b'x'; MAX_LINE + 10]).unwrap();
        w.write(1, b"tail").unwrap();
        w.flush().unwrap();
        let (entries, end) = read_from(&p, 0).unwrap();
        let logs: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(logs[0], ("stdout", "hello\n"));
        assert_eq!(logs[1], ("stderr", "oops\n"));
        assert_eq!(logs[2], ("stdout", "world\n"));
        assert_eq!(logs[3].1.len(), MAX_LINE);
        assert_eq!(logs[4].1, format!("{}tail", "x".repeat(10)));
        assert_eq!(end, std::fs::metadata(&p).unwrap().len());
        let raw = std::fs::read_to_string(&p).unwrap();
        assert!(
            raw.starts_with(r#"{"log":"hello\n","stream":"stdout","time":"20"#),
            "{raw}"
        );
    }

    #[test]
    fn a_line_being_written_waits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        std::fs::write(
            &p,
            "{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n{\"log\":",
        )
        .unwrap();
        let (e, end) = read_from(&p, 0).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(end, 62);
        assert_eq!(read_from(&p, end).unwrap().0.len(), 0);
    }
}
