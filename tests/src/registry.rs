//! A real registry for a test: Debian's `docker-registry` on a free loopback port, with its own
//! storage directory, stopped when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::images::{sha, Layer};
use crate::{free_port, kill_with_parent};

pub struct Registry {
    pub addr: String,
    dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Child,
    http: reqwest::blocking::Client,
    auth: Option<(String, String)>,
}

impl Registry {
    /// Starts an open registry.
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// Starts a registry that wants Basic credentials (htpasswd).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user.to_string(), password.to_string())))
    }

    fn start_with(auth: Option<(String, String)>) -> Registry {
        let tmp = tempfile::tempdir().unwrap();
        Self::launch(tmp.path().to_path_buf(), Some(tmp), free_port(), auth)
    }

    /// Starts a registry keeping its storage in `dir`, on 127.0.0.1:`port`.
    pub fn start_in(dir: PathBuf, port: u16) -> Registry {
        std::fs::create_dir_all(&dir).unwrap();
        Self::launch(dir, None, port, None)
    }

    fn launch(
        dir: PathBuf,
        tmp: Option<tempfile::TempDir>,
        port: u16,
        auth: Option<(String, String)>,
    ) -> Registry {
        let addr = format!("127.0.0.1:{port}");
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        if let Some((u, p)) = &auth {
            let hash = bcrypt::hash(p, 4).unwrap();
            std::fs::write(dir.join("htpasswd"), format!("{u}:{hash}\n")).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        kill_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let reg = Registry {
            addr,
            dir,
            _tmp: tmp,
            child,
            http: reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .unwrap(),
            auth,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if reg
                .http
                .get(format!("http://{}/v2/", reg.addr))
                .send()
                .is_ok()
            {
                return reg;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "registry did not start; log:\n{}",
            std::fs::read_to_string(reg.dir.join("registry.log")).unwrap_or_default()
        );
    }

    fn req(&self, method: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    pub fn push_blob(&self, repo: &str, data: &[u8]) {
        let digest = sha(data);
        let base = format!("http://{}", self.addr);
        if self
            .req(
                reqwest::Method::HEAD,
                &format!("{base}/v2/{repo}/blobs/{digest}"),
            )
            .send()
            .unwrap()
            .status()
            .is_success()
        {
            return;
        }
        let resp = self
            .req(
                reqwest::Method::POST,
                &format!("{base}/v2/{repo}/blobs/uploads/"),
            )
            .send()
            .unwrap();
        assert!(
            resp.status().is_success(),
            "start upload: {}",
            resp.status()
        );
        let loc = resp.headers()["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("{base}{loc}")
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let resp = self
            .req(reqwest::Method::PUT, &format!("{loc}{sep}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "upload blob: {}", resp.status());
    }

    pub fn put_manifest(&self, repo: &str, reference: &str, bytes: &[u8], media_type: &str) {
        let url = format!("http://{}/v2/{repo}/manifests/{reference}", self.addr);
        let resp = self
            .req(reqwest::Method::PUT, &url)
            .header("Content-Type", media_type)
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert!(
            resp.status().is_success(),
            "put manifest {repo}:{reference}: {} {}",
            resp.status(),
            resp.text().unwrap_or_default()
        );
    }

    pub fn push_image(
        &self,
        repo: &str,
        reference: &str,
        manifest: &[u8],
        media_type: &str,
        config: &[u8],
        layers: &[&Layer],
    ) {
        self.push_blob(repo, config);
        for l in layers {
            self.push_blob(repo, &l.blob);
        }
        self.put_manifest(repo, reference, manifest, media_type);
    }

    /// Where the registry keeps a blob's bytes, for tests that corrupt them.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
