//! Reading out of a container: `HEAD` (the stat) and `GET /containers/{id}/archive`.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::OFlag;
use serde::Serialize;

use super::{lstat_at, open_at, resolve, split, CpError};

/// `X-Docker-Container-Path-Stat`: what the path is, Go's `FileMode` bits and all.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` for a `st_mode`: permission bits plus Go's type and special bits.
pub(super) fn go_mode(m: u32) -> u32 {
    let mut mode = m & 0o777;
    mode |= match m & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if m & libc::S_ISUID != 0 {
        mode |= 1 << 23;
    }
    if m & libc::S_ISGID != 0 {
        mode |= 1 << 22;
    }
    if m & libc::S_ISVTX != 0 {
        mode |= 1 << 20;
    }
    mode
}

fn mtime(st: &libc::stat) -> String {
    chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn readlink_at(dir: &OwnedFd, name: &[u8]) -> io::Result<Vec<u8>> {
    let n = super::cstr(name)?;
    nix::fcntl::readlinkat(Some(dir.as_raw_fd()), n.as_c_str())
        .map(|s| s.as_bytes().to_vec())
        .map_err(io::Error::from)
}

/// Joins and cleans a container path lexically (`..` stops at `/`).
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The parent directory of `path` in the container, and the name in it.
fn locate(root: &OwnedFd, path: &str) -> Result<(OwnedFd, String), CpError> {
    let (dir, base) = split(path);
    let parent = resolve(root, &dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?
        .ok_or_else(|| CpError::NotFound(path.to_string()))?;
    Ok((parent, base))
}

fn stat_name(parent: &OwnedFd, base: &str) -> Result<libc::stat, CpError> {
    let name = if base == "." { "" } else { base };
    lstat_at(parent, name.as_bytes()).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => CpError::NotFound(String::new()),
        _ => CpError::Io(e),
    })
}

/// The stat `docker cp` asks for first. A symlink's `linkTarget` is where it leads inside the
/// container, followed to the end (as far as 40 links).
pub fn stat(root: &OwnedFd, path: &str) -> Result<PathStat, CpError> {
    let not_found = |e: CpError| match e {
        CpError::NotFound(_) => CpError::NotFound(path.to_string()),
        e => e,
    };
    let (parent, base) = locate(root, path)?;
    let st = stat_name(&parent, &base).map_err(not_found)?;
    let mut link_target = String::new();
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        let mut at = clean(path);
        for _ in 0..40 {
            // A link to nothing still says where it leads.
            let Ok((p, b)) = locate(root, &at) else { break };
            let Ok(s) = stat_name(&p, &b) else { break };
            if s.st_mode & libc::S_IFMT != libc::S_IFLNK {
                break;
            }
            let t = String::from_utf8_lossy(&readlink_at(&p, b.as_bytes())?).into_owned();
            at = if t.starts_with('/') {
                clean(&t)
            } else {
                clean(&format!("{}/{t}", split(&at).0))
            };
        }
        link_target = at;
    }
    let name = if base == "." && path.trim_end_matches(['/', '.']).is_empty() {
        "/".to_string()
    } else {
        base.clone()
    };
    Ok(PathStat {
        name,
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: mtime(&st),
        link_target,
    })
}

/// Writes `path` (a file, a link, or a directory and everything under it) to `out` as a tar,
/// its entries named from the path's last name, as dockerd names them.
pub fn archive(root: &OwnedFd, path: &str, out: &mut dyn Write) -> Result<(), CpError> {
    let (parent, base) = locate(root, path)?;
    let st = stat_name(&parent, &base).map_err(|_| CpError::NotFound(path.to_string()))?;
    let mut tar = tar::Builder::new(out);
    let name = if base == "." { "" } else { base.as_str() };
    add(&mut tar, &parent, name.as_bytes(), &st, &base)?;
    tar.finish()?;
    Ok(())
}

fn header(st: &libc::stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid.into());
    h.set_gid(st.st_gid.into());
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// One entry, and for a directory what it holds. `name` is relative to `dir` (empty for
/// `dir` itself); every open is `O_NOFOLLOW`, so what is a link is archived as a link.
fn add(
    tar: &mut tar::Builder<&mut dyn Write>,
    dir: &OwnedFd,
    name: &[u8],
    st: &libc::stat,
    tar_name: &str,
) -> Result<(), CpError> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            let mut h = header(st, tar::EntryType::Directory);
            tar.append_data(&mut h, format!("{tar_name}/"), io::empty())?;
            let fd = if name.is_empty() {
                open_at(dir, b".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?
            } else {
                open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?
            };
            let mut children: Vec<Vec<u8>> = berth_volume::tree::entries(&fd)?
                .into_iter()
                .map(|n| n.into_bytes())
                .collect();
            children.sort();
            for child in children {
                let Ok(cst) = lstat_at(&fd, &child) else {
                    // Gone meanwhile.
                    continue;
                };
                let child_name = format!("{tar_name}/{}", String::from_utf8_lossy(&child));
                add(tar, &fd, &child, &cst, &child_name)?;
            }
        }
        libc::S_IFREG => {
            let f = std::fs::File::from(open_at(dir, name, libc::O_RDONLY, 0)?);
            let now = std::os::unix::fs::MetadataExt::size(&f.metadata()?);
            let mut h = header(st, tar::EntryType::Regular);
            h.set_size(now);
            // Exactly the size the header says, whatever the file does meanwhile.
            let data = f.take(now).chain(io::repeat(0)).take(now);
            tar.append_data(&mut h, tar_name, data)?;
        }
        libc::S_IFLNK => {
            let target = readlink_at(dir, name)?;
            let mut h = header(st, tar::EntryType::Symlink);
            tar.append_link(&mut h, tar_name, std::ffi::OsStr::from_bytes(&target))?;
        }
        kind @ (libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO) => {
            let t = match kind {
                libc::S_IFCHR => tar::EntryType::Char,
                libc::S_IFBLK => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            };
            let mut h = header(st, t);
            h.set_device_major(libc::major(st.st_rdev))?;
            h.set_device_minor(libc::minor(st.st_rdev))?;
            tar.append_data(&mut h, tar_name, io::empty())?;
        }
        // Sockets are left out, as dockerd leaves them out.
        _ => {}
    }
    Ok(())
}
