//! The build context: the tar the client sent, unpacked into the build's own directory with
//! the same descriptor-relative extraction `docker cp` uses (no `..` entry, no symlink
//! followed while unpacking), its `.dockerignore`, and the lookups COPY and ADD make in it.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_container::cp::{self, ExtractOptions};

use crate::glob;
use crate::ignore::Ignore;
use crate::BuildError;

pub struct Context {
    dir: PathBuf,
    root: OwnedFd,
    pub ignore: Ignore,
}

/// The docker CLI's context tar when `-f` names a Dockerfile outside the context ends right
/// after the appended Dockerfile's data: its tar writer is closed after the pipe, so neither
/// the entry's padding nor the end-of-archive blocks are sent, and dockerd takes it. This
/// reader follows the headers going by and supplies the missing blocks only when the stream
/// ends exactly at the end of an entry's data; a stream cut anywhere else still fails.
struct Terminated<R> {
    inner: R,
    read: u64,
    /// Where the next header starts, the header being collected, and where the data of the
    /// last header seen ends (unpadded).
    next_header: u64,
    header: Vec<u8>,
    data_end: u64,
    zeros: Option<u64>,
}

impl<R: Read> Terminated<R> {
    fn new(inner: R) -> Self {
        Terminated {
            inner,
            read: 0,
            next_header: 0,
            header: Vec::with_capacity(512),
            data_end: 0,
            zeros: None,
        }
    }

    /// Follows the headers in `bytes`, which start at stream offset `at`.
    fn follow(&mut self, mut at: u64, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let header_end = self.next_header + 512;
            if at + (bytes.len() as u64) <= self.next_header {
                return;
            }
            let skip = self.next_header.saturating_sub(at) as usize;
            let take = ((header_end - at.max(self.next_header)) as usize).min(bytes.len() - skip);
            self.header.extend_from_slice(&bytes[skip..skip + take]);
            at += (skip + take) as u64;
            bytes = &bytes[skip + take..];
            if self.header.len() == 512 {
                let size = entry_size(&self.header);
                self.data_end = header_end + size;
                self.next_header = header_end + size.div_ceil(512) * 512;
                self.header.clear();
            }
        }
    }
}

/// The size field of a tar header: octal, or base-256 when its first byte has the high bit.
fn entry_size(header: &[u8]) -> u64 {
    let field = &header[124..136];
    if field[0] & 0x80 != 0 {
        return field[1..]
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b));
    }
    let text = String::from_utf8_lossy(field);
    u64::from_str_radix(text.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap_or(0)
}

impl<R: Read> Read for Terminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.zeros.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.follow(self.read, &buf[..n]);
                self.read += n as u64;
                return Ok(n);
            }
            // Ended at a header boundary (the tar reader sees a clean end) or anywhere but
            // the end of an entry's data: nothing is added.
            if self.read == self.next_header || self.read != self.data_end {
                return Ok(0);
            }
            self.zeros = Some(self.next_header - self.read + 1024);
        }
        let left = self.zeros.as_mut().expect("set above");
        let n = buf.len().min(*left as usize);
        buf[..n].fill(0);
        *left -= n as u64;
        Ok(n)
    }
}

/// Go's `path.Clean` of a context-relative path, or the error dockerd gives for one that
/// leaves the context.
pub fn clean_source(src: &str) -> Result<String, BuildError> {
    let mut out: Vec<&str> = Vec::new();
    for part in src.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(BuildError::Invalid(format!(
                        "forbidden path outside the build context: {src} ()"
                    )));
                }
            }
            p => out.push(p),
        }
    }
    Ok(out.join("/"))
}

impl Context {
    /// Unpacks `tar` (plain, gzip or zstd) into `dir`, which must be new and empty.
    pub fn unpack(dir: &Path, tar: impl Read) -> Result<Context, BuildError> {
        std::fs::create_dir_all(dir)?;
        let root = cp::open_root(dir)?;
        let input = Terminated::new(berth_image::unpack::decompress(tar)?);
        cp::extract(
            &root,
            "/",
            input,
            ExtractOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: false,
            },
        )
        .map_err(|e| BuildError::Invalid(format!("the build context is not a valid tar: {e}")))?;
        let ignore = match read_in(&root, ".dockerignore")? {
            Some(text) => Ignore::parse(&String::from_utf8_lossy(&text))
                .map_err(|e| BuildError::Invalid(e.to_string()))?,
            None => Ignore::default(),
        };
        Ok(Context {
            dir: dir.to_path_buf(),
            root,
            ignore,
        })
    }

    pub fn root(&self) -> &OwnedFd {
        &self.root
    }

    /// The Dockerfile named `name` (dockerd also tries `dockerfile` for the default name).
    pub fn dockerfile(&self, name: &str) -> Result<String, BuildError> {
        let name = if name.is_empty() { "Dockerfile" } else { name };
        let clean = clean_source(name)?;
        let mut found = read_in(&self.root, &clean)?;
        if found.is_none() && name == "Dockerfile" {
            found = read_in(&self.root, "dockerfile")?;
        }
        let bytes = found.ok_or_else(|| {
            BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"))
        })?;
        String::from_utf8(bytes)
            .map_err(|_| BuildError::Invalid(format!("the Dockerfile {name} is not UTF-8")))
    }

    /// The context paths a COPY source names: itself, or with wildcards every match, leaving
    /// out what `.dockerignore` excludes. None found is dockerd's error.
    pub fn sources(&self, src: &str) -> Result<Vec<String>, BuildError> {
        let clean = clean_source(src)?;
        let found: Vec<String> = if glob::has_meta(&clean) {
            let mut all = Vec::new();
            walk(&self.dir, "", &mut all)?;
            let mut hits = Vec::new();
            for p in all {
                if glob::matches(&clean, &p, true)
                    .map_err(|_| BuildError::Invalid(format!("invalid pattern {src:?}")))?
                {
                    hits.push(p);
                }
            }
            hits
        } else {
            let exists = clean.is_empty()
                || std::fs::symlink_metadata(self.dir.join(&clean)).is_ok()
                    && cp::stat(&self.root, &clean).is_ok();
            if exists {
                vec![clean.clone()]
            } else {
                vec![]
            }
        };
        let kept: Vec<String> = found
            .into_iter()
            .filter(|p| p.is_empty() || !self.ignore.excludes(p))
            .collect();
        if kept.is_empty() {
            return Err(BuildError::Invalid(format!(
                "file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
            )));
        }
        Ok(kept)
    }
}

/// Reads a regular file inside `root`, `None` if absent.
fn read_in(root: &OwnedFd, path: &str) -> io::Result<Option<Vec<u8>>> {
    match berth_volume::tree::open_in_root(
        root,
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
    ) {
        Ok(Some(fd)) => {
            let mut f = std::fs::File::from(fd);
            if !f.metadata()?.is_file() {
                return Ok(None);
            }
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(Some(buf))
        }
        Ok(None) => Ok(None),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every path under `dir` (relative, slash-separated), not following symlinks.
fn walk(base: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
    let here = if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&here)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let p = if rel.is_empty() {
            n
        } else {
            format!("{rel}/{n}")
        };
        let is_dir = std::fs::symlink_metadata(base.join(&p))?.is_dir();
        out.push(p.clone());
        if is_dir {
            walk(base, &p, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_outside_the_context_are_refused() {
        assert_eq!(clean_source("./a/../b/").unwrap(), "b");
        assert_eq!(clean_source(".").unwrap(), "");
        assert!(clean_source("../etc/passwd").is_err());
        assert!(clean_source("a/../../x").is_err());
    }

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut t = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            t.append_data(&mut h, name, *data).unwrap();
        }
        t.into_inner().unwrap()
    }

    fn names(bytes: &[u8]) -> Result<Vec<String>, io::Error> {
        let mut out = Vec::new();
        for e in tar::Archive::new(Terminated::new(bytes)).entries()? {
            let mut e = e?;
            io::copy(&mut e, &mut io::sink())?;
            out.push(e.path()?.to_string_lossy().into_owned());
        }
        Ok(out)
    }

    #[test]
    fn a_tar_cut_after_its_last_entrys_data_is_read_whole() {
        let full = tar_of(&[("a", b"a"), (".dockerfile.1", b"FROM busybox\n")]);
        // What the docker CLI sends: no padding after the last data, no end blocks.
        let cut = &full[..512 * 3 + 13];
        assert_eq!(names(cut).unwrap(), ["a", ".dockerfile.1"]);
        assert_eq!(names(&full).unwrap(), ["a", ".dockerfile.1"]);
        // Cut inside an entry's data: still an error.
        let big = tar_of(&[("big", &[7u8; 2000])]);
        assert!(names(&big[..512 + 700]).is_err());
    }
}
