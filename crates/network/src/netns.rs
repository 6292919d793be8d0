//! Network namespaces that berthd makes for containers: created on a throwaway thread (a
//! namespace change is per thread, and berthd's other threads must stay in the host's), held
//! open by a bind mount at a path in the exec root, and handed to the runtime by that path.
//!
//! Making one takes the kernel about a millisecond (every per-namespace subsystem sets itself
//! up), so a [`SparePool`] keeps one made ahead: a start takes it with a bind mount and the
//! next is made after the container is running, off the start's path.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Creates a network namespace with its loopback interface up, bound at `path`.
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        loopback_up()?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("network namespace thread panicked"))?;
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(io::Error::other(format!("creating network namespace: {e}")));
    }
    Ok(())
}

/// Releases a namespace made by [`create`]; it ends once no process uses it.
pub fn remove(path: &Path) -> io::Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Namespaces made ahead of need, bound at `<dir>/spare-<n>` (container namespaces are named by
/// container ID there, so the two never meet). A spare is as fresh as a new one: nothing enters
/// it before a container takes it.
#[derive(Debug)]
pub struct SparePool {
    dir: PathBuf,
    size: usize,
    spares: Mutex<Vec<PathBuf>>,
    next: AtomicU64,
}

const SPARE_PREFIX: &str = "spare-";

impl SparePool {
    /// A pool keeping `size` spares in `dir`. Spares a previous berthd left there (it was
    /// killed) are released first; none is made until [`SparePool::refill`].
    pub fn new(dir: &Path, size: usize) -> SparePool {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(SPARE_PREFIX) {
                    let _ = remove(&e.path());
                }
            }
        }
        SparePool {
            dir: dir.to_path_buf(),
            size,
            spares: Mutex::new(Vec::new()),
            next: AtomicU64::new(0),
        }
    }

    /// Binds a fresh namespace at `path`: a spare if there is one, else a new one.
    pub fn take(&self, path: &Path) -> io::Result<()> {
        let spare = self.spares.lock().unwrap().pop();
        let Some(spare) = spare else {
            return create(path);
        };
        let moved = std::fs::File::create(path).and_then(|_| {
            mount(
                Some(&spare),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(io::Error::from)
        });
        // The spare's own mount goes either way: on success the namespace lives on at `path`.
        let _ = remove(&spare);
        match moved {
            Ok(()) => Ok(()),
            Err(_) => {
                let _ = std::fs::remove_file(path);
                create(path)
            }
        }
    }

    /// Whether the pool has all its spares.
    pub fn is_full(&self) -> bool {
        self.spares.lock().unwrap().len() >= self.size
    }

    /// Makes spares until there are `size`. Blocking: call it from a spare thread.
    pub fn refill(&self) -> io::Result<()> {
        loop {
            if self.is_full() {
                return Ok(());
            }
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let path = self.dir.join(format!("{SPARE_PREFIX}{n}"));
            create(&path)?;
            let mut spares = self.spares.lock().unwrap();
            if spares.len() >= self.size {
                // Another refill got there first.
                drop(spares);
                return remove(&path);
            }
            spares.push(path);
        }
    }

    /// Releases every spare (at shutdown: nothing of berthd's stays mounted).
    pub fn drain(&self) {
        for p in self.spares.lock().unwrap().drain(..) {
            let _ = remove(&p);
        }
    }

    /// Whether `path` is one of the pool's spares rather than a container's namespace.
    pub fn is_spare(path: &Path) -> bool {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(SPARE_PREFIX))
    }
}

/// Sets IFF_UP on `lo` in the calling thread's namespace; an ioctl, since that is all it takes.
fn loopback_up() -> io::Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value for it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own for the call's duration.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_with_loopback_up_comes_and_goes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ns");
        create(&p).unwrap();
        let host = std::fs::read_link("/proc/self/ns/net").unwrap();
        let ino = std::fs::metadata(&p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        assert_ne!(format!("net:[{ino}]"), host.display().to_string());
        remove(&p).unwrap();
        assert!(!p.exists());
        remove(&p).unwrap();
    }

    fn ns_id(p: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
    }

    fn is_mountpoint(p: &Path) -> bool {
        let line = format!(" {} ", p.display());
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.contains(&line))
    }

    #[test]
    fn a_spare_is_handed_over_once_and_the_pool_leaves_nothing_mounted() {
        let dir = tempfile::tempdir().unwrap();
        let pool = SparePool::new(dir.path(), 1);
        // Empty: a take makes a namespace of its own.
        let a = dir.path().join("a");
        pool.take(&a).unwrap();
        assert!(!pool.is_full());
        pool.refill().unwrap();
        pool.refill().unwrap();
        assert!(pool.is_full());
        let spares: Vec<PathBuf> = pool.spares.lock().unwrap().clone();
        assert_eq!(spares.len(), 1);
        let spare_ns = ns_id(&spares[0]);
        assert!(SparePool::is_spare(&spares[0]));
        assert!(!SparePool::is_spare(&a));

        let b = dir.path().join("b");
        pool.take(&b).unwrap();
        assert_eq!(ns_id(&b), spare_ns, "the spare is the one handed over");
        assert_ne!(ns_id(&a), ns_id(&b));
        assert!(!spares[0].exists() && !is_mountpoint(&spares[0]));
        // The pool is empty again: the next take makes a new namespace.
        let c = dir.path().join("c");
        pool.take(&c).unwrap();
        assert_ne!(ns_id(&c), spare_ns);

        pool.refill().unwrap();
        pool.drain();
        for p in [&a, &b, &c] {
            remove(p).unwrap();
        }
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        assert!(!std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&dir.path().display().to_string()));
    }

    #[test]
    fn spares_left_by_a_killed_daemon_are_released() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join("spare-7");
        create(&left).unwrap();
        let container = dir.path().join("0123abcd");
        create(&container).unwrap();
        let _pool = SparePool::new(dir.path(), 1);
        assert!(!left.exists() && !is_mountpoint(&left));
        assert!(
            is_mountpoint(&container),
            "a container's namespace is not the pool's"
        );
        remove(&container).unwrap();
    }
}
