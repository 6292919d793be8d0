//! `info` counts, `system df`, `system prune` and `events`, through berth and the real docker
//! CLI.

use berth_tests::Daemon;

#[test]
fn info_counts_and_disk_usage() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["create", "--name", "made", "-v", "/anon", "busybox"])
        .ok();
    d.docker(&[
        "run", "-d", "--name", "up", "-v", "named:/n", "busybox", "sleep", "1000",
    ])
    .ok();
    d.docker(&["run", "-d", "--name", "held", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["pause", "held"]).ok();
    let out = d
        .docker(&["info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}"])
        .ok();
    assert_eq!(out.stdout.trim(), "3 1 1 1 1");
    let info = d
        .docker(&[
            "info",
            "--format",
            "{{json .Runtimes}} {{.LiveRestoreEnabled}}",
        ])
        .ok();
    assert!(
        info.stdout.contains("\"runc\"") && info.stdout.contains("true"),
        "{}",
        info.stdout
    );

    // The same table from both CLIs (the figures come from the one /system/df answer).
    let docker = d.docker(&["system", "df"]).ok().stdout;
    let berth = d.berth(&["system", "df"]).ok().stdout;
    assert_eq!(berth, docker);
    let lines: Vec<&str> = docker.lines().collect();
    assert!(
        lines[0].starts_with("TYPE") && lines[0].contains("RECLAIMABLE"),
        "{docker}"
    );
    let fields = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(&fields(lines[1])[..3], ["Images", "1", "1"], "{docker}");
    assert_eq!(&fields(lines[2])[..3], ["Containers", "3", "2"], "{docker}");
    assert_eq!(
        &fields(lines[3])[..4],
        ["Local", "Volumes", "2", "2"],
        "{docker}"
    );
    for cli in ["docker", "berth"] {
        let v = if cli == "docker" {
            d.docker(&["system", "df", "-v"])
        } else {
            d.berth(&["system", "df", "-v"])
        }
        .ok()
        .stdout;
        assert!(v.contains("Local Volumes space usage:"), "{cli}: {v}");
        let named = v
            .lines()
            .find(|l| l.starts_with("named "))
            .unwrap_or_else(|| panic!("{cli}: {v}"));
        assert_eq!(named.split_whitespace().nth(1), Some("1"), "{cli}: {named}");
        assert!(
            v.contains("Images space usage:") && v.contains("busybox"),
            "{cli}: {v}"
        );
    }
    let (status, _, body) = d.http("GET", "/system/df?type=volume", None);
    assert_eq!(status, 200);
    let df: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(df.get("Images").is_none() && df["Volumes"].as_array().unwrap().len() == 2);
    let (status, _, _) = d.http("GET", "/system/df?type=nonsense", None);
    assert_eq!(status, 400);
    d.docker(&["unpause", "held"]).ok();
}

#[test]
fn system_prune_in_dockers_order_and_events() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["create", "--name", "stopped1", "-v", "/anon", "busybox"])
        .ok();
    d.docker(&[
        "run", "-d", "--name", "keep", "-v", "kept:/k", "busybox", "sleep", "1000",
    ])
    .ok();
    d.docker(&["volume", "create", "unused-named"]).ok();
    let out = d.berth(&["system", "prune", "-f", "--volumes"]).ok();
    assert!(
        out.stdout.starts_with("Deleted Containers:\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Deleted Volumes:\n"), "{}", out.stdout);
    assert!(
        out.stdout.ends_with(&"\n".to_string()) && out.stdout.contains("Total reclaimed space:")
    );
    // The anonymous volume went with the stopped container's prune; named ones stay.
    let vols = d.docker(&["volume", "ls", "-q"]).ok().stdout;
    let mut vols: Vec<&str> = vols.lines().collect();
    vols.sort();
    assert_eq!(vols, ["kept", "unused-named"]);
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout.lines().count(), 1);
    // The real CLI's prune against berthd, prompt answered.
    d.docker(&["create", "--name", "stopped2", "busybox"]).ok();
    let out = d.docker_stdin(&["system", "prune"], b"y\n").ok();
    assert!(
        out.stdout.contains("WARNING! This will remove:"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Deleted Containers:"), "{}", out.stdout);

    // Events: what happened above, filtered, through both CLIs.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = (now.as_secs() + 1).to_string();
    for cli in ["docker", "berth"] {
        let args = [
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--filter",
            "event=create",
        ];
        let out = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        }
        .ok();
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(" volume create unused-named (driver=local)")),
            "{cli}: {}",
            out.stdout
        );
        assert!(
            out.stdout.lines().all(|l| l.contains(" volume create ")),
            "{cli}: {}",
            out.stdout
        );
        let args = [
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "container=keep",
            "--format",
            "{{.Action}}",
        ];
        let out = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        }
        .ok();
        assert_eq!(out.stdout, "create\nstart\n", "{cli}");
    }
    // mount is reported for the volume of the container started.
    let out = d
        .berth(&[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "event=mount",
            "--format",
            "{{.Actor.ID}} {{index .Actor.Attributes \"destination\"}}",
        ])
        .ok();
    assert_eq!(out.stdout, "kept /k\n");
}
