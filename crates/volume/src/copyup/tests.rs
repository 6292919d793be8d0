use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

#[test]
fn copies_content_owners_modes_links_and_stays_inside_the_root() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("rootfs");
    let app = root.join("srv/app");
    std::fs::create_dir_all(app.join("sub")).unwrap();
    std::fs::write(app.join("f"), b"hello").unwrap();
    std::os::unix::fs::chown(app.join("f"), Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(app.join("f"), std::fs::Permissions::from_mode(0o4751)).unwrap();
    std::fs::hard_link(app.join("f"), app.join("sub/hard")).unwrap();
    std::os::unix::fs::symlink("../f", app.join("sub/link")).unwrap();
    // An image symlink pointing at an absolute path resolves inside the root.
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/inside"), b"in the image").unwrap();
    std::os::unix::fs::symlink("/etc", root.join("data")).unwrap();

    let data = d.path().join("vol/_data");
    std::fs::create_dir_all(&data).unwrap();
    assert!(copy_up(&root, "/srv/app", &data).unwrap());
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
    assert!(!d.path().join("vol/_data.copyup").exists());
    // Not empty any more: a second start copies nothing.
    assert!(!copy_up(&root, "/srv/app", &data).unwrap());

    let data2 = d.path().join("vol2/_data");
    std::fs::create_dir_all(&data2).unwrap();
    assert!(copy_up(&root, "/data", &data2).unwrap());
    assert_eq!(
        std::fs::read(data2.join("inside")).unwrap(),
        b"in the image"
    );
    assert!(!data2.join("hostname").exists(), "read the host's /etc");
    // Through `..` too.
    let data3 = d.path().join("vol3/_data");
    std::fs::create_dir_all(&data3).unwrap();
    assert!(copy_up(&root, "/../../../etc", &data3).unwrap());
    assert!(data3.join("inside").exists() && !data3.join("passwd").exists());
}

#[test]
fn nothing_to_copy_and_leftovers_of_a_cut_copy() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("rootfs");
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("file"), b"x").unwrap();
    let data = d.path().join("v/_data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(d.path().join("v/_data.copyup/partial")).unwrap();
    assert!(!copy_up(&root, "/missing", &data).unwrap());
    assert!(!copy_up(&root, "/file", &data).unwrap());
    assert!(!copy_up(&root, "/empty", &data).unwrap());
    assert!(!d.path().join("v/_data.copyup").exists());
}
