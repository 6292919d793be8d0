use std::sync::Mutex;

use super::*;
use crate::kernel::Recorder;

type Events = Arc<Mutex<Vec<String>>>;

fn service() -> (tempfile::TempDir, VolumeService, Events) {
    let t = tempfile::tempdir().unwrap();
    let events: Events = Arc::default();
    let sink = events.clone();
    let s = VolumeService::open(
        &t.path().join("volumes"),
        &t.path().join("run"),
        Arc::new(Recorder::default()),
        Box::new(move |action, name, attrs| {
            let c = attrs
                .get("container")
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            sink.lock().unwrap().push(format!("{action} {name}{c}"));
        }),
    )
    .unwrap();
    (t, s, events)
}

fn binds(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn resolve_makes_volumes_orders_mounts_and_refuses_duplicates() {
    let (t, s, events) = service();
    let host = t.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let b = binds(&["data:/var/lib/data", &format!("{}:/srv:ro", host.display())]);
    let tmpfs = BTreeMap::from([("/run".to_string(), "size=1m".to_string())]);
    let mounts = vec![serde_json::from_str::<serde_json::Value>(
        r#"{"Type":"volume","Target":"/var","VolumeOptions":{"NoCopy":true}}"#,
    )
    .unwrap()];
    let req = Request {
        binds: &b,
        mounts: &mounts,
        tmpfs: Some(&tmpfs),
        volumes: vec!["/var/lib/data".into(), "/image-vol".into()],
        ..Default::default()
    };
    let points = s.resolve("c1", &req).unwrap();
    let dests: Vec<&str> = points.iter().map(|m| m.destination.as_str()).collect();
    assert_eq!(
        dests,
        ["/image-vol", "/run", "/srv", "/var", "/var/lib/data"]
    );
    let data = &points[4];
    assert_eq!(
        (data.name.as_str(), data.mode.as_str(), data.rw),
        ("data", "z", true)
    );
    assert_eq!(
        data.source,
        s.get("data").unwrap().mountpoint.display().to_string()
    );
    let anon = &points[0];
    assert!(anon.name.len() == 64 && anon.mode.is_empty() && anon.copy_data);
    assert!(s.get(&anon.name).unwrap().volume.is_anonymous());
    assert!(!points[3].copy_data, "nocopy");
    assert!(points[1].tmpfs_flag);
    assert_eq!(s.list().len(), 3);
    assert_eq!(s.get("data").unwrap().refs, 1);
    assert_eq!(
        events.lock().unwrap().len(),
        3,
        "{:?}",
        events.lock().unwrap()
    );

    for (b, t, words) in [
        (
            binds(&["a1:/x", "a2:/x"]),
            None,
            "Duplicate mount point: /x",
        ),
        (
            binds(&["a1:/run"]),
            Some(&tmpfs),
            "Duplicate mount point: /run",
        ),
        (binds(&["a1:/x", "a2:/y", "/bad"]), None, "must be absolute"),
    ] {
        let mut b = b;
        if words == "must be absolute" {
            b.push("rel/x:rel".into());
        }
        let req = Request {
            binds: &b,
            tmpfs: t,
            ..Default::default()
        };
        let e = s.resolve("c2", &req).unwrap_err().to_string();
        assert!(e.contains(words), "{e}");
    }
    // A failed resolve keeps nothing it made.
    assert_eq!(s.list().len(), 3);
    assert!(s.get("a1").is_err() && s.get("a2").is_err());
}

#[test]
fn volumes_from_share_the_volumes_read_only_if_asked() {
    let (_t, s, _) = service();
    let b = binds(&["shared:/data"]);
    let first = s
        .resolve(
            "c1",
            &Request {
                binds: &b,
                volumes: vec!["/anon".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let second = s
        .resolve(
            "c2",
            &Request {
                volumes_from: vec![(first.clone(), false)],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(second.len(), 2);
    assert!(second.iter().all(|m| !m.rw && !m.copy_data));
    assert_eq!(s.get("shared").unwrap().refs, 2);
    // rm -v of the first: its anonymous volume is still the second's.
    s.release("c1", &first, true);
    assert!(s.get(&first[0].name).is_ok());
    s.release("c2", &second, true);
    assert!(
        s.get(&first[0].name).is_err(),
        "anonymous volume gone with its last user"
    );
    assert!(s.get("shared").is_ok(), "named volumes stay");
    // A bind of the same place overrides what volumes-from brought.
    let third = s.resolve(
        "c3",
        &Request {
            binds: &binds(&["other:/data"]),
            volumes_from: vec![(first.clone(), true)],
            ..Default::default()
        },
    );
    assert!(third.is_err(), "the first's anonymous volume is gone");
}

#[test]
fn populate_copies_the_image_into_empty_volumes_only() {
    let (t, s, _) = service();
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("app/conf")).unwrap();
    std::fs::write(rootfs.join("app/conf/a"), "from image").unwrap();
    std::fs::write(rootfs.join("file"), "x").unwrap();
    std::os::unix::fs::symlink("/app", rootfs.join("link")).unwrap();
    let b = binds(&["full:/app", "nocp:/app/conf:nocopy", "vialink:/link"]);
    let points = s
        .resolve(
            "c1",
            &Request {
                binds: &b,
                ..Default::default()
            },
        )
        .unwrap();
    std::fs::write(s.get("full").unwrap().mountpoint.join("mine"), "user data").unwrap();
    assert!(s.needs_population(&points));
    s.populate(&points, &rootfs).unwrap();
    let vol = |n: &str| s.get(n).unwrap().mountpoint;
    assert!(
        !vol("full").join("conf").exists(),
        "a volume with data is left alone"
    );
    assert!(tree::is_empty_dir(&vol("nocp")).unwrap());
    // The link is followed inside the root: the image's /app, never the host's.
    assert_eq!(
        std::fs::read_to_string(vol("vialink").join("conf/a")).unwrap(),
        "from image"
    );
    assert!(!s.needs_population(&points[..1]));
    let over_file = s
        .resolve(
            "c2",
            &Request {
                binds: &binds(&["f1:/file"]),
                ..Default::default()
            },
        )
        .unwrap();
    let e = s.populate(&over_file, &rootfs).unwrap_err().to_string();
    assert!(
        e.starts_with("cannot mount volume over existing file, file exists"),
        "{e}"
    );
    assert!(
        std::fs::read_dir(vol("vialink").parent().unwrap())
            .unwrap()
            .count()
            == 2,
        "no staging dir left"
    );
}

#[test]
fn mounts_for_the_spec() {
    let (t, s, events) = service();
    let missing = t.path().join("made/by/start");
    let ro = t.path();
    let b = binds(&[
        &format!("{}:/m", missing.display()),
        &format!("{}:/ro:ro,rslave", ro.display()),
        "vol:/v",
    ]);
    let tmpfs = BTreeMap::from([("/t".to_string(), "size=64k".to_string())]);
    let mounts = vec![serde_json::from_str::<serde_json::Value>(&format!(
        r#"{{"Type":"bind","Source":"{}","Target":"/nr","ReadOnly":true,"BindOptions":{{"NonRecursive":true,"ReadOnlyNonRecursive":true}}}}"#,
        ro.display()
    ))
    .unwrap()];
    let points = s
        .resolve(
            "c1",
            &Request {
                binds: &b,
                mounts: &mounts,
                tmpfs: Some(&tmpfs),
                ..Default::default()
            },
        )
        .unwrap();
    let spec = s.mount("c1", &points, Owner::default()).unwrap();
    let by_dest = |d: &str| spec.iter().find(|m| m.destination == d).unwrap().clone();
    assert!(missing.is_dir(), "a -v bind's missing source is made");
    assert_eq!(by_dest("/m").options, ["rbind", "rprivate"]);
    let rro = if recursive_read_only() { "rro" } else { "ro" };
    assert_eq!(by_dest("/ro").options, ["rbind", rro, "rslave"]);
    assert_eq!(by_dest("/nr").options, ["bind", "ro", "rprivate"]);
    assert_eq!(by_dest("/v").options, ["rbind"]);
    assert_eq!(
        by_dest("/v").source,
        s.get("vol").unwrap().mountpoint.display().to_string()
    );
    let t = by_dest("/t");
    assert_eq!(
        (t.kind, t.options.join(",")),
        ("tmpfs", "noexec,nosuid,nodev,rprivate,size=64k".into())
    );
    s.unmount("c1", &points);
    let ev = events.lock().unwrap().clone();
    assert!(
        ev.contains(&"mount vol c1".to_string()) && ev.contains(&"unmount vol c1".to_string()),
        "{ev:?}"
    );

    // A subpath must exist inside the volume.
    let sub = vec![serde_json::from_str::<serde_json::Value>(
        r#"{"Type":"volume","Source":"vol","Target":"/s","VolumeOptions":{"Subpath":"a/b"}}"#,
    )
    .unwrap()];
    let points = s
        .resolve(
            "c2",
            &Request {
                mounts: &sub,
                ..Default::default()
            },
        )
        .unwrap();
    let e = s
        .mount("c2", &points, Owner::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such file or directory"), "{e}");
    std::fs::create_dir_all(s.get("vol").unwrap().mountpoint.join("a/b")).unwrap();
    let spec = s.mount("c2", &points, Owner::default()).unwrap();
    assert!(
        spec[0].source.ends_with("/vol/_data/a/b"),
        "{}",
        spec[0].source
    );
}

#[test]
fn prune_takes_unused_anonymous_volumes_unless_all() {
    let (_t, s, _) = service();
    s.create(Some("named"), "", None, None).unwrap();
    s.create(
        Some("withopts"),
        "",
        Some(BTreeMap::from([
            ("type".into(), "tmpfs".into()),
            ("device".into(), "tmpfs".into()),
        ])),
        None,
    )
    .unwrap();
    let used = s
        .resolve(
            "c1",
            &Request {
                volumes: vec!["/a".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let free = s.create(None, "", None, None).unwrap();
    let (gone, _) = s.prune(false, &|_| true);
    assert_eq!(gone, vec![free.volume.name.clone()]);
    let (gone, _) = s.prune(true, &|v| v.name != "nothing");
    assert_eq!(gone, ["named"]);
    assert!(s.get(&used[0].name).is_ok() && s.get("withopts").is_ok());
    assert_eq!(s.usage().len(), 1);
}

// The cases of the resolver this service replaced (main's `resolve.rs`), on this API. A `-v`
// bind's missing source is made at start, as dockerd makes it (not at create); the spec's
// options are dockerd's (`rro` for read-only, the propagation after it, tmpfs under Docker's
// `rprivate` with its size in dockerd's units).
#[test]
fn binds_volumes_tmpfs_and_anonymous_ones() {
    let (d, s, _) = service();
    let host = d.path().join("host");
    let b = vec![
        format!("{}:/host:ro", host.display()),
        "data:/data".to_string(),
    ];
    let mounts = vec![
        serde_json::json!({"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1024}}),
    ];
    let req = Request {
        binds: &b,
        mounts: &mounts,
        volumes: vec!["/cache".into(), "/data".into()],
        ..Default::default()
    };
    let points = s.resolve("c1", &req).unwrap();
    assert_eq!(s.list().len(), 2);
    let dests: Vec<_> = points.iter().map(|p| p.destination.as_str()).collect();
    assert_eq!(dests, ["/cache", "/data", "/host", "/scratch"]);
    let bind = &points[2];
    assert_eq!(
        (bind.kind, bind.rw, bind.propagation.as_str()),
        (MountType::Bind, false, "rprivate")
    );
    let data = &points[1];
    assert!(
        data.kind == MountType::Volume
            && data.name == "data"
            && !data.spec.source.is_empty()
            && data.copy_data
    );
    assert_eq!(
        data.source,
        s.get("data").unwrap().mountpoint.display().to_string()
    );
    let cache = &points[0];
    assert!(cache.spec.source.is_empty() && cache.name.len() == 64);
    assert_eq!(s.get("data").unwrap().refs, 1);
    let spec = s.mount("c1", &points, Owner::default()).unwrap();
    // -v creates a missing host directory.
    assert!(host.is_dir());
    assert_eq!(
        spec[3].options,
        ["noexec", "nosuid", "nodev", "rprivate", "size=1k"]
    );
    let rro = if recursive_read_only() { "rro" } else { "ro" };
    assert_eq!(spec[2].options, ["rbind", rro, "rprivate"]);
    s.unmount("c1", &points);

    // rm -v: the anonymous volume goes, the named one stays.
    s.release("c1", &points, true);
    assert!(s.get(&cache.name).is_err());
    assert!(s.get("data").is_ok() && s.get("data").unwrap().refs == 0);
}

#[test]
fn volumes_from_precedence_and_errors_leave_nothing() {
    let (d, s, _) = service();
    let b = vec!["shared:/shared".to_string()];
    let theirs = s
        .resolve(
            "c1",
            &Request {
                binds: &b,
                volumes: vec!["/anon".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let mine = s
        .resolve(
            "c2",
            &Request {
                volumes_from: vec![(theirs.clone(), false)],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|p| !p.rw));
    assert_eq!(s.get("shared").unwrap().refs, 2);
    // c2 going with -v does not take c1's anonymous volume.
    s.release("c2", &mine, true);
    assert_eq!(s.list().len(), 2);

    let count = s.list().len();
    let dup = vec!["aa:/x".to_string(), "bb:/x".to_string()];
    let e = s
        .resolve(
            "c3",
            &Request {
                binds: &dup,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "Duplicate mount point: /x");
    let missing =
        vec![serde_json::json!({"Type": "bind", "Source": d.path().join("nope"), "Target": "/x"})];
    let e = s
        .resolve(
            "c3",
            &Request {
                mounts: &missing,
                volumes: vec!["/y".into()],
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
    assert!(s.list().iter().all(|v| v.refs <= 1));
}

#[test]
fn idmapped_binds_are_staged_for_the_runtime_and_taken_down_at_exit() {
    let (t, s, _) = service();
    let src = t.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let b = binds(&[&format!(
        "{}:/d:idmap=uids=1000-0-1;gids=1000-0-1",
        src.display()
    )]);
    let points = s
        .resolve(
            "c1",
            &Request {
                binds: &b,
                ..Default::default()
            },
        )
        .unwrap();
    let spec = s.mount("c1", &points, Owner::default()).unwrap();
    let staged = t.path().join("run/idmap/c1-0");
    assert_eq!(spec[0].source, staged.display().to_string());
    assert!(staged.is_dir());
    s.unmount("c1", &points);
    assert!(!staged.exists());
}
