//! One berthd per data root: an exclusive `flock` on `<data-root>/berthd.lock`, held for the
//! daemon's life and released by the kernel however it ends (even `kill -9`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{bail, Context, Result};

pub struct DataRootLock {
    _file: File,
}

impl DataRootLock {
    pub fn acquire(data_root: &Path) -> Result<Self> {
        let path = data_root.join("berthd.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            bail!(
                "another berthd (pid {}) is already using data root {}: stop it first, or give this one its own --data-root",
                pid.trim(),
                data_root.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(DataRootLock { _file: file })
    }
}
