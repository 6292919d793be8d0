//! The real docker CLI (28.x) against berthd: what it prints must be what it prints against
//! dockerd.

use berth_tests::{registry_with_images, Daemon};

#[test]
fn version_and_info() {
    let d = Daemon::start();
    let out = d.docker(&["version"]).ok();
    assert!(
        out.stdout
            .contains("API version:      1.47 (minimum version 1.24)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Server: berth"), "{}", out.stdout);
    let out = d
        .docker(&[
            "info",
            "--format",
            "{{.Images}} {{.Driver}} {{.CgroupVersion}} {{.DockerRootDir}}",
        ])
        .ok();
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    assert_eq!(
        out.stdout.trim(),
        format!("0 overlay2 {cgroup} {}", d.data_root().display())
    );
    let out = d.docker(&["info"]).ok();
    assert!(
        out.stdout.contains("Insecure Registries:\n  127.0.0.0/8"),
        "{}",
        out.stdout
    );
}

#[test]
fn pull_images_inspect_tag_history_rmi() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let name = format!("{}/library/twolayer", reg.addr);

    let out = d.docker(&["pull", &name]).ok();
    assert!(
        out.stdout
            .starts_with("Using default tag: latest\nlatest: Pulling from library/twolayer\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with(&format!(
        "Digest: {}\nStatus: Downloaded newer image for {name}:latest\n{name}:latest\n",
        imgs.digests["twolayer:latest"]
    )));

    let id = &imgs.ids["twolayer:latest"][7..19];
    let out = d.docker(&["images"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{:<w$}TAG       IMAGE ID       CREATED        SIZE",
            "REPOSITORY",
            w = name.len() + 3
        )
    );
    assert!(
        lines[1].starts_with(&format!("{name}   latest    {id}   26 years ago   ")),
        "{}",
        out.stdout
    );

    let out = d
        .docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{index .RepoTags 0}} {{.Config.WorkingDir}}",
            &name,
        ])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        format!("{} {name}:latest /", imgs.ids["twolayer:latest"])
    );

    d.docker(&["tag", &name, "local/two:v1"]).ok();
    let out = d
        .docker(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "local/two",
        ])
        .ok();
    assert_eq!(out.stdout, "local/two:v1\n");

    let out = d.docker(&["history", "local/two:v1"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[1].starts_with(&format!(
            "{id}   N/A       test image: add /file /hello.txt"
        )),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("<missing>      N/A       test image: busybox-static rootfs"),
        "{}",
        out.stdout
    );

    let out = d.docker(&["rmi", "local/two:v1"]).ok();
    assert_eq!(out.stdout, "Untagged: local/two:v1\n");
    let out = d.docker(&["rmi", &name]).ok();
    assert!(
        out.stdout.starts_with(&format!(
            "Untagged: {name}:latest\nUntagged: {name}@{}\nDeleted: {}\n",
            imgs.digests["twolayer:latest"], imgs.ids["twolayer:latest"]
        )),
        "{}",
        out.stdout
    );
    assert_eq!(d.docker(&["images", "-q"]).ok().stdout, "");
}

#[test]
fn errors_match_dockerd() {
    let (reg, _) = registry_with_images();
    let d = Daemon::start();
    let out = d.docker(&["rmi", "nope"]).failed();
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: No such image: nope:latest"
    );
    let out = d
        .docker(&["pull", &format!("{}/library/busybox:nope", reg.addr)])
        .failed();
    assert_eq!(out.stderr.trim(), format!("Error response from daemon: manifest for {}/library/busybox:nope not found: manifest unknown: manifest unknown", reg.addr));
    let out = d.docker(&["image", "inspect", "nope"]).failed();
    assert!(out.stderr.contains("No such image: nope"), "{}", out.stderr);
    let out = d.docker(&["inspect", "nope"]).failed();
    assert!(
        out.stderr.contains("No such object: nope"),
        "{}",
        out.stderr
    );
}

#[test]
fn berth_and_docker_print_the_same_tables() {
    let (reg, _) = registry_with_images();
    let d = Daemon::start();
    for img in ["busybox", "twolayer", "whiteout"] {
        d.berth(&["pull", &format!("{}/library/{img}", reg.addr)])
            .ok();
    }
    d.berth(&["tag", &format!("{}/library/busybox", reg.addr), "mine:1"])
        .ok();
    for args in [
        vec!["images"],
        vec!["images", "--digests"],
        vec!["images", "--no-trunc"],
        vec!["images", "-q"],
        vec!["images", "--format", "table {{.Repository}}\t{{.ID}}"],
        vec!["images", "--filter", "reference=mine"],
        vec!["images", "--filter", "label=org.example.test=two-layer"],
        vec!["history", "mine:1"],
        vec!["history", "--no-trunc", "mine:1"],
    ] {
        // The docker CLI orders the rows of one image's tags by Go map iteration, which is
        // random; compare the header and the set of rows.
        let rows = |s: String| {
            let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
            let header = if lines.is_empty() {
                String::new()
            } else {
                lines.remove(0)
            };
            lines.sort();
            (header, lines)
        };
        let ours = rows(d.berth(&args).ok().stdout);
        let theirs = rows(d.docker(&args).ok().stdout);
        assert_eq!(ours, theirs, "berth {args:?}");
    }
}
