//! The kernel calls of the volume store, behind [`Kernel`] so that the store's logic is tested
//! without root ([`Recorder`]); the real calls are [`Linux`]'s. And [`is_mountpoint`], which
//! the container's rootfs uses too.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// What the local driver asks of the kernel: mounting a volume's device (`-o type=… device=…
/// o=…`) on its `_data` directory, and taking it down.
pub trait Kernel: Send + Sync {
    /// mount(2) of `device` (type `fstype`) on `target`, with `options` in mount(8)'s
    /// words: flags (`ro`, `bind`, `nosuid`, …) and filesystem data (`size=64m`).
    fn mount(&self, device: &str, target: &Path, fstype: &str, options: &str) -> io::Result<()>;
    /// Unmounts `target`; nothing mounted there is not an error.
    fn unmount(&self, target: &Path) -> io::Result<()>;
    fn is_mounted(&self, target: &Path) -> bool;
    /// An id-mapped copy of the mount at `source`, mounted on `at` (see [`crate::idmap`]).
    fn idmapped_bind(&self, source: &Path, at: &Path, map: &crate::mount::IdMap) -> io::Result<()>;
}

/// The real calls.
pub struct Linux;

impl Kernel for Linux {
    fn mount(&self, device: &str, target: &Path, fstype: &str, options: &str) -> io::Result<()> {
        let (flags, data) = mount_options(options);
        let propagation =
            MsFlags::MS_SHARED | MsFlags::MS_PRIVATE | MsFlags::MS_SLAVE | MsFlags::MS_UNBINDABLE;
        let main = flags & !propagation;
        let fstype = (!fstype.is_empty() && fstype != "none").then_some(fstype);
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(Some(device), target, fstype, main, data).map_err(io::Error::from)?;
        // A bind takes its flags (ro, nosuid, …) only on a remount, as mount(8) does it.
        let extra = main & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if main.contains(MsFlags::MS_BIND) && !extra.is_empty() {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                main | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(io::Error::from)?;
        }
        if flags.intersects(propagation) {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                flags & (propagation | MsFlags::MS_REC),
                None::<&str>,
            )
            .map_err(io::Error::from)?;
        }
        Ok(())
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        match umount2(target, MntFlags::empty()) {
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
            Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from),
            Err(e) => Err(e.into()),
        }
    }

    fn is_mounted(&self, target: &Path) -> bool {
        is_mountpoint(target)
    }

    fn idmapped_bind(&self, source: &Path, at: &Path, map: &crate::mount::IdMap) -> io::Result<()> {
        crate::idmap::mount_idmapped(source, at, map)
    }
}

/// mount(8)'s option words split into mount flags and the filesystem's own data (moby/sys
/// mount's `parseOptions`): a word that is not a flag is data.
pub fn mount_options(options: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options.split(',').filter(|o| !o.is_empty()) {
        let (set, clear) = match o {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "private" => (MsFlags::MS_PRIVATE, MsFlags::empty()),
            "rprivate" => (MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::empty()),
            "shared" => (MsFlags::MS_SHARED, MsFlags::empty()),
            "rshared" => (MsFlags::MS_SHARED | MsFlags::MS_REC, MsFlags::empty()),
            "slave" => (MsFlags::MS_SLAVE, MsFlags::empty()),
            "rslave" => (MsFlags::MS_SLAVE | MsFlags::MS_REC, MsFlags::empty()),
            "unbindable" => (MsFlags::MS_UNBINDABLE, MsFlags::empty()),
            "runbindable" => (MsFlags::MS_UNBINDABLE | MsFlags::MS_REC, MsFlags::empty()),
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

/// Records the calls instead of making them, for tests: what was mounted where.
#[derive(Default)]
pub struct Recorder {
    pub calls: Mutex<Vec<String>>,
    mounted: Mutex<Vec<PathBuf>>,
}

impl Kernel for Recorder {
    fn mount(&self, device: &str, target: &Path, fstype: &str, options: &str) -> io::Result<()> {
        self.calls.lock().unwrap().push(format!(
            "mount {device} {} {fstype} {options}",
            target.display()
        ));
        self.mounted.lock().unwrap().push(target.to_path_buf());
        Ok(())
    }

    fn unmount(&self, target: &Path) -> io::Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("unmount {}", target.display()));
        self.mounted.lock().unwrap().retain(|m| m != target);
        Ok(())
    }

    fn is_mounted(&self, target: &Path) -> bool {
        self.mounted.lock().unwrap().iter().any(|m| m == target)
    }

    fn idmapped_bind(&self, source: &Path, at: &Path, map: &crate::mount::IdMap) -> io::Result<()> {
        self.calls.lock().unwrap().push(format!(
            "idmap {} {} {}",
            source.display(),
            at.display(),
            crate::idmap::map_lines(&map.uids).trim()
        ));
        self.mounted.lock().unwrap().push(at.to_path_buf());
        Ok(())
    }
}

/// Whether `path` is the root of a mount: statx's STATX_ATTR_MOUNT_ROOT where the kernel
/// reports it (5.8 and later), else the mount table (comparing devices cannot see an overlay
/// mounted on a directory of the same filesystem reliably).
pub fn is_mountpoint(path: &Path) -> bool {
    if let Some(root) = statx_mount_root(path) {
        return root;
    }
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    table
        .lines()
        .any(|l| l.split(' ').nth(4).map(unescape).as_deref() == Some(want.as_str()))
}

fn statx_mount_root(path: &Path) -> Option<bool> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statx fills the zeroed struct we own; `c` is a valid NUL-terminated path.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    if r != 0 {
        return (Errno::last() == Errno::ENOENT).then_some(false);
    }
    let known = stx.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
    known.then_some(stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_words_split_into_flags_and_data() {
        let (f, d) = mount_options("bind,ro,size=64m,uid=1");
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_RDONLY);
        assert_eq!(d, "size=64m,uid=1");
        let (f, d) = mount_options("ro,rw,noexec,exec,rshared");
        assert_eq!(f, MsFlags::MS_SHARED | MsFlags::MS_REC);
        assert_eq!(d, "");
    }

    #[test]
    fn mountinfo_escapes_and_mount_points() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert!(is_mountpoint(Path::new("/proc")));
        assert!(!is_mountpoint(Path::new("/proc/self")));
    }
}
