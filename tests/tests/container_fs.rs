//! A container's filesystem from outside: `diff` (changes over the image, whiteouts as
//! deletions) and `export` (the merged tree as a tar), running and stopped, through the docker
//! CLI and berth.

use berth_tests::Daemon;

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn diff_reports_adds_changes_and_deletions_like_docker() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["create", "--name", "fresh", "busybox", "true"])
        .ok();
    let out = d.docker(&["diff", "fresh"]).ok();
    assert_eq!(out.stdout, "", "a container that never ran changed nothing");
    d.docker(&["start", "-a", "fresh"]).ok();
    let out = d.docker(&["diff", "fresh"]).ok();
    assert_eq!(out.stdout, "", "nor one whose program wrote nothing");
    d.docker(&[
        "run",
        "--name",
        "ch",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /srv/data && echo x > /srv/data/f && echo y >> /etc/passwd && rm /bin/ls",
    ])
    .ok();
    for cli in ["docker", "berth"] {
        let out = if cli == "docker" {
            d.docker(&["diff", "ch"]).ok()
        } else {
            d.berth(&["diff", "ch"]).ok()
        };
        let lines: Vec<&str> = out.stdout.lines().collect();
        for want in [
            "C /bin",
            "D /bin/ls",
            "C /etc/passwd",
            "A /srv",
            "A /srv/data",
            "A /srv/data/f",
        ] {
            assert!(
                lines.contains(&want),
                "{cli}: {want} not in\n{}",
                out.stdout
            );
        }
        let mut sorted = lines.clone();
        sorted.sort_by_key(|l| l[2..].to_string());
        assert_eq!(lines, sorted, "sorted by path");
    }
    let (status, _, body) = d.http("GET", "/containers/ch/changes", None);
    assert_eq!(status, 200);
    assert!(body.contains(r#"{"Path":"/bin/ls","Kind":2}"#), "{body}");
    let out = d.docker(&["diff", "nosuch"]);
    assert!(
        out.stderr.contains("No such container: nosuch"),
        "{}",
        out.stderr
    );
}

#[test]
fn export_streams_the_merged_filesystem_running_or_stopped() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo hi > /made-here && rm /bin/ls && sleep 1000",
    ])
    .ok();
    // Until the file is there.
    for _ in 0..100 {
        if d.docker(&["exec", "live", "test", "-e", "/made-here"]).code == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out_file = d.data_root().with_extension("export.tar");
    for (cli, stopped) in [("docker", false), ("berth", false), ("docker", true)] {
        if stopped {
            d.docker(&["stop", "-t", "0", "live"]).ok();
        }
        let path = out_file.to_str().unwrap();
        let args = ["export", "-o", path, "live"];
        if cli == "docker" {
            d.docker(&args).ok();
        } else {
            d.berth(&args).ok();
        }
        let bytes = std::fs::read(&out_file).unwrap();
        let names = tar_names(&bytes);
        assert!(
            names.iter().any(|n| n == "made-here"),
            "{cli} {stopped}: {names:?}"
        );
        assert!(names.iter().any(|n| n == "bin/sh"), "{names:?}");
        assert!(
            !names.iter().any(|n| n == "bin/ls"),
            "deleted in the container"
        );
        assert!(!names.iter().any(|n| n.starts_with('/') || n.contains("..")));
    }
    // The stopped container's rootfs is not left mounted, and it starts again.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = d.data_root().display().to_string();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&root) && l.contains("rootfs")),
        "left mounted"
    );
    d.docker(&["start", "live"]).ok();
    let out = d.docker(&["export", "nosuch"]);
    assert!(out.stderr.contains("No such container"), "{}", out.stderr);
}
