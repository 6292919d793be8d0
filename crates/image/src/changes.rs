//! What a read-write layer changed over the layers beneath it: `docker diff`'s list, read from
//! an overlay upper directory as dockerd's overlay driver reads it. Overlayfs marks a deletion
//! with a whiteout (a 0/0 character device) and a directory whose lower content is hidden with
//! the `trusted.overlay.opaque` attribute.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Docker's change kinds, numbered as the API numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute inside the container: `/etc/hosts`.
    pub path: String,
    pub kind: ChangeKind,
}

/// Whether an upper entry is an overlayfs whiteout.
pub fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Whether an upper directory hides what the lower layers hold at its path.
pub fn is_opaque(dir: &Path) -> bool {
    matches!(xattr_value(dir, "trusted.overlay.opaque"), Some(v) if v == b"y")
}

fn xattr_value(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = [0u8; 16];
    // SAFETY: lgetxattr writes at most buf.len() bytes into buf; both strings are NUL-ended.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// The changes `upper` makes over `lower` (topmost first), sorted by path. A directory that
/// the layer only passes through (same mode and times as beneath) is not a change itself,
/// but the parent of anything added or deleted is reported as modified.
pub fn changes(upper: &Path, lower: &[PathBuf]) -> io::Result<Vec<Change>> {
    let mut found = BTreeMap::new();
    walk(upper, Path::new("/"), lower, &mut found)?;
    Ok(found
        .into_iter()
        .map(|(path, kind)| Change { path, kind })
        .collect())
}

fn in_lower(lower: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lower
        .iter()
        .find_map(|l| fs::symlink_metadata(l.join(rel)).ok())
}

fn walk(
    dir: &Path,
    rel: &Path,
    lower: &[PathBuf],
    found: &mut BTreeMap<String, ChangeKind>,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let m = fs::symlink_metadata(&path)?;
        let here = rel.join(e.file_name());
        let key = here.to_string_lossy().into_owned();
        let below = in_lower(lower, &here);
        let kind = if is_whiteout(&m) {
            Some(ChangeKind::Deleted)
        } else if m.is_dir() {
            match &below {
                // Passed through: the layer holds it only for what it holds inside.
                Some(b)
                    if b.is_dir()
                        && b.mode() == m.mode()
                        && b.mtime() == m.mtime()
                        && b.mtime_nsec() == m.mtime_nsec()
                        && !is_opaque(&path) =>
                {
                    None
                }
                Some(_) => Some(ChangeKind::Modified),
                None => Some(ChangeKind::Added),
            }
        } else if below.is_some() {
            Some(ChangeKind::Modified)
        } else {
            Some(ChangeKind::Added)
        };
        if let Some(k) = kind {
            found.insert(key, k);
            if k != ChangeKind::Modified && rel != Path::new("/") {
                found
                    .entry(rel.to_string_lossy().into_owned())
                    .or_insert(ChangeKind::Modified);
            }
        }
        if m.is_dir() {
            walk(&path, &here, lower, found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(c: &[Change]) -> Vec<(String, ChangeKind)> {
        c.iter().map(|c| (c.path.clone(), c.kind)).collect()
    }

    #[test]
    fn added_modified_deleted_and_their_parents() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        for d in ["etc", "usr/bin", "tmp"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::write(lower.join("etc/passwd"), "root").unwrap();
        fs::write(lower.join("tmp/old"), "x").unwrap();
        // The upper layer: etc/passwd changed, etc/new added, tmp/old deleted (whiteout),
        // a new dir with a file, and usr/bin passed through with nothing changed in it.
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/passwd"), "root2").unwrap();
        fs::write(upper.join("etc/new"), "n").unwrap();
        fs::create_dir_all(upper.join("tmp")).unwrap();
        nix::sys::stat::mknod(
            &upper.join("tmp/old"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        fs::create_dir_all(upper.join("srv/data")).unwrap();
        fs::write(upper.join("srv/data/f"), "f").unwrap();
        fs::create_dir_all(upper.join("usr")).unwrap();
        let same = |p: &str| {
            let m = fs::metadata(lower.join(p)).unwrap();
            let t = filetime_of(&m);
            set_times(&upper.join(p), t);
        };
        same("usr");
        let c = changes(&upper, std::slice::from_ref(&lower)).unwrap();
        assert_eq!(
            kinds(&c),
            [
                ("/etc".to_string(), ChangeKind::Modified),
                ("/etc/new".to_string(), ChangeKind::Added),
                ("/etc/passwd".to_string(), ChangeKind::Modified),
                ("/srv".to_string(), ChangeKind::Added),
                ("/srv/data".to_string(), ChangeKind::Added),
                ("/srv/data/f".to_string(), ChangeKind::Added),
                ("/tmp".to_string(), ChangeKind::Modified),
                ("/tmp/old".to_string(), ChangeKind::Deleted),
            ]
        );
    }

    fn filetime_of(m: &fs::Metadata) -> (i64, i64) {
        (m.mtime(), m.mtime_nsec())
    }

    fn set_times(p: &Path, (s, ns): (i64, i64)) {
        let t = nix::sys::time::TimeSpec::new(s, ns);
        nix::sys::stat::utimensat(
            None,
            p,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
}
