use serde_json::json;

use super::*;

fn store() -> (tempfile::TempDir, VolumeStore) {
    let d = tempfile::tempdir().unwrap();
    let s = VolumeStore::open(&d.path().join("volumes")).unwrap();
    (d, s)
}

#[test]
fn binds_volumes_tmpfs_and_anonymous_ones() {
    let (d, s) = store();
    let host = d.path().join("host");
    let binds = vec![
        format!("{}:/host:ro", host.display()),
        "data:/data".to_string(),
    ];
    let mounts =
        vec![json!({"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1024}})];
    let req = Requested {
        binds: &binds,
        mounts: &mounts,
        anonymous: vec!["/cache".into(), "/data".into()],
        ..Default::default()
    };
    let (points, made) = s.resolve("c1", &req).unwrap();
    assert_eq!(made.len(), 2);
    let dests: Vec<_> = points.iter().map(|p| p.destination.as_str()).collect();
    assert_eq!(dests, ["/cache", "/data", "/host", "/scratch"]);
    // -v creates a missing host directory.
    assert!(host.is_dir());
    let bind = &points[2];
    assert_eq!(
        (bind.kind, bind.rw, bind.propagation.as_str()),
        (MountKind::Bind, false, "rprivate")
    );
    let data = &points[1];
    assert!(
        data.kind == MountKind::Volume && data.name == "data" && !data.anonymous && data.copy_data
    );
    assert_eq!(data.source, s.data_path("data"));
    let cache = &points[0];
    assert!(cache.anonymous && cache.name.len() == 64);
    assert_eq!(s.users("data"), ["c1"]);
    let spec = points[3].spec(PathBuf::new());
    assert_eq!(spec.options, ["noexec", "nosuid", "nodev", "size=1024"]);
    assert_eq!(
        bind.spec(bind.source.clone()).options,
        ["rbind", "rprivate", "ro"]
    );

    // rm -v: the anonymous volume goes, the named one stays.
    s.release_all("c1", &points, true);
    assert!(s.get(&cache.name).is_err());
    assert!(s.get("data").is_ok() && s.users("data").is_empty());
}

#[test]
fn volumes_from_precedence_and_errors_leave_nothing() {
    let (d, s) = store();
    let binds = vec!["shared:/shared".to_string()];
    let (theirs, _) = s
        .resolve(
            "c1",
            &Requested {
                binds: &binds,
                anonymous: vec!["/anon".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let (mine, _) = s
        .resolve(
            "c2",
            &Requested {
                volumes_from: vec![(theirs.clone(), Some(true))],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|p| !p.rw && !p.anonymous));
    assert_eq!(s.users("shared"), ["c1", "c2"]);
    // c2 going with -v does not take c1's anonymous volume.
    s.release_all("c2", &mine, true);
    assert_eq!(s.list().len(), 2);

    let count = s.list().len();
    let dup = vec!["aa:/x".to_string(), "bb:/x".to_string()];
    let e = s
        .resolve(
            "c3",
            &Requested {
                binds: &dup,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "Duplicate mount point: /x");
    let missing = vec![json!({"Type": "bind", "Source": d.path().join("nope"), "Target": "/x"})];
    let e = s
        .resolve(
            "c3",
            &Requested {
                mounts: &missing,
                anonymous: vec!["/y".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("bind source path does not exist"),
        "{e}"
    );
    // Neither left a volume or a use behind.
    assert_eq!(s.list().len(), count);
    assert!(s
        .list()
        .iter()
        .all(|(v, _)| !s.users(&v.name).contains(&"c3".to_string())));
}
