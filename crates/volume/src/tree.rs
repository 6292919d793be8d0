//! Walking directory trees by descriptor, never by path: the copy of an image's content into a
//! volume, the `U` ownership change, and looking a path up inside a container's root. Every
//! step is an `*at` call relative to a directory already open, with `O_NOFOLLOW`, so that a
//! symlink in an image (or planted in a volume) can never lead the walk outside the tree it
//! was given.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// A name for the `*at` calls.
pub fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("name with a NUL byte"))
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: every caller passes a descriptor it has just received from the kernel.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Opens a directory by path (the trusted start of a walk).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(owned(fd))
}

/// `path` inside the directory `root`, as the runtime resolves a mount destination
/// (`openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`): symlinks are followed but stay
/// inside `root`, so `/data -> /etc` in an image is the image's `/etc`. `None` when it does
/// not exist.
pub fn open_in_root(root: &OwnedFd, path: &str, flags: OFlag) -> io::Result<Option<OwnedFd>> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    match nix::fcntl::openat2(root.as_raw_fd(), rel, how) {
        Ok(fd) => Ok(Some(owned(fd))),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The host path an open descriptor stands for (`/proc/self/fd/N`).
pub fn fd_path(fd: &OwnedFd) -> io::Result<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Whether the directory holds nothing.
pub fn is_empty_dir(path: &Path) -> io::Result<bool> {
    Ok(std::fs::read_dir(path)?.next().is_none())
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the entry itself, a link as a link.
pub fn fstatat(dir: &OwnedFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: fstatat fills the zeroed struct we own; `name` is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

pub fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
    // SAFETY: as above.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// `openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC)`.
pub fn openat(dir: &OwnedFd, name: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: a plain openat relative to a descriptor we hold.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            mode,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned(fd))
}

/// A libc call's result as an `io::Result`.
pub fn check(r: libc::c_int) -> io::Result<()> {
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The names in a directory, without `.` and `..`.
pub fn entries(dir: &OwnedFd) -> io::Result<Vec<CString>> {
    // A fresh open of "." rather than a dup: a dup would share (and move) `dir`'s offset.
    let fresh = openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut d = Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(fresh))?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let name = e.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        out.push(name.to_owned());
    }
    Ok(out)
}

/// Calls `f` (a `*xattr` call) with a buffer, growing it while the kernel says it is too
/// small; `None` when the filesystem has no such attributes.
fn read_sized(mut f: impl FnMut(&mut [u8]) -> isize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 1024];
    loop {
        let n = f(&mut buf);
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP | libc::ENODATA) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Extended attributes of an open file, copied onto another. Attributes the destination's
/// filesystem does not take are left out, as Docker's copy leaves them.
fn copy_xattrs(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let fd = src.as_raw_fd();
    // SAFETY: each call writes at most the length of the buffer it is given.
    let names = read_sized(|b| unsafe {
        libc::flistxattr(fd, b.as_mut_ptr() as *mut libc::c_char, b.len())
    })?;
    for name in names
        .iter()
        .flat_map(|n| n.split(|b| *b == 0))
        .filter(|n| !n.is_empty())
    {
        let cname = CString::new(name).expect("split at NULs");
        // SAFETY: as above.
        let value = read_sized(|b| unsafe {
            libc::fgetxattr(
                fd,
                cname.as_ptr(),
                b.as_mut_ptr() as *mut libc::c_void,
                b.len(),
            )
        })?;
        let Some(value) = value else { continue };
        // SAFETY: the value outlives the call.
        let r = unsafe {
            libc::fsetxattr(
                dst.as_raw_fd(),
                cname.as_ptr(),
                value.as_ptr() as *const libc::c_void,
                value.len(),
                0,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::ENOTSUP)) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Owner, mode, extended attributes and times of `st` onto the open `dst`; the owner first,
/// since a chown clears the set-id bits.
fn apply_meta(src: &OwnedFd, st: &libc::stat, dst: &OwnedFd) -> io::Result<()> {
    // SAFETY: plain calls on descriptors we hold.
    check(unsafe { libc::fchown(dst.as_raw_fd(), st.st_uid, st.st_gid) })?;
    check(unsafe { libc::fchmod(dst.as_raw_fd(), st.st_mode & 0o7777) })?;
    copy_xattrs(src, dst)?;
    set_times(dst.as_raw_fd(), None, st)
}

fn set_times(dir: RawFd, name: Option<&CStr>, st: &libc::stat) -> io::Result<()> {
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
    // SAFETY: `times` lives across the call; a None name means the descriptor itself.
    let r = unsafe {
        match name {
            Some(n) => libc::utimensat(dir, n.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW),
            None => libc::futimens(dir, times.as_ptr()),
        }
    };
    check(r)
}

fn copy_data(src: &OwnedFd, dst: &OwnedFd, len: u64) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        // SAFETY: null offsets: both descriptors' own positions advance.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                left.min(1 << 30) as usize,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.raw_os_error(),
                Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL)
            ) {
                return copy_by_reading(src, dst);
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        left -= n as u64;
    }
    Ok(())
}

fn copy_by_reading(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let mut r = std::fs::File::from(src.try_clone()?);
    let mut w = std::fs::File::from(dst.try_clone()?);
    io::copy(&mut r, &mut w).map(drop)
}

/// Copies everything in the directory `src` into the empty directory `dst`, with owners,
/// modes, times, extended attributes, symlinks (as links, never followed), device nodes,
/// fifos and hard links (as links between the copies), and gives `dst` itself `src`'s
/// owner, mode and attributes, as Docker's copy-up does (containerd's `fs.CopyDir`).
/// Sockets are left out.
pub fn copy_tree(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let mut links = HashMap::new();
    copy_dir(src, dst, dst, &mut Vec::new(), &mut links)?;
    let st = fstat(src)?;
    apply_meta(src, &st, dst)
}

type Inodes = HashMap<(u64, u64), Vec<u8>>;

fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    dst_root: &OwnedFd,
    rel: &mut Vec<u8>,
    links: &mut Inodes,
) -> io::Result<()> {
    for name in entries(src)? {
        let st = fstatat(src, &name)?;
        let rel_len = rel.len();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name.to_bytes());
        let r = copy_entry(src, dst, dst_root, &name, &st, rel, links);
        rel.truncate(rel_len);
        r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", name.to_string_lossy())))?;
    }
    Ok(())
}

fn copy_entry(
    src: &OwnedFd,
    dst: &OwnedFd,
    dst_root: &OwnedFd,
    name: &CStr,
    st: &libc::stat,
    rel: &mut Vec<u8>,
    links: &mut Inodes,
) -> io::Result<()> {
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFDIR && st.st_nlink > 1 {
        if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
            let first = CString::new(first.clone()).expect("names hold no NUL");
            // SAFETY: both names are relative to descriptors we hold; the first copy's path
            // is made of directories this copy made.
            return check(unsafe {
                libc::linkat(
                    dst_root.as_raw_fd(),
                    first.as_ptr(),
                    dst.as_raw_fd(),
                    name.as_ptr(),
                    0,
                )
            });
        }
        links.insert((st.st_dev, st.st_ino), rel.clone());
    }
    match kind {
        libc::S_IFDIR => {
            // SAFETY: mkdirat relative to a descriptor we hold.
            check(unsafe { libc::mkdirat(dst.as_raw_fd(), name.as_ptr(), 0o700) })?;
            let s = openat(src, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            let d = openat(dst, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            copy_dir(&s, &d, dst_root, rel, links)?;
            apply_meta(&s, st, &d)
        }
        libc::S_IFREG => {
            let s = openat(src, name, libc::O_RDONLY, 0)?;
            let d = openat(
                dst,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            )?;
            copy_data(&s, &d, st.st_size as u64)?;
            apply_meta(&s, st, &d)
        }
        libc::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(src.as_raw_fd()), name)?;
            let target = cstr(&target)?;
            // SAFETY: plain *at calls relative to descriptors we hold.
            check(unsafe { libc::symlinkat(target.as_ptr(), dst.as_raw_fd(), name.as_ptr()) })?;
            check(unsafe {
                libc::fchownat(
                    dst.as_raw_fd(),
                    name.as_ptr(),
                    st.st_uid,
                    st.st_gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
            set_times(dst.as_raw_fd(), Some(name), st)
        }
        libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
            // SAFETY: as above; the node is made by this copy, so the chmod reaches it.
            check(unsafe {
                libc::mknodat(dst.as_raw_fd(), name.as_ptr(), st.st_mode, st.st_rdev)
            })?;
            check(unsafe {
                libc::fchownat(
                    dst.as_raw_fd(),
                    name.as_ptr(),
                    st.st_uid,
                    st.st_gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
            check(unsafe {
                libc::fchmodat(dst.as_raw_fd(), name.as_ptr(), st.st_mode & 0o7777, 0)
            })?;
            set_times(dst.as_raw_fd(), Some(name), st)
        }
        // A socket is a live endpoint of a process in the image's build; nothing to copy.
        _ => Ok(()),
    }
}

/// Gives everything under the open directory `dir` (and `dir` itself) to `uid:gid`, links
/// included as links (`lchown`), never following one.
pub fn chown_tree(dir: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    for name in entries(dir)? {
        let st = fstatat(dir, &name)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let d = openat(dir, &name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            chown_tree(&d, uid, gid)?;
        } else if st.st_uid != uid || st.st_gid != gid {
            // SAFETY: relative to a descriptor we hold, not following a link.
            check(unsafe {
                libc::fchownat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    uid,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
    }
    let st = fstat(dir)?;
    if st.st_uid != uid || st.st_gid != gid {
        // SAFETY: as above.
        check(unsafe { libc::fchown(dir.as_raw_fd(), uid, gid) })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
