//! `exec`: a second process in a running container, through the docker CLI, berth, the API
//! and docker-py, under both runtimes.

use berth_tests::Daemon;
use serde_json::Value;

fn inspect(d: &Daemon, path: &str) -> Value {
    let (status, _, body) = d.http("GET", path, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn exec_runs_in_the_container_and_reports_its_exit() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "box",
        "-e",
        "FROM_RUN=1",
        "-w",
        "/tmp",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let out = d.docker(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 6"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    // Same namespaces as the container: its hostname, its PID 1, its environment and directory.
    let hostname = d
        .docker(&["inspect", "-f", "{{.Config.Hostname}}", "box"])
        .ok()
        .stdout;
    let out = d
        .berth(&[
            "exec",
            "box",
            "sh",
            "-c",
            "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $FROM_RUN; pwd",
        ])
        .ok();
    assert_eq!(out.stdout, format!("{}sleep 1000 \n1\n/tmp\n", hostname));
    let out = d
        .docker(&[
            "exec",
            "-e",
            "A=2",
            "-w",
            "/etc",
            "-u",
            "nobody",
            "box",
            "sh",
            "-c",
            "echo $A $FROM_RUN; pwd; id -u",
        ])
        .ok();
    assert_eq!(out.stdout, "2 1\n/etc\n65534\n");
    let out = d
        .docker_stdin(&["exec", "-i", "box", "cat"], b"piped in\n")
        .ok();
    assert_eq!(out.stdout, "piped in\n");
    // Not found, not runnable.
    let out = d.docker(&["exec", "box", "nosuch"]);
    assert_eq!(out.code, 127, "{} {}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("executable file not found"),
        "{}",
        out.stdout
    );
    // The container runs on, and the exec's record says how it ended.
    let st = d
        .docker(&["inspect", "-f", "{{.State.Running}}", "box"])
        .ok();
    assert_eq!(st.stdout.trim(), "true");
}
