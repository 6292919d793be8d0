//! Volumes, binds and tmpfs on the real kernel, through berth and the real docker CLI: data
//! kept across containers and daemon crashes, copy-up, lifetimes, and bad input refused with
//! Docker's words.

use berth_tests::Daemon;

fn sh(d: &Daemon, cli: &str, args: &[&str]) -> berth_tests::Out {
    if cli == "berth" {
        d.berth(args)
    } else {
        d.docker(args)
    }
}

#[test]
fn a_volume_keeps_data_between_containers_and_across_a_crash() {
    let (mut d, _reg) = Daemon::with_busybox();
    for cli in ["berth", "docker"] {
        let vol = format!("data-{cli}");
        sh(&d, cli, &["volume", "create", "--label", "k=v", &vol]).ok();
        let spec = format!("{vol}:/data");
        sh(
            &d,
            cli,
            &[
                "run",
                "--rm",
                "-v",
                &spec,
                "busybox",
                "sh",
                "-c",
                "echo kept > /data/f",
            ],
        )
        .ok();
        let out = sh(
            &d,
            cli,
            &["run", "--rm", "-v", &spec, "busybox", "cat", "/data/f"],
        )
        .ok();
        assert_eq!(out.stdout, "kept\n", "{cli}");
        let ls = sh(
            &d,
            cli,
            &[
                "volume",
                "ls",
                "--filter",
                "label=k=v",
                "--format",
                "{{.Name}}",
            ],
        )
        .ok();
        assert!(ls.stdout.lines().any(|l| l == vol), "{cli}: {}", ls.stdout);
        let inspect = sh(
            &d,
            cli,
            &[
                "volume",
                "inspect",
                "-f",
                "{{.Mountpoint}} {{.Driver}} {{.Labels}}",
                &vol,
            ],
        )
        .ok();
        let want = d.data_root().join("volumes").join(&vol).join("_data");
        assert_eq!(
            inspect.stdout.trim(),
            format!("{} local map[k:v]", want.display())
        );
    }
    // A named volume the container names is created on the spot, and survives kill -9.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "-v",
        "auto:/d",
        "busybox",
        "sh",
        "-c",
        "echo x > /d/x; sleep 100",
    ])
    .ok();
    berth_tests::wait_until("the write", || {
        d.data_root().join("volumes/auto/_data/x").exists()
    });
    d.kill9();
    d.start_again();
    let out = d
        .docker(&["run", "--rm", "-v", "auto:/d", "busybox", "cat", "/d/x"])
        .ok();
    assert_eq!(out.stdout, "x\n");
    // Still in use by "keeper" (running or not): refused with Docker's message, even forced.
    let out = d.docker(&["volume", "rm", "-f", "auto"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("remove auto: volume is in use - ["),
        "{}",
        out.stderr
    );
    d.docker(&["rm", "-f", "keeper"]).ok();
    d.docker(&["volume", "rm", "auto"]).ok();
    assert!(!d.data_root().join("volumes/auto").exists());
}

#[test]
fn binds_read_only_mounts_and_tmpfs() {
    let (d, _reg) = Daemon::with_busybox();
    let host = d.root_path("host-dir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("from-host"), b"hello\n").unwrap();
    let bind = format!("{}:/h", host.display());
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "busybox",
            "sh",
            "-c",
            "cat /h/from-host; echo back > /h/from-container",
        ])
        .ok();
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(
        std::fs::read(host.join("from-container")).unwrap(),
        b"back\n"
    );
    // -v makes a missing host directory; --mount refuses it, as Docker does.
    let fresh = d.root_path("made-by-v");
    d.berth(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", fresh.display()),
        "busybox",
        "true",
    ])
    .ok();
    assert!(fresh.is_dir());
    let missing = d.root_path("missing");
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={},dst=/m", missing.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.contains("bind source path does not exist"),
        "{}",
        out.stderr
    );
    assert!(!missing.exists());
    // :ro refuses writes.
    let ro = format!("{}:/h:ro", host.display());
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "busybox",
        "sh",
        "-c",
        "echo no > /h/x",
    ]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={},dst=/h,readonly", host.display()),
        "busybox",
        "sh",
        "-c",
        "touch /h/y",
    ]);
    assert_ne!(out.code, 0);
    // tmpfs with its size, through both flags.
    for args in [
        &["--tmpfs", "/scratch:size=1m"][..],
        &["--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1048576"][..],
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "sh", "-c", "grep ' /scratch ' /proc/mounts"]);
        let out = d.docker(&a).ok();
        assert!(
            out.stdout.starts_with("tmpfs /scratch tmpfs"),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("size=1024k"), "{}", out.stdout);
    }
    // inspect shows the mounts.
    d.docker(&[
        "create", "--name", "shown", "-v", &ro, "-v", "named:/n", "busybox",
    ])
    .ok();
    let m = d
        .docker(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}} {{.Name}};{{end}}",
            "shown",
        ])
        .ok();
    assert_eq!(m.stdout.trim(), "bind /h false ;volume /n true named;");
}

#[test]
fn copy_up_anonymous_volumes_and_their_lifetimes() {
    let (d, _reg) = Daemon::with_busybox();
    // An empty volume over a directory with content gets the content; nocopy does not.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "etcvol:/etc",
            "busybox",
            "cat",
            "/etc/passwd",
        ])
        .ok();
    assert!(out.stdout.contains("root:"), "{}", out.stdout);
    assert!(d.data_root().join("volumes/etcvol/_data/passwd").exists());
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "bare:/etc:nocopy",
            "busybox",
            "ls",
            "/etc",
        ])
        .ok();
    assert_eq!(out.stdout, "");
    // An anonymous volume (-v /path) goes with --rm and with rm -v; not with a plain rm.
    let count = || {
        d.docker(&["volume", "ls", "-q"])
            .ok()
            .stdout
            .lines()
            .count()
    };
    let before = count();
    d.docker(&["run", "--rm", "-v", "/anon", "busybox", "true"])
        .ok();
    assert_eq!(count(), before);
    d.docker(&["create", "--name", "a1", "-v", "/anon", "busybox"])
        .ok();
    d.docker(&["create", "--name", "a2", "-v", "/anon", "busybox"])
        .ok();
    assert_eq!(count(), before + 2);
    d.docker(&["rm", "-v", "a1"]).ok();
    assert_eq!(count(), before + 1);
    d.docker(&["rm", "a2"]).ok();
    assert_eq!(count(), before + 1);
    // prune: anonymous unused ones only; -a takes the named unused ones too; in use stays.
    d.docker(&["create", "--name", "user", "-v", "inuse:/x", "busybox"])
        .ok();
    let out = d.docker(&["volume", "prune", "-f"]).ok();
    assert!(
        out.stdout.contains("Total reclaimed space"),
        "{}",
        out.stdout
    );
    // a2's anonymous volume went; "inuse" and the named ones stay.
    assert_eq!(count(), before + 1);
    d.docker(&["volume", "prune", "-a", "-f"]).ok();
    let left = d.docker(&["volume", "ls", "-q"]).ok().stdout;
    assert_eq!(left.trim(), "inuse");
    // --volumes-from shares them, :ro read-only.
    d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "user",
        "busybox",
        "sh",
        "-c",
        "echo shared > /x/s",
    ])
    .ok();
    let out = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "user:ro",
        "busybox",
        "sh",
        "-c",
        "cat /x/s; touch /x/t",
    ]);
    assert_eq!(out.stdout, "shared\n");
    assert_ne!(out.code, 0);
}

#[test]
fn bad_mounts_get_dockers_errors_and_leave_nothing() {
    let (d, _reg) = Daemon::with_busybox();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-v", "bad/name:/x"],
            "includes invalid characters for a local volume name",
        ),
        (&["-v", "vol:relative"], "mount path must be absolute"),
        (&["-v", "vol:/"], "destination can't be '/'"),
        (&["-v", "a1:/x", "-v", "b1:/x"], "Duplicate mount point: /x"),
        (&["-v", "/tmp:/x:bogus"], "invalid mode: bogus"),
        (
            &["--mount", "type=volume,dst=/x,volume-driver=nfs"],
            "not supported yet",
        ),
    ];
    for (flags, want) in cases {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["busybox", "true"]);
        let out = d.docker(&a);
        assert_eq!(out.code, 125, "{flags:?}: {out:?}");
        assert!(out.stderr.contains(want), "{flags:?}: {}", out.stderr);
    }
    let out = d.docker(&["volume", "create", "x/y"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("includes invalid characters"),
        "{}",
        out.stderr
    );
    // Nothing was created by the refused ones.
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout, "");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    let out = d.docker(&["volume", "rm", "nosuch"]);
    assert!(out.stderr.contains("no such volume"), "{}", out.stderr);
}

/// An image whose mount target is a symlink to an absolute host path: the volume is mounted at
/// the link's target inside the container's root, never on the host, under either runtime.
#[test]
fn a_symlinked_mount_target_stays_inside_the_container() {
    use berth_tests::images::{self, Entry};
    let d = Daemon::start();
    let decoy = d.root_path("decoy");
    std::fs::create_dir_all(&decoy).unwrap();
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (busybox-static)");
    let link = decoy.display().to_string();
    // The decoy's path again inside the image, each ancestor as a directory entry.
    let inside = decoy.strip_prefix("/").unwrap();
    let mut dirs: Vec<String> = inside
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .map(|a| format!("{}/", a.display()))
        .collect();
    dirs.reverse();
    let mut entries = vec![
        Entry::Dir("bin/"),
        Entry::File("bin/busybox", &busybox, 0o755),
        Entry::Symlink("bin/sh", "busybox"),
        Entry::Dir("proc/"),
        Entry::Dir("sys/"),
        Entry::Dir("etc/"),
        Entry::Dir("dev/"),
        Entry::Symlink("data", &link),
    ];
    entries.extend(dirs.iter().map(|d| Entry::Dir(d)));
    d.berth_stdin(&["import", "-", "linked:1"], &images::tar_of(&entries))
        .ok();
    for runtime in ["builtin", "runc"] {
        let vol = format!("v-{runtime}");
        d.docker(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "-v",
            &format!("{vol}:/data"),
            "linked:1",
            "/bin/busybox",
            "sh",
            "-c",
            "echo inside > /data/f",
        ])
        .ok();
        let left: Vec<_> = std::fs::read_dir(&decoy).unwrap().collect();
        assert!(
            left.is_empty(),
            "{runtime}: the host's {} was written to",
            decoy.display()
        );
        let f = d.data_root().join("volumes").join(&vol).join("_data/f");
        assert_eq!(std::fs::read(&f).unwrap(), b"inside\n", "{runtime}");
    }
    assert_eq!(berth_tests::mounts_under(&decoy), Vec::<String>::new());
}
