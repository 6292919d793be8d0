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

#[test]
fn cp_copies_files_and_directories_both_ways() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run", "-d", "--name", "box", "-v", "cpvol:/vol", "busybox", "sh", "-c",
        "mkdir -p /srv/tree/sub && echo one > /srv/tree/a && echo two > /srv/tree/sub/b && echo in-vol > /vol/v && ln -s /etc/hostname /srv/link && sleep 1000",
    ])
    .ok();
    for _ in 0..100 {
        if d.docker(&["exec", "box", "test", "-L", "/srv/link"]).code == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let work = d.data_root().with_extension("cp");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let w = |p: &str| work.join(p).display().to_string();
    for cli in ["docker", "berth"] {
        let run = |args: &[&str]| {
            if cli == "docker" {
                d.docker(args).ok()
            } else {
                d.berth(args).ok()
            }
        };
        let dst = w(cli);
        std::fs::create_dir_all(&dst).unwrap();
        // Out of the container: a file, a directory, a volume's file, a link as a link.
        run(&["cp", "box:/srv/tree/a", &dst]);
        assert_eq!(
            std::fs::read_to_string(work.join(cli).join("a")).unwrap(),
            "one\n"
        );
        run(&["cp", "box:/srv/tree", &dst]);
        assert_eq!(
            std::fs::read_to_string(work.join(cli).join("tree/sub/b")).unwrap(),
            "two\n"
        );
        run(&["cp", "box:/vol/v", &format!("{dst}/v")]);
        assert_eq!(
            std::fs::read_to_string(work.join(cli).join("v")).unwrap(),
            "in-vol\n"
        );
        run(&["cp", "box:/srv/link", &format!("{dst}/link")]);
        assert!(work.join(cli).join("link").is_symlink());
        run(&["cp", "-L", "box:/srv/link", &format!("{dst}/followed")]);
        assert!(!work.join(cli).join("followed").is_symlink());
        // Into it: a file, a directory, and with -a the owners kept.
        std::fs::write(work.join(cli).join("up"), "uploaded").unwrap();
        run(&["cp", &format!("{dst}/up"), &format!("box:/tmp/up-{cli}")]);
        run(&[
            "cp",
            &format!("{dst}/tree"),
            &format!("box:/tmp/tree-{cli}"),
        ]);
        let out = d
            .docker(&[
                "exec",
                "box",
                "sh",
                "-c",
                &format!("cat /tmp/up-{cli} /tmp/tree-{cli}/sub/b; stat -c %u /tmp/up-{cli}"),
            ])
            .ok();
        assert_eq!(out.stdout, "uploadedtwo\n0\n", "{cli}");
    }
    // A tar on stdout and stdin.
    let out = d.docker(&["cp", "box:/srv/tree/a", "-"]).ok();
    assert!(out.stdout.contains("one\n"));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_uid(1234);
    h.set_cksum();
    b.append_data(&mut h, "from-stdin", &b"piped"[..]).unwrap();
    let tarball = b.into_inner().unwrap();
    d.docker_stdin(&["cp", "-a", "-", "box:/tmp"], &tarball)
        .ok();
    let out = d
        .docker(&[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /tmp/from-stdin; stat -c %u /tmp/from-stdin",
        ])
        .ok();
    assert_eq!(out.stdout, "piped1234\n");
    // Stopped and created containers too.
    d.docker(&["stop", "-t", "0", "box"]).ok();
    d.docker(&["cp", "box:/srv/tree/a", &w("stopped-a")]).ok();
    assert_eq!(
        std::fs::read_to_string(work.join("stopped-a")).unwrap(),
        "one\n"
    );
    d.docker(&["create", "--name", "new", "busybox", "true"])
        .ok();
    d.docker(&["cp", &w("docker/up"), "new:/up"]).ok();
    d.docker(&["start", "-a", "new"]).ok();
    let out = d.docker(&["export", "new"]).ok();
    assert!(out.stdout.contains("uploaded"));
    // Missing paths: Docker's words.
    let out = d.docker(&["cp", "box:/nope", &w("x")]);
    assert!(
        out.stderr
            .contains("Could not find the file /nope in container"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn cp_never_leaves_the_containers_root() {
    let (d, _reg) = Daemon::with_busybox();
    let secret = d.data_root().with_extension("host-secret");
    std::fs::write(&secret, "host secret").unwrap();
    let s = secret.display().to_string();
    d.docker(&[
        "run", "-d", "--name", "box", "busybox", "sh", "-c",
        &format!("ln -s / /root-link; ln -s ../../../../../../.. /up; ln -s {s} /abs; ln -s {} /dir-out; sleep 1000", secret.parent().unwrap().display()),
    ])
    .ok();
    for _ in 0..100 {
        if d.docker(&["exec", "box", "test", "-L", "/dir-out"]).code == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let name = secret.file_name().unwrap().to_str().unwrap();
    for path in [
        format!("/root-link{s}"),
        format!("/up{s}"),
        format!("/dir-out/{name}"),
    ] {
        let out = d.docker(&["cp", &format!("box:{path}"), "-"]);
        assert!(
            !out.stdout.contains("host secret"),
            "{path}: read the host's file"
        );
    }
    let out = d.docker(&["cp", "-L", "box:/abs", "-"]);
    assert!(
        !out.stdout.contains("host secret"),
        "-L through an absolute link"
    );
    // Writing through the links, or with a hostile archive, writes nothing outside.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "pwned", &b"x"[..]).unwrap();
    let plain = b.into_inner().unwrap();
    for dest in ["box:/dir-out", "box:/up/tmp", "box:/root-link/tmp"] {
        let _ = d.docker_stdin(&["cp", "-", dest], &plain);
    }
    assert!(!secret.parent().unwrap().join("pwned").exists());
    assert!(!std::path::Path::new("/tmp/pwned").exists());
    let mut raw = tar::Header::new_old();
    raw.as_old_mut().name[..9].copy_from_slice(b"../../esc");
    raw.set_size(1);
    raw.set_mode(0o644);
    raw.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&raw, &b"x"[..]).unwrap();
    let hostile = b.into_inner().unwrap();
    let out = d.docker_stdin(&["cp", "-", "box:/tmp"], &hostile);
    assert_ne!(out.code, 0);
    let _ = std::fs::remove_file(&secret);
}

#[test]
fn commit_makes_an_image_that_runs_shows_its_history_and_saves() {
    let (d, reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "--name",
        "src",
        "-e",
        "KEEP=1",
        "busybox",
        "sh",
        "-c",
        "echo committed > /made && rm /bin/ls",
    ])
    .ok();
    for cli in ["docker", "berth"] {
        let tag = format!("committed:{cli}");
        let args = [
            "commit",
            "-a",
            "someone",
            "-m",
            "a message",
            "-c",
            "ENV ADDED=2",
            "-c",
            r#"CMD ["cat", "/made"]"#,
            "src",
            &tag,
        ];
        let out = if cli == "docker" {
            d.docker(&args).ok()
        } else {
            d.berth(&args).ok()
        };
        assert!(
            out.stdout.trim().starts_with("sha256:"),
            "{cli}: {}",
            out.stdout
        );
        let out = d.docker(&["run", "--rm", &tag]).ok();
        assert_eq!(out.stdout, "committed\n", "{cli}");
        let out = d
            .docker(&[
                "run",
                "--rm",
                &tag,
                "sh",
                "-c",
                "echo $KEEP $ADDED; ls /bin/ls || echo gone",
            ])
            .ok();
        assert_eq!(out.stdout, "1 2\ngone\n", "{cli}: {}", out.stderr);
        let hist = d
            .docker(&[
                "history",
                "--no-trunc",
                "--format",
                "{{.Comment}}|{{.CreatedBy}}",
                &tag,
            ])
            .ok();
        let first = hist.stdout.lines().next().unwrap_or_default().to_string();
        assert!(
            first.starts_with("a message|sh -c echo committed"),
            "{first}"
        );
        let author = d.docker(&["inspect", "-f", "{{.Author}}", &tag]).ok();
        assert_eq!(author.stdout.trim(), "someone");
    }
    // It has one layer more than busybox, pushes and saves.
    let layers = |r: &str| {
        d.docker(&["inspect", "-f", "{{len .RootFS.Layers}}", r])
            .ok()
            .stdout
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    assert_eq!(layers("committed:docker"), layers("busybox") + 1);
    let pushed = format!("{}/library/committed:pushed", reg.addr);
    d.docker(&["tag", "committed:docker", &pushed]).ok();
    d.docker(&["push", &pushed]).ok();
    let saved = d.data_root().with_extension("commit.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), "committed:docker"])
        .ok();
    d.docker(&["rmi", "committed:docker"]).ok();
    d.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    assert_eq!(
        d.docker(&["run", "--rm", "committed:docker"]).ok().stdout,
        "committed\n"
    );
    let _ = std::fs::remove_file(&saved);
    // A running container is paused for the commit and runs on.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "busybox",
        "sh",
        "-c",
        "while :; do date > /tick; done",
    ])
    .ok();
    d.docker(&["commit", "busy", "busy:snap"]).ok();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.State.Status}}", "busy"])
            .ok()
            .stdout
            .trim(),
        "running"
    );
    d.docker(&["run", "--rm", "busy:snap", "test", "-e", "/tick"])
        .ok();
    // Bad input: Docker's refusals, nothing made.
    let before = d.docker(&["images", "-q"]).ok().stdout;
    let out = d.docker(&["commit", "-c", "RUN true", "src", "bad:x"]);
    assert!(
        out.stderr.contains("RUN is not a valid change command"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["commit", "nosuch", "bad:y"]);
    assert!(
        out.stderr.contains("No such container: nosuch"),
        "{}",
        out.stderr
    );
    assert_eq!(d.docker(&["images", "-q"]).ok().stdout, before);
}
