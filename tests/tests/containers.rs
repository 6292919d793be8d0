//! Containers on the real kernel, driven with the real docker CLI: run, the lifecycle verbs,
//! both runtimes, logs, isolation and limits, and what survives a daemon or shim crash.

use std::time::Duration;

use berth_tests::{mounts_under, status, wait_until, Daemon};

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.docker(&["inspect", "--format", format, name])
        .ok()
        .stdout
        .trim()
        .to_string()
}

#[test]
fn run_prints_output_and_exit_codes_like_docker() {
    let (d, _reg) = Daemon::with_busybox();
    for runtime in ["builtin", "runc"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "busybox",
                "echo",
                "hello",
            ])
            .ok();
        assert_eq!(out.stdout, "hello\n");
        let out = d.docker(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (3, "out\n", "err\n")
        );
    }
    let out = d.docker(&["run", "--name", "nf", "busybox", "nosuchcmd"]);
    assert_eq!(out.code, 127, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("docker: Error response from daemon: failed to create task for container:")
            && out
                .stderr
                .contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{}",
        out.stderr
    );
    assert_eq!(
        inspect(&d, "nf", "{{.State.Status}} {{.State.ExitCode}}"),
        "created 127"
    );
    let out = d.docker(&["run", "--rm", "--runtime", "runc", "busybox", "/etc/passwd"]);
    assert_eq!(out.code, 126, "{}", out.stderr);
    let out = d.docker(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(out.code, 126, "{}", out.stderr);
    // --rm containers are gone, the failed one stays, as with dockerd.
    let out = d
        .docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .ok();
    assert_eq!(out.stdout, "nf Created\n");
    let out = d.docker(&["run", "--runtime", "nosuch", "busybox", "true"]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr
            .contains("unknown or invalid runtime name: nosuch"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["run", "-m", "1m", "busybox", "true"]);
    assert!(
        out.stderr.contains("Minimum memory limit allowed is 6MB"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["run", "-u", "nobody-here", "busybox", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unable to find user nobody-here"),
        "{}",
        out.stderr
    );
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout.lines().count(), 2);
    // Starts that failed, in the runtime (nosuchcmd) or before it ran (the unknown user),
    // leave no cgroup behind, though berthd makes them ahead of the runtime.
    for dir in berth_tests::cgroup_dirs(&d.cgroup_parent()) {
        let left: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "cgroups left: {left:?}");
    }
}

#[test]
fn lifecycle_of_a_detached_container() {
    let (d, _reg) = Daemon::with_busybox();
    for runtime in ["builtin", "runc"] {
        let name = format!("svc-{runtime}");
        let script = "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done";
        let out = d
            .docker(&[
                "run",
                "-d",
                "--name",
                &name,
                "--runtime",
                runtime,
                "busybox",
                "sh",
                "-c",
                script,
            ])
            .ok();
        let id = out.stdout.trim().to_string();
        assert_eq!(id.len(), 64, "{}", out.stdout);
        assert!(
            status(&d, &name).starts_with("Up "),
            "{}",
            status(&d, &name)
        );
        wait_until("the first log line", || {
            d.docker(&["logs", &name]).stdout == "started\n"
        });

        d.docker(&["pause", &name]).ok();
        assert!(
            status(&d, &name).ends_with("(Paused)"),
            "{}",
            status(&d, &name)
        );
        assert_eq!(inspect(&d, &name, "{{.State.Status}}"), "paused");
        d.docker(&["unpause", &name]).ok();
        assert_eq!(inspect(&d, &name, "{{.State.Status}}"), "running");

        let out = d.docker(&["rm", &name]);
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains(&format!(
                "cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
            )),
            "{}",
            out.stderr
        );

        d.docker(&["stop", &name]).ok();
        assert!(
            status(&d, &name).starts_with("Exited (0) "),
            "{}",
            status(&d, &name)
        );
        assert_eq!(d.docker(&["logs", &name]).ok().stdout, "started\nbye\n");
        assert_eq!(d.docker(&["wait", &name]).ok().stdout, "0\n");

        // Started again: same container, logs kept, a new run.
        d.docker(&["start", &name]).ok();
        assert!(status(&d, &name).starts_with("Up "));
        d.docker(&["kill", &name]).ok();
        wait_until("the kill", || status(&d, &name).starts_with("Exited (137)"));
        d.docker(&["restart", "-t", "1", &name]).ok();
        assert!(status(&d, &name).starts_with("Up "));
        wait_until("two starts in the log", || {
            d.docker(&["logs", &name]).stdout.matches("started").count() == 3
        });

        d.docker(&["rename", &name, &format!("{name}-2")]).ok();
        d.docker(&["rm", "-f", &format!("{name}-2")]).ok();
        assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
        let out = d.docker(&["stop", &name]);
        assert!(
            out.stderr.contains(&format!("No such container: {name}")),
            "{}",
            out.stderr
        );
    }
    assert!(
        mounts_under(&d.data_root()).is_empty(),
        "{:?}",
        mounts_under(&d.data_root())
    );
    assert!(
        mounts_under(&d.exec_root()).is_empty(),
        "{:?}",
        mounts_under(&d.exec_root())
    );
}

#[test]
fn the_process_environment_and_isolation() {
    let (d, _reg) = Daemon::with_busybox();
    let out = d
        .docker(&[
            "run",
            "--name",
            "envy",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "busybox",
            "sh",
            "-c",
            "echo $FOO $(pwd) $(id -u):$(id -g) $HOSTNAME $(hostname) $HOME",
        ])
        .ok();
    let id = d
        .docker(&["inspect", "--format", "{{.Id}}", "envy"])
        .ok()
        .stdout;
    assert_eq!(
        out.stdout,
        format!("bar /tmp 1000:1000 {0} {0} /\n", &id[..12])
    );
    let out = d.docker(&["run", "--rm", "-h", "box", "busybox", "sh", "-c", "hostname; cat /etc/hostname; head -1 /etc/hosts; ip -o link | cut -d: -f2 | tr -d ' \\n'"]).ok();
    // Loopback, and eth0 on the default bridge.
    assert!(
        out.stdout
            .starts_with("box\nbox\n127.0.0.1\tlocalhost\nloeth0@if"),
        "{}",
        out.stdout
    );
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
            "show",
            "lo",
        ])
        .ok();
    assert!(out.stdout.contains("UP"), "{}", out.stdout);
    let out = d.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    // A new PID namespace: the container's program is PID 1 and sees only its own processes.
    let out = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo $$; ps -o pid,comm",
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    // The shell, and ps (which the shell may have become by exec): nothing of the host.
    assert!(lines.len() <= 4 && lines[0] == "1", "{}", out.stdout);
    assert!(lines[2].trim().starts_with("1 "), "{}", out.stdout);
    // Docker's default capabilities: no CAP_SYS_ADMIN (mount fails), but chown works.
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mount -t tmpfs t /tmp 2>&1; chown 5 /tmp && echo chowned",
    ]);
    assert!(
        out.stdout.contains("permission denied") || out.stdout.contains("not permitted"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with("chowned\n"), "{}", out.stdout);
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            "mount -t tmpfs t /tmp && echo mounted",
        ])
        .ok();
    assert_eq!(out.stdout, "mounted\n");
    // The container's changes stay in its own layer.
    d.docker(&[
        "run",
        "--name",
        "wr",
        "busybox",
        "sh",
        "-c",
        "echo data > /file",
    ])
    .ok();
    d.docker(&["start", "-a", "wr"]).ok();
    let out = d.docker(&["run", "--rm", "busybox", "ls", "/file"]);
    assert_eq!(out.code, 1);
}

#[test]
fn cgroup_limits_and_oom() {
    let (d, _reg) = Daemon::with_busybox();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (mem, pids, shares) = if v2 {
        (
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/pids.max",
            "/sys/fs/cgroup/cpu.weight",
        )
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max",
            "/sys/fs/cgroup/cpu/cpu.shares",
        )
    };
    for runtime in ["builtin", "runc"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "-m",
                "32m",
                "--pids-limit",
                "50",
                "--cpu-shares",
                "512",
                "busybox",
                "cat",
                mem,
                pids,
                shares,
            ])
            .ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0], "33554432");
        assert_eq!(lines[1], "50");
        if !v2 {
            assert_eq!(lines[2], "512");
        }
        let name = format!("oom-{runtime}");
        let out = d.docker(&[
            "run",
            "--name",
            &name,
            "--runtime",
            runtime,
            "-m",
            "16m",
            "--memory-swap",
            "16m",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=64M count=1",
        ]);
        assert_eq!(out.code, 137, "{}", out.stderr);
        assert_eq!(
            inspect(&d, &name, "{{.State.OOMKilled}} {{.State.ExitCode}}"),
            "true 137"
        );
        // The daemon's cgroup parent, or the container's own.
        let custom = format!("{}/custom", d.cgroup_parent());
        for (parent, extra) in [
            (d.cgroup_parent(), vec![]),
            (custom.clone(), vec!["--cgroup-parent", &custom]),
        ] {
            let name = format!("cg-{runtime}-{}", extra.len());
            let mut args = vec!["run", "-d", "--name", &name, "--runtime", runtime];
            args.extend(extra);
            args.extend(["busybox", "sleep", "100"]);
            let id = d.docker(&args).ok().stdout.trim().to_string();
            let pid = inspect(&d, &name, "{{.State.Pid}}");
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
            let want = format!("{parent}/{id}");
            assert!(
                cgroup.lines().any(|l| l.ends_with(&want)),
                "{want} in {cgroup}"
            );
            d.docker(&["rm", "-f", &name]).ok();
            for dir in berth_tests::cgroup_dirs(&want) {
                assert!(!dir.exists(), "{} left behind", dir.display());
            }
        }
    }
    let out = d.docker(&[
        "run",
        "--rm",
        "--cgroup-parent",
        "../../escape",
        "busybox",
        "true",
    ]);
    assert_eq!(out.code, 125);
    assert!(
        out.stderr.contains("invalid cgroup parent"),
        "{}",
        out.stderr
    );
}

fn shim_pid(d: &Daemon, id: &str) -> i32 {
    let file = d.exec_root().join(format!("containers/{id}/shim.pid"));
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("no shim for {id}: {e}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn containers_run_at_normal_priority_whatever_started_their_shim() {
    let (d, _reg) = Daemon::with_busybox();
    // Each start takes a spare shim, started at idle priority (the first when berthd
    // started, the others at each create): the container must not inherit that.
    for _ in 0..3 {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "busybox",
                "cut",
                "-d",
                " ",
                "-f",
                "41",
                "/proc/self/stat",
            ])
            .ok();
        assert_eq!(out.stdout.trim(), "0", "scheduling policy");
    }
}

#[test]
fn a_stopped_rm_container_is_removed_when_berthd_starts() {
    let (mut d, _reg) = Daemon::with_busybox();
    let create_rm = |d: &Daemon| {
        let out = d.docker(&["create", "--rm", "busybox", "true"]).ok();
        out.stdout.trim().to_string()
    };
    let (id, kept) = (create_rm(&d), create_rm(&d));
    d.stop();
    // As a crash between its exit and its removal would leave it: exited, still recorded.
    let rec = d
        .data_root()
        .join(format!("containers/{id}/config.v2.json"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
    v["state"]["StartedAt"] = "2026-01-01T00:00:00.000000000Z".into();
    v["state"]["FinishedAt"] = "2026-01-01T00:00:01.000000000Z".into();
    v["has_been_started"] = true.into();
    std::fs::write(&rec, serde_json::to_vec(&v).unwrap()).unwrap();
    d.start_again();
    // Removed, as dockerd does at its start; one never started stays.
    assert_eq!(
        d.docker(&["ps", "-aq", "--no-trunc"]).ok().stdout.trim(),
        kept
    );
    assert!(!rec.parent().unwrap().exists());
}

#[test]
fn running_containers_survive_a_daemon_crash() {
    let (mut d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "quitter",
        "--runtime",
        "runc",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ])
    .ok();
    let keeper_pid = inspect(&d, "keeper", "{{.State.Pid}}");
    d.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    d.start_again();
    assert!(
        status(&d, "keeper").starts_with("Up "),
        "{}",
        status(&d, "keeper")
    );
    assert_eq!(inspect(&d, "keeper", "{{.State.Pid}}"), keeper_pid);
    assert!(
        status(&d, "quitter").starts_with("Exited (7) "),
        "{}",
        status(&d, "quitter")
    );
    let before = d.docker(&["logs", "keeper"]).ok().stdout.lines().count();
    wait_until("more output after the restart", || {
        d.docker(&["logs", "keeper"]).stdout.lines().count() > before + 2
    });
    // Attach works on a re-adopted container, and sees it end.
    let attach = std::process::Command::new("docker")
        .args(["attach", "--no-stdin", "keeper"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.config_dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    d.docker(&["stop", "keeper"]).ok();
    let attached = attach.wait_with_output().unwrap();
    assert!(attached.status.success());
    assert!(String::from_utf8_lossy(&attached.stdout).contains("tick "));
    assert!(
        status(&d, "keeper").starts_with("Exited (0) "),
        "{}",
        status(&d, "keeper")
    );
}

/// Runs `sleep` in a container named `name`, kills its shim with SIGKILL, and returns the
/// container process's PID (now an orphan).
fn run_and_kill_shim(d: &Daemon, name: &str) -> i32 {
    let id = d
        .docker(&["run", "-d", "--name", name, "busybox", "sleep", "1000"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let container_pid: i32 = inspect(d, name, "{{.State.Pid}}").parse().unwrap();
    // SAFETY: killing the shim this test's daemon started.
    unsafe { libc::kill(shim_pid(d, &id), libc::SIGKILL) };
    container_pid
}

fn wait_gone(pid: i32) {
    wait_until("the orphaned container process to be gone", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}

#[test]
fn a_killed_shim_is_reported_and_the_daemon_carries_on() {
    let (d, _reg) = Daemon::with_busybox();
    let container_pid = run_and_kill_shim(&d, "victim");
    wait_until("the exit to be recorded", || {
        status(&d, "victim").starts_with("Exited (137)")
    });
    assert_eq!(
        inspect(&d, "victim", "{{.State.Error}}"),
        "container shim exited unexpectedly"
    );
    wait_gone(container_pid);
    assert_eq!(
        d.docker(&["run", "--rm", "busybox", "echo", "still here"])
            .ok()
            .stdout,
        "still here\n"
    );
    d.docker(&["rm", "victim"]).ok();
    // Removed at once after its shim died: the container's processes still go, and nothing
    // of it stays mounted.
    let container_pid = run_and_kill_shim(&d, "victim2");
    d.docker(&["rm", "-f", "victim2"]).ok();
    wait_gone(container_pid);
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert!(
        mounts_under(&d.data_root()).is_empty(),
        "{:?}",
        mounts_under(&d.data_root())
    );
}

#[test]
fn run_rm_cycles_leave_nothing_behind() {
    let (mut d, _reg) = Daemon::with_busybox();
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    // Containers' cgroups in every hierarchy, under this daemon's own parent.
    let cgroups = || {
        berth_tests::cgroup_dirs(&d.cgroup_parent())
            .iter()
            .map(|dir| {
                std::fs::read_dir(dir)
                    .map(|r| r.flatten().filter(|e| e.path().is_dir()).count())
                    .unwrap_or(0)
            })
            .sum::<usize>()
    };
    let daemon_fds = |d: &Daemon| {
        let pid = std::fs::read_to_string(d.data_root().join("berthd.lock")).unwrap_or_default();
        let pid = pid.trim();
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    // A shim waiting for its config (berthd keeps one spare between starts; a create has one
    // made, a start takes it): whether there is one at a given moment is a race of the spare
    // thread with the next start, and berthd holds three descriptors for it (its stdin, its
    // stdout, its pidfd).
    let spare_shim = format!(
        "shim\0--stdin\0{}",
        d.exec_root().join("containers").display()
    );
    let spare_shim_runs = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&spare_shim))
        })
    };
    let spare_fds = |there: bool| if there { 3 } else { 0 };
    d.docker(&["run", "--rm", "busybox", "true"]).ok();
    let (f0, c0, m0, df0) = (
        fds(),
        cgroups(),
        mounts_under(d.data_root().parent().unwrap()).len(),
        daemon_fds(&d).saturating_sub(spare_fds(spare_shim_runs())),
    );
    let cycles: usize = std::env::var("BERTH_RUN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for i in 0..cycles {
        let runtime = if i % 4 == 0 { "runc" } else { "builtin" };
        d.docker(&["run", "--rm", "--runtime", runtime, "busybox", "true"])
            .ok();
    }
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    assert_eq!(fds(), f0);
    assert_eq!(cgroups(), c0);
    assert_eq!(mounts_under(d.data_root().parent().unwrap()).len(), m0);
    // A removal's teardown runs after the answer, holding a descriptor or two for a moment:
    // a leak is what stays.
    let settled = || daemon_fds(&d).saturating_sub(spare_fds(spare_shim_runs())) <= df0 + 2;
    if !settled() {
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(settled(), "daemon fds {} -> {}", df0, daemon_fds(&d));
    let shims = std::fs::read_dir(d.exec_root().join("containers"))
        .unwrap()
        .count();
    assert_eq!(shims, 0);
    assert_eq!(
        std::fs::read_dir(d.exec_root().join("netns"))
            .unwrap()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with("spare-"))
            .count(),
        0
    );
    // What berthd keeps ready for the next start (a shim, a network namespace; a create has
    // them made) goes with it.
    d.docker(&["create", "busybox", "true"]).ok();
    let root = d.data_root().parent().unwrap().to_path_buf();
    let spare_netns = || {
        berth_tests::all_mounts_under(&root)
            .iter()
            .any(|m| m.contains("/netns/spare-"))
    };
    wait_until("a spare shim and network namespace", || {
        spare_shim_runs() && spare_netns()
    });
    d.stop();
    assert_eq!(berth_tests::all_mounts_under(&root), Vec::<String>::new());
    wait_until("the spare shim to go", || !spare_shim_runs());
}

#[test]
fn restart_policies() {
    let (mut d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ])
    .ok();
    wait_until("two restarts", || {
        inspect(&d, "flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    d.docker(&[
        "run",
        "-d",
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "stopped",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&["stop", "-t", "0", "stopped"]).ok();
    d.restart();
    assert!(
        status(&d, "always").starts_with("Up "),
        "{}",
        status(&d, "always")
    );
    assert!(
        status(&d, "stopped").starts_with("Exited"),
        "{}",
        status(&d, "stopped")
    );
    // A kill of the process (not through the API) is a failure the policy answers.
    let pid: i32 = inspect(&d, "always", "{{.State.Pid}}").parse().unwrap();
    // SAFETY: killing the container's own process, as the OOM killer or a crash would.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_until("the restart", || {
        inspect(&d, "always", "{{.RestartCount}} {{.State.Status}}") == "1 running"
    });
}

#[test]
fn events_and_images_in_use() {
    let (d, _reg) = Daemon::with_busybox();
    let t0 = d
        .docker(&["version", "--format", "{{.Server.Version}}"])
        .ok();
    assert!(!t0.stdout.is_empty());
    let since = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1
    );
    d.docker(&["run", "--rm", "--name", "ev", "busybox", "true"])
        .ok();
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let out = d
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "container=ev",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "container create ev\ncontainer attach ev\ncontainer start ev\ncontainer die ev\ncontainer destroy ev\n"
    );

    // An image a container uses cannot go; forced past a stopped one, only its names go.
    d.docker(&["run", "-d", "--name", "user", "busybox", "sleep", "100"])
        .ok();
    let other_name = d
        .docker(&["images", "--format", "{{.Repository}}"])
        .ok()
        .stdout;
    let other_name = other_name
        .lines()
        .find(|n| *n != "busybox")
        .unwrap()
        .to_string();
    d.docker(&["rmi", &other_name]).ok();
    let out = d.docker(&["rmi", "busybox"]);
    assert!(
        out.stderr.contains("conflict: unable to delete busybox (cannot be forced) - image is being used by running container"),
        "{}",
        out.stderr
    );
    d.docker(&["stop", "-t", "0", "user"]).ok();
    let out = d.docker(&["rmi", "busybox"]);
    assert!(
        out.stderr.contains("conflict: unable to delete busybox (must be forced) - image is being used by stopped container"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["rmi", "-f", "busybox"]).ok();
    assert_eq!(out.stdout, "Untagged: busybox:latest\n");
    d.docker(&["image", "prune", "-f"]).ok();
    d.docker(&["start", "user"]).ok();
    assert!(status(&d, "user").starts_with("Up "));
}

#[test]
fn run_pulls_missing_images_and_names_are_unique() {
    let (d, reg) = Daemon::with_busybox();
    let image = format!("{}/library/twolayer", reg.addr);
    let out = d.docker(&["run", "--rm", &image, "cat", "/etc/motd"]);
    assert!(
        out.stderr
            .starts_with(&format!("Unable to find image '{image}:latest' locally\n")),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.code,
        d.docker(&["run", "--rm", &image, "cat", "/etc/motd"]).code
    );
    d.docker(&["create", "--name", "taken", "busybox", "true"])
        .ok();
    let out = d.docker(&["create", "--name", "taken", "busybox", "true"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("Conflict. The container name \"/taken\" is already in use by container"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["create", "--name", "bad name", "busybox", "true"]);
    assert!(
        out.stderr.contains("Invalid container name (bad name)"),
        "{}",
        out.stderr
    );
    // Missing from the local registry too (a bare name would send the pull to Docker Hub).
    let out = d.docker(&[
        "run",
        "--rm",
        &format!("{}/library/no-such-image-here", reg.addr),
    ]);
    assert_eq!(out.code, 125);
}

#[test]
fn list_filters_and_limits() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run", "--name", "three", "--label", "tier=db", "busybox", "sh", "-c", "exit 3",
    ]);
    d.docker(&["run", "--name", "zero", "busybox", "true"]).ok();
    d.docker(&[
        "run", "-d", "--name", "up", "--label", "tier=web", "busybox", "sleep", "100",
    ])
    .ok();
    let names = |args: &[&str]| {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        d.docker(&a)
            .ok()
            .stdout
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(names(&[]), "up");
    assert_eq!(names(&["-a"]), "up,zero,three");
    assert_eq!(names(&["-a", "--filter", "status=exited"]), "zero,three");
    assert_eq!(names(&["-a", "--filter", "exited=3"]), "three");
    assert_eq!(names(&["-a", "--filter", "label=tier"]), "up,three");
    assert_eq!(names(&["-a", "--filter", "label=tier=web"]), "up");
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        "up,zero,three"
    );
    assert_eq!(names(&["-a", "--filter", "name=ze"]), "zero");
    assert_eq!(names(&["-a", "--filter", "since=three"]), "up,zero");
    assert_eq!(names(&["-a", "--filter", "before=up"]), "zero,three");
    assert_eq!(names(&["-n", "2"]), "up,zero");
    assert_eq!(names(&["-l"]), "up");
    let out = d.docker(&["ps", "-a", "--filter", "status=bogus"]);
    assert!(
        out.stderr.contains("invalid filter 'status=bogus'"),
        "{}",
        out.stderr
    );
    let out = d
        .docker(&["container", "prune", "-f", "--filter", "label=tier"])
        .ok();
    assert!(
        out.stdout.starts_with("Deleted Containers:\n"),
        "{}",
        out.stdout
    );
    assert_eq!(names(&["-a"]), "up,zero");
}

#[test]
fn cpu_limits_and_logs_options() {
    let (d, _reg) = Daemon::with_busybox();
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--cpus",
                "0.5",
                "--cpuset-cpus",
                "0",
                "busybox",
                "cat",
                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
                "/sys/fs/cgroup/cpuset/cpuset.cpus",
            ])
            .ok();
        assert_eq!(out.stdout, "50000\n100000\n0\n");
    }
    d.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done",
    ])
    .ok();
    // -f follows until the container exits.
    let out = d.docker(&["logs", "-f", "talker"]).ok();
    assert_eq!(out.stdout, "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(
        d.docker(&["logs", "--tail", "2", "talker"]).ok().stdout,
        "line4\nline5\n"
    );
    let out = d.docker(&["logs", "-t", "--tail", "1", "talker"]).ok();
    assert!(
        out.stdout.ends_with(" line5\n") && out.stdout.starts_with("20"),
        "{}",
        out.stdout
    );
    let future = d
        .docker(&["logs", "--since", "2999-01-01T00:00:00Z", "talker"])
        .ok();
    assert_eq!(future.stdout, "");
    let past = d
        .docker(&["logs", "--until", "2000-01-01T00:00:00Z", "talker"])
        .ok();
    assert_eq!(past.stdout, "");
}

#[test]
fn privileges_capabilities_and_proc() {
    let (d, _reg) = Daemon::with_busybox();
    for runtime in ["builtin", "runc"] {
        let run = |args: &[&str]| {
            let mut a = vec!["run", "--rm", "--runtime", runtime];
            a.extend_from_slice(args);
            d.docker(&a)
        };
        // Docker's 14 default capabilities.
        let out = run(&["busybox", "grep", "CapEff", "/proc/self/status"]).ok();
        assert_eq!(out.stdout, "CapEff:\t00000000a80425fb\n");
        // Every capability set and the seccomp filter as runc leaves them, whatever the
        // flags; a namespace the profile forbids stays forbidden.
        let status = "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status | tr '\\n\\t' '  '; unshare -U true 2>/dev/null; echo unshare=$?";
        for flags in [
            &[][..],
            &["-u", "1000"],
            &["--cap-drop", "ALL"],
            &["--cap-drop", "SETPCAP"],
            &["--cap-add", "SYS_ADMIN"],
            &["--security-opt", "no-new-privileges"],
        ] {
            let mut args = flags.to_vec();
            args.extend(["busybox", "sh", "-c", status]);
            let out = run(&args).ok();
            let want = match flags {
                [] => "CapInh: 0000000000000000 CapPrm: 00000000a80425fb CapEff: 00000000a80425fb CapBnd: 00000000a80425fb CapAmb: 0000000000000000 NoNewPrivs: 0 Seccomp: 2 unshare=1\n",
                ["-u", _] => "CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: 00000000a80425fb CapAmb: 0000000000000000 NoNewPrivs: 0 Seccomp: 2 unshare=1\n",
                ["--cap-drop", "ALL"] => "CapInh: 0000000000000000 CapPrm: 0000000000000000 CapEff: 0000000000000000 CapBnd: 0000000000000000 CapAmb: 0000000000000000 NoNewPrivs: 0 Seccomp: 2 unshare=1\n",
                ["--cap-drop", _] => "CapInh: 0000000000000000 CapPrm: 00000000a80424fb CapEff: 00000000a80424fb CapBnd: 00000000a80424fb CapAmb: 0000000000000000 NoNewPrivs: 0 Seccomp: 2 unshare=1\n",
                // With CAP_SYS_ADMIN the profile lets namespaces be made.
                ["--cap-add", _] => "CapInh: 0000000000000000 CapPrm: 00000000a82425fb CapEff: 00000000a82425fb CapBnd: 00000000a82425fb CapAmb: 0000000000000000 NoNewPrivs: 0 Seccomp: 2 unshare=0\n",
                _ => "CapInh: 0000000000000000 CapPrm: 00000000a80425fb CapEff: 00000000a80425fb CapBnd: 00000000a80425fb CapAmb: 0000000000000000 NoNewPrivs: 1 Seccomp: 2 unshare=1\n",
            };
            assert_eq!(out.stdout, want, "{runtime} {flags:?}");
        }
        let out = run(&["--cap-drop", "CHOWN", "busybox", "sh", "-c", "chown 5 /tmp"]);
        assert!(
            out.stderr.contains("Operation not permitted"),
            "{}",
            out.stderr
        );
        let out = run(&["--privileged", "busybox", "sh", "-c", "mount -t tmpfs t /tmp && echo mounted; test -e /dev/loop0 -o -e /dev/vda -o -e /dev/sda && echo devices"]).ok();
        assert_eq!(out.stdout, "mounted\ndevices\n");
        let out = run(&["busybox", "sh", "-c", "echo 1 > /proc/sys/vm/drop_caches"]);
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.stderr
        );
        let out = run(&[
            "--shm-size",
            "16m",
            "busybox",
            "sh",
            "-c",
            "df -k /dev/shm | tail -1",
        ])
        .ok();
        assert!(
            out.stdout.split_whitespace().nth(1) == Some("16384"),
            "{}",
            out.stdout
        );
        let out = run(&["--cap-add", "NOT_A_CAP", "busybox", "true"]);
        assert!(
            out.stderr.contains("unknown capability: \"CAP_NOT_A_CAP\""),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn commands_not_built_yet_say_so() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "-d", "--name", "idle", "busybox", "sleep", "100"])
        .ok();
    let out = d.berth(&["context", "ls"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("'context' is not implemented in berth yet"),
        "{}",
        out.stderr
    );
    // Inspect still walks past networks and volumes to its answer.
    let out = d.docker(&["inspect", "nosuch"]);
    assert_eq!(out.stderr.trim(), "Error: No such object: nosuch");
}

#[test]
fn a_crash_looping_container_can_be_stopped_and_removed() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ])
    .ok();
    wait_until("a few restarts", || {
        inspect(&d, "loop", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 3
    });
    d.docker(&["rm", "-f", "loop"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "loop2",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ])
    .ok();
    wait_until("a restart", || {
        inspect(&d, "loop2", "{{.RestartCount}}") != "0"
    });
    d.docker(&["stop", "loop2"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        status(&d, "loop2").starts_with("Exited (2)"),
        "{}",
        status(&d, "loop2")
    );
    let count = inspect(&d, "loop2", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&d, "loop2", "{{.RestartCount}}"),
        count,
        "a stopped container stays stopped"
    );
}

#[test]
fn pipelines_restarts_of_rm_containers_and_attach_clients_that_leave() {
    let (d, _reg) = Daemon::with_busybox();
    // SIGPIPE must reach the container's programs at its default (the shim ignores it).
    for runtime in ["builtin", "runc"] {
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "busybox",
                "sh",
                "-c",
                "yes | head -n 1; echo done",
            ])
            .ok();
        assert_eq!(out.stdout, "y\ndone\n");
        let out = d
            .docker(&[
                "run",
                "--rm",
                "--runtime",
                runtime,
                "busybox",
                "grep",
                "-E",
                "SigIgn|SigBlk",
                "/proc/self/status",
            ])
            .ok();
        // Nothing blocked, SIGPIPE not ignored (runc itself leaves signal 32 ignored).
        let mask = |name: &str| {
            let line = out.stdout.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split('\t').nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk"), 0, "{runtime}");
        assert_eq!(mask("SigIgn") & (1 << (libc::SIGPIPE - 1)), 0, "{runtime}");
    }
    // A restart keeps a --rm container.
    d.docker(&[
        "run", "-d", "--rm", "--name", "tmp", "busybox", "sleep", "100",
    ])
    .ok();
    d.docker(&["restart", "-t", "0", "tmp"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        status(&d, "tmp").starts_with("Up "),
        "{}",
        status(&d, "tmp")
    );
    d.docker(&["stop", "-t", "0", "tmp"]).ok();
    wait_until("the --rm container to go", || {
        d.docker(&["ps", "-aq"]).ok().stdout.is_empty()
    });

    // Attach clients that go away while output flows leave the shim and the others unharmed.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do echo x; sleep 0.01; done",
    ])
    .ok();
    let attach = || {
        std::process::Command::new("docker")
            .args(["attach", "chatty"])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.config_dir())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = attach();
    let second = attach();
    std::thread::sleep(Duration::from_millis(500));
    first.kill().unwrap();
    first.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        status(&d, "chatty").starts_with("Up "),
        "{}",
        status(&d, "chatty")
    );
    d.docker(&["stop", "chatty"]).ok();
    let out = second.wait_with_output().unwrap();
    assert!(
        out.stdout.len() > 10,
        "the second client kept getting output"
    );
    assert!(
        status(&d, "chatty").starts_with("Exited (0)"),
        "{}",
        status(&d, "chatty")
    );
}

#[test]
fn a_removal_cut_short_is_finished_at_the_next_start() {
    let (mut d, _reg) = Daemon::with_busybox();
    let id = d
        .docker(&["create", "--name", "half", "busybox", "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let dir = d.data_root().join("containers").join(&id);
    // As berthd leaves it between forgetting a container and removing its files: no record,
    // and (here, a stand-in for) its rootfs still mounted.
    d.kill9();
    let precious = d.root_path("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("keep"), "data").unwrap();
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let status = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&precious)
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(dir.join("config.v2.json")).unwrap();
    d.start_again();
    assert!(!dir.exists(), "{} left", dir.display());
    assert!(mounts_under(&d.data_root()).is_empty());
    // Nothing was removed through the mount.
    assert_eq!(
        std::fs::read_to_string(precious.join("keep")).unwrap(),
        "data"
    );
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}
