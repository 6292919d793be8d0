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
        let input = berth_image::unpack::decompress(tar)?;
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
}
