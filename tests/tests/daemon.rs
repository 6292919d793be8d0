//! berthd itself: the API's protocol details, the data-root lock, shutdown, and restarts.

use berth_tests::{registry_with_images, Daemon};

#[test]
fn ping_and_version_negotiation() {
    let d = Daemon::start();
    let (status, head, body) = d.http("GET", "/_ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    let head = head.to_ascii_lowercase();
    for h in [
        "api-version: 1.47",
        "ostype: linux",
        "docker-experimental: false",
        "builder-version:",
        "server: docker/",
        "cache-control: no-cache, no-store, must-revalidate",
    ] {
        assert!(head.contains(h), "missing {h} in {head}");
    }
    let (status, _, _) = d.http("HEAD", "/_ping", None);
    assert_eq!(status, 200);
    let (status, _, body) = d.http("GET", "/v1.99/version", None);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"message":"client version 1.99 is too new. Maximum supported API version is 1.47"}"#
    );
    let (status, _, body) = d.http("GET", "/v1.12/version", None);
    assert_eq!(status, 400);
    assert!(body.contains("is too old"), "{body}");
    for path in ["/version", "/v1.24/version", "/v1.47/version"] {
        let (status, _, body) = d.http("GET", path, None);
        assert_eq!(status, 200, "{path}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ApiVersion"], "1.47");
        assert_eq!(v["MinAPIVersion"], "1.24");
    }
    let (status, _, body) = d.http("GET", "/no/such/path", None);
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"message":"page not found"}"#)
    );
    let (status, _, _) = d.http("GET", "/plugins/x/json", None);
    assert_eq!(
        status, 404,
        "docker inspect needs a 404 from the plugin probe"
    );
}

#[test]
fn a_second_daemon_on_the_same_data_root_refuses() {
    let d = Daemon::start();
    let out = std::process::Command::new(berth_tests::bin("berthd"))
        .arg("--data-root")
        .arg(d.data_root())
        .arg("--exec-root")
        .arg(d.exec_root())
        .arg("-H")
        .arg(format!("unix://{}/other.sock", d.exec_root().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already using data root"), "{err}");
    // The first one is unharmed.
    d.berth(&["version"]).ok();
}

#[test]
fn sigterm_stops_cleanly_and_state_survives_a_restart() {
    let (reg, imgs) = registry_with_images();
    let mut d = Daemon::start();
    let name = format!("{}/library/busybox", reg.addr);
    d.berth(&["pull", &name]).ok();
    d.berth(&["tag", &name, "kept:1"]).ok();
    assert_eq!(d.stop(), Some(0), "clean exit on SIGTERM");
    assert!(!d.socket().exists(), "socket removed on shutdown");
    // The spare shim's socket (berthd makes it before the shim starts) goes with the spare.
    let left: Vec<_> = std::fs::read_dir(d.exec_root().join("s"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "shim sockets left: {left:?}");
    d.start_again();
    let out = d
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .ok();
    let id = &imgs.ids["busybox:latest"][7..19];
    assert_eq!(out.stdout, format!("{name}:latest {id}\nkept:1 {id}\n"));
}

#[test]
fn rmi_and_prune_follow_docker_rules() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let bb = format!("{}/library/busybox", reg.addr);
    let two = format!("{}/library/twolayer", reg.addr);
    d.berth(&["pull", &bb]).ok();
    d.berth(&["pull", &two]).ok();
    d.berth(&["tag", &bb, "other/repo:x"]).ok();
    // By ID, an image named in two repositories needs -f.
    let short = &imgs.ids["busybox:latest"][7..19];
    let out = d.berth(&["rmi", short]).failed();
    assert!(
        out.stderr
            .contains("(must be forced) - image is referenced in multiple repositories"),
        "{}",
        out.stderr
    );
    // Removing a tag that is not the last only untags; the shared base layer stays for twolayer.
    assert_eq!(
        d.berth(&["rmi", "other/repo:x"]).ok().stdout,
        "Untagged: other/repo:x\n"
    );
    let out = d.berth(&["rmi", &bb]).ok();
    assert!(
        out.stdout
            .contains(&format!("Deleted: {}", imgs.ids["busybox:latest"])),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout.matches("Deleted:").count(),
        1,
        "base layer still used by twolayer: {}",
        out.stdout
    );
    d.berth(&["image", "inspect", &two]).ok();

    // prune: dangling only by default, everything unused with -a.
    let out = d.berth(&["image", "prune", "-f"]).ok();
    assert_eq!(out.stdout, "Total reclaimed space: 0B\n");
    let out = d.berth(&["image", "prune", "-a", "-f"]).ok();
    assert!(
        out.stdout.starts_with("Deleted Images:\nuntagged: ")
            || out.stdout.starts_with("Deleted Images:\nUntagged: "),
        "{}",
        out.stdout
    );
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
    assert_eq!(
        std::fs::read_dir(d.data_root().join("layers"))
            .unwrap()
            .count(),
        0,
        "layers collected"
    );
    assert_eq!(
        std::fs::read_dir(d.data_root().join("content/blobs/sha256"))
            .unwrap()
            .count(),
        0,
        "blobs collected"
    );
}
