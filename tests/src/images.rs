//! Test images, built here from Debian's `busybox-static` and pushed over the registry API:
//! deterministic (fixed mtimes and owners, sorted entries, gzip without a name or time), so
//! their digests are the same on every run.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::registry::Registry;

// The media types are berth's own; the test images are built with the same names.
pub use berth_image::media::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP as DOCKER_LAYER, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST as DOCKER_LIST, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_LAYER_TAR,
    OCI_LAYER_ZSTD, OCI_MANIFEST,
};

const EPOCH: u64 = 946_684_800; // 2000-01-01T00:00:00Z
const CREATED: &str = "2000-01-01T00:00:00Z";
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One entry of a layer: a directory, a file with content, a symlink, or a whiteout marker file.
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

/// A deterministic tar of `entries`, in the order given.
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(EPOCH);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(if *p == "tmp/" { 0o1777 } else { 0o755 });
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Entry::File(p, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            Entry::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// The busybox root filesystem as a layer tar: `/bin/busybox` and a symlink per applet.
pub fn busybox_rootfs() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox")
        .expect("/bin/busybox (Debian package busybox-static) is needed for the test images");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    let mut applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| *l != "bin/busybox")
        .map(str::to_string)
        .collect();
    applets.sort();
    let mut entries = vec![
        Entry::Dir("bin/"),
        Entry::File("bin/busybox", &busybox, 0o755),
    ];
    let dirs = [
        "dev/",
        "etc/",
        "proc/",
        "root/",
        "sbin/",
        "sys/",
        "tmp/",
        "usr/",
        "usr/bin/",
        "usr/sbin/",
        "var/",
        "var/www/",
    ];
    entries.extend(dirs.iter().map(|d| Entry::Dir(d)));
    entries.push(Entry::File(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    ));
    entries.push(Entry::File(
        "etc/group",
        b"root:x:0:\nnogroup:x:65534:\n",
        0o644,
    ));
    for a in &applets {
        entries.push(Entry::Symlink(a, "/bin/busybox"));
    }
    tar_of(&entries)
}

/// How a layer is compressed in the registry.
#[derive(Clone, Copy, PartialEq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

pub struct Layer {
    pub blob: Vec<u8>,
    pub diff_id: String,
    pub media_type: &'static str,
}

pub fn layer(tar: &[u8], c: Compression, oci: bool) -> Layer {
    let (blob, media_type) = match c {
        Compression::Gzip => {
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::default());
            gz.write_all(tar).unwrap();
            (
                gz.finish().unwrap(),
                if oci { OCI_LAYER_GZIP } else { DOCKER_LAYER },
            )
        }
        Compression::Zstd => (zstd::encode_all(tar, 3).unwrap(), OCI_LAYER_ZSTD),
        Compression::None => (tar.to_vec(), OCI_LAYER_TAR),
    };
    Layer {
        blob,
        diff_id: sha(tar),
        media_type,
    }
}

/// An image config: compact JSON with sorted keys, as the test images have always been made.
/// One argument per field of the config the test images vary.
#[allow(clippy::too_many_arguments)]
pub fn config(
    arch: &str,
    variant: Option<&str>,
    cmd: Value,
    env: &[&str],
    workdir: Option<&str>,
    labels: Value,
    layers: &[&Layer],
    history: &[&str],
) -> Vec<u8> {
    let mut cfg = json!({"Cmd": cmd, "Env": env});
    if let Some(w) = workdir {
        cfg["WorkingDir"] = json!(w);
    }
    if labels.as_object().is_some_and(|o| !o.is_empty()) {
        cfg["Labels"] = labels;
    }
    let mut v = json!({
        "architecture": arch, "os": "linux", "created": CREATED, "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "history": history.iter().map(|h| json!({"created": CREATED, "created_by": h})).collect::<Vec<_>>(),
    });
    if let Some(var) = variant {
        v["variant"] = json!(var);
    }
    serde_json::to_vec(&sorted(v)).unwrap()
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let b: BTreeMap<String, Value> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(b.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        o => o,
    }
}

pub fn manifest(oci: bool, config: &[u8], layers: &[&Layer]) -> Vec<u8> {
    let (mt, cmt) = if oci {
        (OCI_MANIFEST, OCI_CONFIG)
    } else {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt,
        "config": {"mediaType": cmt, "size": config.len(), "digest": sha(config)},
        "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "size": l.blob.len(), "digest": sha(&l.blob)})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

pub fn index(oci: bool, entries: &[(&[u8], &str, Option<&str>)]) -> Vec<u8> {
    let (mt, child) = if oci {
        (OCI_INDEX, OCI_MANIFEST)
    } else {
        (DOCKER_LIST, DOCKER_MANIFEST)
    };
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": mt,
        "manifests": entries.iter().map(|(m, arch, variant)| {
            let mut p = json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant { p["variant"] = json!(v); }
            json!({"mediaType": child, "size": m.len(), "digest": sha(m), "platform": p})
        }).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Digests of what [`push_test_images`] put in the registry.
#[derive(Debug, Clone, Default)]
pub struct TestImages {
    /// repo:tag → manifest (or index) digest.
    pub digests: BTreeMap<String, String>,
    /// repo:tag → image ID (config digest) for the host platform.
    pub ids: BTreeMap<String, String>,
    /// Blob digest of the busybox base layer, shared by every image.
    pub base_layer: String,
    /// Image ID of the fake arm64 image in `multi`.
    pub arm64_id: String,
}

/// Builds and pushes every test image into `reg` under `library/`.
pub fn push_test_images(reg: &Registry) -> TestImages {
    let mut t = TestImages::default();
    let base_tar = busybox_rootfs();
    let base = layer(&base_tar, Compression::Gzip, false);
    let base_oci = Layer {
        blob: base.blob.clone(),
        diff_id: base.diff_id.clone(),
        media_type: OCI_LAYER_GZIP,
    };
    t.base_layer = sha(&base.blob);
    let h1 = "test image: busybox-static rootfs";

    let bb_cfg = config(
        "amd64",
        None,
        json!(["sh"]),
        &[PATH_ENV],
        None,
        json!({}),
        &[&base],
        &[h1],
    );
    let bb = manifest(false, &bb_cfg, &[&base]);
    let bb_oci = manifest(true, &bb_cfg, &[&base_oci]);
    t.add(
        reg,
        "busybox:latest",
        &bb,
        DOCKER_MANIFEST,
        &bb_cfg,
        &[&base],
    );
    t.add(
        reg,
        "busybox:oci",
        &bb_oci,
        OCI_MANIFEST,
        &bb_cfg,
        &[&base_oci],
    );

    let l2 = layer(
        &tar_of(&[
            Entry::File("file", b"built by RUN\n", 0o644),
            Entry::File("hello.txt", b"hello from COPY\n", 0o644),
        ]),
        Compression::Gzip,
        false,
    );
    let two_cfg = config(
        "amd64",
        None,
        json!(["cat", "/file", "/hello.txt"]),
        &[PATH_ENV, "GREETING=hi", "FOO=bar"],
        Some("/"),
        json!({"org.example.test": "two-layer"}),
        &[&base, &l2],
        &[h1, "test image: add /file /hello.txt"],
    );
    t.add(
        reg,
        "twolayer:latest",
        &manifest(false, &two_cfg, &[&base, &l2]),
        DOCKER_MANIFEST,
        &two_cfg,
        &[&base, &l2],
    );

    let w2 = layer(
        &tar_of(&[
            Entry::Dir("data/"),
            Entry::File("data/a", b"a\n", 0o644),
            Entry::File("data/b", b"b\n", 0o644),
            Entry::Dir("opq/"),
            Entry::File("opq/x", b"x\n", 0o644),
            Entry::File("opq/y", b"y\n", 0o644),
        ]),
        Compression::Gzip,
        false,
    );
    let w3 = layer(
        &tar_of(&[
            Entry::File(".wh.linuxrc", b"", 0o644),
            Entry::Dir("data/"),
            Entry::File("data/.wh.a", b"", 0o644),
            Entry::Dir("opq/"),
            Entry::File("opq/.wh..wh..opq", b"", 0o644),
            Entry::File("opq/z", b"z\n", 0o644),
        ]),
        Compression::Gzip,
        false,
    );
    let wo_cfg = config(
        "amd64",
        None,
        json!(["sh"]),
        &[PATH_ENV],
        None,
        json!({}),
        &[&base, &w2, &w3],
        &[h1, "add /data /opq", "rm /data/a /linuxrc; opaque /opq"],
    );
    t.add(
        reg,
        "whiteout:latest",
        &manifest(false, &wo_cfg, &[&base, &w2, &w3]),
        DOCKER_MANIFEST,
        &wo_cfg,
        &[&base, &w2, &w3],
    );

    for (tag, c) in [("zstd", Compression::Zstd), ("plain", Compression::None)] {
        let l = layer(&base_tar, c, true);
        let cfg = config(
            "amd64",
            None,
            json!(["sh"]),
            &[PATH_ENV],
            None,
            json!({"org.example.compression": tag}),
            &[&l],
            &[h1],
        );
        t.add(
            reg,
            &format!("compressed:{tag}"),
            &manifest(true, &cfg, &[&l]),
            OCI_MANIFEST,
            &cfg,
            &[&l],
        );
    }

    let arm_cfg = config(
        "arm64",
        Some("v8"),
        json!(["sh"]),
        &[PATH_ENV],
        None,
        json!({"org.example.fake-arch": "amd64 binaries, arm64 config"}),
        &[&base],
        &[h1],
    );
    t.arm64_id = sha(&arm_cfg);
    for (oci, tag) in [(false, "latest"), (true, "oci")] {
        let l = if oci { &base_oci } else { &base };
        let amd = manifest(oci, &bb_cfg, &[l]);
        let arm = manifest(oci, &arm_cfg, &[l]);
        let mt = if oci { OCI_MANIFEST } else { DOCKER_MANIFEST };
        reg.push_image("library/multi", &sha(&amd), &amd, mt, &bb_cfg, &[l]);
        reg.push_image("library/multi", &sha(&arm), &arm, mt, &arm_cfg, &[l]);
        let idx = index(oci, &[(&amd, "amd64", None), (&arm, "arm64", Some("v8"))]);
        reg.put_manifest(
            "library/multi",
            tag,
            &idx,
            if oci { OCI_INDEX } else { DOCKER_LIST },
        );
        t.digests.insert(format!("multi:{tag}"), sha(&idx));
        t.ids.insert(format!("multi:{tag}"), sha(&bb_cfg));
    }
    t
}

impl TestImages {
    fn add(
        &mut self,
        reg: &Registry,
        name: &str,
        manifest: &[u8],
        mt: &str,
        config: &[u8],
        layers: &[&Layer],
    ) {
        let (repo, tag) = name.split_once(':').unwrap();
        reg.push_image(
            &format!("library/{repo}"),
            tag,
            manifest,
            mt,
            config,
            layers,
        );
        self.digests.insert(name.to_string(), sha(manifest));
        self.ids.insert(name.to_string(), sha(config));
    }
}
