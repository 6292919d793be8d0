//! Who on the host may read berth's state: nobody but root. Containers' records hold their
//! environment (`-e DB_PASSWORD=…`), their logs hold their output, and a running container's
//! root filesystem holds its setuid binaries; Docker's modes keep them from other users, and
//! berth uses the same: the data root and its directories `0710`, records and bundles `0600`,
//! logs `0640`. The exec root stays traversable (`0711`) for the socket in it, whose own mode
//! (`0660`) decides who talks to berthd; everything else in it is `0700`.
//!
//! New state is created with these modes where it is written; this tightens what an older
//! berthd left, at every start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn set(path: &Path, mode: u32) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    // Never through a link, and only tighter or equal.
    if meta.file_type().is_symlink() || meta.permissions().mode() & 0o7777 == mode {
        return;
    }
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), error = %e, "tightening the mode");
    }
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

/// Puts Docker's modes on the data root and the exec root and what is in them.
pub fn tighten(data_root: &Path, exec_root: &Path) {
    set(data_root, 0o710);
    for d in [
        "containers",
        "layers",
        "image",
        "content",
        "tmp",
        "volumes",
        "builder",
    ] {
        set(&data_root.join(d), 0o710);
    }
    for layer in entries(&data_root.join("layers")) {
        set(&layer, 0o710);
    }
    for dir in entries(&data_root.join("containers")) {
        set(&dir, 0o710);
        for f in entries(&dir) {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if name == "config.v2.json" {
                set(&f, 0o600);
            } else if name.contains("-json.log") {
                set(&f, 0o640);
            } else if name == "local-logs" {
                set(&f, 0o710);
                for l in entries(&f) {
                    set(&l, 0o640);
                }
            }
        }
    }
    set(exec_root, 0o711);
    for d in ["containers", "s", "netns", "runtime"] {
        set(&exec_root.join(d), 0o700);
    }
    for dir in entries(&exec_root.join("containers")) {
        set(&dir, 0o700);
        set(&dir.join("config.json"), 0o600);
    }
}
