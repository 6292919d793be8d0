//! The confinement of `cp`: lookups, reads and writes never leave the root, whatever links
//! the container holds or the archive carries.

use std::fs;
use std::os::unix::fs::symlink;

use super::*;

fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        // Written raw: the tar crate's own checks would refuse the hostile names.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

struct Fixture {
    _t: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let outside = t.path().join("outside");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("data")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret"), "host secret").unwrap();
    fs::write(root.join("etc/hostname"), "box\n").unwrap();
    symlink("/", root.join("to-root")).unwrap();
    symlink("../../../../../../..", root.join("up")).unwrap();
    symlink(outside.join("secret"), root.join("etc/abs")).unwrap();
    symlink(&outside, root.join("data/out")).unwrap();
    Fixture {
        _t: t,
        root,
        outside,
    }
}

#[test]
fn paths_resolve_inside_the_root() {
    let f = fixture();
    let root = open_root(&f.root).unwrap();
    // `/to-root/etc/hostname` is the container's, not the host's.
    let s = stat(&root, "/to-root/etc/hostname").unwrap();
    assert_eq!((s.name.as_str(), s.size), ("hostname", 4));
    assert!(matches!(
        stat(&root, "/up/secret"),
        Err(CpError::NotFound(_))
    ));
    let s = stat(&root, "/etc/abs").unwrap();
    assert_eq!(s.mode & (1 << 27), 1 << 27, "a symlink");
    assert_eq!(
        s.link_target,
        f.outside.join("secret").display().to_string()
    );
    let s = stat(&root, "/").unwrap();
    assert_eq!(s.name, "/");
    assert_eq!(s.mode >> 31, 1, "a directory");
    assert!(matches!(stat(&root, "/nope"), Err(CpError::NotFound(_))));
}

#[test]
fn reads_never_follow_a_link_out() {
    let f = fixture();
    let root = open_root(&f.root).unwrap();
    for path in ["/", "/data", "/to-root/data", "/up/outside"] {
        let mut out = Vec::new();
        let _ = archive(&root, path, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("host secret"), "{path} read the host's file");
    }
    let mut out = Vec::new();
    archive(&root, "/etc", &mut out).unwrap();
    let mut a = tar::Archive::new(&out[..]);
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["etc/", "etc/abs", "etc/hostname"]);
}

#[test]
fn writes_stay_inside_the_extraction_point() {
    let f = fixture();
    let root = open_root(&f.root).unwrap();
    let opts = ExtractOptions::default();
    let reg = tar::EntryType::Regular;
    // `..` is refused, an absolute name is relative, a link on the way resolves in the root.
    let bad = tar_of(&[("../../outside/pwned", reg, b"x", "")]);
    assert!(matches!(
        extract(&root, "/data", &bad[..], opts),
        Err(CpError::Invalid(_))
    ));
    let abs = tar_of(&[("/etc/new", reg, b"abs", "")]);
    extract(&root, "/data", &abs[..], opts).unwrap();
    assert_eq!(
        fs::read_to_string(f.root.join("data/etc/new")).unwrap(),
        "abs"
    );
    let via = tar_of(&[("out/pwned", reg, b"x", "")]);
    let _ = extract(&root, "/data", &via[..], opts);
    assert!(!f.outside.join("pwned").exists(), "written through a link");
    // A file over an existing link replaces the link, not its target.
    let over = tar_of(&[("abs", reg, b"replaced", "")]);
    extract(&root, "/etc", &over[..], opts).unwrap();
    assert_eq!(
        fs::read_to_string(f.outside.join("secret")).unwrap(),
        "host secret"
    );
    assert_eq!(
        fs::read_to_string(f.root.join("etc/abs")).unwrap(),
        "replaced"
    );
    // A hard link must name an entry under the extraction point.
    let hard = tar_of(&[("h", tar::EntryType::Link, b"", "../../outside/secret")]);
    assert!(extract(&root, "/data", &hard[..], opts).is_err());
    // The extraction point itself through a link: inside the root.
    let into = tar_of(&[("x", reg, b"x", "")]);
    extract(&root, "/to-root/etc", &into[..], opts).unwrap();
    assert!(f.root.join("etc/x").exists());
    assert!(matches!(
        extract(&root, "/etc/hostname", &into[..], opts),
        Err(CpError::Invalid(_))
    ));
    assert!(matches!(
        extract(&root, "/nope", &into[..], opts),
        Err(CpError::NotFound(_))
    ));
    // Directory and non-directory do not replace each other when asked not to.
    let strict = ExtractOptions {
        no_overwrite_dir_non_dir: true,
        ..opts
    };
    let file_over_dir = tar_of(&[("data", reg, b"x", "")]);
    assert!(extract(&root, "/", &file_over_dir[..], strict).is_err());
    assert!(f.root.join("data").is_dir());
}

#[test]
fn go_file_modes() {
    assert_eq!(read::go_mode(libc::S_IFREG | 0o644), 0o644);
    assert_eq!(read::go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
    assert_eq!(read::go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
    assert_eq!(
        split("/etc/hosts"),
        ("/etc".to_string(), "hosts".to_string())
    );
    assert_eq!(split("/etc/"), ("/".to_string(), "etc".to_string()));
    assert_eq!(split("/"), ("/".to_string(), ".".to_string()));
}
