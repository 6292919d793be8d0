//! Id-mapped mounts (Linux 5.12 and later): a copy of a directory's mount whose files appear
//! with their owners mapped (`-v /src:/dst:idmap=uids=0-1000-1;gids=0-1000-1`), made by berthd
//! and handed to the runtime as the source of an ordinary bind, which keeps the mapping. So it
//! works whichever runtime runs the container; berth gives containers no user namespace of
//! their own, so the mapping is the one the user gave.
//!
//! The kernel takes a mapping from a user namespace: a short-lived child process makes one, its
//! `uid_map`/`gid_map` are written, and its namespace is held by descriptor while the mount is
//! made. `open_tree(OPEN_TREE_CLONE)`, `mount_setattr(MOUNT_ATTR_IDMAP)` and `move_mount` put
//! the mapped copy in place. libc has no wrappers for those three, so they are raw syscalls.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::mount::IdMap;

// The kernel's ABI (include/uapi/linux/mount.h).
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("path with a NUL byte"))
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// `uid_map`/`gid_map` lines for `ranges`.
pub fn map_lines(ranges: &[(u32, u32, u32)]) -> String {
    ranges
        .iter()
        .map(|(inside, outside, n)| format!("{inside} {outside} {n}\n"))
        .collect()
}

/// A user namespace with `map`, held by descriptor.
///
/// The child only calls unshare, read, write and _exit between fork and its end, as a child
/// of a multi-threaded process must.
fn user_namespace(map: &IdMap) -> io::Result<OwnedFd> {
    let mut ready = [0; 2];
    let mut done = [0; 2];
    // SAFETY: pipe2 fills the arrays we own.
    unsafe {
        if libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::pipe2(done.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            libc::close(ready[0]);
            libc::close(ready[1]);
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: the child below sticks to async-signal-safe calls and ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe {
            // The parent's ends, so that its closing `done` is an end of file here.
            libc::close(ready[0]);
            libc::close(done[1]);
            let ok: u8 = if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                1
            } else {
                0
            };
            libc::write(ready[1], &ok as *const u8 as *const libc::c_void, 1);
            let mut b = 0u8;
            libc::read(done[0], &mut b as *mut u8 as *mut libc::c_void, 1);
            libc::_exit(0);
        }
    }
    // SAFETY: the parent's ends; each closed exactly once below.
    unsafe {
        libc::close(ready[1]);
        libc::close(done[0]);
    }
    let finish = |pid: libc::pid_t| {
        // SAFETY: closing our end lets the child end; we reap our own child.
        unsafe {
            libc::close(done[1]);
            libc::close(ready[0]);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    };
    if pid < 0 {
        let e = io::Error::last_os_error();
        finish(-1);
        return Err(e);
    }
    let mut ok = 0u8;
    // SAFETY: reading one byte into a byte we own.
    let n = unsafe { libc::read(ready[0], &mut ok as *mut u8 as *mut libc::c_void, 1) };
    let made = (|| {
        if n != 1 || ok != 1 {
            return Err(io::Error::other(
                "making a user namespace for the id mapping",
            ));
        }
        std::fs::write(format!("/proc/{pid}/uid_map"), map_lines(&map.uids))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map_lines(&map.gids))?;
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user"))?;
        Ok(OwnedFd::from(f))
    })();
    finish(pid);
    made
}

/// Mounts an id-mapped copy of the mount at `source` on the directory `at`.
pub fn mount_idmapped(source: &Path, at: &Path, map: &IdMap) -> io::Result<()> {
    let userns = user_namespace(map)?;
    let src = cpath(source)?;
    // SAFETY: raw syscalls on a path we own as a C string; the descriptor is new.
    let tree = unsafe {
        check(libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        ))
        .map(|fd| OwnedFd::from_raw_fd(fd as i32))?
    };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `attr` outlives the call, its size is passed.
    unsafe {
        check(libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ))
    }
    .map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "id-mapping {} (the kernel or its filesystem cannot): {e}",
                source.display()
            ),
        )
    })?;
    let to = cpath(at)?;
    // SAFETY: as above.
    unsafe {
        check(libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        ))
    }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn files_appear_with_their_owners_mapped() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting needs root");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (src, at) = (t.path().join("src"), t.path().join("at"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&at).unwrap();
        std::fs::write(src.join("f"), "x").unwrap();
        std::os::unix::fs::chown(src.join("f"), Some(1000), Some(1000)).unwrap();
        let map = IdMap {
            uids: vec![(1000, 0, 1)],
            gids: vec![(1000, 0, 1)],
        };
        if let Err(e) = mount_idmapped(&src, &at, &map) {
            eprintln!("skipped: no id-mapped mounts here: {e}");
            return;
        }
        let m = std::fs::metadata(at.join("f")).unwrap();
        let orig = std::fs::metadata(src.join("f")).unwrap();
        nix::mount::umount2(&at, nix::mount::MntFlags::MNT_DETACH).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0));
        assert_eq!(orig.uid(), 1000);
        assert_eq!(
            map_lines(&[(0, 1000, 10), (10, 5, 1)]),
            "0 1000 10\n10 5 1\n"
        );
    }
}
