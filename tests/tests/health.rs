//! Healthchecks: `--health-*` and the image's HEALTHCHECK, probes run as execs, `State.Health`,
//! `health_status` events, `(healthy)` in `ps` and `--filter health=`.

use std::time::{Duration, Instant};

use berth_tests::Daemon;
use serde_json::Value;

fn health(d: &Daemon, name: &str) -> Value {
    let out = d
        .docker(&["inspect", "-f", "{{json .State.Health}}", name])
        .ok();
    serde_json::from_str(out.stdout.trim()).unwrap()
}

fn wait_status(d: &Daemon, name: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = health(d, name);
        if h["Status"] == want {
            return h;
        }
        assert!(Instant::now() < deadline, "{name} never became {want}: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn probes_move_the_status_and_show_everywhere() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /ready && echo ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "--health-timeout",
        "2s",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(health(&d, "hc")["Status"], "starting");
    let ps = d
        .docker(&["ps", "--format", "{{.Status}}", "--filter", "name=hc"])
        .ok();
    assert!(ps.stdout.contains("(health: starting)"), "{}", ps.stdout);
    let h = wait_status(&d, "hc", "unhealthy");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    d.docker(&["exec", "hc", "touch", "/ready"]).ok();
    let h = wait_status(&d, "hc", "healthy");
    assert_eq!(h["FailingStreak"], 0);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["Output"], "ok\n");
    assert!(h["Log"].as_array().unwrap().len() <= 5);
    let ps = d
        .docker(&[
            "ps",
            "--format",
            "{{.Status}}",
            "--filter",
            "health=healthy",
        ])
        .ok();
    assert!(ps.stdout.contains("(healthy)"), "{}", ps.stdout);
    let none = d.docker(&["ps", "-q", "--filter", "health=unhealthy"]).ok();
    assert_eq!(none.stdout, "");
    let out = d.docker(&["ps", "--filter", "health=bogus"]);
    assert!(
        out.stderr
            .contains("Unrecognised filter value for health: bogus"),
        "{}",
        out.stderr
    );
    // The events of each change, and probes leave no exec behind.
    let since = "0";
    let now = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let ev = d
        .docker(&[
            "events",
            "--since",
            since,
            "--until",
            &now,
            "--filter",
            "container=hc",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    for want in ["health_status: unhealthy", "health_status: healthy"] {
        assert!(
            ev.stdout.lines().any(|l| l == want),
            "{want} not in\n{}",
            ev.stdout
        );
    }
    assert_eq!(
        d.docker(&["inspect", "-f", "{{json .ExecIDs}}", "hc"])
            .ok()
            .stdout
            .trim(),
        "null"
    );
    // A stopped container's probes stop; a restart starts over.
    d.docker(&["restart", "-t", "0", "hc"]).ok();
    assert_eq!(health(&d, "hc")["Status"], "starting");
}

#[test]
fn the_images_healthcheck_applies_and_no_healthcheck_turns_it_off() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "--name", "base", "busybox", "true"]).ok();
    // `HEALTHCHECK` is not a change dockerd takes; the image gets one through the API config.
    let (status, _, body) = d.http(
        "POST",
        "/commit?container=base&repo=withhc&tag=latest",
        Some(r#"{"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":200000000}}"#),
    );
    assert_eq!(status, 201, "{body}");
    d.docker(&["run", "-d", "--name", "inherits", "withhc", "sleep", "1000"])
        .ok();
    wait_status(&d, "inherits", "healthy");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "withhc",
        "sleep",
        "1000",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(600));
    let out = d
        .docker(&["inspect", "-f", "{{json .State.Health}}", "off"])
        .ok();
    assert_eq!(out.stdout.trim(), "null");
    // Bad values: Docker's words.
    let (status, _, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","Healthcheck":{"Test":["CMD","true"],"Interval":5}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Interval in Healthcheck cannot be less than 1ms"),
        "{body}"
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "busybox",
        "true",
    ]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("--no-healthcheck conflicts with --health-* options"),
        "{}",
        out.stderr
    );
    // berth's own flags.
    d.berth(&[
        "run",
        "-d",
        "--name",
        "bhc",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    wait_status(&d, "bhc", "healthy");
}
