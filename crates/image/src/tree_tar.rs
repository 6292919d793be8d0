//! A directory tree as a tar stream (`docker export`): every entry under the root, named
//! relative to it, symlinks as links (never followed), devices and FIFOs as such, sockets left
//! out as Docker leaves them out.

use std::io::{self, Write};
use std::path::Path;

/// Writes `root`'s tree to `out` as a tar, entries in name order.
pub fn write_tree(root: &Path, out: &mut dyn Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    crate::layer_tar::add_dir(&mut tar, root, Path::new(""), false)?;
    tar.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn files_dirs_and_links_relative_to_the_root() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("etc")).unwrap();
        fs::write(t.path().join("etc/hostname"), "box\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", t.path().join("link")).unwrap();
        let mut out = Vec::new();
        write_tree(t.path(), &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<(String, tar::EntryType)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("etc".to_string(), tar::EntryType::Directory),
                ("etc/hostname".to_string(), tar::EntryType::Regular),
                ("link".to_string(), tar::EntryType::Symlink),
            ]
        );
    }
}
