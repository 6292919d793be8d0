use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> bool {
    let (p, n) = (
        CString::new(p.as_os_str().as_bytes()).unwrap(),
        CString::new(name).unwrap(),
    );
    // SAFETY: valid C strings and a buffer of the given length.
    unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        ) == 0
    }
}

fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let (p, n) = (
        CString::new(p.as_os_str().as_bytes()).unwrap(),
        CString::new(name).unwrap(),
    );
    let mut buf = vec![0u8; 64];
    // SAFETY: as above.
    let len = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

#[test]
fn a_tree_is_copied_with_owners_modes_links_and_xattrs() {
    if !root() {
        eprintln!("skipped: owners need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    std::fs::create_dir_all(src.join("sub/deep")).unwrap();
    std::fs::create_dir(&dst).unwrap();
    std::fs::write(src.join("file"), b"content").unwrap();
    std::fs::write(src.join("sub/deep/x"), vec![7u8; 300_000]).unwrap();
    std::fs::hard_link(src.join("file"), src.join("sub/link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("abs")).unwrap();
    nix::unistd::mkfifo(&src.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
    std::os::unix::fs::chown(src.join("file"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(src.join("abs"), Some(42), Some(43)).unwrap();
    std::fs::set_permissions(src.join("file"), std::fs::Permissions::from_mode(0o4750)).unwrap();
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o555)).unwrap();
    std::os::unix::fs::chown(&src, Some(999), Some(998)).unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o700)).unwrap();
    let xattrs = set_xattr(&src.join("file"), "user.berth", b"yes");

    copy_tree(&open_dir(&src).unwrap(), &open_dir(&dst).unwrap()).unwrap();

    let m = std::fs::metadata(dst.join("file")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o4750));
    assert_eq!(std::fs::read(dst.join("file")).unwrap(), b"content");
    assert_eq!(
        std::fs::read(dst.join("sub/deep/x")).unwrap().len(),
        300_000
    );
    assert_eq!(
        std::fs::metadata(dst.join("sub/link")).unwrap().ino(),
        m.ino(),
        "hard links stay links"
    );
    let l = std::fs::symlink_metadata(dst.join("abs")).unwrap();
    assert!(l.file_type().is_symlink());
    assert_eq!((l.uid(), l.gid()), (42, 43));
    assert_eq!(
        std::fs::read_link(dst.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    let f = std::fs::symlink_metadata(dst.join("fifo")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&f.file_type()));
    assert_eq!(f.mode() & 0o777, 0o640);
    assert_eq!(
        std::fs::metadata(dst.join("sub")).unwrap().mode() & 0o777,
        0o555
    );
    assert_eq!(
        std::fs::metadata(dst.join("sub")).unwrap().mtime(),
        std::fs::metadata(src.join("sub")).unwrap().mtime()
    );
    let top = std::fs::metadata(&dst).unwrap();
    assert_eq!(
        (top.uid(), top.gid(), top.mode() & 0o777),
        (999, 998, 0o700)
    );
    if xattrs {
        assert_eq!(
            get_xattr(&dst.join("file"), "user.berth").as_deref(),
            Some(&b"yes"[..])
        );
    }
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dst.join("sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn lookups_stay_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/marker"), "inside").unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("data")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc", rootfs.join("up")).unwrap();
    let root = open_dir(&rootfs).unwrap();
    for link in ["/data", "up", "/data/../data"] {
        let fd = open_in_root(&root, link, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .unwrap()
            .unwrap();
        assert_eq!(fd_path(&fd).unwrap(), rootfs.join("etc"), "{link}");
    }
    assert!(open_in_root(&root, "/missing", OFlag::O_PATH)
        .unwrap()
        .is_none());
    assert!(is_empty_dir(&rootfs.join("etc")).is_ok_and(|e| !e));
}

#[test]
fn chown_gives_a_tree_away_without_following_links() {
    if !root() {
        eprintln!("skipped: owners need root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("d");
    std::fs::create_dir_all(d.join("a")).unwrap();
    std::fs::write(d.join("a/f"), "x").unwrap();
    let outside = t.path().join("outside");
    std::fs::write(&outside, "o").unwrap();
    std::os::unix::fs::symlink(&outside, d.join("link")).unwrap();
    chown_tree(&open_dir(&d).unwrap(), 1000, 1001).unwrap();
    for p in [d.clone(), d.join("a"), d.join("a/f")] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1001), "{}", p.display());
    }
    assert_eq!(
        std::fs::symlink_metadata(d.join("link")).unwrap().uid(),
        1000
    );
    assert_eq!(
        std::fs::metadata(&outside).unwrap().uid(),
        0,
        "the link's target is not touched"
    );
}

// The cases of the copy-up this one replaced (main's `copyup.rs`), through
// `VolumeService::populate` where it decides (see `service::tests`), and here for the walk.
#[test]
fn copies_content_owners_modes_links_and_stays_inside_the_root() {
    if !root() {
        eprintln!("skipped: owners need root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let rootfs = d.path().join("rootfs");
    let app = rootfs.join("srv/app");
    std::fs::create_dir_all(app.join("sub")).unwrap();
    std::fs::write(app.join("f"), b"hello").unwrap();
    std::os::unix::fs::chown(app.join("f"), Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(app.join("f"), std::fs::Permissions::from_mode(0o4751)).unwrap();
    std::fs::hard_link(app.join("f"), app.join("sub/hard")).unwrap();
    std::os::unix::fs::symlink("../f", app.join("sub/link")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/inside"), b"in the image").unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("data")).unwrap();
    let root = open_dir(&rootfs).unwrap();
    let copy = |path: &str, to: &str| {
        let data = d.path().join(to);
        std::fs::create_dir_all(&data).unwrap();
        let src = open_in_root(&root, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .unwrap()
            .unwrap();
        copy_tree(&src, &open_dir(&data).unwrap()).unwrap();
        data
    };
    let data = copy("/srv/app", "vol/_data");
    assert_eq!(std::fs::read(data.join("f")).unwrap(), b"hello");
    let m = std::fs::metadata(data.join("f")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o4751));
    assert_eq!(
        m.ino(),
        std::fs::metadata(data.join("sub/hard")).unwrap().ino()
    );
    assert_eq!(
        std::fs::read_link(data.join("sub/link")).unwrap(),
        Path::new("../f")
    );
    // An image symlink pointing at an absolute path resolves inside the root.
    let data2 = copy("/data", "vol2/_data");
    assert_eq!(
        std::fs::read(data2.join("inside")).unwrap(),
        b"in the image"
    );
    assert!(!data2.join("hostname").exists(), "read the host's /etc");
    // Through `..` too.
    let data3 = copy("/../../../etc", "vol3/_data");
    assert!(data3.join("inside").exists() && !data3.join("passwd").exists());
}
