//! The builtin runtime's setup of a container's root filesystem against hostile images: what it
//! mounts and makes under /etc and /dev stays inside the rootfs, whatever symlinks the image has.

use berth_tests::images::{self, Entry};
use berth_tests::{mounts_under, Daemon};

/// An image whose /etc and /dev are symlinks to absolute paths that exist on the host as well
/// as in the image. Resolved on the host, the mounts of /etc/hosts and /dev and the links in /dev
/// (/dev/fd, /dev/stdin, /dev/ptmx, ...) would land in the host's directories; resolved inside
/// the rootfs, they land in the image's copies, and the container works as usual.
#[test]
fn symlinks_in_the_image_do_not_lead_its_setup_onto_the_host() {
    let d = Daemon::start();
    let host = d.root_path("decoy");
    for dir in ["etc", "dev"] {
        std::fs::create_dir_all(host.join(dir)).unwrap();
    }
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let target = |dir: &str| format!("{}/{dir}", host.display());
    let (etc, dev) = (target("etc"), target("dev"));
    // The decoy's path again inside the image, each ancestor as a directory entry.
    let inside = host.strip_prefix("/").unwrap();
    let mut dirs: Vec<String> = inside
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .map(|a| format!("{}/", a.display()))
        .collect();
    dirs.reverse();
    dirs.push(format!("{}/etc/", inside.display()));
    dirs.push(format!("{}/dev/", inside.display()));
    let mut entries = vec![
        Entry::Dir("bin/"),
        Entry::File("bin/busybox", &busybox, 0o755),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::Symlink("bin/cat", "busybox"),
        Entry::Dir("proc/"),
        Entry::Dir("sys/"),
        Entry::Symlink("etc", &etc),
        Entry::Symlink("dev", &dev),
    ];
    entries.extend(dirs.iter().map(|d| Entry::Dir(d)));
    d.berth_stdin(&["import", "-", "decoy:1"], &images::tar_of(&entries))
        .ok();

    let out = d
        .berth(&[
            "run",
            "--rm",
            "--hostname",
            "decoyed",
            "decoy:1",
            "sh",
            "-c",
            "cat /etc/hostname && test -c /dev/null && test -L /dev/stdin && test -L /dev/ptmx",
        ])
        .ok();
    assert_eq!(out.stdout, "decoyed\n");
    for dir in ["etc", "dev"] {
        let left: Vec<_> = std::fs::read_dir(host.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "the host's {dir} was written to: {left:?}");
    }
    assert_eq!(mounts_under(&host), Vec::<String>::new());
}
