//! `stats`: one-shot, two-sample and streaming samples from the container's cgroups, through
//! the API, berth, the docker CLI and docker-py; a client that leaves ends its stream.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use berth_tests::Daemon;
use serde_json::Value;

#[test]
fn samples_carry_dockers_fields_from_the_cgroups() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & while :; do :; done",
    ])
    .ok();
    let (status, _, body) = d.http(
        "GET",
        "/containers/busy/stats?stream=false&one-shot=true",
        None,
    );
    assert_eq!(status, 200, "{body}");
    let s: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(s["name"], "/busy");
    assert_eq!(s["memory_stats"]["limit"], 64 * 1024 * 1024);
    assert!(s["memory_stats"]["usage"].as_u64().unwrap() > 0);
    assert!(
        s["pids_stats"]["current"].as_u64().unwrap() >= 3,
        "{}",
        s["pids_stats"]
    );
    assert_eq!(s["pids_stats"]["limit"], 50);
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(s["preread"], "0001-01-01T00:00:00Z");
    for k in [
        "read",
        "blkio_stats",
        "precpu_stats",
        "id",
        "num_procs",
        "storage_stats",
    ] {
        assert!(s.get(k).is_some(), "{k} missing");
    }
    // Two samples a second apart without one-shot: the CPU figures have a base.
    let (_, _, body) = d.http("GET", "/containers/busy/stats?stream=false", None);
    let s: Value = serde_json::from_str(body.trim()).unwrap();
    assert_ne!(s["preread"], "0001-01-01T00:00:00Z");
    let busy = s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap()
        - s["precpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap();
    assert!(
        busy > 100_000_000,
        "a spinning shell used {busy} ns in a second"
    );

    for cli in ["docker", "berth"] {
        let mut args = vec![
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.MemUsage}} {{.PIDs}} {{.CPUPerc}}",
            "busy",
        ];
        if cli == "berth" {
            args[0] = "stats";
        }
        let out = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        }
        .ok();
        let f: Vec<&str> = out.stdout.split_whitespace().collect();
        assert_eq!(f[0], "busy", "{cli}: {}", out.stdout);
        assert_eq!(f[3], "64MiB", "{cli}: {}", out.stdout);
        assert!(f[4].parse::<u32>().unwrap() >= 3, "{cli}: {}", out.stdout);
        let cpu: f64 = f[5].trim_end_matches('%').parse().unwrap();
        assert!(cpu > 10.0, "{cli}: {}", out.stdout);
    }
    // The default table, as the docker CLI prints it.
    let out = d.berth(&["stats", "--no-stream"]).ok();
    assert!(
        out.stdout.starts_with("CONTAINER ID   NAME      CPU %"),
        "{}",
        out.stdout
    );
    let out = d
        .docker(&["stats", "--no-stream", "-a", "--format", "{{.Name}}"])
        .ok();
    assert_eq!(out.stdout, "busy\n");
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
s = c.containers.get('busy').stats(stream=False)
assert s['memory_stats']['limit'] == 64 * 1024 * 1024, s['memory_stats']
print('ok')
"#;
    d.docker_py(script);
    d.docker(&["rm", "-f", "busy"]).ok();
}

#[test]
fn a_stream_is_one_sample_a_second_and_ends_with_its_client() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "-d", "--name", "idle", "busybox", "sleep", "1000"])
        .ok();
    let before = d.berthd_fds();
    for _ in 0..3 {
        let mut s = UnixStream::connect(d.socket()).unwrap();
        write!(
            s,
            "GET /containers/idle/stats HTTP/1.1\r\nHost: berth\r\n\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let mut objects = Vec::new();
        let mut line = String::new();
        while objects.len() < 2 {
            line.clear();
            r.read_line(&mut line).unwrap();
            // Chunk sizes come between the objects (HTTP/1.1 chunked encoding).
            if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(line.trim()) {
                objects.push(v);
            }
        }
        assert_eq!(objects[0]["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(objects[1]["preread"], objects[0]["read"]);
        // The client goes mid-stream.
        drop(r);
    }
    berth_tests::wait_until("the streams' tasks to end", || d.berthd_fds() <= before);
    // berth stats streams and redraws.
    let mut cmd = std::process::Command::new(berth_tests::bin("berth"));
    cmd.args(["stats", "idle"])
        .env("DOCKER_HOST", d.host())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("\x1b[2J\x1b[H").count() >= 2, "{text:?}");
    assert!(text.contains("idle"), "{text:?}");
    berth_tests::wait_until("berth's stream to end", || d.berthd_fds() <= before);
    // A stopped container's sample is zeros.
    d.docker(&["stop", "-t", "0", "idle"]).ok();
    let (_, _, body) = d.http("GET", "/containers/idle/stats?stream=0&one-shot=1", None);
    let s: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(s["read"], "0001-01-01T00:00:00Z");
    assert_eq!(s["memory_stats"], serde_json::json!({}));
}
