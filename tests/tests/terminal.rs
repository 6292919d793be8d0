//! Interactive containers driven through a real terminal (tmux): `docker run -it`, typing,
//! window resizes, detaching with ctrl-p ctrl-q, attaching again, and exit codes.

use std::process::Command;
use std::time::{Duration, Instant};

use berth_tests::{status, Daemon};

/// A tmux server of this test's own, so tests never see each other's windows.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(d: &Daemon, command: &str, width: u16, height: u16) -> Tmux {
        let socket = format!(
            "berth-test-{}",
            std::process::id() as u64 * 1000 + u64::from(width)
        );
        let t = Tmux { socket };
        let cmd = format!(
            "env DOCKER_HOST={} DOCKER_CONFIG={} {command}; sleep 30",
            d.host(),
            d.config_dir().display()
        );
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &cmd,
        ]);
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} never appeared; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn run_it_resize_detach_attach_exit() {
    let (d, _reg) = Daemon::with_busybox();
    let t = Tmux::start(
        &d,
        "docker run -it --name tty busybox sh; echo exited=$?",
        100,
        30,
    );
    t.wait_for("/ #");
    t.send(&["echo sum-$((40+2)); stty size; tty", "Enter"]);
    let s = t.wait_for("/dev/pts/0");
    assert!(s.contains("sum-42"), "{s}");
    assert!(s.contains("30 100"), "{s}");
    t.run(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]);
    std::thread::sleep(Duration::from_millis(300));
    t.send(&["clear; stty size", "Enter"]);
    t.wait_for("40 120");
    // Detach: the client leaves with 0, the container keeps running.
    t.send(&["C-p", "C-q"]);
    t.wait_for("exited=0");
    assert!(
        status(&d, "tty").starts_with("Up "),
        "{}",
        status(&d, "tty")
    );
    drop(t);

    let t = Tmux::start(&d, "docker attach tty; echo attach-exited=$?", 90, 20);
    std::thread::sleep(Duration::from_millis(500));
    t.send(&["clear; stty size", "Enter"]);
    t.wait_for("20 90");
    t.send(&["exit 7", "Enter"]);
    t.wait_for("attach-exited=7");
    assert!(
        status(&d, "tty").starts_with("Exited (7) "),
        "{}",
        status(&d, "tty")
    );
}

#[test]
fn stdin_is_forwarded_and_closed_without_a_terminal() {
    let (d, _reg) = Daemon::with_busybox();
    let out = d
        .docker_stdin(
            &[
                "run",
                "-i",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "tr a-z A-Z; echo done",
            ],
            b"hello\nworld\n",
        )
        .ok();
    assert_eq!(out.stdout, "HELLO\nWORLD\ndone\n");
    // Much more stdin than a pipe holds, through a container that writes all it reads.
    let big: Vec<u8> = (0..6_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let out = d
        .docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], &big)
        .ok();
    assert!(
        out.stdout.as_bytes() == &big[..],
        "{} bytes back",
        out.stdout.len()
    );
    // A container that writes more than it reads while stdin keeps coming.
    let lines: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    let out = d
        .docker_stdin(
            &["run", "-i", "--rm", "busybox", "sed", "p"],
            lines.as_bytes(),
        )
        .ok();
    let doubled: String = lines.lines().map(|l| format!("{l}\n{l}\n")).collect();
    assert!(out.stdout == doubled, "{} bytes back", out.stdout.len());
    // Without -i the container's stdin is empty.
    let out = d
        .docker_stdin(&["run", "--rm", "busybox", "cat"], b"ignored")
        .ok();
    assert_eq!(out.stdout, "");
}

#[test]
fn a_container_that_never_reads_stdin_can_still_be_stopped() {
    let (d, _reg) = Daemon::with_busybox();
    let mut client = Command::new("docker")
        .args(["run", "-i", "--name", "deaf", "busybox", "sleep", "1000"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.config_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    // Far more than any pipe or buffer on the way holds; ends when the client goes.
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 << 20 && std::io::Write::write_all(&mut stdin, &chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    berth_tests::wait_until("deaf running", || status(&d, "deaf").starts_with("Up"));
    // Let the container's stdin fill up behind it.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(d.berth(&["pause", "deaf"]).ok().stdout, "deaf\n");
    assert_eq!(d.berth(&["unpause", "deaf"]).ok().stdout, "deaf\n");
    let started = Instant::now();
    d.berth(&["stop", "-t", "1", "deaf"]).ok();
    // Not a speed check: a shim stuck writing stdin would answer nothing, and berthd would
    // get there only through its 30 s call timeout.
    assert!(started.elapsed() < Duration::from_secs(25));
    let out = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(137), "{stderr}");
    let sent = feeder.join().unwrap();
    assert!(sent > 1 << 20, "only {sent} bytes were sent");
    d.berth(&["rm", "deaf"]).ok();
}

#[test]
fn pull_progress_updates_lines_in_place_on_a_terminal() {
    let (reg, imgs) = berth_tests::registry_with_images();
    let d = Daemon::start();
    let image = format!("{}/library/twolayer", reg.addr);
    let cmd = format!(
        "{} pull {image}; echo pulled=$?",
        berth_tests::bin("berth").display()
    );
    let t = Tmux::start(&d, &cmd, 100, 30);
    let screen = t.wait_for("pulled=0");
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    // One line per layer, rewritten in place until it says "Pull complete"; no progress
    // line left behind.
    let layers: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(": Pull complete"))
        .collect();
    assert_eq!(layers.len(), 2, "{screen}");
    assert!(
        !screen.contains("Downloading") && !screen.contains("Extracting"),
        "{screen}"
    );
    assert_eq!(lines[0], "Using default tag: latest", "{screen}");
    assert_eq!(
        lines[1], "latest: Pulling from library/twolayer",
        "{screen}"
    );
    assert!(
        screen.contains(&format!("Digest: {}", imgs.digests["twolayer:latest"])),
        "{screen}"
    );
    assert!(
        screen.contains(&format!(
            "Status: Downloaded newer image for {image}:latest"
        )),
        "{screen}"
    );
}

#[test]
fn exec_it_gets_a_terminal_of_its_size_and_leaves_the_container_running() {
    let (d, _reg) = Daemon::with_busybox();
    d.docker(&["run", "-d", "--name", "host", "busybox", "sleep", "1000"])
        .ok();
    for cli in ["docker", "berth"] {
        let cmd = if cli == "berth" {
            format!(
                "{} exec -it host sh; echo exec-exited=$?",
                berth_tests::bin("berth").display()
            )
        } else {
            "docker exec -it host sh; echo exec-exited=$?".to_string()
        };
        // A tmux server of its own for each CLI (its socket is named by the width).
        let width = if cli == "docker" { 100 } else { 101 };
        let t = Tmux::start(&d, &cmd, width, 30);
        t.wait_for("/ #");
        t.send(&["tty; stty size; echo term=$TERM", "Enter"]);
        let s = t.wait_for("term=xterm");
        assert!(s.contains("/dev/pts/"), "{s}");
        assert!(s.contains(&format!("30 {width}")), "{s}");
        t.run(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]);
        std::thread::sleep(Duration::from_millis(300));
        t.send(&["clear; stty size", "Enter"]);
        t.wait_for("40 120");
        t.send(&["exit 3", "Enter"]);
        t.wait_for("exec-exited=3");
        assert!(
            status(&d, "host").starts_with("Up "),
            "{cli}: {}",
            status(&d, "host")
        );
    }
}
