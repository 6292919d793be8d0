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

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};

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

/// `path` inside `root`, symlinks followed but kept inside it; `None` if it does not exist.
pub(crate) fn resolve(
    root: &OwnedFd,
    path: &str,
    flags: OFlag,
) -> Result<Option<OwnedFd>, CpError> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    match nix::fcntl::openat2(root.as_raw_fd(), rel, how) {
        // SAFETY: openat2 returned a new descriptor that nothing else owns.
        Ok(fd) => Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) })),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(nix::errno::Errno::ENOTDIR) => Ok(None),
        Err(e) => Err(CpError::Io(e.into())),
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
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `name` empty stats `dir` itself.
pub(crate) fn lstat_at(dir: &OwnedFd, name: &[u8]) -> io::Result<libc::stat> {
    let n = cstr(name)?;
    let flags = if name.is_empty() {
        libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH
    } else {
        libc::AT_SYMLINK_NOFOLLOW
    };
    // SAFETY: st is written by fstatat on success; n is NUL-terminated.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstatat(dir.as_raw_fd(), n.as_ptr(), &mut st, flags) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

/// `openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC)`.
pub(crate) fn open_at(dir: &OwnedFd, name: &[u8], flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let n = cstr(name)?;
    // SAFETY: openat with a NUL-terminated name; the result is checked before it is owned.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            n.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
