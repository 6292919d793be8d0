//! `exec`: a second process in a running container, through the docker CLI, berth, the API
//! and docker-py, under both runtimes and after a restart of berthd.

use std::time::{Duration, Instant};

use berth_tests::Daemon;
use serde_json::Value;

fn inspect(d: &Daemon, path: &str) -> Value {
    let (status, _, body) = d.http("GET", path, None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Field `f` of /proc/self/status as the exec sees it.
fn proc_status(d: &Daemon, args: &[&str], field: &str) -> String {
    let mut a = vec!["exec"];
    a.extend_from_slice(args);
    a.extend(["sh", "-c", "cat /proc/self/status"]);
    let out = d.docker(&a).ok().stdout;
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
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
    // The container's namespaces: its hostname, its PID 1, its environment and directory.
    let hostname = d
        .docker(&["inspect", "-f", "{{.Config.Hostname}}", "box"])
        .ok()
        .stdout;
    let script = "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $FROM_RUN; pwd";
    let out = d.berth(&["exec", "box", "sh", "-c", script]).ok();
    assert_eq!(out.stdout, format!("{hostname}sleep 1000 \n1\n/tmp\n"));
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
            "echo $A $FROM_RUN; pwd; id -u; echo $HOME; awk -F: '$1 == \"nobody\" { print $6 }' /etc/passwd",
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..3], ["2 1", "/etc", "65534"]);
    // HOME is the exec user's.
    assert_eq!(lines[3], lines[4]);
    let env_file = d.data_root().with_extension("env");
    std::fs::write(&env_file, "B=from-file\n").unwrap();
    let out = d
        .berth(&[
            "exec",
            "--env-file",
            env_file.to_str().unwrap(),
            "box",
            "sh",
            "-c",
            "echo $B",
        ])
        .ok();
    assert_eq!(out.stdout, "from-file\n");
    let out = d
        .docker_stdin(&["exec", "-i", "box", "tr", "a-z", "A-Z"], b"piped in\n")
        .ok();
    assert_eq!(out.stdout, "PIPED IN\n");
    // A program that is not there: dockerd's words and exit status, from both CLIs.
    for cli in ["docker", "berth"] {
        let args = ["exec", "box", "nosuch"];
        let out = if cli == "docker" {
            d.docker(&args)
        } else {
            d.berth(&args)
        };
        assert_eq!(out.code, 127, "{cli}: {} {}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown"),
            "{cli}: {}",
            out.stdout
        );
    }
    let out = d.docker(&["exec", "box", "/etc/passwd"]);
    assert_eq!(out.code, 126, "{} {}", out.stdout, out.stderr);
    // Ending execs leaves the container running.
    let st = d
        .docker(&["inspect", "-f", "{{.State.Running}}", "box"])
        .ok();
    assert_eq!(st.stdout.trim(), "true");
    let out = d.docker(&["exec", "-w", "rel", "box", "true"]);
    assert_ne!(out.code, 0);
}

#[test]
fn exec_inspect_detach_exec_ids_and_dying_with_the_container() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"])
        .ok();
    // Detached: the client returns at once, the exec runs on and is listed.
    d.docker(&["exec", "-d", "box", "sh", "-c", "sleep 1000"])
        .ok();
    let mut ids = Vec::new();
    wait_until("ExecIDs", || {
        let v = inspect(&d, "/containers/box/json");
        ids = v["ExecIDs"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        ids.len() == 1
    });
    let e = inspect(&d, &format!("/exec/{}/json", ids[0]));
    assert_eq!(e["Running"], true);
    assert_eq!(e["ExitCode"], Value::Null);
    assert_eq!(e["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(e["ProcessConfig"]["arguments"][1], "sleep 1000");
    let pid = e["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // An exec runs once.
    let (status, _, body) = d.http(
        "POST",
        &format!("/exec/{}/start", ids[0]),
        Some(r#"{"Detach":true}"#),
    );
    assert_eq!(status, 409, "{body}");
    // It dies with the container, and says so.
    d.docker(&["kill", "box"]).ok();
    wait_until("the exec's end", || {
        inspect(&d, &format!("/exec/{}/json", ids[0]))["Running"] == false
    });
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(inspect(&d, "/containers/box/json")["ExecIDs"], Value::Null);
    // Stopped, paused, missing: Docker's refusals.
    let out = d.docker(&["exec", "box", "true"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("is not running"), "{}", out.stderr);
    d.docker(&["start", "box"]).ok();
    d.docker(&["pause", "box"]).ok();
    let out = d.docker(&["exec", "box", "true"]);
    assert!(
        out.stderr
            .contains("is paused, unpause the container before exec"),
        "{}",
        out.stderr
    );
    d.docker(&["unpause", "box"]).ok();
    let out = d.docker(&["exec", "nosuch", "true"]);
    assert!(
        out.stderr.contains("No such container: nosuch"),
        "{}",
        out.stderr
    );
    let (status, _, _) = d.http("GET", "/exec/0123abc/json", None);
    assert_eq!(status, 404);
    // A field berth does not know is refused by name.
    let (status, _, body) = d.http(
        "POST",
        "/containers/box/exec",
        Some(r#"{"Cmd":["true"],"Bogus":1}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Bogus"), "{body}");
    // Removing the container forgets its execs.
    d.docker(&["rm", "-f", "box"]).ok();
    let (status, _, _) = d.http("GET", &format!("/exec/{}/json", ids[0]), None);
    assert_eq!(status, 404);
}

#[test]
fn exec_has_the_containers_confinement_and_privileged_widens_it() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "box",
        "--cap-drop",
        "CHOWN",
        "--ulimit",
        "nofile=512:1024",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let init = d
        .docker(&["exec", "box", "cat", "/proc/1/status"])
        .ok()
        .stdout;
    let field = |s: &str, f: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{f}:")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(proc_status(&d, &["box"], "CapEff"), field(&init, "CapEff"));
    assert_eq!(proc_status(&d, &["box"], "CapBnd"), field(&init, "CapBnd"));
    assert_eq!(proc_status(&d, &["box"], "Seccomp"), "2");
    assert_eq!(
        proc_status(&d, &["box"], "NoNewPrivs"),
        field(&init, "NoNewPrivs")
    );
    let limit = d
        .docker(&["exec", "box", "sh", "-c", "ulimit -n; ulimit -Hn"])
        .ok()
        .stdout;
    assert_eq!(limit, "512\n1024\n");
    let out = d.docker(&["exec", "box", "chown", "1", "/tmp"]);
    assert_ne!(out.code, 0, "chown without CAP_CHOWN");
    // The exec's cgroup is the container's.
    let cg = |pid: &str| {
        d.docker(&[
            "exec",
            "box",
            "sh",
            "-c",
            &format!("cat /proc/{pid}/cgroup"),
        ])
        .ok()
        .stdout
    };
    assert_eq!(cg("self"), cg("1"));
    // --privileged: every capability, this exec only.
    let priv_eff = proc_status(&d, &["--privileged", "box"], "CapEff");
    assert_ne!(priv_eff, field(&init, "CapEff"));
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(priv_eff, field(&own, "CapBnd"));
    assert_eq!(proc_status(&d, &["box"], "CapEff"), field(&init, "CapEff"));
}

#[test]
fn exec_under_runc_and_after_a_restart_of_berthd() {
    let (mut d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--runtime",
        "runc",
        "--name",
        "rc",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    d.docker(&["run", "-d", "--name", "bi", "busybox", "sleep", "1000"])
        .ok();
    for name in ["rc", "bi"] {
        let out = d.docker(&["exec", name, "sh", "-c", "echo in-$HOSTNAME; exit 4"]);
        assert_eq!(out.code, 4, "{name}: {}", out.stderr);
        assert!(out.stdout.starts_with("in-"), "{}", out.stdout);
        let out = d.docker(&["exec", name, "nosuch"]);
        assert_eq!(out.code, 127, "{name}: {} {}", out.stdout, out.stderr);
    }
    d.kill9();
    d.start_again();
    for name in ["rc", "bi"] {
        let out = d.docker(&["exec", name, "echo", "after"]).ok();
        assert_eq!(out.stdout, "after\n");
    }
}

#[test]
fn docker_py_exec_run() {
    let (d, _reg) = Daemon::with_busybox();
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
ct = c.containers.run('busybox', 'sleep 1000', detach=True, name='py')
r = ct.exec_run(['sh', '-c', 'echo hi; exit 3'])
assert (r.exit_code, r.output) == (3, b'hi\n'), r
r = ct.exec_run('sh -c "echo o; echo e >&2"', demux=True)
assert r.output == (b'o\n', b'e\n'), r
r = ct.exec_run('env', environment={'X': 'y'}, user='nobody', workdir='/tmp')
assert b'X=y' in r.output, r
r = ct.exec_run('tty', tty=True)
assert r.output.startswith(b'/dev/pts/'), r
api = c.api
e = api.exec_create('py', 'true')
api.exec_start(e['Id'], detach=True)
for _ in range(100):
    if not api.exec_inspect(e['Id'])['Running']:
        break
assert api.exec_inspect(e['Id'])['ExitCode'] in (0, None)
ct.remove(force=True)
print('ok')
"#;
    d.docker_py(script);
}

#[test]
fn top_lists_the_containers_processes_only() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "sleep 1001 & sleep 1002",
    ])
    .ok();
    d.docker(&["exec", "-d", "box", "sleep", "1003"]).ok();
    let v = {
        let mut v = Value::Null;
        wait_until("three sleeps", || {
            v = inspect(&d, "/containers/box/top");
            v["Processes"].as_array().map_or(0, |p| p.len()) == 3
        });
        v
    };
    let titles: Vec<&str> = v["Titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let cmds: Vec<&str> = v["Processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[7].as_str().unwrap())
        .collect();
    for want in ["sleep 1001", "sleep 1002", "sleep 1003"] {
        assert!(cmds.contains(&want), "{cmds:?}");
    }
    for cli in ["docker", "berth"] {
        let args = ["top", "box", "-o", "pid,args"];
        let out = if cli == "docker" {
            d.docker(&args).ok()
        } else {
            d.berth(&args).ok()
        };
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines[0].starts_with("PID "), "{cli}: {}", out.stdout);
        assert!(
            lines[0].trim_end().ends_with("COMMAND"),
            "{cli}: {}",
            out.stdout
        );
        assert_eq!(lines.len(), 4, "{cli}: {}", out.stdout);
        assert!(out.stdout.contains("sleep 1003"), "{cli}: {}", out.stdout);
    }
    let out = d.docker(&["top", "box", "--no-such-ps-option"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("ps"), "{}", out.stderr);
    d.docker(&["kill", "box"]).ok();
    let out = d.docker(&["top", "box"]);
    assert!(out.stderr.contains("is not running"), "{}", out.stderr);
}

#[test]
fn a_client_that_leaves_mid_exec_leaves_nothing_behind() {
    use std::io::{Read, Write};
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"])
        .ok();
    d.docker(&["exec", "box", "true"]).ok();
    let before = d.berthd_fds();
    for _ in 0..5 {
        let (status, _, body) = d.http(
            "POST",
            "/containers/box/exec",
            Some(
                r#"{"Cmd":["sh","-c","echo hi; sleep 1"],"AttachStdout":true,"AttachStdin":true}"#,
            ),
        );
        assert_eq!(status, 201, "{body}");
        let id = serde_json::from_str::<Value>(&body).unwrap()["Id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        let req = format!("POST /exec/{id}/start HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{{\"Detach\":false}}");
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf).unwrap();
        drop(s);
    }
    // Once the execs are over, berthd holds what it held before, and no exec runs on.
    wait_until("the execs' end", || {
        inspect(&d, "/containers/box/json")["ExecIDs"] == Value::Null
    });
    wait_until("berthd's descriptors", || d.berthd_fds() <= before);
    let ps = d.docker(&["top", "box"]).ok().stdout;
    assert_eq!(ps.lines().count(), 2, "{ps}");
}
