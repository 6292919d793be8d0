//! Docker's default mounts, the /etc files and the user's mounts, and the paths hidden in /proc.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::{Host, SpecOptions, DEFAULT_SHM_SIZE};

pub(super) fn masked_paths(host: &Host) -> Vec<String> {
    [
        "/proc/acpi",
        "/proc/asound",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/sys/devices/virtual/powercap",
        "/sys/firmware",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(host.thermal_throttle.iter().cloned())
    .collect()
}

pub(super) fn mount(dest: &str, typ: &str, source: &Path, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest))
        .set_typ(Some(typ.to_string()))
        .set_source(Some(source.to_path_buf()))
        .set_options(Some(options.iter().map(|s| s.to_string()).collect()));
    m
}

/// Docker's default mounts, then the /etc files, then the user's mounts. A user mount
/// replaces a default (or /etc file) at the same place, and a user `/dev` replaces every
/// default under it; that is how a shared or host `/dev/shm` arrives.
pub(super) fn mounts(opts: &SpecOptions) -> Vec<Mount> {
    let shm_size = if opts.shm_size == 0 {
        DEFAULT_SHM_SIZE
    } else {
        opts.shm_size
    };
    let shm_opt = format!("size={shm_size}");
    let defaults = [
        mount(
            "/proc",
            "proc",
            "proc".as_ref(),
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs".as_ref(),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts".as_ref(),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs".as_ref(),
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup".as_ref(),
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue".as_ref(),
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm".as_ref(),
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        ),
    ];

    let user_dests: HashSet<&Path> = opts
        .mounts
        .iter()
        .map(|m| m.destination().as_path())
        .collect();
    let user_dev = user_dests.contains(Path::new("/dev"));
    let mut out = Vec::new();
    for mut m in defaults {
        let dest = m.destination().clone();
        if user_dests.contains(dest.as_path()) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        let opts_mut = m.options_mut().get_or_insert_with(Vec::new);
        // --read-only reaches the sysfs and cgroup mounts (already ro) but not the
        // in-memory filesystems a program needs to write to.
        let keep_writable = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"];
        if opts.readonly_rootfs
            && !keep_writable.iter().any(|p| dest == Path::new(p))
            && !opts_mut.iter().any(|o| o == "ro")
        {
            opts_mut.push("ro".into());
        }
        if opts.privileged && (dest == Path::new("/sys") || dest == Path::new("/sys/fs/cgroup")) {
            opts_mut.retain(|o| o != "ro");
        }
        out.push(m);
    }
    for (source, dest) in &opts.etc_files {
        if user_dests.contains(Path::new(dest)) {
            continue;
        }
        let mut o = vec!["rbind"];
        if opts.readonly_rootfs {
            o.push("ro");
        }
        o.push("rprivate");
        out.push(mount(dest, "bind", source, &o));
    }
    out.extend(opts.mounts.iter().cloned());
    out
}

/// A bind that should propagate needs the root to propagate too: shared for shared mounts,
/// slave for slave ones. None leaves the runtime's default (rslave for runc and youki).
pub(super) fn rootfs_propagation(mounts: &[Mount]) -> Option<String> {
    let has = |names: &[&str]| {
        mounts.iter().any(|m| {
            m.options()
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| names.contains(&o.as_str())))
        })
    };
    if has(&["shared", "rshared"]) {
        Some("shared".into())
    } else if has(&["slave", "rslave"]) {
        Some("rslave".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::tests::{build, linux, mount_at, mount_opts, opts, strings};

    #[test]
    fn read_only_rootfs() {
        let s = build(&SpecOptions {
            readonly_rootfs: true,
            ..opts()
        });
        assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
        assert_eq!(
            mount_opts(&s, "/etc/resolv.conf"),
            strings(&["rbind", "ro", "rprivate"])
        );
        for writable in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"] {
            assert!(
                !mount_opts(&s, writable).contains(&"ro".to_string()),
                "{writable}"
            );
        }
        assert_eq!(
            mount_opts(&s, "/sys").iter().filter(|o| *o == "ro").count(),
            1
        );
    }

    #[test]
    fn user_mounts_come_last_and_shadow_defaults() {
        let bind = |src: &str, dest: &str, o: &[&str]| mount(dest, "bind", src.as_ref(), o);
        let o = SpecOptions {
            mounts: vec![
                bind("/data", "/data", &["rbind", "rshared"]),
                bind("/run/berth/abc/shm", "/dev/shm", &["rbind", "rprivate"]),
                bind("/srv/hosts", "/etc/hosts", &["rbind", "ro", "rprivate"]),
            ],
            shm_size: 1 << 30,
            ..opts()
        };
        let s = build(&o);
        let all = s.mounts().as_ref().unwrap();
        assert_eq!(
            all.iter()
                .filter(|m| m.destination() == Path::new("/dev/shm"))
                .count(),
            1
        );
        assert_eq!(
            all.iter()
                .filter(|m| m.destination() == Path::new("/etc/hosts"))
                .count(),
            1
        );
        let tail: Vec<_> = all[all.len() - 3..]
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        assert_eq!(tail, ["/data", "/dev/shm", "/etc/hosts"].map(PathBuf::from));
        assert_eq!(
            mount_at(&s, "/dev/shm").unwrap().typ().as_deref(),
            Some("bind")
        );
        assert_eq!(linux(&s).rootfs_propagation().as_deref(), Some("shared"));

        let o = SpecOptions {
            mounts: vec![bind("/host/dev", "/dev", &["rbind"])],
            ..opts()
        };
        let s = build(&o);
        let dests: Vec<_> = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().clone())
            .collect();
        // Path::starts_with compares components, so this also catches the user's own /dev.
        assert_eq!(dests.iter().filter(|d| d.starts_with("/dev")).count(), 1);
        assert_eq!(linux(&s).rootfs_propagation(), &None);

        let s = build(&SpecOptions {
            shm_size: 1 << 30,
            ..opts()
        });
        assert!(mount_opts(&s, "/dev/shm").contains(&"size=1073741824".to_string()));
    }
}
