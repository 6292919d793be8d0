//! Resource limits at create and by `update`, seen in the container's cgroups and inspect,
//! through berth and the real docker CLI.

use berth_tests::Daemon;

/// The content of `file` in the container's cgroup, in whichever hierarchy has it.
fn cgroup_file(d: &Daemon, id: &str, file: &str) -> String {
    let path = format!("{}/{id}", d.cgroup_parent());
    berth_tests::cgroup_dirs(&path)
        .iter()
        .find_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
        .unwrap_or_else(|| panic!("no {file} for {path}"))
        .trim()
        .to_string()
}

fn id(d: &Daemon, name: &str) -> String {
    d.docker(&["inspect", "-f", "{{.Id}}", name])
        .ok()
        .stdout
        .trim()
        .to_string()
}

#[test]
fn update_changes_the_live_cgroup_and_the_record() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "1000",
    ])
    .ok();
    let cid = id(&d, "upd");
    let out = d
        .docker(&[
            "update",
            "-m",
            "128m",
            "--memory-swap",
            "256m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--restart",
            "on-failure:3",
            "upd",
        ])
        .ok();
    assert_eq!(out.stdout, "upd\n");
    assert_eq!(
        cgroup_file(&d, &cid, "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(
        cgroup_file(&d, &cid, "memory.memsw.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&d, &cid, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_file(&d, &cid, "pids.max"), "20");
    let hc = d
        .docker(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "upd"])
        .ok();
    assert_eq!(hc.stdout.trim(), "134217728 500000000 20 on-failure:3");
    d.berth(&["update", "--cpu-shares", "512", "--pids-limit", "-1", "upd"])
        .ok();
    assert_eq!(cgroup_file(&d, &cid, "cpu.shares"), "512");
    assert_eq!(cgroup_file(&d, &cid, "pids.max"), "max");
    // Docker's refusals, and nothing changed by them.
    let out = d.docker(&["update", "-m", "1m", "upd"]);
    assert!(
        out.stderr.contains("Minimum memory limit allowed is 6MB"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["update", "--blkio-weight", "300", "upd"]);
    assert!(
        out.stderr
            .contains("BlkioWeight cannot be updated by berth yet"),
        "{}",
        out.stderr
    );
    let out = d.berth(&["update", "upd"]);
    assert!(
        out.stderr.contains("you must provide one or more flags"),
        "{}",
        out.stderr
    );
    assert_eq!(
        cgroup_file(&d, &cid, "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    // An --rm container keeps no restart policy.
    d.docker(&[
        "run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1000",
    ])
    .ok();
    let out = d.docker(&["update", "--restart", "always", "gone"]);
    assert!(
        out.stderr.contains("AutoRemove is enabled"),
        "{}",
        out.stderr
    );
    // A stopped container's update applies at its next start.
    d.docker(&["stop", "-t", "0", "upd"]).ok();
    d.docker(&["update", "-m", "96m", "--memory-swap", "200m", "upd"])
        .ok();
    d.docker(&["start", "upd"]).ok();
    assert_eq!(
        cgroup_file(&d, &cid, "memory.limit_in_bytes"),
        (96u64 << 20).to_string()
    );
    d.docker(&["rm", "-f", "upd", "gone"]).ok();
}

#[test]
fn create_time_limits_rlimits_and_oom_score() {
    let (d, _reg) = Daemon::with_busybox();
    let out = d
        .docker(&[
            "run",
            "--name",
            "lim",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "25000",
            "--memory-reservation",
            "32m",
            "--cpuset-mems",
            "0",
            "--ulimit",
            "nofile=100:200",
            "--oom-score-adj",
            "100",
            "--memory-swappiness",
            "10",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; sleep 2",
        ])
        .ok();
    assert_eq!(out.stdout, "100\n200\n100\n");
    let cid = id(&d, "lim");
    let _ = cid;
    let out = d.docker(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=10:999999999",
        "busybox",
        "true",
    ]);
    assert_eq!(out.code, 125);
    assert!(out.stderr.contains("invalid ulimit"), "{}", out.stderr);
    for (flags, want) in [
        (
            &["--cpu-period", "10"][..],
            "CPU cfs period can not be less than 1ms",
        ),
        (
            &["--memory-reservation", "1m"][..],
            "Minimum memory reservation allowed is 6MB",
        ),
        (
            &["--oom-score-adj", "5000"][..],
            "range for oom score adj is [-1000, 1000]",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["busybox", "true"]);
        let out = d.docker(&a);
        assert_eq!(out.code, 125, "{flags:?}");
        assert!(out.stderr.contains(want), "{flags:?}: {}", out.stderr);
    }
}

#[test]
fn create_time_cgroup_files() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cg",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--memory-reservation",
        "32m",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let cid = id(&d, "cg");
    assert_eq!(cgroup_file(&d, &cid, "cpu.cfs_period_us"), "50000");
    assert_eq!(cgroup_file(&d, &cid, "cpu.cfs_quota_us"), "25000");
    assert_eq!(
        cgroup_file(&d, &cid, "memory.soft_limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    d.docker(&["rm", "-f", "cg"]).ok();
}
