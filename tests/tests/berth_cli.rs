//! `berth` must feel like `docker`: the same command lines, run by both CLIs against two
//! identical berthds, print the same output and exit with the same codes (IDs, times and the
//! program's own name aside).

use berth_tests::Daemon;

/// Blanks out what legitimately differs between two runs: IDs, timestamps, elapsed times.
fn normalize(s: &str) -> String {
    let s = s.replace("docker", "berth");
    let rules = [
        (r"[0-9a-f]{12,64}", "<ID>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<TIME>"),
        (
            r"(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes|hours))",
            "<AGO>",
        ),
        (r"\d+(\.\d+)?[kMG]?B", "<SIZE>"),
    ];
    let mut out = s;
    for (pat, with) in rules {
        out = regex::Regex::new(pat)
            .unwrap()
            .replace_all(&out, with)
            .into_owned();
    }
    out
}

#[test]
fn berth_prints_what_docker_prints() {
    let (docker_side, _r1) = Daemon::with_busybox();
    let (berth_side, _r2) = Daemon::with_busybox();
    let script: &[&[&str]] = &[
        &["run", "--rm", "busybox", "echo", "hello"],
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        &["run", "--rm", "busybox", "nosuchcmd"],
        &["run", "--rm", "busybox", "/etc"],
        &["run", "-m", "1m", "busybox", "true"],
        &["run", "-m", "x", "busybox", "true"],
        &["run", "--runtime", "nope", "busybox", "true"],
        &[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "--hostname",
            "h1",
            "busybox",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u) $(hostname)",
        ],
        &[
            "create",
            "--name",
            "c1",
            "--label",
            "k=v",
            "busybox",
            "sh",
            "-c",
            "echo from-c1; exit 4",
        ],
        &["create", "--name", "c1", "busybox", "true"],
        &["start", "-a", "c1"],
        &["wait", "c1"],
        &["logs", "c1"],
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo up; while true; do sleep 0.1; done",
        ],
        &["pause", "svc"],
        &["ps", "--format", "{{.Names}} {{.State}} {{.Command}}"],
        &["unpause", "svc"],
        &["rm", "svc"],
        &["stop", "svc"],
        &["logs", "svc"],
        &[
            "ps",
            "-a",
            "--format",
            "table {{.Names}}\t{{.Image}}\t{{.Status}}",
        ],
        &["ps", "-a", "--filter", "exited=4", "-q"],
        &["ps", "-a", "--no-trunc", "--format", "{{.Command}}"],
        &[
            "inspect",
            "--format",
            "{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.Config.Labels}}",
            "c1",
        ],
        &["inspect", "nosuch"],
        &["rename", "c1", "c2"],
        &["kill", "c2"],
        &["restart", "-t", "0", "svc"],
        &["kill", "-s", "KILL", "svc"],
        &["wait", "svc", "nosuch"],
        &["rm", "c2", "nosuch"],
        &["container", "prune", "-f"],
        &["ps", "-a"],
    ];
    let mut diffs = Vec::new();
    for args in script {
        let d = docker_side.docker(args);
        let b = berth_side.berth(args);
        let (dn, bn) = (
            (d.code, normalize(&d.stdout), normalize(&d.stderr)),
            (b.code, normalize(&b.stdout), normalize(&b.stderr)),
        );
        if dn != bn {
            diffs.push(format!("{args:?}\n  docker: {dn:?}\n  berth:  {bn:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "berth and docker differ:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn berth_run_it_in_a_terminal() {
    let (d, _reg) = Daemon::with_busybox();
    let socket = format!("berth-cli-{}", std::process::id());
    let tmux = |args: &[&str]| {
        let out = std::process::Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let cmd = format!(
        "env DOCKER_HOST={} {} run -it --name t1 busybox sh; echo exited=$?; sleep 30",
        d.host(),
        berth_tests::bin("berth").display()
    );
    tmux(&["new-session", "-d", "-s", "t", "-x", "80", "-y", "24", &cmd]);
    let wait_for = |text: &str| {
        berth_tests::wait_until(text, || {
            tmux(&["capture-pane", "-p", "-t", "t"]).contains(text)
        });
    };
    wait_for("/ #");
    tmux(&[
        "send-keys",
        "-t",
        "t",
        "stty size; echo typed-$((6*7))",
        "Enter",
    ]);
    wait_for("typed-42");
    wait_for("24 80");
    tmux(&["send-keys", "-t", "t", "exit 9", "Enter"]);
    wait_for("exited=9");
    tmux(&["kill-server"]);
}
