//! Writing into a container: `PUT /containers/{id}/archive`, a tar unpacked into a directory.
//! Entries are confined to that directory: a name with `..` is refused, an absolute one is
//! taken as relative, a directory on the way that is a symlink is followed only inside the
//! container's root, and the last name is created with `O_NOFOLLOW`/`O_EXCL` (or `*at` calls
//! that never follow it), so an entry can replace a link but never write through one.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;

use berth_volume::tree::check;

use super::{cstr, lstat_at, open_at, resolve, CpError};

#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: a directory must not replace a non-directory, nor the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID` (`cp -a`): owners from the archive; otherwise the container's root.
    pub copy_uid_gid: bool,
}

/// The entry's name split into components, or why it is refused.
fn components(raw: &[u8]) -> Result<Vec<Vec<u8>>, CpError> {
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(CpError::Invalid(format!(
                    "refusing to unpack {:?}: it leads outside the extraction point",
                    String::from_utf8_lossy(raw)
                )))
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

/// Unpacks the tar on `input` into `dest` (a directory in the container).
pub fn extract(
    root: &OwnedFd,
    dest: &str,
    input: impl Read,
    opts: ExtractOptions,
) -> Result<(), CpError> {
    let dest_fd =
        resolve(root, dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(|e| match &e {
            CpError::Io(io) if io.raw_os_error() == Some(libc::ENOTDIR) => {
                CpError::Invalid("extraction point is not a directory".into())
            }
            _ => e,
        })?;
    let Some(dest_fd) = dest_fd else {
        return match resolve(root, dest, OFlag::O_PATH)? {
            Some(_) => Err(CpError::Invalid(
                "extraction point is not a directory".into(),
            )),
            None => Err(CpError::NotFound(dest.to_string())),
        };
    };
    let mut tar = tar::Archive::new(input);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let name = entry.path_bytes().to_vec();
        let parts = components(&name)?;
        let Some((last, dirs)) = parts.split_last() else {
            // The archive's `./`: the extraction point itself.
            continue;
        };
        let parent = walk(root, dest, &dest_fd, dirs)?;
        unpack(&parent, last, &mut entry, &dest_fd, opts)?;
    }
    Ok(())
}

/// The directory `dirs` leads to under `dest`, made where missing. A component that is a
/// symlink is followed inside the container's root only.
fn walk(
    root: &OwnedFd,
    dest: &str,
    dest_fd: &OwnedFd,
    dirs: &[Vec<u8>],
) -> Result<OwnedFd, CpError> {
    let mut cur = dest_fd.try_clone()?;
    for (i, d) in dirs.iter().enumerate() {
        match lstat_at(&cur, d) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let n = cstr(d)?;
                // SAFETY: mkdirat with a NUL-terminated name.
                check(unsafe { libc::mkdirat(cur.as_raw_fd(), n.as_ptr(), 0o755) })?;
            }
            Err(e) => return Err(e.into()),
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                let rel: Vec<String> = dirs[..=i]
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                let full = format!("{}/{}", dest.trim_end_matches('/'), rel.join("/"));
                cur = resolve(root, &full, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?
                    .ok_or_else(|| CpError::NotFound(full.clone()))?;
                continue;
            }
            Ok(_) => {}
        }
        cur = open_at(&cur, d, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    }
    Ok(cur)
}

fn unpack<R: Read>(
    dir: &OwnedFd,
    name: &[u8],
    entry: &mut tar::Entry<R>,
    dest_fd: &OwnedFd,
    opts: ExtractOptions,
) -> Result<(), CpError> {
    let kind = entry.header().entry_type();
    let shown = String::from_utf8_lossy(name).into_owned();
    let existing = lstat_at(dir, name).ok();
    let existing_dir = existing.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    let n = cstr(name)?;
    let raw = dir.as_raw_fd();
    if kind.is_dir() {
        if existing.is_some() && !existing_dir {
            if opts.no_overwrite_dir_non_dir {
                return Err(CpError::Invalid(format!(
                    "cannot overwrite non-directory {shown:?} with directory"
                )));
            }
            // SAFETY: unlinkat with a NUL-terminated name.
            check(unsafe { libc::unlinkat(raw, n.as_ptr(), 0) })?;
        }
        if !existing_dir {
            // SAFETY: mkdirat with a NUL-terminated name.
            check(unsafe { libc::mkdirat(raw, n.as_ptr(), 0o755) })?;
        }
    } else {
        if existing_dir {
            if opts.no_overwrite_dir_non_dir {
                return Err(CpError::Invalid(format!(
                    "cannot overwrite directory {shown:?} with non-directory"
                )));
            }
            // An empty directory gives way; one with content is an error, not a loss.
            // SAFETY: unlinkat with a NUL-terminated name.
            check(unsafe { libc::unlinkat(raw, n.as_ptr(), libc::AT_REMOVEDIR) })?;
        } else if existing.is_some() {
            // SAFETY: unlinkat with a NUL-terminated name.
            check(unsafe { libc::unlinkat(raw, n.as_ptr(), 0) })?;
        }
        create(dir, name, entry, dest_fd)?;
    }
    set_meta(dir, name, entry.header(), kind, opts)
}

fn create<R: Read>(
    dir: &OwnedFd,
    name: &[u8],
    entry: &mut tar::Entry<R>,
    dest_fd: &OwnedFd,
) -> Result<(), CpError> {
    let n = cstr(name)?;
    let raw = dir.as_raw_fd();
    let h = entry.header();
    match h.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let fd = open_at(
                dir,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                0o600,
            )?;
            let mut f = std::fs::File::from(fd);
            io::copy(entry, &mut f)?;
        }
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| CpError::Invalid("symlink without a target".into()))?;
            let t = cstr(&target)?;
            // SAFETY: symlinkat with NUL-terminated strings; the link is made, never followed.
            check(unsafe { libc::symlinkat(t.as_ptr(), raw, n.as_ptr()) })?;
        }
        tar::EntryType::Link => {
            // A hard link names another entry of the archive, under the extraction point.
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| CpError::Invalid("hard link without a target".into()))?;
            let parts = components(&target)?;
            let Some((last, dirs)) = parts.split_last() else {
                return Err(CpError::Invalid("hard link to the extraction point".into()));
            };
            let mut from = dest_fd.try_clone()?;
            for d in dirs {
                from = open_at(&from, d, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
            }
            let l = cstr(last)?;
            // SAFETY: linkat without AT_SYMLINK_FOLLOW links the entry itself.
            check(unsafe { libc::linkat(from.as_raw_fd(), l.as_ptr(), raw, n.as_ptr(), 0) })?;
        }
        t @ (tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo) => {
            let kind = match t {
                tar::EntryType::Char => libc::S_IFCHR,
                tar::EntryType::Block => libc::S_IFBLK,
                _ => libc::S_IFIFO,
            };
            let dev = libc::makedev(
                h.device_major()?.unwrap_or(0),
                h.device_minor()?.unwrap_or(0),
            );
            // SAFETY: mknodat with a NUL-terminated name.
            check(unsafe { libc::mknodat(raw, n.as_ptr(), kind | 0o600, dev) })?;
        }
        t => {
            return Err(CpError::Invalid(format!(
                "unsupported tar entry type {t:?} for {:?}",
                String::from_utf8_lossy(name)
            )))
        }
    }
    Ok(())
}

/// Owner, mode and modification time, all set on the entry itself, never through a link.
fn set_meta(
    dir: &OwnedFd,
    name: &[u8],
    h: &tar::Header,
    kind: tar::EntryType,
    opts: ExtractOptions,
) -> Result<(), CpError> {
    let n = cstr(name)?;
    let raw = dir.as_raw_fd();
    let (uid, gid) = if opts.copy_uid_gid {
        // An empty numeric field is 0, as Go's archive/tar reads it.
        (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32)
    } else {
        (0, 0)
    };
    // SAFETY: fchownat/fchmodat/utimensat with a NUL-terminated name and no following.
    unsafe {
        check(libc::fchownat(
            raw,
            n.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        ))?;
        if !kind.is_symlink() {
            // chmod has no form that refuses a link: the entry is opened without following
            // and changed through its descriptor, so a link swapped in is never followed.
            let fd = open_at(dir, name, libc::O_PATH, 0)?;
            let via = cstr(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_bytes())?;
            if lstat_at(&fd, b"")?.st_mode & libc::S_IFMT != libc::S_IFLNK {
                check(libc::chmod(via.as_ptr(), h.mode()? & 0o7777))?;
            }
        }
        let t = libc::timespec {
            tv_sec: h.mtime().unwrap_or(0) as libc::time_t,
            tv_nsec: 0,
        };
        let times = [t, t];
        check(libc::utimensat(
            raw,
            n.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        ))?;
    }
    Ok(())
}
