//! A container's root filesystem: an overlay of the image's layers under the container's own
//! read-write layer, kept across stop and start, gone with the container. And the files Docker
//! writes for it: hostname, hosts, resolv.conf.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The container's read-write layer and the overlay's scratch dir, beside the mount point.
pub fn prepare_dirs(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o710)
            .recursive(true)
            .create(dir)?;
        // The mode asked for is cut by the umask.
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o710))?;
    }
    for d in ["upper", "work", "rootfs"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    make_init_layer(&dir.join(INIT_LAYER))
}

/// The layer between the image and the container's own, as dockerd's `-init` layer: the mount
/// points the runtime needs (and `/.dockerenv`, which tools look for to know they are in a
/// container) exist there, so that making them writes nothing to the container's layer, and
/// `diff` and `commit` do not see them.
pub const INIT_LAYER: &str = "init";

fn make_init_layer(init: &Path) -> io::Result<()> {
    if init.join(".dockerenv").exists() {
        return Ok(());
    }
    for d in ["dev/pts", "dev/shm", "proc", "sys", "etc"] {
        std::fs::create_dir_all(init.join(d))?;
    }
    for f in [
        "etc/resolv.conf",
        "etc/hosts",
        "etc/hostname",
        "dev/console",
    ] {
        std::fs::write(init.join(f), b"")?;
    }
    match std::os::unix::fs::symlink("/proc/mounts", init.join("etc/mtab")) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    // Last: its presence says the layer is whole.
    std::fs::write(init.join(".dockerenv"), b"")
}

/// The overlay options for `lower` (topmost layer first).
pub fn overlay_options(lower: &[PathBuf], dir: &Path) -> String {
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    )
}

/// Mounts the overlay at `dir/rootfs` unless it is already there (a daemon restart while the
/// container runs leaves it mounted).
///
/// `volatile` (for `--rm` containers, as podman does) mounts it with overlayfs' `volatile`
/// option where the kernel has it (5.10 and later): no sync of the upper filesystem ever,
/// which otherwise is a journal commit of the whole filesystem at each unmount. After a crash
/// such an upper layer cannot be trusted, and overlayfs marks the work dir to refuse a new
/// mount; an `--rm` container is removed by then (the recovery removes stopped ones), so a
/// mark found here is from a clean unmount (a restart) and is cleared.
pub fn mount_rootfs(lower: &[PathBuf], dir: &Path, volatile: bool) -> io::Result<PathBuf> {
    let target = dir.join("rootfs");
    if is_mountpoint(&target) {
        return Ok(target);
    }
    let mut lower = lower.to_vec();
    let init = dir.join(INIT_LAYER);
    if init.exists() {
        lower.insert(0, init);
    }
    if lower.is_empty() {
        // An image without layers (`FROM scratch` with nothing added) still needs a lower dir.
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty)?;
        lower.push(empty);
    }
    let opts = overlay_options(&lower, dir);
    let overlay = |opts: &str| {
        mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts),
        )
    };
    let mounted = if volatile {
        match std::fs::remove_dir_all(dir.join(VOLATILE_MARK)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // A kernel without the option refuses it as an unknown one.
        match overlay(&format!("{opts},volatile")) {
            Err(Errno::EINVAL) => overlay(&opts),
            r => r,
        }
    } else {
        overlay(&opts)
    };
    mounted
        .map_err(|e| io::Error::other(format!("mounting the container's root filesystem: {e}")))?;
    Ok(target)
}

/// Where overlayfs marks the work dir of a volatile mount (Documentation/filesystems/overlayfs).
const VOLATILE_MARK: &str = "work/work/incompat/volatile";

/// Unmounts the rootfs if mounted; a busy mount is detached lazily rather than left behind.
/// umount(2) itself says when nothing is mounted there (EINVAL), which spares reading the
/// mount table on every container exit.
pub fn unmount_rootfs(dir: &Path) -> io::Result<()> {
    let target = dir.join("rootfs");
    // More than one overlay can be stacked there only by accident; a few rounds clear that.
    for _ in 0..8 {
        match umount2(&target, MntFlags::empty()) {
            Ok(()) => continue,
            Err(Errno::EINVAL | Errno::ENOENT) => return Ok(()),
            Err(e) => umount2(&target, MntFlags::MNT_DETACH).map_err(|e2| {
                io::Error::other(format!("unmounting {}: {e}; {e2}", target.display()))
            })?,
        }
    }
    Ok(())
}

/// Takes the rootfs out of the mount table at once and returns what still holds the overlay:
/// the overlay is torn down (its upper filesystem synced first) when that is dropped, wherever
/// that happens. Only for a removal: a new mount on the same upper directory would be refused
/// while the old overlay lives.
pub fn detach_rootfs(dir: &Path) -> io::Result<Option<std::fs::File>> {
    let target = dir.join("rootfs");
    if !is_mountpoint(&target) {
        return Ok(None);
    }
    let hold = std::fs::File::open(&target)?;
    umount2(&target, MntFlags::MNT_DETACH)
        .map_err(|e| io::Error::other(format!("unmounting {}: {e}", target.display())))?;
    // Anything stacked beneath goes the ordinary way.
    unmount_rootfs(dir)?;
    Ok(Some(hold))
}

pub use berth_volume::kernel::is_mountpoint;

/// `/etc/hostname` as Docker writes it.
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// `/etc/hosts` as Docker writes it for a container: loopback, IPv6 names, then the
/// container's own address and `--add-host` entries.
pub fn hosts_file(own: Option<(&str, &str)>, extra: &[(String, String)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (host, ip) in extra {
        s.push_str(&format!("{ip}\t{host}\n"));
    }
    if let Some((ip, name)) = own {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    s
}

/// `/etc/resolv.conf` for the container: the host's, without loopback nameservers (they mean
/// nothing inside another network namespace), with `--dns`/`--dns-search`/`--dns-option` in
/// their place when given.
/// A resolv.conf turned to the embedded DNS server, as dockerd writes it for user networks:
/// its search and options kept, `nameserver 127.0.0.11`, and `ndots:0`.
pub fn embedded_dns_resolv(resolv: &str) -> String {
    let mut out = String::new();
    let mut options: Vec<String> = Vec::new();
    for line in resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {}
            Some("options") => options.extend(
                words
                    .filter(|o| !o.starts_with("ndots:"))
                    .map(str::to_string),
            ),
            _ if !line.trim().is_empty() => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out.push_str("nameserver 127.0.0.11\n");
    options.push("ndots:0".into());
    out.push_str(&format!("options {}\n", options.join(" ")));
    out
}

pub fn resolv_conf(host: &str, dns: &[String], search: &[String], options: &[String]) -> String {
    let mut out = String::new();
    let mut servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next() {
                    if !ip.starts_with("127.") && ip != "::1" {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => host_search = words.map(str::to_string).collect(),
            Some("options") => host_options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    let servers = if dns.is_empty() {
        servers
    } else {
        dns.to_vec()
    };
    let search = if search.is_empty() {
        host_search
    } else {
        search.to_vec()
    };
    let options = if options.is_empty() {
        host_options
    } else {
        options.to_vec()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in &servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_list_layers_top_first() {
        let o = overlay_options(
            &[PathBuf::from("/l/2"), PathBuf::from("/l/1")],
            Path::new("/c/x"),
        );
        assert_eq!(
            o,
            "lowerdir=/l/2:/l/1,upperdir=/c/x/upper,workdir=/c/x/work"
        );
    }

    #[test]
    fn resolv_conf_drops_loopback_and_honours_flags() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[]),
            "search example.org\nnameserver 10.0.0.2\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(host, &["1.1.1.1".into()], &["a.b".into()], &[]),
            "search a.b\nnameserver 1.1.1.1\noptions edns0\n"
        );
    }

    #[test]
    fn hosts_and_mountinfo_escapes() {
        let h = hosts_file(None, &[("db".into(), "10.1.2.3".into())]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.1.2.3\tdb\n"));
        assert!(is_mountpoint(Path::new("/proc")));
        assert!(!is_mountpoint(Path::new("/proc/self")));
    }

    #[test]
    fn a_mount_on_the_same_filesystem_is_seen_and_unmounted() {
        let dir = tempfile::tempdir().unwrap();
        prepare_dirs(dir.path()).unwrap();
        let rootfs = dir.path().join("rootfs");
        let src = dir.path().join("upper");
        if mount(
            Some(&src),
            &rootfs,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .is_err()
        {
            eprintln!("skipped: mounting needs root");
            return;
        }
        assert!(is_mountpoint(&rootfs));
        assert!(!is_mountpoint(&src));
        unmount_rootfs(dir.path()).unwrap();
        assert!(!is_mountpoint(&rootfs));
        // Nothing mounted, or nothing there at all: nothing to do.
        unmount_rootfs(dir.path()).unwrap();
        assert!(detach_rootfs(dir.path()).unwrap().is_none());
        // Detached: out of the mount table at once, the mount itself held by the file.
        mount(
            Some(&src),
            &rootfs,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
        let hold = detach_rootfs(dir.path()).unwrap().expect("was mounted");
        assert!(!is_mountpoint(&rootfs));
        drop(hold);
        unmount_rootfs(&dir.path().join("missing")).unwrap();
    }

    #[test]
    fn a_volatile_rootfs_mounts_again_after_a_clean_unmount() {
        let dir = tempfile::tempdir().unwrap();
        prepare_dirs(dir.path()).unwrap();
        let lower = dir.path().join("lower");
        std::fs::create_dir_all(&lower).unwrap();
        std::fs::write(lower.join("f"), "x").unwrap();
        let mounted = |volatile| {
            let root = mount_rootfs(std::slice::from_ref(&lower), dir.path(), volatile);
            if let Err(e) = &root {
                if e.to_string().contains("EPERM") {
                    return None;
                }
            }
            let root = root.unwrap();
            let opts = std::fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .find(|l| l.split(' ').nth(4) == Some(root.to_str().unwrap()))
                .map(str::to_string)
                .unwrap();
            assert_eq!(std::fs::read_to_string(root.join("f")).unwrap(), "x");
            unmount_rootfs(dir.path()).unwrap();
            Some(opts.contains("volatile"))
        };
        let Some(first) = mounted(true) else {
            eprintln!("skipped: mounting needs root");
            return;
        };
        if !first {
            eprintln!("skipped: this kernel has no volatile overlays");
            return;
        }
        // The work dir is marked now; the next mount clears the mark rather than failing.
        assert!(dir.path().join(VOLATILE_MARK).exists());
        assert_eq!(mounted(true), Some(true));
    }
}
