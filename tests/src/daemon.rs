//! A `berthd` for one test, and the CLIs pointed at it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{bin, kill_with_parent};

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Out {
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn failed(self) -> Out {
        assert_ne!(
            self.code, 0,
            "command should have failed:\nstdout: {}",
            self.stdout
        );
        self
    }
}

pub struct Daemon {
    root: tempfile::TempDir,
    child: Option<Child>,
    extra_args: Vec<String>,
    /// This daemon's default bridge and its subnet: its own, so that tests run side by side.
    bridge: String,
    bip: String,
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Daemon {
        let (bridge, bip) = crate::net::test_bridge();
        let mut d = Daemon {
            root: tempfile::tempdir().unwrap(),
            child: None,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            bridge,
            bip,
        };
        std::fs::create_dir_all(d.config_dir()).unwrap();
        d.spawn();
        d
    }

    pub fn data_root(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn exec_root(&self) -> PathBuf {
        self.root.path().join("run")
    }
    pub fn socket(&self) -> PathBuf {
        self.exec_root().join("berth.sock")
    }
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    /// The client config directory (DOCKER_CONFIG) for both CLIs in this test.
    pub fn config_dir(&self) -> PathBuf {
        self.root.path().join("client-config")
    }
    /// The cgroup under which this daemon puts its containers' cgroups: one per test, so that
    /// a test sees only its own and cleaning up cannot touch another's.
    pub fn cgroup_parent(&self) -> String {
        let dir = self.root.path().file_name().unwrap().to_string_lossy();
        format!("/berth-test-{}", dir.trim_start_matches('.'))
    }
    /// This daemon's default bridge device.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }
    /// Its `--bip` (gateway/prefix).
    pub fn bip(&self) -> &str {
        &self.bip
    }

    /// A path in this test's scratch directory.
    pub fn root_path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("berthd.log")).unwrap_or_default()
    }

    /// The berthd command line this daemon runs with.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin("berthd"));
        cmd.arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("-H")
            .arg(self.host())
            .arg("--cgroup-parent")
            .arg(self.cgroup_parent());
        if !self.extra_args.iter().any(|a| a == "--bridge" || a == "-b") {
            cmd.arg("--bridge").arg(&self.bridge);
            if !self.extra_args.iter().any(|a| a == "--bip") {
                cmd.arg("--bip").arg(&self.bip);
            }
        }
        cmd.args(&self.extra_args);
        cmd
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("berthd.log"))
            .unwrap();
        let mut cmd = self.command();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        kill_with_parent(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(self.socket()).is_ok() {
                self.child = Some(child);
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("berthd exited at start ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("berthd did not start:\n{}", self.log());
    }

    /// `kill -9`, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok().and_then(|s| s.code())
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts berthd again after [`Daemon::kill9`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    fn run(&self, program: &Path, args: &[&str], stdin: Option<&[u8]>) -> Out {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.config_dir())
            .env_remove("DOCKER_DEFAULT_PLATFORM");
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
        if let Some(input) = stdin {
            let mut s = child.stdin.take().unwrap();
            let data = input.to_vec();
            std::thread::spawn(move || {
                let _ = s.write_all(&data);
            });
        }
        let out = child.wait_with_output().unwrap();
        Out {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    pub fn berth(&self, args: &[&str]) -> Out {
        self.run(&bin("berth"), args, None)
    }

    pub fn berth_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.run(&bin("berth"), args, Some(stdin))
    }

    /// The real docker CLI, talking to this berthd.
    pub fn docker(&self, args: &[&str]) -> Out {
        self.run(Path::new("docker"), args, None)
    }

    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.run(Path::new("docker"), args, Some(stdin))
    }

    /// Runs a docker-py script against this berthd (`python3 -c`, the daemon's address as
    /// its argument); the script prints `ok` once all its assertions hold.
    pub fn docker_py(&self, script: &str) {
        let out = Command::new("python3")
            .args(["-c", script, &self.host()])
            .output()
            .expect("python3");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// How many descriptors berthd holds now.
    pub fn berthd_fds(&self) -> usize {
        let pid = std::fs::read_to_string(self.data_root().join("berthd.lock")).unwrap_or_default();
        std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
            .map(|r| r.count())
            .unwrap_or(0)
    }

    /// A raw HTTP request on the socket: (status, headers, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String, String) {
        let body = body.unwrap_or("");
        self.http_raw(method, path, "application/json", body.as_bytes())
    }

    /// A raw HTTP request with a tar body (build, load, import).
    pub fn http_bytes(&self, method: &str, path: &str, body: &[u8]) -> (u16, String, String) {
        self.http_raw(method, path, "application/x-tar", body)
    }

    fn http_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, String, String) {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        // A daemon may answer (and close) before the whole body is sent: its answer still counts.
        let _ = write!(s, "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = s.write_all(body);
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let text = String::from_utf8_lossy(&resp).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), body.to_string())
    }
}

impl Daemon {
    /// Starts a registry holding the test images, pulls busybox from it and tags it `busybox`.
    /// The registry lives as long as the returned handle.
    pub fn with_busybox() -> (Daemon, crate::Registry) {
        let reg = crate::Registry::start();
        crate::images::push_test_images(&reg);
        let d = Daemon::start();
        let name = format!("{}/library/busybox:latest", reg.addr);
        d.berth(&["pull", "-q", &name]).ok();
        d.berth(&["tag", &name, "busybox"]).ok();
        (d, reg)
    }

    /// Removes every container through the API, then sweeps what a test that broke things on
    /// purpose (a killed shim, a killed daemon) may have left: processes started from this
    /// test's directories, and mounts under them.
    fn clean_up(&mut self) {
        if self.child.is_some() && UnixStream::connect(self.socket()).is_ok() {
            let (_, _, body) = self.http("GET", "/containers/json?all=1", None);
            let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            for c in list.as_array().into_iter().flatten() {
                if let Some(id) = c["Id"].as_str() {
                    self.http("DELETE", &format!("/containers/{id}?force=1"), None);
                }
            }
        }
        self.stop();
        let root = self.root.path().display().to_string();
        for pid in processes_mentioning(&root) {
            // SAFETY: signalling a process this test started (its command line names our dir).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        crate::unmount_under(self.root.path());
        crate::remove_cgroups(&self.cgroup_parent());
        crate::net::remove_daemon_networks(&self.bridge, &self.data_root());
    }
}

/// Processes whose command line mentions `needle` (shims carry their state dir in it).
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.clean_up();
    }
}
