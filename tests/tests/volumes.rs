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

/// An image made here: busybox plus `extra` entries, imported with the Dockerfile `changes`.
fn import_image(
    d: &Daemon,
    name: &str,
    extra: &dyn Fn(&mut tar::Builder<Vec<u8>>),
    changes: &[&str],
) {
    let base = berth_tests::images::busybox_rootfs();
    let mut b = tar::Builder::new(Vec::new());
    let mut a = tar::Archive::new(&base[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let path = e.path().unwrap().into_owned();
        if h.entry_type() == tar::EntryType::Symlink {
            let target = e.link_name().unwrap().unwrap().into_owned();
            b.append_link(&mut h, &path, &target).unwrap();
        } else {
            b.append_data(&mut h, &path, &mut e).unwrap();
        }
    }
    extra(&mut b);
    let tar = b.into_inner().unwrap();
    let mut args = vec!["import".to_string()];
    for c in changes {
        args.push("--change".into());
        args.push(c.to_string());
    }
    args.extend(["-".to_string(), name.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.berth_stdin(&args, &tar).ok();
}

fn entry(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, owner: (u64, u64)) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(if path.ends_with('/') {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mode(mode);
    h.set_uid(owner.0);
    h.set_gid(owner.1);
    h.set_mtime(946_684_800);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

fn xattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the length passed.
    let len = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

#[test]
fn copy_up_keeps_the_images_owners_modes_and_xattrs() {
    use std::os::unix::fs::MetadataExt;
    let d = Daemon::start();
    import_image(
        &d,
        "owned:1",
        &|b| {
            entry(b, "srv/", b"", 0o755, (0, 0));
            entry(b, "srv/data/", b"", 0o750, (99, 98));
            b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"from the image"[..])])
                .unwrap();
            entry(b, "srv/data/f", b"content\n", 0o640, (1234, 5678));
            entry(b, "srv/data/sub/", b"", 0o700, (1234, 5678));
        },
        &["VOLUME /srv/data", "CMD [\"sh\"]"],
    );
    let out = d
        .docker(&[
            "run",
            "--name",
            "cu",
            "owned:1",
            "stat",
            "-c",
            "%u %g %a %n",
            "/srv/data",
            "/srv/data/f",
            "/srv/data/sub",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "99 98 750 /srv/data\n1234 5678 640 /srv/data/f\n1234 5678 700 /srv/data/sub\n"
    );
    // The image's VOLUME became an anonymous volume, filled from the image.
    let vol = d
        .docker(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Name}} {{.Source}}{{end}}",
            "cu",
        ])
        .ok()
        .stdout;
    let (name, source) = vol.trim().split_once(' ').unwrap();
    assert_eq!(name.len(), 64);
    let data = std::path::PathBuf::from(source);
    let m = std::fs::metadata(data.join("f")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o640));
    let layer_has_xattr = std::fs::read_dir(d.data_root().join("layers"))
        .unwrap()
        .flatten()
        .any(|l| xattr(&l.path().join("diff/srv/data/f"), "user.berth").is_some());
    if layer_has_xattr {
        assert_eq!(
            xattr(&data.join("f"), "user.berth").as_deref(),
            Some(&b"from the image"[..])
        );
    } else {
        eprintln!("note: the layer store's filesystem keeps no user xattrs; not checked");
    }
    // With nocopy (and for a named volume that has data already) nothing is copied.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "empty:/srv/data:nocopy",
            "owned:1",
            "ls",
            "-A",
            "/srv/data",
        ])
        .ok();
    assert_eq!(out.stdout, "");
    d.docker(&["rm", "-v", "cu"]).ok();
    assert!(!data.exists(), "rm -v took the anonymous volume");
}

#[test]
fn berthd_killed_during_a_copy_up_leaves_the_volume_empty_and_the_next_create_fills_it() {
    let mut d = Daemon::start();
    const FILES: usize = 4000;
    import_image(
        &d,
        "big:1",
        &|b| {
            entry(b, "data/", b"", 0o755, (0, 0));
            let block = vec![7u8; 4096];
            for i in 0..FILES {
                entry(b, &format!("data/f{i:05}"), &block, 0o644, (0, 0));
            }
        },
        &["CMD [\"sh\"]"],
    );
    d.docker(&["volume", "create", "cut"]).ok();
    let vol_dir = d.data_root().join("volumes/cut");
    let host = d.host();
    let config = d.config_dir();
    let create = std::thread::spawn(move || {
        std::process::Command::new("docker")
            .args(["create", "-v", "cut:/data", "big:1"])
            .env("DOCKER_HOST", host)
            .env("DOCKER_CONFIG", config)
            .output()
            .unwrap()
    });
    // Kill berthd once the copy is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = false;
    while std::time::Instant::now() < deadline && !seen {
        seen = std::fs::read_dir(&vol_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".copy-up-"));
        if !seen {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
    assert!(seen, "no copy-up seen");
    d.kill9();
    let out = create.join().unwrap();
    assert_ne!(out.status.code(), Some(0), "the create answered: {out:?}");
    // Half a copy never passes for a filled volume.
    let data = vol_dir.join("_data");
    let n = std::fs::read_dir(&data).unwrap().count();
    assert!(n == 0, "{n} files in the volume after the cut copy");
    d.start_again();
    let left: Vec<String> = std::fs::read_dir(&vol_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(
        d.docker(&["ps", "-aq"]).ok().stdout,
        "",
        "the cut create left no container"
    );
    assert_eq!(
        berth_tests::mounts_under(&d.data_root()),
        Vec::<String>::new()
    );
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "cut:/data",
            "big:1",
            "sh",
            "-c",
            "ls /data | wc -l",
        ])
        .ok();
    assert_eq!(out.stdout.trim(), FILES.to_string());
}

#[test]
fn volume_events_reach_docker_events() {
    let (d, _reg) = Daemon::with_busybox();
    let since = chrono_now();
    d.docker(&["volume", "create", "ev"]).ok();
    d.docker(&["run", "--name", "evc", "-v", "ev:/d", "busybox", "true"])
        .ok();
    d.docker(&["rm", "evc"]).ok();
    d.docker(&["volume", "rm", "ev"]).ok();
    let until = chrono_now() + 1;
    let out = d
        .docker(&[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "type=volume",
            "--filter",
            "volume=ev",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "volume create ev local\nvolume mount ev local\nvolume unmount ev local\nvolume destroy ev local\n"
    );
    let out = d
        .docker(&[
            "events", "--since", &since.to_string(), "--until", &until.to_string(), "--filter",
            "event=mount", "--format",
            "{{index .Actor.Attributes \"destination\"}} {{index .Actor.Attributes \"read/write\"}}",
        ])
        .ok();
    assert_eq!(out.stdout, "/d true\n");
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn berth_prints_the_volume_commands_as_the_docker_cli_does() {
    let (d, _reg) = Daemon::with_busybox();
    for name in ["bb2", "aa1", "cc3"] {
        let a = d
            .docker(&["volume", "create", "--label", "team=x", name])
            .ok();
        assert_eq!(a.stdout, format!("{name}\n"));
    }
    let b = d.berth(&["volume", "create", "dd4"]).ok();
    assert_eq!(b.stdout, "dd4\n");
    d.docker(&["create", "--name", "user", "-v", "aa1:/a", "busybox"])
        .ok();
    let same = |args: &[&str]| {
        let (x, y) = (d.docker(args), d.berth(args));
        assert_eq!((x.code, &x.stdout), (y.code, &y.stdout), "{args:?}");
        assert_eq!(x.stderr.replace("docker", "berth"), y.stderr, "{args:?}");
        x
    };
    let ls = same(&["volume", "ls"]);
    assert_eq!(
        ls.stdout,
        "DRIVER    VOLUME NAME\nlocal     aa1\nlocal     bb2\nlocal     cc3\nlocal     dd4\n"
    );
    same(&["volume", "ls", "-q"]);
    same(&[
        "volume",
        "ls",
        "--filter",
        "dangling=true",
        "--format",
        "{{.Name}} {{.Labels}}",
    ]);
    same(&[
        "volume",
        "ls",
        "--filter",
        "name=^b",
        "--filter",
        "label=team",
    ]);
    same(&[
        "volume",
        "ls",
        "--format",
        "table {{.Name}}\t{{.Mountpoint}}\t{{.Scope}}",
    ]);
    same(&["volume", "inspect", "aa1", "cc3"]);
    same(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}} {{.Labels}} {{.Options}}",
        "dd4",
    ]);
    let gone = same(&["volume", "inspect", "nosuch"]);
    assert_eq!(gone.code, 1);
    assert_eq!(
        gone.stderr,
        "Error response from daemon: get nosuch: no such volume\n"
    );
    let busy = same(&["volume", "rm", "aa1"]);
    assert_eq!(busy.code, 1);
    assert!(
        busy.stderr
            .starts_with("Error response from daemon: remove aa1: volume is in use - ["),
        "{}",
        busy.stderr
    );
    let rm = d.berth(&["volume", "rm", "bb2", "nosuch"]);
    assert_eq!((rm.code, rm.stdout.as_str()), (1, "bb2\n"));
    d.berth(&["volume", "rm", "-f", "nosuch"]).ok();
    // prune: nothing anonymous; -a the unused named ones.
    let p = d.berth(&["volume", "prune", "-f"]).ok();
    assert_eq!(p.stdout, "Total reclaimed space: 0B\n");
    std::fs::write(d.data_root().join("volumes/cc3/_data/f"), vec![1u8; 2000]).unwrap();
    let p = d
        .berth(&["volume", "prune", "-a", "-f", "--filter", "label=team=x"])
        .ok();
    assert_eq!(
        p.stdout,
        "Deleted Volumes:\ncc3\n\nTotal reclaimed space: 2kB\n"
    );
    assert_eq!(d.berth(&["volume", "ls", "-q"]).ok().stdout, "aa1\ndd4\n");
    let out = d
        .docker(&[
            "ps",
            "-a",
            "--filter",
            "volume=aa1",
            "--format",
            "{{.Names}} {{.Mounts}}",
        ])
        .ok();
    assert_eq!(out.stdout, "user aa1\n");
    let out = d
        .docker(&["ps", "-a", "--filter", "volume=/nowhere", "-q"])
        .ok();
    assert_eq!(out.stdout, "");
    // berth's own: UsageData on request.
    let (status, _, body) = d.http("GET", "/volumes/aa1?size=1", None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["UsageData"],
        serde_json::json!({"Size": 0, "RefCount": 1})
    );
}

#[test]
fn local_driver_options_mount_a_tmpfs_or_a_host_directory() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m,mode=1777",
        "mem",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "mem:/m",
            "busybox",
            "sh",
            "-c",
            "grep ' /m ' /proc/mounts; echo x > /m/f",
        ])
        .ok();
    assert!(
        out.stdout.starts_with("tmpfs /m tmpfs") && out.stdout.contains("size=2048k"),
        "{}",
        out.stdout
    );
    // The last container out unmounted it: what it held is gone, as with dockerd.
    let data = d.data_root().join("volumes/mem/_data");
    assert!(!berth_tests::all_mounts_under(&d.data_root())
        .iter()
        .any(|m| m.ends_with("/mem/_data")));
    assert!(!data.join("f").exists());
    let host = d.root_path("device-dir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("seen"), b"from the host\n").unwrap();
    d.docker(&[
        "volume",
        "create",
        "--driver",
        "local",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &format!("device={}", host.display()),
        "hostdir",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "hostdir:/h",
            "busybox",
            "cat",
            "/h/seen",
        ])
        .ok();
    assert_eq!(out.stdout, "from the host\n");
    let out = d.docker(&["volume", "create", "-o", "colour=red", "bad"]);
    assert!(
        out.stderr.contains("invalid option: \"colour\""),
        "{}",
        out.stderr
    );
    let out = d.docker(&["volume", "create", "-o", "type=tmpfs", "bad"]);
    assert!(
        out.stderr.contains("missing required option: \"device\""),
        "{}",
        out.stderr
    );
    let out = d.docker(&["volume", "create", "-d", "flocker", "bad"]);
    assert!(
        out.stderr
            .contains("volume driver \"flocker\" is not supported yet"),
        "{}",
        out.stderr
    );
    assert_eq!(
        d.docker(&["volume", "ls", "-q"]).ok().stdout,
        "hostdir\nmem\n"
    );
}

#[test]
fn u_and_chown_give_a_volume_to_the_containers_user() {
    let (d, _reg) = Daemon::with_busybox();
    let write = |spec: &[&str]| {
        let mut a = vec!["run", "--rm", "-u", "1000:1000"];
        a.extend_from_slice(spec);
        a.extend_from_slice(&[
            "busybox",
            "sh",
            "-c",
            "touch /d/x && stat -c '%u %g' /d /d/x",
        ]);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = write(&["-v", "plain:/d"]);
    let out = d.docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(out.code, 0, "a root-owned volume is not the user's");
    let args = write(&["-v", "owned:/d:U"]);
    let out = d
        .docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
    assert_eq!(out.stdout, "1000 1000\n1000 1000\n");
    let args = write(&["--mount", "src=owned2,dst=/d,chown=true"]);
    let out = d
        .berth(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .ok();
    assert_eq!(out.stdout, "1000 1000\n1000 1000\n");
    // Not for binds: the host's files are not berth's to give away.
    let out = d.docker(&["run", "--rm", "-v", "/tmp:/d:U", "busybox", "true"]);
    assert_eq!(out.code, 125);
    assert!(out.stderr.contains("invalid mode: U"), "{}", out.stderr);
}

#[test]
fn bad_mount_requests_through_the_api_get_dockers_errors() {
    let (d, _reg) = Daemon::with_busybox();
    let create = |hc: &str| {
        let body = format!(r#"{{"Image":"busybox","HostConfig":{hc}}}"#);
        d.http("POST", "/containers/create", Some(&body))
    };
    for (hc, status, words) in [
        (
            r#"{"Mounts":[{"Type":"volume","Target":"/x","Bogus":true}]}"#,
            400,
            "unknown field `Bogus`",
        ),
        (
            r#"{"Mounts":[{"Type":"bind","Source":"/tmp","Target":"/x","BindOptions":{"Weird":1}}]}"#,
            400,
            "unknown field `Weird`",
        ),
        (
            r#"{"Tmpfs":{"/t":"size=1m,colour=red"}}"#,
            400,
            "invalid tmpfs option \"colour\"",
        ),
        (r#"{"Tmpfs":{"t":""}}"#, 400, "mount path must be absolute"),
        (r#"{"Binds":["/tmp:/"]}"#, 400, "destination can't be '/'"),
        (
            r#"{"Binds":["/tmp:/x","/etc:/x/"]}"#,
            400,
            "Duplicate mount point: /x",
        ),
        (
            r#"{"Binds":["/tmp:/x"],"Tmpfs":{"/x":""}}"#,
            400,
            "Duplicate mount point: /x",
        ),
        (r#"{"Binds":["v.1:/x:rw,ro"]}"#, 400, "invalid mode: rw,ro"),
        (
            r#"{"Binds":["v1:/x"],"VolumeDriver":"nfs"}"#,
            400,
            "\"nfs\" is not supported yet",
        ),
        (
            r#"{"Binds":["v1:/x:nocopy"],"VolumeDriver":"local"}"#,
            201,
            "",
        ),
        (
            r#"{"Mounts":[{"Type":"image","Source":"busybox","Target":"/x"}]}"#,
            400,
            "mount type \"image\" is not supported yet",
        ),
        (
            r#"{"Mounts":[{"Type":"volume","Source":"../etc","Target":"/x"}]}"#,
            400,
            "includes invalid characters for a local volume name",
        ),
        (
            r#"{"VolumesFrom":["nosuch"]}"#,
            404,
            "No such container: nosuch",
        ),
        (
            r#"{"VolumesFrom":["x:rshared"]}"#,
            400,
            "invalid mode: rshared",
        ),
    ] {
        let (got, _, body) = create(hc);
        assert_eq!(got, status, "{hc}: {body}");
        let msg: serde_json::Value = serde_json::from_str(&body).unwrap();
        let msg = msg["message"].as_str().unwrap_or_default();
        assert!(msg.contains(words), "{hc}: {msg}");
    }
    let (got, _, body) = d.http("POST", "/volumes/create", Some(r#"{"Name":"a/../../b"}"#));
    assert_eq!(got, 400, "{body}");
    // Only the one good request left something: its container and volume.
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().stdout, "v1\n");
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout.lines().count(), 1);
    assert!(!d.data_root().join("b").exists());
}

#[test]
fn an_idmapped_bind_shows_the_files_with_their_owners_mapped() {
    let (d, _reg) = Daemon::with_busybox();
    let host = d.root_path("mapped");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), b"x").unwrap();
    std::os::unix::fs::chown(host.join("f"), Some(1000), Some(1001)).unwrap();
    // Ids outside the map are nobody's inside: the directory written to is one of the mapped.
    std::os::unix::fs::chown(&host, Some(1000), Some(1001)).unwrap();
    let spec = format!("{}:/d:idmap=uids=1000-0-1;gids=1001-0-1", host.display());
    for runtime in ["builtin", "runc"] {
        let out = d.docker(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "stat -c '%u %g' /d/f && echo new > /d/g",
        ]);
        if out.stderr.contains("the kernel or its filesystem cannot") {
            eprintln!(
                "skipped: no id-mapped mounts on this filesystem: {}",
                out.stderr
            );
            return;
        }
        assert_eq!(out.code, 0, "{runtime}: {out:?}");
        assert_eq!(out.stdout, "0 0\n", "{runtime}");
        // What the container's root writes lands owned by the host's ids it maps to.
        use std::os::unix::fs::MetadataExt;
        let g = std::fs::metadata(host.join("g")).unwrap();
        assert_eq!((g.uid(), g.gid()), (1000, 1001), "{runtime}");
        std::fs::remove_file(host.join("g")).unwrap();
        // The copy berthd mounted for the runtime is gone with the container.
        assert_eq!(
            berth_tests::all_mounts_under(&d.exec_root())
                .iter()
                .filter(|m| m.contains("/idmap/"))
                .count(),
            0
        );
    }
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "/tmp:/d:idmap=uids=0-1",
        "busybox",
        "true",
    ]);
    assert!(out.stderr.contains("invalid mode"), "{}", out.stderr);
}
