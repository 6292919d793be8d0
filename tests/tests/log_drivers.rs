//! Log drivers: json-file by default and shown as such, local, none (whose logs cannot be
//! read, in Docker's words), and rotation by max-size/max-file.

use berth_tests::Daemon;

#[test]
fn json_file_local_none_and_rotation() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "--name", "plain", "busybox", "echo", "hi"])
        .ok();
    let t = d
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}} {{.LogPath}}",
            "plain",
        ])
        .ok();
    assert!(
        t.stdout.starts_with("json-file /") && t.stdout.trim().ends_with("-json.log"),
        "{}",
        t.stdout
    );

    // none: the output still reaches an attached client, but nothing is kept.
    let out = d
        .docker(&[
            "run",
            "--name",
            "quiet",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "hi",
        ])
        .ok();
    assert_eq!(out.stdout, "hi\n");
    let out = d.docker(&["logs", "quiet"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("configured logging driver does not support reading"),
        "{}",
        out.stderr
    );
    let t = d
        .docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}}|{{.LogPath}}",
            "quiet",
        ])
        .ok();
    assert_eq!(t.stdout.trim(), "none|");

    // local: the same lines come back.
    d.docker(&[
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2",
    ])
    .ok();
    let out = d.berth(&["logs", "loc"]).ok();
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("one\n", "two\n")
    );
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", "loc"])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(d
        .data_root()
        .join("containers")
        .join(&id)
        .join("local-logs/container.log")
        .exists());

    // Rotation: at most max-file files of about max-size each; logs reads them in order.
    d.docker(&[
        "run",
        "--name",
        "rot",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
    ])
    .ok();
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", "rot"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let dir = d.data_root().join("containers").join(&id);
    let log = dir.join(format!("{id}-json.log"));
    assert!(log.exists() && dir.join(format!("{id}-json.log.1")).exists());
    assert!(!dir.join(format!("{id}-json.log.2")).exists());
    assert!(std::fs::metadata(&log).unwrap().len() <= 1024);
    let out = d.docker(&["logs", "rot"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.last(), Some(&"line-199"));
    assert!(
        lines.len() < 200 && lines.len() > 10,
        "{} lines",
        lines.len()
    );
    let first: u32 = lines[0].trim_start_matches("line-").parse().unwrap();
    assert_eq!(
        lines.len() as u32,
        200 - first,
        "lines missing in the middle"
    );

    for (flags, want) in [
        (
            &["--log-driver", "bogus"][..],
            "logger: no log driver named 'bogus' is registered",
        ),
        (
            &["--log-opt", "max-file=3"][..],
            "max-file can only be used with max-size",
        ),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["busybox", "true"]);
        let out = d.docker(&a);
        assert_eq!(out.code, 125, "{flags:?}");
        assert!(out.stderr.contains(want), "{flags:?}: {}", out.stderr);
    }
    // The docker CLI refuses options for none itself; the API says why too.
    let (status, _, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"none","Config":{"max-size":"1m"}}}}"#),
    );
    assert_eq!(status, 400);
    assert!(
        body.contains("unknown log opt 'max-size' for none log driver"),
        "{body}"
    );
}
