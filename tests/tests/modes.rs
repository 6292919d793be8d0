//! berth's state is root's: another host user reads no container record, log, layer or
//! running root filesystem, and a data root left readable by an older berthd is tightened at
//! start. The socket is 0660, widened to a group only with `--group`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use berth_tests::Daemon;

/// Whether uid/gid 65534 (nobody) can open `path` for reading (or list it, for a directory).
fn nobody_reads(path: &Path) -> bool {
    let cmd = if path.is_dir() { "ls" } else { "cat" };
    std::process::Command::new(cmd)
        .arg(path)
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn other_users_read_nothing_of_berths_state() {
    let (mut d, _reg) = Daemon::with_busybox();
    // The test's own scratch directory is private; open it so that only berth's modes guard.
    std::fs::set_permissions(d.root_path(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "secret",
        "-e",
        "DB_PASSWORD=hunter2",
        "busybox",
        "sh",
        "-c",
        "echo logged; sleep 1000",
    ])
    .ok();
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", "secret"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let data = d.data_root();
    let dir = data.join("containers").join(&id);
    let check = |d: &Daemon| {
        assert_eq!(mode(&data), 0o710);
        assert_eq!(mode(&data.join("containers")), 0o710);
        assert_eq!(mode(&dir), 0o710);
        assert_eq!(mode(&dir.join("config.v2.json")), 0o600);
        assert_eq!(mode(&dir.join(format!("{id}-json.log"))), 0o640);
        assert_eq!(mode(&data.join("layers")), 0o710);
        assert_eq!(
            mode(
                &d.exec_root()
                    .join("containers")
                    .join(&id)
                    .join("config.json")
            ),
            0o600
        );
        assert_eq!(mode(&d.socket()), 0o660);
        for p in [
            data.clone(),
            data.join("containers"),
            dir.join("config.v2.json"),
            dir.join(format!("{id}-json.log")),
            dir.join("rootfs/bin"),
            data.join("layers"),
            d.exec_root()
                .join("containers")
                .join(&id)
                .join("config.json"),
        ] {
            assert!(!nobody_reads(&p), "another user reads {}", p.display());
        }
    };
    check(&d);
    // An older berthd's modes: everything readable. Tightened at the next start.
    d.stop();
    let loosen = |p: &Path| {
        let m = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    for p in [
        data.clone(),
        data.join("containers"),
        dir.clone(),
        dir.join("config.v2.json"),
        dir.join(format!("{id}-json.log")),
        data.join("layers"),
    ] {
        loosen(&p);
    }
    assert!(nobody_reads(&dir.join("config.v2.json")));
    d.start_again();
    berth_tests::wait_until("the container to be picked up", || {
        d.docker(&["inspect", "-f", "{{.State.Running}}", "secret"])
            .stdout
            .trim()
            == "true"
    });
    check(&d);
    // The API's socket stays root's unless a group is given.
    assert_eq!(std::fs::metadata(d.socket()).unwrap().gid(), 0);
}

#[test]
fn group_widens_the_socket() {
    let d = Daemon::start_with(&["--group", "65534"]);
    let m = std::fs::metadata(d.socket()).unwrap();
    assert_eq!((m.gid(), m.permissions().mode() & 0o777), (65534, 0o660));
    // Another daemon's command line, run while that daemon still owns its bridge.
    let other = berth_tests::Daemon::start_with(&[]);
    let mut cmd = other.command();
    cmd.arg("--group").arg("no-such-group-here");
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such group"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
