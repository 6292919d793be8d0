//! `docker cp`'s side in the daemon: the stat of a path in a container, a path as a tar, and a
//! tar unpacked into a directory. Everything is done by descriptor relative to the container's
//! root (`/proc/<pid>/root` while it runs, so its volumes are seen as it sees them): a path is
//! looked up with `openat2(RESOLVE_IN_ROOT)`, so that no symlink in it leads outside, and a
//! tree is walked with `O_NOFOLLOW` at each step, so that a symlink swapped in meanwhile is
//! read as the link it is, never followed.

mod extract;
mod read;
#[cfg(test)]
mod tests;

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_volume::tree;
use nix::fcntl::OFlag;

pub use extract::{extract, ExtractOptions};
pub use read::{archive, stat, PathStat};

#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// 404, in dockerd's words.
    #[error("Could not find the file {0} in container")]
    NotFound(String),
    /// 400: what was asked cannot be done as asked.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Opens the container's root: what every lookup is relative to.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `path` inside `root` ([`tree::open_in_root`]); `None` if it does not exist, or leads
/// through something that is not a directory.
pub(crate) fn resolve(
    root: &OwnedFd,
    path: &str,
    flags: OFlag,
) -> Result<Option<OwnedFd>, CpError> {
    match tree::open_in_root(root, path, flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        r => Ok(r?),
    }
}

/// Splits a container path into its directory and last name, as `docker cp` names them:
/// `/etc/hosts` is (`/etc`, `hosts`); `/` and `/etc/` keep the directory itself, `.`.
pub(crate) fn split(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return ("/".into(), ".".into());
    }
    match trimmed.rsplit_once('/') {
        Some(("", base)) => ("/".into(), base.into()),
        Some((dir, base)) => (dir.into(), base.into()),
        None => ("/".into(), trimmed.into()),
    }
}

pub(crate) fn cstr(s: &[u8]) -> io::Result<CString> {
    tree::cstr(OsStr::from_bytes(s))
}

/// The entry `name` in `dir`, a link as a link; an empty `name` is `dir` itself.
pub(crate) fn lstat_at(dir: &OwnedFd, name: &[u8]) -> io::Result<libc::stat> {
    if name.is_empty() {
        return tree::fstat(dir);
    }
    tree::fstatat(dir, &cstr(name)?)
}

/// `openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC)`.
pub(crate) fn open_at(dir: &OwnedFd, name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    tree::openat(dir, &cstr(name)?, flags, mode)
}
