//! Copy-up: an empty volume mounted over a directory of the image gets that directory's
//! content (owners, modes, times, extended attributes, links) before the container starts.
//!
//! Both sides are walked by file descriptor: the image's directory is found with
//! `openat2(RESOLVE_IN_ROOT)`, so a symlink in the image (`/data -> /etc`) resolves inside the
//! container's root and never on the host, and every entry below it is opened relative to its
//! parent with `O_NOFOLLOW`. The copy goes to a directory beside the volume's data and is
//! renamed over the empty data directory when done, so a copy cut short (berthd killed) never
//! leaves a half-filled volume that would pass for a filled one: the next start copies again.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::fchownat;

/// Opens `path` inside the directory `root` as if `root` were `/`: `..`, absolute symlinks
/// and `/proc` magic links cannot lead out of it.
pub fn open_in_root(root: RawFd, path: &str, flags: OFlag) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root, path, how).map_err(io::Error::from)?;
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_empty_dir(path: &Path) -> io::Result<bool> {
    Ok(std::fs::read_dir(path)?.next().is_none())
}

/// Copies the image's content at `target` (inside `rootfs`) into the volume data directory
/// `data` if `data` is empty and `target` is a directory. Returns whether it copied.
pub fn copy_up(rootfs: &Path, target: &str, data: &Path) -> io::Result<bool> {
    let scratch = with_suffix(data, ".copyup");
    // A copy cut short before: its leftovers go.
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    if !is_empty_dir(data)? {
        return Ok(false);
    }
    let root = open_dir(rootfs)?;
    let src = match open_in_root(
        root.as_raw_fd(),
        target,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
    ) {
        Ok(fd) => fd,
        // Nothing there, or not a directory: nothing to copy.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    if dir_is_empty(src.as_raw_fd())? {
        return Ok(false);
    }
    std::fs::create_dir(&scratch)?;
    let dst = open_dir(&scratch)?;
    let mut links = HashMap::new();
    let copied = copy_tree(
        src.as_raw_fd(),
        dst.as_raw_fd(),
        dst.as_raw_fd(),
        &mut links,
        Path::new(""),
    )
    .and_then(|_| copy_meta_fd(src.as_raw_fd(), dst.as_raw_fd()));
    drop(dst);
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(e);
    }
    match std::fs::rename(&scratch, data) {
        Ok(()) => Ok(true),
        // The data directory is a mount point (the volume is a tmpfs or a bound directory,
        // or another container has it mounted): the copy goes into it instead.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EXDEV)) => {
            let r = (|| {
                let dst = open_dir(data)?;
                let src = open_dir(&scratch)?;
                let mut links = HashMap::new();
                copy_tree(
                    src.as_raw_fd(),
                    dst.as_raw_fd(),
                    dst.as_raw_fd(),
                    &mut links,
                    Path::new(""),
                )?;
                copy_meta_fd(src.as_raw_fd(), dst.as_raw_fd())
            })();
            let _ = std::fs::remove_dir_all(&scratch);
            r.map(|_| true)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            Err(e)
        }
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn dir_is_empty(dir: RawFd) -> io::Result<bool> {
    Ok(entries(dir)?.is_empty())
}

/// The names in the directory `dir` (without `.` and `..`).
fn entries(dir: RawFd) -> io::Result<Vec<OsString>> {
    // A second descriptor: reading a directory moves its offset.
    let fd = openat(
        Some(dir),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        if name != "." && name != ".." {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// Copies everything in `src` into `dst`, recursively. `links` maps an inode already copied
/// to its path under the destination root, so hard links stay hard links.
fn copy_tree(
    src: RawFd,
    dst: RawFd,
    root: RawFd,
    links: &mut HashMap<(u64, u64), PathBuf>,
    rel: &Path,
) -> io::Result<()> {
    for name in entries(src)? {
        let st = fstatat(
            Some(src),
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let here = rel.join(&name);
        if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = links.get(&key) {
                nix::unistd::linkat(
                    Some(root),
                    first.as_os_str(),
                    Some(dst),
                    name.as_os_str(),
                    nix::fcntl::AtFlags::empty(),
                )?;
                continue;
            }
            links.insert(key, here.clone());
        }
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(Some(dst), name.as_os_str(), Mode::from_bits_truncate(0o700))?;
                let flags =
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let s = own(openat(Some(src), name.as_os_str(), flags, Mode::empty())?);
                let d = own(openat(Some(dst), name.as_os_str(), flags, Mode::empty())?);
                copy_tree(s.as_raw_fd(), d.as_raw_fd(), root, links, &here)?;
                copy_meta_fd(s.as_raw_fd(), d.as_raw_fd())?;
            }
            SFlag::S_IFREG => {
                let s = own(openat(
                    Some(src),
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?);
                let d = own(openat(
                    Some(dst),
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )?);
                let (mut sf, mut df) = (File::from(s), File::from(d));
                io::copy(&mut sf, &mut df)?;
                copy_meta_fd(sf.as_raw_fd(), df.as_raw_fd())?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(src), name.as_os_str())?;
                nix::unistd::symlinkat(target.as_os_str(), Some(dst), name.as_os_str())?;
                fchownat(
                    Some(dst),
                    name.as_os_str(),
                    Some(st.st_uid.into()),
                    Some(st.st_gid.into()),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                set_times(dst, &name, &st)?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO | SFlag::S_IFSOCK => {
                nix::sys::stat::mknodat(Some(dst), name.as_os_str(), kind, perm, st.st_rdev)?;
                fchownat(
                    Some(dst),
                    name.as_os_str(),
                    Some(st.st_uid.into()),
                    Some(st.st_gid.into()),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                nix::sys::stat::fchmodat(
                    Some(dst),
                    name.as_os_str(),
                    perm,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )?;
                set_times(dst, &name, &st)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a descriptor it just opened and owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Owner, mode, times and extended attributes of `src` onto `dst` (both open descriptors).
fn copy_meta_fd(src: RawFd, dst: RawFd) -> io::Result<()> {
    let st = nix::sys::stat::fstat(src)?;
    copy_xattrs(src, dst)?;
    nix::unistd::fchown(dst, Some(st.st_uid.into()), Some(st.st_gid.into()))?;
    // After the chown, which clears setuid and setgid bits.
    nix::sys::stat::fchmod(dst, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    let times = [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ];
    // SAFETY: futimens reads two timespecs from a valid array.
    if unsafe { libc::futimens(dst, times.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_times(dir: RawFd, name: &OsStr, st: &libc::stat) -> io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ];
    let c = CString::new(name.as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid C string and two timespecs.
    let r = unsafe { libc::utimensat(dir, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Extended attributes of one open file onto another (`security.capability` of an image's
/// binaries among them). Attributes the destination filesystem refuses are skipped.
fn copy_xattrs(src: RawFd, dst: RawFd) -> io::Result<()> {
    let mut names = vec![0u8; 4096];
    // SAFETY: flistxattr writes at most names.len() bytes into the buffer.
    let n = unsafe { libc::flistxattr(src, names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(()),
            _ => Err(e),
        };
    }
    names.truncate(n as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).map_err(io::Error::other)?;
        let mut value = vec![0u8; 64 * 1024];
        // SAFETY: fgetxattr writes at most value.len() bytes.
        let len =
            unsafe { libc::fgetxattr(src, cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        if len < 0 {
            continue;
        }
        // SAFETY: fsetxattr reads len bytes from value.
        let r =
            unsafe { libc::fsetxattr(dst, cname.as_ptr(), value.as_ptr().cast(), len as usize, 0) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The directory `subpath` inside a volume's data, which must exist and be reached without
/// any symlink (so that the path handed to the runtime is the directory that was checked).
pub fn subpath(data: &Path, subpath: &str) -> io::Result<PathBuf> {
    let root = open_dir(data)?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let fd = openat2(root.as_raw_fd(), subpath, how).map_err(io::Error::from)?;
    drop(own(fd));
    Ok(data.join(subpath))
}

/// `:U`: the volume's root directory goes to the container's user (as Podman's `:U`), so a
/// program that runs as that user can write to it.
pub fn chown_root(data: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(data, Some(uid), Some(gid))
}

#[cfg(test)]
mod tests;
