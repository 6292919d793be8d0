use super::*;
use crate::kernel::Recorder;

fn store() -> (tempfile::TempDir, VolumeStore, Arc<Recorder>) {
    let t = tempfile::tempdir().unwrap();
    let k = Arc::new(Recorder::default());
    let s = VolumeStore::open(&t.path().join("volumes"), k.clone()).unwrap();
    (t, s, k)
}

fn opts(kv: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn names_as_docker_takes_them() {
    for ok in ["ab", "a.b_c-d", "0data"] {
        check_name(ok).unwrap();
    }
    assert!(check_name("a")
        .unwrap_err()
        .to_string()
        .contains("too short"));
    for bad in ["a/b", "../x", ".hidden", "-x", "a b", "ü1", "a:b"] {
        let e = check_name(bad).unwrap_err().to_string();
        assert!(e.contains("includes invalid characters"), "{bad}: {e}");
    }
}

#[test]
fn options_as_the_local_driver_takes_them() {
    check_options(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]).unwrap())
        .unwrap();
    for (o, words) in [
        (opts(&[("colour", "red")]), "invalid option: \"colour\""),
        (
            opts(&[("type", "tmpfs")]),
            "missing required option: \"device\"",
        ),
        (
            opts(&[("device", "/x")]),
            "missing required option: \"type\"",
        ),
        (
            opts(&[("o", "bind"), ("type", "none")]),
            "missing required option: \"device\"",
        ),
        (
            opts(&[("size", "10m")]),
            "quota size requested but no quota support",
        ),
        (opts(&[("size", "lots")]), "invalid size"),
    ] {
        let e = check_options(&o.unwrap()).unwrap_err().to_string();
        assert!(e.contains(words), "{e}");
    }
}

#[test]
fn volumes_are_made_found_and_removed() {
    let (t, s, _) = store();
    let (v, made) = s
        .create(Some("data"), "", None, opts(&[("a", "b")]), None)
        .unwrap();
    assert!(made && !v.is_anonymous());
    assert!(s.data_path("data").is_dir());
    // The same name again is the same volume.
    let (again, made) = s.create(Some("data"), "local", None, None, None).unwrap();
    assert!(!made);
    assert_eq!(again.labels, opts(&[("a", "b")]));
    let (anon, _) = s.create(None, "", None, None, Some("c1")).unwrap();
    assert!(anon.is_anonymous() && anon.name.len() == 64);
    assert_eq!(s.get(&anon.name).unwrap().refs, 1);
    let e = s
        .create(Some("a/b"), "", None, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("create a/b: \"a/b\" includes invalid characters"),
        "{e}"
    );
    let e = s
        .create(Some("x2"), "nfsplugin", None, None, None)
        .unwrap_err();
    assert!(matches!(e, VolumeError::Unsupported(_)));
    assert_eq!(s.list().len(), 2);

    // In use: refused, by any container that references it.
    let e = s.remove(&anon.name, true).unwrap_err();
    assert!(matches!(e, VolumeError::Conflict(_)));
    assert_eq!(
        e.to_string(),
        format!("remove {}: volume is in use - [c1]", anon.name)
    );
    assert!(!s.release(&anon.name, "c1"));
    s.remove(&anon.name, false).unwrap();
    assert_eq!(
        s.remove(&anon.name, false).unwrap_err().to_string(),
        format!("get {}: no such volume", anon.name)
    );
    assert!(s.remove("nope", true).unwrap().is_none());

    // What survives a restart: records, labels, data.
    std::fs::write(s.data_path("data").join("f"), "kept").unwrap();
    drop(s);
    let s = VolumeStore::open(&t.path().join("volumes"), Arc::new(Recorder::default())).unwrap();
    let v = s.get("data").unwrap();
    assert_eq!(v.volume.labels, opts(&[("a", "b")]));
    assert_eq!(
        std::fs::read_to_string(v.mountpoint.join("f")).unwrap(),
        "kept"
    );
    assert_eq!(s.list().len(), 1);
}

#[test]
fn leftovers_of_a_crash_are_cleared_and_data_dirs_without_records_are_volumes() {
    let (t, s, _) = store();
    s.create(Some("v1"), "", None, None, None).unwrap();
    let root = t.path().join("volumes");
    for junk in [".creating-1/_data", ".removing-2/_data", "v1/.copy-up-3/x"] {
        std::fs::create_dir_all(root.join(junk)).unwrap();
    }
    std::fs::create_dir_all(root.join("copied/_data")).unwrap();
    std::fs::create_dir_all(root.join("notavolume")).unwrap();
    drop(s);
    let s = VolumeStore::open(&root, Arc::new(Recorder::default())).unwrap();
    let names: Vec<String> = s.list().into_iter().map(|v| v.volume.name).collect();
    assert_eq!(names, ["copied", "v1"]);
    for gone in [".creating-1", ".removing-2", "v1/.copy-up-3"] {
        assert!(!root.join(gone).exists(), "{gone}");
    }
}

#[test]
fn a_device_is_mounted_once_for_all_its_containers() {
    let (_t, s, k) = store();
    let o = opts(&[
        ("type", "tmpfs"),
        ("device", "tmpfs"),
        ("o", "size=1m,password=hunter2"),
    ]);
    s.create(Some("t1"), "local", o, None, None).unwrap();
    s.create(Some("plain"), "local", None, None, None).unwrap();
    s.mount("t1", "c1").unwrap();
    s.mount("t1", "c2").unwrap();
    s.mount("plain", "c1").unwrap();
    assert!(s.in_active_use("t1"));
    s.unmount("t1", "c1");
    s.unmount("t1", "c1");
    s.unmount("plain", "c1");
    assert!(!s.in_active_use("plain"));
    let data = s.data_path("t1").display().to_string();
    assert_eq!(
        *k.calls.lock().unwrap(),
        [format!("mount tmpfs {data} tmpfs size=1m,password=hunter2")]
    );
    s.unmount("t1", "c2");
    assert_eq!(
        k.calls.lock().unwrap().last().unwrap(),
        &format!("unmount {data}")
    );
    assert_eq!(
        hide_password("bad password hunter2", "password=hunter2"),
        "bad password ********"
    );
}
