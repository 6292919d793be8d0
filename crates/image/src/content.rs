//! The content store: blobs (layers, configs, manifests) addressed by their sha256 digest.
//!
//! A blob becomes visible only once its bytes are known to match its digest: writers fill a file
//! under `ingest/`, and [`Ingest::commit`] checks the digest, fsyncs and renames it into
//! `blobs/sha256/`. A crash leaves at most a stray ingest file, which [`ContentStore::open`] removes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::fsutil::{atomic_write, random_suffix};
use crate::Digest;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("content store i/o on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContentError + '_ {
    move |source| ContentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Blobs on disk under `<data-root>/content`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store and discards partial writes left by a crash.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ContentError> {
        let root = root.into();
        let store = ContentStore { root };
        let blobs = store.root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let ingest = store.ingest_dir();
        let _ = fs::remove_dir_all(&ingest);
        fs::create_dir_all(&ingest).map_err(io_err(&ingest))?;
        Ok(store)
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Where a committed blob lives.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let p = self.path(digest);
        fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => io_err(&p)(e),
        })
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ContentError::NotFound(digest.clone()),
            _ => io_err(&p)(e),
        })
    }

    /// Stores a small blob already in memory, checking it against `expected` when given.
    pub fn put(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest, ContentError> {
        let actual = Digest::of(bytes);
        if let Some(e) = expected {
            if *e != actual {
                return Err(ContentError::DigestMismatch {
                    expected: e.clone(),
                    actual,
                });
            }
        }
        let p = self.path(&actual);
        if !p.exists() {
            atomic_write(&p, bytes).map_err(io_err(&p))?;
        }
        Ok(actual)
    }

    /// Starts writing a blob whose digest is checked at commit.
    pub fn ingest(&self) -> Result<Ingest, ContentError> {
        let path = self.ingest_dir().join(random_suffix());
        let file = File::create(&path).map_err(io_err(&path))?;
        Ok(Ingest {
            store: self.clone(),
            path,
            file: Some(file),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    pub fn remove(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Every committed blob.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if let Ok(d) = Digest::parse(&format!("sha256:{}", entry.file_name().to_string_lossy()))
            {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// A blob being written. Dropped without [`Ingest::commit`], it leaves nothing behind.
pub struct Ingest {
    store: ContentStore,
    path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    written: u64,
}

impl Ingest {
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks size and digest, then makes the blob visible under its digest.
    pub fn commit(
        mut self,
        expected: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Digest, ContentError> {
        let actual = Digest::from_sha256(&std::mem::take(&mut self.hasher).finalize());
        if let Some(size) = expected_size {
            if size != self.written {
                return Err(ContentError::SizeMismatch {
                    digest: expected.clone(),
                    expected: size,
                    actual: self.written,
                });
            }
        }
        if actual != *expected {
            return Err(ContentError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        let file = self.file.take().expect("ingest file present until commit");
        file.sync_all().map_err(io_err(&self.path))?;
        drop(file);
        let dest = self.store.path(expected);
        fs::rename(&self.path, &dest).map_err(io_err(&dest))?;
        Ok(actual)
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.as_mut().expect("ingest file open").write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("ingest file open").flush()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_commits_only_matching_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let good = Digest::of(b"hello");
        let mut w = store.ingest().unwrap();
        w.write_all(b"hello").unwrap();
        w.commit(&good, Some(5)).unwrap();
        assert_eq!(store.read(&good).unwrap(), b"hello");

        let other = Digest::of(b"other");
        let mut w = store.ingest().unwrap();
        w.write_all(b"tampered").unwrap();
        assert!(matches!(
            w.commit(&other, None),
            Err(ContentError::DigestMismatch { .. })
        ));
        assert!(!store.contains(&other));
        assert_eq!(
            fs::read_dir(dir.path().join("ingest")).unwrap().count(),
            0,
            "failed ingest leaves nothing"
        );
    }

    #[test]
    fn open_discards_stale_ingests() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let w = store.ingest().unwrap();
        std::mem::forget(w);
        ContentStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    }
}
