//! What a COPY or ADD puts into the image, as one tar of entries named from the image's root:
//! each source read by descriptor from its root (the context, or another stage's or image's
//! filesystem), renamed under the destination, given the step's owner and mode. The tar's
//! content digest (names, types, modes, owners, links and bytes; not times) is the step's
//! cache key, so a touched but unchanged file still hits the cache.

use std::io::{self, Read};
use std::os::fd::OwnedFd;

use sha2::{Digest as _, Sha256};

use crate::BuildError;

/// Owner and mode a COPY gives what it copies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
}

/// The tar being made and the digest of its content.
pub struct CopyTar {
    tar: tar::Builder<Vec<u8>>,
    hash: Sha256,
    pub entries: usize,
}

impl Default for CopyTar {
    fn default() -> Self {
        CopyTar {
            tar: tar::Builder::new(Vec::new()),
            hash: Sha256::new(),
            entries: 0,
        }
    }
}

impl CopyTar {
    /// Adds the tree at `path` in `root`. A directory's contents go into `dest` (the directory
    /// itself is not copied, as Docker's COPY does); anything else becomes `dest`. `keep`
    /// says, for a path relative to `root`, whether it is copied (`.dockerignore`).
    pub fn add_source(
        &mut self,
        root: &OwnedFd,
        path: &str,
        dest: &str,
        own: Ownership,
        keep: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), BuildError> {
        let mut raw = Vec::new();
        berth_container::cp::archive(root, path, &mut raw).map_err(|e| match e {
            berth_container::cp::CpError::NotFound(_) => BuildError::Invalid(format!(
                "file not found in build context or excluded by .dockerignore: stat {path}: file does not exist"
            )),
            e => BuildError::Invalid(e.to_string()),
        })?;
        let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let mut ar = tar::Archive::new(&raw[..]);
        for entry in ar.entries()? {
            let mut entry = entry?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = name.trim_end_matches('/');
            // The first component is the source's own name.
            let (_, below) = name.split_once('/').unwrap_or((name, ""));
            let own_rel = match (parent, below) {
                (_, "") => path.to_string(),
                ("", b) => match path {
                    "" => b.to_string(),
                    p => format!("{p}/{b}"),
                },
                (_, b) => format!("{path}/{b}"),
            };
            if !own_rel.is_empty() && !keep(&own_rel) {
                continue;
            }
            let is_dir = entry.header().entry_type().is_dir();
            let target = match below {
                "" if is_dir => continue,
                "" => dest.trim_end_matches('/').to_string(),
                b => format!("{}/{b}", dest.trim_end_matches('/')),
            };
            let mut h = entry.header().clone();
            h.set_uid(own.uid.into());
            h.set_gid(own.gid.into());
            if let Some(m) = own.chmod {
                h.set_mode(m);
            }
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            self.append(h, &target, link.as_deref(), &data)?;
        }
        Ok(())
    }

    /// Adds a directory entry (a destination's missing parent).
    pub fn add_dir(&mut self, path: &str, own: Ownership) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(own.uid.into());
        h.set_gid(own.gid.into());
        h.set_mtime(now());
        self.append(h, path, None, &[])
    }

    /// Adds a regular file with `content` (a heredoc).
    pub fn add_file(&mut self, path: &str, content: &[u8], own: Ownership) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(own.chmod.unwrap_or(0o644));
        h.set_uid(own.uid.into());
        h.set_gid(own.gid.into());
        h.set_mtime(now());
        self.append(h, path, None, content)
    }

    /// ADD's local archive: its entries under `dest`, with the archive's own owners.
    pub fn add_archive(&mut self, archive: impl Read, dest: &str) -> Result<(), BuildError> {
        let input = berth_image::unpack::decompress(archive)?;
        let mut ar = tar::Archive::new(input);
        for entry in ar.entries()? {
            let mut entry = entry?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let rel = crate::context::clean_source(&name).map_err(|_| {
                BuildError::Invalid(format!(
                    "refusing to unpack {name:?}: it leads outside the destination"
                ))
            })?;
            if rel.is_empty() {
                continue;
            }
            let h = entry.header().clone();
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            let target = format!("{}/{rel}", dest.trim_end_matches('/'));
            self.append(h, &target, link.as_deref(), &data)?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        mut h: tar::Header,
        path: &str,
        link: Option<&[u8]>,
        data: &[u8],
    ) -> io::Result<()> {
        let name = path.trim_start_matches('/');
        let name = if name.is_empty() { "." } else { name };
        for part in [
            name.as_bytes(),
            &[h.entry_type().as_byte()],
            // An empty numeric field reads as 0, as Go's archive/tar (and so Docker) reads it.
            format!(
                "{:o}:{}:{}",
                h.mode().unwrap_or(0),
                h.uid().unwrap_or(0),
                h.gid().unwrap_or(0)
            )
            .as_bytes(),
            link.unwrap_or_default(),
        ] {
            self.hash.update((part.len() as u64).to_le_bytes());
            self.hash.update(part);
        }
        self.hash.update((data.len() as u64).to_le_bytes());
        self.hash.update(data);
        self.entries += 1;
        match link {
            Some(l) if h.entry_type().is_symlink() || h.entry_type().is_hard_link() => {
                h.set_size(0);
                self.tar.append_link(
                    &mut h,
                    name,
                    std::ffi::OsStr::new(&*String::from_utf8_lossy(l)),
                )
            }
            _ => {
                h.set_size(data.len() as u64);
                self.tar.append_data(&mut h, name, data)
            }
        }
    }

    /// The tar's bytes and its content digest.
    pub fn finish(self) -> io::Result<(Vec<u8>, String)> {
        let bytes = self.tar.into_inner()?;
        Ok((bytes, hex::encode(self.hash.finalize())))
    }
}

/// Whether `bytes` (the start of a file) are a tar archive ADD unpacks: gzip, zstd, or a
/// plain tar's `ustar` magic.
pub fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.get(257..262) == Some(b"ustar")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_renamed_owned_and_hashed_without_times() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/sub")).unwrap();
        std::fs::write(dir.path().join("src/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("src/sub/b.txt"), "b").unwrap();
        std::fs::write(dir.path().join("src/skip.log"), "x").unwrap();
        let root = berth_container::cp::open_root(dir.path()).unwrap();
        let own = Ownership {
            uid: 7,
            gid: 8,
            chmod: None,
        };
        let make = || {
            let mut t = CopyTar::default();
            t.add_source(&root, "src", "/app", own, &|p| !p.ends_with(".log"))
                .unwrap();
            t.add_source(&root, "src/a.txt", "/etc/a.conf", own, &|_| true)
                .unwrap();
            t.finish().unwrap()
        };
        let (bytes, hash) = make();
        let mut names = Vec::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(
                (e.header().uid().unwrap(), e.header().gid().unwrap()),
                (7, 8)
            );
            names.push(e.path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(
            names,
            ["app/a.txt", "app/sub", "app/sub/b.txt", "etc/a.conf"]
        );
        // A new mtime alone keeps the key.
        let t = std::time::SystemTime::now() + std::time::Duration::from_secs(100);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("src/a.txt"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert_eq!(make().1, hash);
        std::fs::write(dir.path().join("src/a.txt"), "changed").unwrap();
        assert_ne!(make().1, hash);
    }
}
