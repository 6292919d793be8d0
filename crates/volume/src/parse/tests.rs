use super::*;

#[test]
fn binds_dockerd_takes() {
    for raw in [
        "/home",
        "/home:/home",
        "/home:/something/else",
        "/with space",
        "/home:/with space",
        "relative:/absolute-path",
        "hostPath:/containerPath:ro",
        "/hostPath:/containerPath:rw",
        "/rw:/ro",
        "/hostPath:/containerPath:shared",
        "/hostPath:/containerPath:rslave",
        "/hostPath:/containerPath:ro,z,shared",
        "/hostPath:/containerPath:Z,slave,ro",
        "/hostPath:/containerPath:ro,Z,rprivate",
        "vol:/data:nocopy",
        "vol:/data:U",
        "/src:/dst:idmap=uids=0-1000-10;gids=0-1000-10",
    ] {
        if let Err(e) = parse_bind(raw, "") {
            panic!("{raw}: {e}");
        }
    }
}

#[test]
fn binds_dockerd_refuses_with_its_words() {
    for (raw, words) in [
        ("", "invalid volume specification"),
        ("./", "mount path must be absolute"),
        ("../", "mount path must be absolute"),
        ("/:../", "mount path must be absolute"),
        ("/:path", "mount path must be absolute"),
        (":", "invalid volume specification"),
        ("/tmp:", "invalid volume specification"),
        (":test", "invalid volume specification"),
        (":/test", "invalid volume specification"),
        ("tmp:", "invalid volume specification"),
        ("::", "invalid volume specification"),
        (":::", "invalid volume specification"),
        ("/tmp:::", "invalid volume specification"),
        ("/path:rw", "invalid volume specification"),
        ("/path:ro", "invalid volume specification"),
        ("path:ro", "invalid volume specification"),
        ("/path:/path:sw", "invalid mode: sw"),
        ("/path:/path:rwz", "invalid mode"),
        ("/path:/path:ro,rshared,rslave", "invalid mode"),
        ("/path:/path:ro,ro", "invalid mode"),
        ("/path:shared", "invalid volume specification"),
        (
            "name:/absolute-path:shared",
            "field BindOptions must not be specified",
        ),
        (
            "name:/absolute-path:rprivate",
            "invalid volume specification",
        ),
        (
            "/src:/dst:nocopy",
            "field VolumeOptions must not be specified",
        ),
        ("/src:/", "destination can't be '/'"),
        ("/src:/dst:idmap", "invalid mode"),
        ("/src:/dst:idmap=uids=0-1-0;gids=0-1-1", "invalid mode"),
    ] {
        let e = parse_bind(raw, "").expect_err(raw).to_string();
        assert!(e.contains(words), "{raw}: {e}");
    }
    assert_eq!(
        parse_bind("/src:/", "").unwrap_err().to_string(),
        "invalid volume specification: '/src:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
    );
}

#[test]
fn binds_become_mount_points() {
    let b = parse_bind("/tmp/../tmp:/data/:ro", "").unwrap();
    assert_eq!(
        (b.kind, b.source.as_str(), b.destination.as_str(), b.rw),
        (MountType::Bind, "/tmp", "/data", false)
    );
    assert_eq!(
        (b.mode.as_str(), b.propagation.as_str()),
        ("ro", "rprivate")
    );
    assert!(b.create_source && !b.copy_data);
    let v = parse_bind("data:/d:nocopy", "").unwrap();
    assert_eq!(
        (v.kind, v.name.as_str(), v.driver.as_str()),
        (MountType::Volume, "data", "local")
    );
    assert!(!v.copy_data && v.rw);
    let a = parse_bind("/anon", "").unwrap();
    assert!(a.name.is_empty() && a.copy_data && a.kind == MountType::Volume);
    let s = parse_bind("/s:/d:rshared", "").unwrap();
    assert_eq!(s.propagation, "rshared");
    let u = parse_bind("data:/d:U", "").unwrap();
    assert!(u.spec.chown);
    let i = parse_bind("/s:/d:idmap=uids=0-1000-1#5-2000-2;gids=0-1000-1", "").unwrap();
    assert_eq!(
        i.idmap,
        Some(IdMap {
            uids: vec![(0, 1000, 1), (5, 2000, 2)],
            gids: vec![(0, 1000, 1)]
        })
    );
    let e = parse_bind("data:/d", "flocker").unwrap_err();
    assert!(matches!(e, VolumeError::Unsupported(_)), "{e}");
    assert!(e.to_string().contains("\"flocker\""));
}

fn mount(json: &str) -> Result<MountPoint> {
    parse_mount(&serde_json::from_str(json).unwrap())
}

#[test]
fn mounts_are_checked_as_dockerd_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = mount(&format!(
        r#"{{"Type":"bind","Source":"{}","Target":"/x"}}"#,
        missing.display()
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            missing.display()
        )
    );
    let made = mount(&format!(
        r#"{{"Type":"bind","Source":"{}","Target":"/x","BindOptions":{{"CreateMountpoint":true}}}}"#,
        missing.display()
    ))
    .unwrap();
    assert!(made.create_source);
    let ok = mount(&format!(
        r#"{{"Type":"bind","Source":"{}","Target":"/x"}}"#,
        dir.path().display()
    ))
    .unwrap();
    assert!(!ok.create_source && ok.mode.is_empty());
    for (json, words) in [
        (
            r#"{"Type":"bind","Target":"/x"}"#,
            "field Source must not be empty",
        ),
        (
            r#"{"Type":"volume","Source":"v"}"#,
            "field Target must not be empty",
        ),
        (
            r#"{"Type":"volume","Target":"x"}"#,
            "invalid mount path: 'x' mount path must be absolute",
        ),
        (
            r#"{"Type":"volume","Target":"/"}"#,
            "destination can't be '/'",
        ),
        (
            r#"{"Type":"tmpfs","Source":"x","Target":"/t"}"#,
            "field Source must not be specified",
        ),
        (
            r#"{"Type":"volume","Target":"/t","TmpfsOptions":{"SizeBytes":1}}"#,
            "field TmpfsOptions must not be specified",
        ),
        (
            r#"{"Type":"bind","Source":"/","Target":"/t","BindOptions":{"Propagation":"weird"}}"#,
            "invalid propagation mode: weird",
        ),
        (
            r#"{"Type":"volume","Target":"/t","VolumeOptions":{"Subpath":"a"}}"#,
            "must not set Subpath when using anonymous volumes",
        ),
        (
            r#"{"Type":"volume","Source":"v1","Target":"/t","VolumeOptions":{"Subpath":"../a"}}"#,
            "subpath must be a relative path within the volume",
        ),
        (
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"Options":[["uid","1"]]}}"#,
            "invalid option: uid",
        ),
        (r#"{"Type":"weird","Target":"/t"}"#, "mount type unknown"),
        (
            r#"{"Type":"image","Source":"busybox","Target":"/t"}"#,
            "not supported yet",
        ),
        (
            r#"{"Type":"bind","Source":"/","Target":"/t","BindOptions":{"ReadOnlyNonRecursive":true}}"#,
            "mount options conflict",
        ),
    ] {
        let e = mount(json).expect_err(json).to_string();
        assert!(e.contains(words), "{json}: {e}");
    }
    let t = mount(r#"{"Type":"tmpfs","Target":"/t","ReadOnly":true,"TmpfsOptions":{"SizeBytes":1048576,"Mode":1023,"Options":[["exec"]]}}"#).unwrap();
    assert_eq!(t.data, "nosuid,nodev,rprivate,ro,mode=1777,size=1m,exec");
    assert!(!t.rw && !t.tmpfs_flag);
}

#[test]
fn tmpfs_flags_merge_over_dockers_defaults() {
    let t = parse_tmpfs("/run", "size=64m,exec,mode=1777").unwrap();
    assert_eq!(t.data, "nosuid,nodev,rprivate,size=64m,exec,mode=1777");
    assert!(t.tmpfs_flag && t.rw);
    assert_eq!(
        parse_tmpfs("/run", "").unwrap().data,
        "noexec,nosuid,nodev,rprivate"
    );
    assert!(!parse_tmpfs("/run", "ro").unwrap().rw);
    assert_eq!(
        parse_tmpfs("/run", "bogus").unwrap_err().to_string(),
        "invalid tmpfs option \"bogus\""
    );
    assert!(parse_tmpfs("/run", "color=red").is_err());
    assert!(parse_tmpfs("run", "").is_err());
    assert!(parse_tmpfs("/", "").is_err());
}

#[test]
fn anonymous_volumes_and_volumes_from() {
    assert_eq!(parse_anonymous("/data/").unwrap().destination, "/data");
    assert!(parse_anonymous("data").is_err());
    assert!(parse_anonymous("/").is_err());
    assert_eq!(parse_volumes_from("c1").unwrap(), ("c1".into(), true));
    assert_eq!(parse_volumes_from("c1:ro").unwrap(), ("c1".into(), false));
    assert_eq!(parse_volumes_from("c1:rw,z").unwrap(), ("c1".into(), true));
    for bad in ["", "c1:rshared", "c1:nocopy", "c1:bad"] {
        assert!(parse_volumes_from(bad).is_err(), "{bad}");
    }
}

#[test]
fn paths_clean_like_go() {
    for (p, want) in [
        ("/a/b/../c/", "/a/c"),
        ("/../x", "/x"),
        ("a/./b", "a/b"),
        ("", "."),
        ("../a", "../a"),
        ("//x//y", "/x/y"),
    ] {
        assert_eq!(clean_path(p), want, "{p}");
    }
}

// The cases of the parser this one replaced (main's `spec.rs`), on this API. Where its words
// and dockerd's differ, dockerd's stand: `-v` with four fields is dockerd's "invalid volume
// specification" (the "too many colons" is the docker CLI's own split, [`crate::cli`]), and
// `nocopy` on a bind is dockerd's "field VolumeOptions must not be specified".
#[test]
fn binds_named_volumes_and_modes() {
    let m = parse_bind("/tmp:/data:ro", "").unwrap();
    assert_eq!(
        (m.kind, m.source.as_str(), m.destination.as_str(), m.rw),
        (MountType::Bind, "/tmp", "/data", false)
    );
    assert!(m.create_source);
    let m = parse_bind("db:/var/lib/db:nocopy", "").unwrap();
    assert_eq!(
        (m.kind, m.copy_data, m.rw),
        (MountType::Volume, false, true)
    );
    let m = parse_bind("/srv:/srv:rshared,z", "").unwrap();
    assert_eq!(m.propagation, "rshared");
    assert!(parse_bind("vv:/d:U", "").unwrap().spec.chown);
    assert!(parse_bind("/host:/d:U", "").is_err());
    let err = |s: &str| parse_bind(s, "").unwrap_err().to_string();
    assert_eq!(err("/a:/b:bogus"), "invalid mode: bogus");
    assert!(err("/a:/b:ro,rw").contains("invalid mode"));
    assert!(err("vv:relative").contains("mount path must be absolute"));
    assert!(err("vv:/").contains("destination can't be '/'"));
    assert!(err("/a:/b:c:d").contains("invalid volume specification"));
    assert!(err("/a:/b:nocopy").contains("field VolumeOptions must not be specified"));
}

#[test]
fn mounts_of_the_api_as_main_checked_them() {
    use serde_json::json;
    let m = |v: serde_json::Value| parse_mount(&serde_json::from_value(v).unwrap());
    let b = m(json!({"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": true})).unwrap();
    assert!(!b.rw && !b.create_source);
    let t = m(json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}})).unwrap();
    assert_eq!(t.data, "noexec,nosuid,nodev,rprivate,mode=1777,size=1m");
    let v = m(json!({"Type": "volume", "Source": "vv", "Target": "/v", "VolumeOptions": {"NoCopy": true, "Subpath": "sub", "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}})).unwrap();
    let o = v.spec.volume_options.as_ref().unwrap();
    assert!(!v.copy_data && o.subpath == "sub");
    assert_eq!(o.driver_config.as_ref().unwrap().options["type"], "tmpfs");
    let err = |v: serde_json::Value| match serde_json::from_value::<Mount>(v) {
        Ok(mm) => parse_mount(&mm).unwrap_err().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(
        err(json!({"Type": "bind", "Source": "rel", "Target": "/x"})).contains("must be absolute")
    );
    assert!(err(json!({"Type": "bind", "Target": "/x"})).contains("field Source must not be empty"));
    assert!(
        err(json!({"Type": "bind", "Source": "/a", "Target": "/x", "TmpfsOptions": {}}))
            .contains("TmpfsOptions")
    );
    assert!(err(json!({"Type": "npipe", "Target": "/x"})).contains("not supported yet"));
    assert!(err(json!({"Type": "volume", "Target": "/x", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}})).contains("not supported yet"));
    assert!(err(json!({"Type": "volume", "Source": "vv", "Target": "/x", "VolumeOptions": {"Subpath": "../up"}})).contains("subpath"));
    assert!(err(json!({"Type": "volume", "Target": "/x", "Bogus": 1})).contains("Bogus"));
    assert!(err(json!({"Type": "tmpfs", "Target": "/"})).contains("destination can't be '/'"));
}
