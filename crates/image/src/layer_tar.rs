//! The layer producer: an overlay upper directory as an OCI layer tar. A whiteout (a 0/0
//! character device) becomes a `.wh.<name>` entry, an opaque directory gets `.wh..wh..opq`,
//! everything else goes as it is (links as links, never followed; sockets left out).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::changes::{is_opaque, is_whiteout};

/// Writes the layer that `upper` holds to `out`, entries in name order.
pub fn write_layer(upper: &Path, out: &mut dyn Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    add_dir(&mut tar, upper, Path::new(""), true)?;
    tar.finish()
}

fn marker(tar: &mut tar::Builder<&mut dyn Write>, name: &Path) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    tar.append_data(&mut h, name, io::empty())
}

/// Adds what `dir` holds, named under `rel`, in name order. As a `layer`, overlayfs' markers
/// become the OCI layer's (without, a tree is written as it is, for `export`).
pub(crate) fn add_dir(
    tar: &mut tar::Builder<&mut dyn Write>,
    dir: &Path,
    rel: &Path,
    layer: bool,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = rel.join(e.file_name());
        let m = fs::symlink_metadata(&path)?;
        if layer && is_whiteout(&m) {
            let mut wh = std::ffi::OsString::from(".wh.");
            wh.push(e.file_name());
            marker(tar, &rel.join(wh))?;
            continue;
        }
        if m.file_type().is_socket() {
            continue;
        }
        tar.append_path_with_name(&path, &name)?;
        if m.is_dir() {
            if layer && is_opaque(&path) {
                marker(tar, &name.join(".wh..wh..opq"))?;
            }
            add_dir(tar, &path, &name, layer)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_become_wh_entries() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("etc")).unwrap();
        fs::write(t.path().join("etc/new"), "n").unwrap();
        nix::sys::stat::mknod(
            &t.path().join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        let mut out = Vec::new();
        write_layer(t.path(), &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["etc", "etc/.wh.gone", "etc/new"]);
    }
}
