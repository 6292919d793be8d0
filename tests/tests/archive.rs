//! save and load: berth's archives load into berth and through the docker CLI, older
//! docker-archive tars load, and broken or hostile tarballs are refused without side effects.

use berth_tests::images::{self, sha, Entry};
use berth_tests::{registry_with_images, Daemon};

#[test]
fn save_then_load_round_trips_through_both_clis() {
    let (reg, imgs) = registry_with_images();
    let d = Daemon::start();
    let two = format!("{}/library/twolayer", reg.addr);
    let wo = format!("{}/library/whiteout", reg.addr);
    d.berth(&["pull", &two]).ok();
    d.berth(&["pull", &wo]).ok();
    let tar = d.root_path("saved.tar");
    d.docker(&["save", "-o", tar.to_str().unwrap(), &two, &wo])
        .ok();
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&tar)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for f in [
        "oci-layout",
        "index.json",
        "manifest.json",
        &format!("blobs/sha256/{}", &imgs.ids["twolayer:latest"][7..]),
    ] {
        assert!(
            listing.lines().any(|l| l == f),
            "{f} missing from:\n{listing}"
        );
    }
    d.berth(&["rmi", &two, &wo]).ok();
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");

    let out = d.berth(&["load", "-i", tar.to_str().unwrap()]).ok();
    assert_eq!(
        out.stdout,
        format!("Loaded image: {two}:latest\nLoaded image: {wo}:latest\n")
    );
    let id = d
        .berth(&["image", "inspect", "--format", "{{.Id}}", &two])
        .ok()
        .stdout;
    assert_eq!(
        id.trim(),
        imgs.ids["twolayer:latest"],
        "same image ID after the round trip"
    );

    // berth save | docker load, through a pipe.
    let saved = std::process::Command::new(berth_tests::bin("berth"))
        .args(["save", &two])
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert!(saved.status.success());
    d.berth(&["rmi", &two]).ok();
    let out = d.docker_stdin(&["load"], &saved.stdout).ok();
    assert_eq!(out.stdout, format!("Loaded image: {two}:latest\n"));
}

#[test]
fn loads_the_older_docker_archive_layout() {
    let d = Daemon::start();
    let layer_tar = images::tar_of(&[Entry::Dir("etc/"), Entry::File("etc/hello", b"hi\n", 0o644)]);
    let diff = sha(&layer_tar);
    // Older saves share a layer.tar between directories with a symlink; the config lists the
    // same diff twice, as an image whose two layers are identical would.
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
        "config": {"Cmd": ["cat", "/etc/hello"]}, "rootfs": {"type": "layers", "diff_ids": [diff, diff]}
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha(&config)[7..]);
    let manifest = serde_json::to_string(&serde_json::json!([{"Config": config_name, "RepoTags": ["old/archive:v1"], "Layers": ["abc/layer.tar", "def/layer.tar"]}])).unwrap();
    let archive = images::tar_of(&[
        Entry::Dir("abc/"),
        Entry::File("abc/layer.tar", &layer_tar, 0o644),
        Entry::Dir("def/"),
        Entry::Symlink("def/layer.tar", "../abc/layer.tar"),
        Entry::File(&config_name, &config, 0o644),
        Entry::File("manifest.json", manifest.as_bytes(), 0o644),
    ]);
    let out = d.berth_stdin(&["load"], &archive).ok();
    assert_eq!(out.stdout, "Loaded image: old/archive:v1\n");
    let id = d
        .docker(&["image", "inspect", "--format", "{{.Id}}", "old/archive:v1"])
        .ok()
        .stdout;
    assert_eq!(id.trim(), sha(&config));
}

#[test]
fn broken_and_hostile_archives_are_refused_cleanly() {
    let (reg, _) = registry_with_images();
    let d = Daemon::start();
    let two = format!("{}/library/twolayer", reg.addr);
    d.berth(&["pull", &two]).ok();
    let saved = std::process::Command::new(berth_tests::bin("berth"))
        .args(["save", &two])
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap()
        .stdout;
    d.berth(&["rmi", &two]).ok();
    let before = snapshot(&d);

    // Truncated.
    let out = d.berth_stdin(&["load"], &saved[..saved.len() / 2]).failed();
    assert!(
        out.stderr.contains("failed to load image archive"),
        "{}",
        out.stderr
    );

    // Path traversal in the archive itself.
    let evil = raw_tar(&[("../../escaped-by-load", b"x")]);
    let out = d.berth_stdin(&["load"], &evil).failed();
    assert!(out.stderr.contains("escapes"), "{}", out.stderr);

    // Path traversal inside a layer.
    let layer = raw_tar(&[("../../../escaped-by-layer", b"x")]);
    let diff = sha(&layer);
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}})).unwrap();
    let manifest = serde_json::to_vec(
        &serde_json::json!([{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": ["l.tar"]}]),
    )
    .unwrap();
    let archive = images::tar_of(&[
        Entry::File("l.tar", &layer, 0o644),
        Entry::File("c.json", &config, 0o644),
        Entry::File("manifest.json", &manifest, 0o644),
    ]);
    let out = d.berth_stdin(&["load"], &archive).failed();
    assert!(out.stderr.contains("escapes the layer"), "{}", out.stderr);

    // A layer whose content does not match the config's diff ID.
    let config = serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(b"other")]}})).unwrap();
    let good_layer = images::tar_of(&[Entry::File("f", b"data", 0o644)]);
    let archive = images::tar_of(&[
        Entry::File("l.tar", &good_layer, 0o644),
        Entry::File("c.json", &config, 0o644),
        Entry::File("manifest.json", &manifest, 0o644),
    ]);
    let out = d.berth_stdin(&["load"], &archive).failed();
    assert!(out.stderr.contains("diff ID"), "{}", out.stderr);

    for name in ["escaped-by-load", "escaped-by-layer"] {
        for dir in [
            d.data_root(),
            d.data_root().parent().unwrap().to_path_buf(),
            std::path::PathBuf::from("/tmp"),
            std::path::PathBuf::from("/"),
        ] {
            assert!(
                !dir.join(name).exists(),
                "{name} written to {}",
                dir.display()
            );
        }
    }
    assert_eq!(d.berth(&["images", "-q"]).ok().stdout, "");
    assert_eq!(snapshot(&d), before, "no layer or image record left behind");
}

/// The layers and image records in the store.
fn snapshot(d: &Daemon) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["layers", "image/records"] {
        for e in std::fs::read_dir(d.data_root().join(sub)).unwrap() {
            out.push(format!(
                "{sub}/{}",
                e.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

/// A tar whose entry names are written raw, so they can be hostile.
fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn import_makes_a_one_layer_image_with_changes() {
    let d = Daemon::start();
    let rootfs = images::tar_of(&[Entry::Dir("etc/"), Entry::File("etc/hello", b"hi\n", 0o644)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &rootfs).unwrap();
    let tgz = gz.finish().unwrap();
    let file = d.root_path("rootfs.tgz");
    std::fs::write(&file, &tgz).unwrap();

    let out = d
        .berth(&[
            "import",
            "-c",
            r#"CMD ["cat", "/etc/hello"]"#,
            "-c",
            "ENV A=1",
            "-m",
            "from a test",
            file.to_str().unwrap(),
            "imported:1",
        ])
        .ok();
    let id = out.stdout.trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "{}",
        out.stdout
    );
    let out = d.docker(&["image", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}} {{json .Config.Env}} {{.Comment}} {{json .RootFS.Layers}}", "imported:1"]).ok();
    assert_eq!(
        out.stdout.trim(),
        format!(
            "{id} [\"cat\",\"/etc/hello\"] [\"A=1\"] from a test [\"{}\"]",
            sha(&rootfs)
        )
    );

    let out = d.docker_stdin(&["import", "-", "imported:2"], &tgz).ok();
    assert!(out.stdout.starts_with("sha256:"), "{}", out.stdout);
    let out = d
        .docker(&["history", "--format", "{{.Comment}}", "imported:2"])
        .ok();
    assert_eq!(out.stdout, "Imported from -\n");

    let out = d
        .berth(&["import", "-c", "RUN rm -rf /", file.to_str().unwrap()])
        .failed();
    assert_eq!(
        out.stderr.trim(),
        "Error response from daemon: RUN is not a valid change command"
    );
    let out = d
        .berth_stdin(&["import", "-", "broken:1"], &tgz[..tgz.len() / 2])
        .failed();
    assert!(
        out.stderr.contains("Error response from daemon"),
        "{}",
        out.stderr
    );
    let out = d
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    let mut names: Vec<&str> = out.stdout.lines().collect();
    names.sort();
    assert_eq!(
        names,
        ["imported:1", "imported:2"],
        "the broken import left nothing"
    );
}
