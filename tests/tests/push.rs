//! Pushing to a real registry with berth and the docker CLI, and pulling the result back.

use berth_tests::{registry_with_images, Daemon, Registry};

#[test]
fn push_uploads_mounts_and_skips_existing_layers() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let two = format!("{}/library/twolayer", reg.addr);
    d.berth(&["pull", &two]).ok();
    let target = format!("{}/pushed/two:v1", reg.addr);
    d.berth(&["tag", &two, &target]).ok();

    let out = d.berth(&["push", &target]).ok();
    assert!(
        out.stdout.starts_with(&format!(
            "The push refers to repository [{}/pushed/two]\n",
            reg.addr
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Mounted from library/twolayer"),
        "layers come from the repo they were pulled from: {}",
        out.stdout
    );
    let digest_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("v1: digest: "))
        .expect("digest line")
        .to_string();
    // The pulled manifest is pushed byte for byte, so the digest is the source's.
    assert!(
        digest_line.contains(&imgs.digests["twolayer:latest"]),
        "{digest_line}"
    );

    // Again, through the docker CLI: everything is already there.
    let out = d.docker(&["push", &target]).ok();
    assert!(
        out.stdout.contains("Layer already exists"),
        "{}",
        out.stdout
    );

    // A fresh daemon pulls what was pushed and gets the same image.
    let d2 = Daemon::start();
    d2.berth(&["pull", &target]).ok();
    let id = d2
        .berth(&["image", "inspect", "--format", "{{.Id}}", &target])
        .ok()
        .stdout;
    assert_eq!(id.trim(), imgs.ids["twolayer:latest"]);

    // Layers the registry has never seen are uploaded.
    let other = Registry::start();
    let fresh = format!("{}/fresh/two:v2", other.addr);
    d.berth(&["tag", &two, &fresh]).ok();
    let out = d.docker(&["push", &fresh]).ok();
    assert_eq!(out.stdout.matches(": Pushed").count(), 2, "{}", out.stdout);
    let digests = d
        .berth(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            &two,
        ])
        .ok()
        .stdout;
    assert!(
        digests.contains(&format!("{}/fresh/two@sha256:", other.addr)),
        "push records the repo digest: {digests}"
    );

    let out = d
        .berth(&["push", &format!("{}/not/local:1", reg.addr)])
        .failed();
    assert_eq!(out.stderr.trim(), format!("Error response from daemon: An image does not exist locally with the tag: {}/not/local:1", reg.addr));
}

#[test]
fn push_needs_credentials_where_the_registry_asks() {
    let (src, _) = registry_with_images();
    let reg = Registry::start_with_auth("pusher", "pw");
    let d = Daemon::start();
    let bb = format!("{}/library/busybox", src.addr);
    d.berth(&["pull", &bb]).ok();
    let target = format!("{}/team/bb:1", reg.addr);
    d.berth(&["tag", &bb, &target]).ok();
    let out = d.berth(&["push", &target]).failed();
    assert!(
        out.stderr.contains("unauthorized") || out.stderr.contains("401"),
        "{}",
        out.stderr
    );
    d.docker_stdin(
        &["login", "-u", "pusher", "--password-stdin", &reg.addr],
        b"pw\n",
    )
    .ok();
    let out = d.berth(&["push", &target]).ok();
    assert!(out.stdout.contains("1: digest: sha256:"), "{}", out.stdout);
}
