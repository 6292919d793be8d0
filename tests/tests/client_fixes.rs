//! What the real clients found: a kill answers once the container is exited, a load of an
//! archive saved by image ID reports one image, and a load of garbage answers 200 with the
//! error in its JSON stream (docker-py raises `ImageLoadError` from it).

use berth_tests::Daemon;

#[test]
fn a_kill_answers_once_the_container_is_exited() {
    let (d, _reg) = Daemon::with_busybox();
    for round in 0..5 {
        let name = format!("k{round}");
        d.docker(&["run", "-d", "--name", &name, "busybox", "sleep", "100"])
            .ok();
        d.docker(&["kill", &name]).ok();
        let status = d
            .docker(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                &name,
            ])
            .ok();
        assert_eq!(status.stdout.trim(), "exited 137", "round {round}");
        // The next request finds it stopped: a plain rm works.
        d.docker(&["rm", &name]).ok();
    }
    // A signal that ends the container at once: exited too when the kill answers.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "term",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' TERM; while true; do sleep 0.01; done",
    ])
    .ok();
    // Time for the shell to set its trap.
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.docker(&["kill", "-s", "TERM", "term"]).ok();
    let status = d
        .docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "term",
        ])
        .ok();
    assert_eq!(status.stdout.trim(), "exited 3");
}

#[test]
fn loads_report_one_image_per_image_and_garbage_is_an_error_in_the_stream() {
    let (d, _reg) = Daemon::with_busybox();
    let id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let tar = d.root_path("by-id.tar");
    d.docker(&["save", "-o", tar.to_str().unwrap(), &id]).ok();
    let out = d.docker(&["load", "-i", tar.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, format!("Loaded image ID: {id}\n"));
    let out = d.berth(&["load", "-i", tar.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, format!("Loaded image ID: {id}\n"));

    let (status, _, body) = d.http("POST", "/images/load", Some("this is not a tar archive"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""error""#) && body.contains("failed to load image archive"),
        "{body}"
    );
    let out = d.docker_stdin(&["load"], b"this is not a tar archive");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("failed to load image archive"),
        "{}",
        out.stderr
    );
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
try:
    c.images.load(b'this is not a tar archive')
    raise AssertionError('loaded garbage')
except docker.errors.ImageLoadError as e:
    assert 'failed to load image archive' in str(e), e
print('ok')
"#;
    d.docker_py(script);
}

#[test]
fn every_error_is_json_and_bad_limits_are_refused() {
    let d = Daemon::start();
    let (status, head, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"Memory":-5}}"#),
    );
    // No image either, but the limit is checked as dockerd checks it: before the image.
    assert!(status == 400 || status == 404, "{status} {body}");
    let _ = head;
    let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).ok();
    for (method, path, body) in [
        ("GET", "/containers/json?limit=abc", None),
        ("DELETE", "/version", None),
        ("POST", "/containers/create", Some("x".repeat(3 << 20))),
    ] {
        let (status, head, resp) = d.http(method, path, body.as_deref());
        assert!(status >= 400, "{method} {path}: {status}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{method} {path}: {head}"
        );
        let v = json(&resp).unwrap_or_else(|| panic!("{method} {path}: {resp}"));
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{method} {path}: {resp}"
        );
    }
}

#[test]
fn negative_limits_are_refused_with_dockers_words() {
    let (d, _reg) = Daemon::with_busybox();
    for (hc, want) in [
        (r#"{"Memory":-5}"#, "Minimum memory limit allowed is 6MB"),
        (
            r#"{"MemoryReservation":-1}"#,
            "Minimum memory reservation allowed is 6MB",
        ),
        (r#"{"ShmSize":-1}"#, "SHM size can not be less than 0"),
    ] {
        let body = format!(r#"{{"Image":"busybox","HostConfig":{hc}}}"#);
        let (status, _, resp) = d.http("POST", "/containers/create", Some(&body));
        assert_eq!(status, 400, "{hc}: {resp}");
        assert!(resp.contains(want), "{hc}: {resp}");
    }
    assert_eq!(d.docker(&["ps", "-aq"]).ok().stdout, "");
}
