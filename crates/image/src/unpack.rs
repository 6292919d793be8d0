//! Unpacking a layer tarball into its own directory, ready to be an overlayfs lower dir.
//!
//! OCI whiteouts become what overlayfs understands: `.wh.NAME` turns into a 0/0 character device
//! called NAME, and `.wh..wh..opq` marks its directory opaque with `trusted.overlay.opaque=y`
//! (containerd's `OverlayConvertWhiteout` does the same).
//!
//! Written by hand over the `tar` crate's entry parser rather than with `Archive::unpack`, because
//! the crate knows nothing of whiteouts, and because every write must be proven to stay inside the
//! layer directory: entries with absolute paths or `..` are refused, no write goes through a
//! symlink, and hard links may only point at files of this same layer.

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use tar::{Archive, EntryType};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("refusing layer entry {path:?}: {why}")]
    Unsafe { path: String, why: &'static str },
    #[error("reading layer archive: {0}")]
    Archive(#[source] io::Error),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Wraps a layer stream in the decompressor its first bytes call for (gzip, zstd, or none).
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buf = BufReader::with_capacity(256 * 1024, reader);
    let head = buf.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(buf)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(buf)?))
    } else {
        Ok(Box::new(buf))
    }
}

/// Reads as it hashes (sha256), so a layer's diff ID comes out of the same pass that unpacks it.
pub struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: sha2::Digest::new(),
        }
    }

    /// The digest of everything read so far.
    pub fn digest(self) -> crate::Digest {
        crate::Digest::from_sha256(&sha2::Digest::finalize(self.hasher))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

/// Decompresses `blob` (any supported compression) and unpacks it into `dest`, reading it to the
/// end. Returns the file bytes written and the diff ID (digest of the uncompressed tar) for the
/// caller to check before committing the layer.
pub fn unpack_blob<R: Read>(blob: R, dest: &Path) -> Result<(u64, crate::Digest), UnpackError> {
    let mut hashing = HashingReader::new(decompress(blob).map_err(UnpackError::Archive)?);
    let size = unpack_layer(&mut hashing, dest)?;
    io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Archive)?;
    Ok((size, hashing.digest()))
}

/// Unpacks the uncompressed tar stream `reader` into `dest` (which must exist and be empty).
/// Returns the bytes of regular file content written.
pub fn unpack_layer<R: Read>(reader: R, dest: &Path) -> Result<u64, UnpackError> {
    let mut archive = Archive::new(reader);
    let mut size = 0u64;
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    let mut linked: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().map_err(UnpackError::Archive)? {
        let mut entry = entry.map_err(UnpackError::Archive)?;
        let raw = entry.path().map_err(UnpackError::Archive)?.into_owned();
        let Some(rel) = clean_relative(&raw)? else {
            continue;
        };
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let header = entry.header().clone();
        let uid = header.uid().map_err(UnpackError::Archive)? as u32;
        let gid = header.gid().map_err(UnpackError::Archive)? as u32;

        if name == OPAQUE_MARKER {
            let dir = ensure_parents(dest, &rel)?;
            set_xattr(&dir, "trusted.overlay.opaque", b"y")?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let target = parent.join(hidden);
            let full = ensure_parents(dest, &target)?.join(hidden);
            remove_existing(&full)?;
            mknod(&full, libc::S_IFCHR, 0, 0)?;
            std::os::unix::fs::lchown(&full, Some(uid), Some(gid)).map_err(io_at(&full))?;
            continue;
        }

        let full =
            ensure_parents(dest, &rel)?.join(rel.file_name().expect("cleaned path has a name"));
        let mode = header.mode().map_err(UnpackError::Archive)? & 0o7777;
        let kind = header.entry_type();
        match kind {
            EntryType::Directory => match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    remove_existing(&full)?;
                    fs::create_dir(&full).map_err(io_at(&full))?;
                }
                Err(_) => fs::create_dir(&full).map_err(io_at(&full))?,
            },
            EntryType::Regular | EntryType::Continuous => {
                remove_existing(&full)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)
                    .map_err(io_at(&full))?;
                size += io::copy(&mut entry, &mut f).map_err(UnpackError::Archive)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .ok_or_else(|| unsafe_entry(&raw, "symlink without a target"))?;
                remove_existing(&full)?;
                std::os::unix::fs::symlink(&target, &full).map_err(io_at(&full))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .ok_or_else(|| unsafe_entry(&raw, "hard link without a target"))?;
                let target_rel = clean_relative(&target)?
                    .ok_or_else(|| unsafe_entry(&raw, "hard link to the layer root"))?;
                let target_full = ensure_existing_parents(dest, &target_rel)?
                    .join(target_rel.file_name().expect("named"));
                let meta = fs::symlink_metadata(&target_full)
                    .map_err(|_| unsafe_entry(&raw, "hard link to a file outside this layer"))?;
                if meta.is_dir() {
                    return Err(unsafe_entry(&raw, "hard link to a directory"));
                }
                remove_existing(&full)?;
                fs::hard_link(&target_full, &full).map_err(io_at(&full))?;
                linked.insert(full);
                continue; // a hard link shares its target's owner, mode and times
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let fmt = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                remove_existing(&full)?;
                mknod(&full, fmt, major, minor)?;
            }
            // PAX and GNU metadata headers are consumed by the parser; anything else carries no file.
            _ => continue,
        }

        std::os::unix::fs::lchown(&full, Some(uid), Some(gid)).map_err(io_at(&full))?;
        if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Archive)? {
            for ext in exts.flatten() {
                if let Some(attr) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    if kind == EntryType::Symlink
                        || (attr.starts_with("user.") && kind != EntryType::Regular)
                    {
                        continue;
                    }
                    set_xattr(&full, attr, ext.value_bytes())?;
                }
            }
        }
        if kind != EntryType::Symlink {
            fs::set_permissions(&full, fs::Permissions::from_mode(mode)).map_err(io_at(&full))?;
        }
        let mtime = header.mtime().unwrap_or(0) as i64;
        if kind == EntryType::Directory {
            dir_times.push((full, mtime));
        } else {
            set_mtime(&full, mtime)?;
        }
    }
    // Directory times last: creating entries inside a directory changes its mtime.
    for (dir, mtime) in dir_times.iter().rev() {
        set_mtime(dir, *mtime)?;
    }
    Ok(size)
}

fn unsafe_entry(path: &Path, why: &'static str) -> UnpackError {
    UnpackError::Unsafe {
        path: path.to_string_lossy().into_owned(),
        why,
    }
}

/// Normalises an entry path to one relative to the layer root. `None` means the root itself.
/// Absolute paths and paths that climb out with `..` are refused.
pub fn clean_relative(path: &Path) -> Result<Option<PathBuf>, UnpackError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(unsafe_entry(path, "path escapes the layer"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(path, "absolute path"))
            }
        }
    }
    Ok(if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    })
}

/// Makes sure every ancestor of `rel` exists under `dest` as a real directory (creating missing
/// ones) and returns the full path of `rel`'s parent. An ancestor that is a symlink is refused:
/// writing through it could land outside the layer.
fn ensure_parents(dest: &Path, rel: &Path) -> Result<PathBuf, UnpackError> {
    let mut cur = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_entry(rel, "parent directory is a symlink"))
                }
                Ok(_) => return Err(unsafe_entry(rel, "parent is not a directory")),
                Err(_) => fs::create_dir(&cur).map_err(io_at(&cur))?,
            }
        }
    }
    Ok(cur)
}

/// Like [`ensure_parents`] but creates nothing: for the targets of hard links.
fn ensure_existing_parents(dest: &Path, rel: &Path) -> Result<PathBuf, UnpackError> {
    let mut cur = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(unsafe_entry(
                        rel,
                        "hard link target is not inside this layer",
                    ))
                }
            }
        }
    }
    Ok(cur)
}

/// Removes whatever is at `path` (never following a symlink), so a new entry can take its place.
fn remove_existing(path: &Path) -> Result<(), UnpackError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_at(path)),
        Ok(_) => fs::remove_file(path).map_err(io_at(path)),
        Err(_) => Ok(()),
    }
}

fn cpath(path: &Path) -> Result<CString, UnpackError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| unsafe_entry(path, "path contains a NUL byte"))
}

fn mknod(path: &Path, fmt: libc::mode_t, major: u32, minor: u32) -> Result<(), UnpackError> {
    let c = cpath(path)?;
    // SAFETY: `c` is a valid NUL-terminated path; mknod does not retain it.
    let rc = unsafe { libc::mknod(c.as_ptr(), fmt | 0o600, libc::makedev(major, minor)) };
    if rc != 0 {
        return Err(io_at(path)(io::Error::last_os_error()));
    }
    Ok(())
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), UnpackError> {
    let c = cpath(path)?;
    let n = CString::new(name).map_err(|_| unsafe_entry(path, "xattr name contains a NUL byte"))?;
    // SAFETY: both strings are NUL-terminated and `value` is valid for its length.
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        // Filesystems without xattr support lose only the attribute, as with Docker.
        if err.raw_os_error() == Some(libc::ENOTSUP) {
            return Ok(());
        }
        return Err(io_at(path)(err));
    }
    Ok(())
}

fn set_mtime(path: &Path, secs: i64) -> Result<(), UnpackError> {
    let c = cpath(path)?;
    let t = libc::timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid path and a two-element timespec array, as utimensat requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io_at(path)(io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn tar_of(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if *kind == EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_size(data.len() as u64);
            h.set_mtime(946684800);
            h.set_uid(0);
            h.set_gid(0);
            {
                // Write the name raw so that tests can build hostile archives the builder would refuse.
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name[..path.len()].copy_from_slice(path.as_bytes());
            }
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_become_overlay_markers() {
        let dir = tempfile::tempdir().unwrap();
        let t = tar_of(&[
            ("data/", EntryType::Directory, b"", None),
            ("data/.wh.a", EntryType::Regular, b"", None),
            (".wh.linuxrc", EntryType::Regular, b"", None),
            ("opq/.wh..wh..opq", EntryType::Regular, b"", None),
            ("opq/z", EntryType::Regular, b"z\n", None),
        ]);
        let size = unpack_layer(&t[..], dir.path()).unwrap();
        assert_eq!(size, 2);
        let wh = fs::symlink_metadata(dir.path().join("data/a")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert!(fs::symlink_metadata(dir.path().join("linuxrc"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert!(!dir.path().join("data/.wh.a").exists());
        let mut buf = [0u8; 4];
        let c = cpath(&dir.path().join("opq")).unwrap();
        let n = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                buf.as_mut_ptr().cast(),
                4,
            )
        };
        assert_eq!(n, 1, "opaque xattr set (needs root)");
        assert_eq!(&buf[..1], b"y");
        assert_eq!(fs::read(dir.path().join("opq/z")).unwrap(), b"z\n");
    }

    #[test]
    fn refuses_paths_that_escape() {
        for (bad, kind, link) in [
            ("../evil", EntryType::Regular, None),
            ("a/../../evil", EntryType::Regular, None),
            ("/etc/evil", EntryType::Regular, None),
            ("hl", EntryType::Link, Some("../../etc/passwd")),
            ("hl", EntryType::Link, Some("/etc/passwd")),
        ] {
            let outer = tempfile::tempdir().unwrap();
            let dest = outer.path().join("layer");
            fs::create_dir(&dest).unwrap();
            let t = tar_of(&[(bad, kind, b"x", link)]);
            let err = unpack_layer(&t[..], &dest).unwrap_err();
            assert!(matches!(err, UnpackError::Unsafe { .. }), "{bad}: {err}");
            assert_eq!(
                fs::read_dir(outer.path()).unwrap().count(),
                1,
                "nothing written beside the layer"
            );
        }
    }

    #[test]
    fn never_writes_through_a_symlink() {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        let victim = outer.path().join("victim");
        fs::create_dir_all(&dest).unwrap();
        fs::create_dir_all(&victim).unwrap();
        let t = tar_of(&[
            (
                "escape",
                EntryType::Symlink,
                b"",
                Some(victim.to_str().unwrap()),
            ),
            ("escape/owned", EntryType::Regular, b"pwned", None),
        ]);
        assert!(matches!(
            unpack_layer(&t[..], &dest),
            Err(UnpackError::Unsafe { .. })
        ));
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);

        // A regular file entry replaces a symlink of the same name instead of writing through it.
        let dest2 = outer.path().join("layer2");
        fs::create_dir_all(&dest2).unwrap();
        let target = outer.path().join("target-file");
        fs::write(&target, "keep").unwrap();
        let t = tar_of(&[
            ("f", EntryType::Symlink, b"", Some(target.to_str().unwrap())),
            ("f", EntryType::Regular, b"new", None),
        ]);
        unpack_layer(&t[..], &dest2).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(fs::read_to_string(dest2.join("f")).unwrap(), "new");
    }

    #[test]
    fn hard_links_within_the_layer_work() {
        let dir = tempfile::tempdir().unwrap();
        let t = tar_of(&[
            ("bin/", EntryType::Directory, b"", None),
            ("bin/a", EntryType::Regular, b"data", None),
            ("bin/b", EntryType::Link, b"", Some("bin/a")),
        ]);
        assert_eq!(unpack_layer(&t[..], dir.path()).unwrap(), 4);
        assert_eq!(fs::read(dir.path().join("bin/b")).unwrap(), b"data");
    }

    #[test]
    fn sniffs_compression() {
        use std::io::Write;
        let t = tar_of(&[("f", EntryType::Regular, b"hi", None)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&t[..], 1).unwrap();
        for blob in [t.clone(), gz, zst] {
            let mut out = Vec::new();
            decompress(&blob[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, t);
        }
    }
}
