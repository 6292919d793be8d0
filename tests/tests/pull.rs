//! Pulling from a real registry through `berth`: media types, platforms, compression,
//! layer reuse, whiteouts, and what a registry's failures look like.

use berth_tests::images::sha;
use berth_tests::proxy::{Fault, Proxy};
use berth_tests::{registry_with_images, Daemon, Registry};

#[test]
fn pull_shows_docker_progress_and_stores_the_image() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let name = format!("{}/library/twolayer", reg.addr);
    let out = d.berth(&["pull", &name]).ok();
    let digest = &imgs.digests["twolayer:latest"];
    let base = &imgs.base_layer[7..19];
    let expected = format!(
        "Using default tag: latest\nlatest: Pulling from library/twolayer\n{base}: Pulling fs layer\n"
    );
    assert!(out.stdout.starts_with(&expected), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{base}: Pull complete\n")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(&format!(
            "Digest: {digest}\nStatus: Downloaded newer image for {name}:latest\n{name}:latest\n"
        )),
        "{}",
        out.stdout
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&d.berth(&["image", "inspect", &name]).ok().stdout).unwrap();
    let img = &inspect[0];
    assert_eq!(
        img["Id"], imgs.ids["twolayer:latest"],
        "the image ID is the config digest"
    );
    assert_eq!(img["RepoTags"][0], format!("{name}:latest"));
    assert_eq!(img["RepoDigests"][0], format!("{name}@{digest}"));
    assert_eq!(img["Config"]["Env"][1], "GREETING=hi");
    assert_eq!(img["Config"]["WorkingDir"], "/");
    assert_eq!(img["Config"]["Labels"]["org.example.test"], "two-layer");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 2);

    // The same pull again changes nothing.
    let again = d.berth(&["pull", &format!("{name}:latest")]).ok();
    assert!(
        again
            .stdout
            .contains(&format!("Status: Image is up to date for {name}:latest")),
        "{}",
        again.stdout
    );

    // Another image on the same base layer reuses it.
    let bb = d
        .berth(&["pull", &format!("{}/library/busybox", reg.addr)])
        .ok();
    assert!(
        bb.stdout.contains(&format!("{base}: Already exists")),
        "{}",
        bb.stdout
    );
}

#[test]
fn pulls_oci_manifests_indexes_and_every_compression() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    for tag in [
        "busybox:oci",
        "multi:latest",
        "multi:oci",
        "compressed:zstd",
        "compressed:plain",
    ] {
        let name = format!("{}/library/{tag}", reg.addr);
        let out = d.berth(&["pull", &name]).ok();
        assert!(
            out.stdout
                .contains(&format!("Digest: {}", imgs.digests[tag])),
            "{tag}: {}",
            out.stdout
        );
        let id = d
            .berth(&["image", "inspect", "--format", "{{.Id}}", &name])
            .ok()
            .stdout;
        assert_eq!(id.trim(), imgs.ids[tag], "{tag}");
    }
    // The index's digest, not the platform manifest's, is the repo digest, as with Docker.
    let name = format!("{}/library/multi:latest", reg.addr);
    let digests = d
        .berth(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            &name,
        ])
        .ok()
        .stdout;
    assert!(digests.contains(&imgs.digests["multi:latest"]), "{digests}");
}

#[test]
fn platform_selects_from_an_index() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let name = format!("{}/library/multi:oci", reg.addr);
    d.berth(&["pull", "--platform", "linux/arm64", &name]).ok();
    let out = d
        .berth(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Architecture}} {{.Variant}}",
            &name,
        ])
        .ok();
    assert_eq!(out.stdout.trim(), format!("{} arm64 v8", imgs.arm64_id));
    let out = d
        .berth(&["pull", "--platform", "linux/s390x", &name])
        .failed();
    assert!(
        out.stderr
            .contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{}",
        out.stderr
    );
}

#[test]
fn pull_by_digest() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let name = format!(
        "{}/library/busybox@{}",
        reg.addr, imgs.digests["busybox:latest"]
    );
    let out = d.berth(&["pull", &name]).ok();
    assert!(!out.stdout.contains("Using default tag"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{}",
        out.stdout
    );
    let images = d
        .berth(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ])
        .ok();
    assert_eq!(
        images.stdout.trim(),
        format!(
            "{}/library/busybox <none> {}",
            reg.addr, imgs.digests["busybox:latest"]
        )
    );
    // A digest that the registry does not have.
    let missing = format!("{}/library/busybox@sha256:{}", reg.addr, "0".repeat(64));
    let out = d.berth(&["pull", &missing]).failed();
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
}

#[test]
fn whiteouts_make_an_overlay_show_the_image() {
    let (reg, _) = registry_with_images();
    let d = Daemon::start();
    let name = format!("{}/library/whiteout", reg.addr);
    d.berth(&["pull", &name]).ok();
    let upper = d
        .berth(&[
            "image",
            "inspect",
            "--format",
            "{{.GraphDriver.Data.UpperDir}}",
            &name,
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let lower = d
        .berth(&[
            "image",
            "inspect",
            "--format",
            "{{.GraphDriver.Data.LowerDir}}",
            &name,
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let mnt = tempfile::tempdir().unwrap();
    let opts = format!("lowerdir={upper}:{lower}");
    let st = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(mnt.path())
        .status()
        .unwrap();
    assert!(st.success(), "overlay mount (needs root)");
    let ls = |p: &str| {
        let mut v: Vec<String> = std::fs::read_dir(mnt.path().join(p))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let data = ls("data");
    let opq = ls("opq");
    let linuxrc = mnt.path().join("linuxrc").symlink_metadata().is_ok();
    let sh = mnt.path().join("bin/sh").symlink_metadata().is_ok();
    std::process::Command::new("umount")
        .arg(mnt.path())
        .status()
        .unwrap();
    assert_eq!(data, ["b"], "/data/a is whited out");
    assert_eq!(opq, ["z"], "/opq is opaque");
    assert!(!linuxrc, "/linuxrc is whited out");
    assert!(sh, "the base layer shows through");
}

#[test]
fn registry_failures_read_like_docker() {
    let (reg, _) = registry_with_images();
    let d = Daemon::start();
    let out = d
        .berth(&["pull", &format!("{}/library/nope", reg.addr)])
        .failed();
    assert!(out.stderr.contains(&format!("Error response from daemon: manifest for {}/library/nope:latest not found: manifest unknown", reg.addr)) || out.stderr.contains("repository"), "{}", out.stderr);
    let out = d
        .berth(&["pull", &format!("{}/library/busybox:nope", reg.addr)])
        .failed();
    assert_eq!(out.stderr.trim(), format!("Error response from daemon: manifest for {}/library/busybox:nope not found: manifest unknown: manifest unknown", reg.addr));
    let port = berth_tests::free_port();
    let out = d.berth(&["pull", &format!("127.0.0.1:{port}/x")]).failed();
    assert_eq!(out.stderr.trim(), format!("Error response from daemon: Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused"));
    let out = d.berth(&["pull", "Bad:Ref"]).failed();
    assert!(
        out.stderr.contains("invalid reference format"),
        "{}",
        out.stderr
    );
    // Nothing was stored by any of this.
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
}

#[test]
fn credentials_are_required_and_checked() {
    let reg = Registry::start_with_auth("tester", "s3cret");
    berth_tests::images::push_test_images(&reg);
    let d = Daemon::start();
    let name = format!("{}/library/busybox", reg.addr);
    let out = d.berth(&["pull", &name]).failed();
    assert!(out.stderr.contains("unauthorized"), "{}", out.stderr);
    let out = d
        .berth_stdin(
            &["login", "-u", "tester", "--password-stdin", &reg.addr],
            b"wrong\n",
        )
        .failed();
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    let out = d
        .berth_stdin(
            &["login", "-u", "tester", "--password-stdin", &reg.addr],
            b"s3cret\n",
        )
        .ok();
    assert_eq!(out.stdout.trim(), "Login Succeeded");
    let cfg = std::fs::read_to_string(d.config_dir().join("config.json")).unwrap();
    assert!(
        cfg.contains(&reg.addr),
        "credentials stored like docker's config.json: {cfg}"
    );
    d.berth(&["pull", &name]).ok();
    let out = d.berth(&["logout", &reg.addr]).ok();
    assert_eq!(
        out.stdout.trim(),
        format!("Removing login credentials for {}", reg.addr)
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let (reg, _) = registry_with_images();
    let d = Daemon::start();
    // Corrupt the second layer of twolayer in the registry's storage, keeping its length.
    let path = reg.blob_path(&layer_two_digest(&reg));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let out = d
        .berth(&["pull", &format!("{}/library/twolayer", reg.addr)])
        .failed();
    assert!(
        out.stderr
            .contains("filesystem layer verification failed for digest"),
        "{}",
        out.stderr
    );
    assert_store_clean(&d);
    // The untouched base layer was kept, the bad one was not.
    let layers: Vec<_> = std::fs::read_dir(d.data_root().join("layers"))
        .unwrap()
        .collect();
    assert!(layers.len() <= 1, "only the verified base layer may remain");
    assert!(!d
        .data_root()
        .join("content/blobs/sha256")
        .join(&layer_two_digest(&reg)[7..])
        .exists());
}

fn layer_two_digest(reg: &Registry) -> String {
    let body = reqwest::blocking::Client::new()
        .get(format!(
            "http://{}/v2/library/twolayer/manifests/latest",
            reg.addr
        ))
        .header("Accept", berth_tests::images::DOCKER_MANIFEST)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    m["layers"][1]["digest"].as_str().unwrap().to_string()
}

/// No partial download or half-unpacked layer is left where it could be mistaken for a real one.
fn assert_store_clean(d: &Daemon) {
    let ingest = d.data_root().join("content/ingest");
    assert_eq!(
        std::fs::read_dir(&ingest).unwrap().count(),
        0,
        "ingest area empty"
    );
    for e in std::fs::read_dir(d.data_root().join("layers")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            !name.starts_with("tmp-"),
            "temporary layer {name} left behind"
        );
        assert!(
            e.path().join("meta.json").exists(),
            "layer {name} is complete"
        );
    }
    for e in std::fs::read_dir(d.data_root().join("content/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(
            sha(&bytes)[7..],
            e.file_name().to_string_lossy(),
            "blob matches its digest"
        );
    }
}

#[test]
fn a_cut_connection_is_resumed() {
    let (reg, imgs) = registry_with_images();
    let proxy = Proxy::start(
        &reg.addr,
        Fault::CutBlob {
            after: 40_000,
            times: 2,
        },
    );
    let d = Daemon::start();
    let name = format!("{}/library/busybox", proxy.addr);
    let out = d.berth(&["pull", &name]).ok();
    assert!(
        proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the proxy did cut"
    );
    assert!(
        out.stdout.contains("Status: Downloaded newer image"),
        "{}",
        out.stdout
    );
    let id = d
        .berth(&["image", "inspect", "--format", "{{.Id}}", &name])
        .ok()
        .stdout;
    assert_eq!(id.trim(), imgs.ids["busybox:latest"]);
    assert_store_clean(&d);
}

#[test]
fn a_connection_that_keeps_failing_gives_up_cleanly() {
    let (reg, _) = registry_with_images();
    let proxy = Proxy::start(
        &reg.addr,
        Fault::CutBlob {
            after: 40_000,
            times: 1000,
        },
    );
    let d = Daemon::start();
    let out = d
        .berth(&["pull", &format!("{}/library/busybox", proxy.addr)])
        .failed();
    assert!(!out.stderr.is_empty());
    assert_store_clean(&d);
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
}

#[test]
fn kill_during_pull_leaves_a_consistent_store() {
    let (reg, imgs) = registry_with_images();
    let proxy = Proxy::start(
        &reg.addr,
        Fault::Slow {
            bytes_per_tick: 4096,
        },
    );
    let mut d = Daemon::start();
    let name = format!("{}/library/busybox", proxy.addr);
    let host = d.host();
    let config = d.config_dir();
    let puller = std::thread::spawn(move || {
        std::process::Command::new(berth_tests::bin("berth"))
            .args(["pull", &name])
            .env("DOCKER_HOST", host)
            .env("DOCKER_CONFIG", config)
            .output()
            .unwrap()
    });
    // Wait until the layer download is under way, then crash the daemon.
    let ingest = d.data_root().join("content/ingest");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(&ingest).map(|r| r.count()).unwrap_or(0) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    d.kill9();
    let _ = puller.join();
    d.start_again();
    assert_store_clean(&d);
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
    let name = format!("{}/library/busybox", reg.addr);
    d.berth(&["pull", &name]).ok();
    let id = d
        .berth(&["image", "inspect", "--format", "{{.Id}}", &name])
        .ok()
        .stdout;
    assert_eq!(id.trim(), imgs.ids["busybox:latest"]);
}

#[test]
fn pull_all_tags_of_a_repository() {
    let (reg, _imgs) = berth_tests::registry_with_images();
    let d = berth_tests::Daemon::start();
    let repo = format!("{}/library/compressed", reg.addr);
    let out = d.docker(&["pull", "--all-tags", &repo]).ok();
    assert!(
        out.stdout
            .contains("plain: Pulling from library/compressed\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("zstd: Pulling from library/compressed\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(&format!(
            "Status: Downloaded newer image for {repo}\n{repo}\n"
        )),
        "{}",
        out.stdout
    );
    let tags = d
        .docker(&["images", "--format", "{{.Tag}}", &repo])
        .ok()
        .stdout;
    assert_eq!(tags, "plain\nzstd\n");
    let again = d.docker(&["pull", "-a", &repo]).ok();
    assert!(
        again
            .stdout
            .contains(&format!("Status: Image is up to date for {repo}\n")),
        "{}",
        again.stdout
    );
    let out = d.docker(&["pull", "-a", &format!("{}/library/nosuch", reg.addr)]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("not found"), "{}", out.stderr);
}
