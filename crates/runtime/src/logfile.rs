//! Docker's json-file log format: one JSON object per line of output,
//! `{"log":"hi\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`.
//!
//! The shim writes it; berthd reads it for `logs`. Lines are cut at newlines and, like Docker,
//! at 16 KiB so one endless line cannot hold memory hostage; a cut line's pieces carry no `\n`.
//!
//! The log drivers berth has: `json-file` (the default), `local` (the same records in
//! `local-logs/container.log`, rotated at 20 MB over 5 files by default, as Docker's local
//! driver is) and `none`. `max-size`/`max-file` rotate: the file is renamed to `.1`, older
//! ones move up one, the oldest beyond `max-file` goes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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

/// Which log driver a container has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    #[default]
    JsonFile,
    Local,
    None,
}

/// A container's log driver and its rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    pub driver: LogDriver,
    /// Rotate when the file would grow past this many bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// How many files to keep, the current one included (1: the file is cut back to empty).
    pub max_file: u32,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            driver: LogDriver::JsonFile,
            max_size: None,
            max_file: 1,
        }
    }
}

/// Docker's size units for `max-size` (`10k`, `20m`, `1g`; powers of 1024).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last()? {
        'k' => (&lower[..lower.trim_end_matches('b').len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        'g' => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (lower.trim_end_matches('b'), 1),
    };
    let n: f64 = num.parse().ok()?;
    (n > 0.0).then_some((n * mult as f64) as u64)
}

impl LogSettings {
    /// `HostConfig.LogConfig` read as dockerd reads it, with its words for what is wrong.
    pub fn parse(kind: &str, opts: &BTreeMap<String, String>) -> Result<LogSettings, String> {
        let driver = match kind {
            "" | "json-file" => LogDriver::JsonFile,
            "local" => LogDriver::Local,
            "none" => LogDriver::None,
            "syslog" | "journald" | "gelf" | "fluentd" | "awslogs" | "splunk" | "etwlogs"
            | "gcplogs" | "logentries" => {
                return Err(format!(
                "log driver {kind:?} is not supported yet by berth (json-file, local and none are)"
            ))
            }
            other => {
                return Err(format!(
                    "logger: no log driver named '{other}' is registered"
                ))
            }
        };
        let (mut max_size, mut max_file) = match driver {
            LogDriver::Local => (Some(20 << 20), 5),
            _ => (None, 1),
        };
        for (k, v) in opts {
            match (driver, k.as_str()) {
                (LogDriver::None, _) => {
                    return Err(format!("unknown log opt '{k}' for none log driver"))
                }
                (_, "max-size") => {
                    max_size = Some(
                        parse_size(v)
                            .ok_or_else(|| format!("invalid value for max-size: {v:?}"))?,
                    )
                }
                (_, "max-file") => {
                    max_file = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| "max-file cannot be less than 1".to_string())?
                }
                (LogDriver::Local, "compress") if v == "false" => {}
                _ => {
                    return Err(format!(
                        "log option {k:?} is not supported yet by berth for the {kind} log driver"
                    ))
                }
            }
        }
        if driver == LogDriver::JsonFile && max_file > 1 && max_size.is_none() {
            return Err("max-file can only be used with max-size".into());
        }
        Ok(LogSettings {
            driver,
            max_size,
            max_file,
        })
    }

    /// Where the log is, in the container's directory `dir`; `None` for `none`.
    pub fn file(&self, dir: &Path, id: &str) -> Option<PathBuf> {
        match self.driver {
            LogDriver::JsonFile => Some(dir.join(format!("{id}-json.log"))),
            LogDriver::Local => Some(dir.join("local-logs").join("container.log")),
            LogDriver::None => None,
        }
    }
}

/// A log file for appending: the owner writes, its group (root) reads, nobody else.
fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// `path` rotated `n` times: `path.n`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Appends output to a json-file log, one entry per line.
pub struct LogWriter {
    /// `None`: the `none` driver, which keeps nothing.
    file: Option<File>,
    path: PathBuf,
    settings: LogSettings,
    /// Bytes in the current file.
    written: u64,
    pending: [Vec<u8>; 2],
}

#[derive(Serialize)]
struct Line<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

impl LogWriter {
    pub fn open(path: &Path, settings: &LogSettings) -> io::Result<Self> {
        let file = if settings.driver == LogDriver::None {
            None
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            Some(open_log(path)?)
        };
        let written = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        Ok(LogWriter {
            file,
            path: path.to_path_buf(),
            settings: settings.clone(),
            written,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Moves the full file aside (`.1`, older ones up one, the oldest beyond `max-file`
    /// dropped) and starts an empty one.
    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.settings.max_file;
        if keep <= 1 {
            if let Some(f) = &self.file {
                f.set_len(0)?;
            }
        } else {
            let _ = std::fs::remove_file(rotated(&self.path, keep - 1));
            for n in (1..keep - 1).rev() {
                let _ = std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1));
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
            self.file = Some(open_log(&self.path)?);
        }
        self.written = 0;
        Ok(())
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
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }

    fn emit(&mut self, stream: u8, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        let line = Line {
            log: &String::from_utf8_lossy(bytes),
            stream: if stream == 2 { "stderr" } else { "stdout" },
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        let mut out = serde_json::to_vec(&line).map_err(io::Error::other)?;
        out.push(b'\n');
        if self
            .settings
            .max_size
            .is_some_and(|max| self.written > 0 && self.written + out.len() as u64 > max)
        {
            self.rotate()?;
        }
        let Some(f) = &mut self.file else {
            return Ok(());
        };
        f.write_all(&out)?;
        self.written += out.len() as u64;
        Ok(())
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

/// Every entry of a log and its rotated files, oldest first, and a follower that picks up
/// from the end of it.
pub fn read_all(path: &Path) -> io::Result<(Vec<LogEntry>, LogFollower)> {
    let mut entries = Vec::new();
    let mut n = 1;
    while rotated(path, n).exists() {
        n += 1;
    }
    for k in (1..n).rev() {
        entries.extend(read_from(&rotated(path, k), 0)?.0);
    }
    let ino = inode(path);
    let (current, offset) = read_from(path, 0)?;
    entries.extend(current);
    Ok((
        entries,
        LogFollower {
            path: path.to_path_buf(),
            ino,
            offset,
        },
    ))
}

fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Reads what a log gains, across rotations (`logs --follow`).
pub struct LogFollower {
    path: PathBuf,
    ino: Option<u64>,
    offset: u64,
}

impl LogFollower {
    /// The entries written since the last call.
    pub fn read_new(&mut self) -> io::Result<Vec<LogEntry>> {
        let ino = inode(&self.path);
        let mut out = Vec::new();
        if ino != self.ino {
            // Rotated: the rest of the file we were reading is now `.1`.
            if self.ino.is_some() && inode(&rotated(&self.path, 1)) == self.ino {
                out.extend(read_from(&rotated(&self.path, 1), self.offset)?.0);
            }
            self.ino = ino;
            self.offset = 0;
        } else if std::fs::metadata(&self.path).is_ok_and(|m| m.len() < self.offset) {
            // Cut back to empty (max-file 1).
            self.offset = 0;
        }
        let (more, next) = read_from(&self.path, self.offset)?;
        self.offset = next;
        out.extend(more);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_partials_and_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&p, &LogSettings::default()).unwrap();
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
    fn rotation_keeps_max_file_files_and_reads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let opts = BTreeMap::from([
            ("max-size".to_string(), "1k".to_string()),
            ("max-file".to_string(), "3".to_string()),
        ]);
        let s = LogSettings::parse("json-file", &opts).unwrap();
        assert_eq!((s.max_size, s.max_file), (Some(1024), 3));
        let mut w = LogWriter::open(&p, &s).unwrap();
        let (_, mut follow) = read_all(&p).unwrap();
        let mut followed = Vec::new();
        for i in 0..100 {
            w.write(1, format!("line {i:03}\n").as_bytes()).unwrap();
            if i % 7 == 0 {
                followed.extend(follow.read_new().unwrap());
            }
        }
        w.flush().unwrap();
        followed.extend(follow.read_new().unwrap());
        assert!(rotated(&p, 2).exists() && !rotated(&p, 3).exists());
        for f in [p.clone(), rotated(&p, 1), rotated(&p, 2)] {
            assert!(std::fs::metadata(&f).unwrap().len() <= 1024);
        }
        let (all, _) = read_all(&p).unwrap();
        let nums: Vec<u32> = all.iter().map(|e| e.log[5..8].parse().unwrap()).collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{nums:?}");
        assert_eq!(*nums.last().unwrap(), 99);
        // The follower saw every line, in order, across the rotations.
        let seen: Vec<u32> = followed
            .iter()
            .map(|e| e.log[5..8].parse().unwrap())
            .collect();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn drivers_and_their_options() {
        let none = BTreeMap::new();
        assert_eq!(
            LogSettings::parse("", &none).unwrap(),
            LogSettings::default()
        );
        let local = LogSettings::parse("local", &none).unwrap();
        assert_eq!((local.max_size, local.max_file), (Some(20 << 20), 5));
        let opt = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(LogSettings::parse("none", &opt("max-size", "1m")).is_err());
        assert!(LogSettings::parse("json-file", &opt("max-file", "3"))
            .unwrap_err()
            .contains("max-size"));
        assert!(LogSettings::parse("json-file", &opt("max-size", "ten"))
            .unwrap_err()
            .contains("max-size"));
        assert!(LogSettings::parse("json-file", &opt("labels", "a"))
            .unwrap_err()
            .contains("not supported yet"));
        assert_eq!(
            LogSettings::parse("bogus", &none).unwrap_err(),
            "logger: no log driver named 'bogus' is registered"
        );
        assert!(LogSettings::parse("syslog", &none)
            .unwrap_err()
            .contains("not supported yet"));
        // none keeps nothing.
        let dir = tempfile::tempdir().unwrap();
        let s = LogSettings::parse("none", &none).unwrap();
        assert_eq!(s.file(dir.path(), "x"), None);
        let mut w = LogWriter::open(&dir.path().join("never"), &s).unwrap();
        w.write(1, b"gone\n").unwrap();
        w.flush().unwrap();
        assert!(!dir.path().join("never").exists());
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
