//! Wildcard sources looked up in a root (an image's, for `COPY --from`): Go's
//! `filepath.Glob` over descriptors.

use std::os::fd::OwnedFd;

use berth_volume::tree;
use nix::fcntl::OFlag;

use crate::glob::{has_meta, matches, BadPattern};

/// The paths under `root` that `pattern` matches, as Go's `filepath.Glob` finds them: one
/// directory listing per component that has wildcards, never a walk of the whole tree (the
/// root may be an image's). Every directory is opened inside `root`, so no symlink leads
/// out. Paths come back relative, slash-separated and sorted.
pub fn in_root(root: &OwnedFd, pattern: &str) -> Result<Vec<String>, GlobError> {
    let mut found = vec![String::new()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in &found {
            let join = |n: &str| {
                if dir.is_empty() {
                    n.to_string()
                } else {
                    format!("{dir}/{n}")
                }
            };
            if !has_meta(part) {
                if tree::open_in_root(root, &join(part), OFlag::O_PATH | OFlag::O_NOFOLLOW)?
                    .is_some()
                {
                    next.push(join(part));
                }
                continue;
            }
            let Some(fd) = tree::open_in_root(root, dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .or_else(|e| match e.raw_os_error() {
                    Some(libc::ENOTDIR) => Ok(None),
                    _ => Err(e),
                })?
            else {
                continue;
            };
            let mut names: Vec<String> = tree::entries(&fd)?
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                if matches(part, &n, true)? {
                    next.push(join(&n));
                }
            }
        }
        found = next;
    }
    Ok(found)
}

#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    #[error(transparent)]
    Pattern(#[from] BadPattern),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_in_a_root_list_only_the_directories_they_reach() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "out/a.txt",
            "out/b.txt",
            "out/c.log",
            "out/sub/d.txt",
            "other/e.txt",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        // A link out of the root is looked up inside it, where it leads nowhere.
        std::os::unix::fs::symlink("/etc", dir.path().join("out/etc")).unwrap();
        let root = tree::open_dir(dir.path()).unwrap();
        let g = |p: &str| in_root(&root, p).unwrap();
        assert_eq!(g("out/*.txt"), ["out/a.txt", "out/b.txt"]);
        assert_eq!(g("/*/*.txt"), ["other/e.txt", "out/a.txt", "out/b.txt"]);
        assert_eq!(g("out/s?b/*"), ["out/sub/d.txt"]);
        assert_eq!(g("out/etc/pass*"), Vec::<String>::new());
        assert!(g("nothere/*").is_empty());
        assert!(in_root(&root, "out/[").is_err());
    }
}
