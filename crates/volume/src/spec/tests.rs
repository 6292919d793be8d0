use super::*;

#[test]
fn binds_named_volumes_and_modes() {
    let m = parse_bind("/tmp:/data:ro").unwrap();
    assert_eq!(
        (m.kind, m.source.as_str(), m.target.as_str(), m.read_only),
        (MountKind::Bind, "/tmp", "/data", true)
    );
    assert!(m.create_source);
    let m = parse_bind("db:/var/lib/db:nocopy").unwrap();
    assert_eq!(
        (m.kind, m.no_copy, m.read_only),
        (MountKind::Volume, true, false)
    );
    let m = parse_bind("/srv:/srv:rshared,z").unwrap();
    assert_eq!(m.propagation, "rshared");
    assert!(parse_bind("vv:/d:U").unwrap().chown);
    assert!(parse_bind("/host:/d:U").is_err());
    let err = |s: &str| parse_bind(s).unwrap_err().to_string();
    assert_eq!(
        err("/a:/b:bogus"),
        "invalid volume specification: '/a:/b:bogus': invalid mode: bogus"
    );
    assert!(err("/a:/b:ro,rw").contains("invalid mode"));
    assert!(
        err("vv:relative").contains("mount path must be absolute"),
        "{}",
        err("vv:relative")
    );
    assert!(err("vv:/").contains("destination can't be '/'"));
    assert!(err("bad/name:/d").contains("includes invalid characters for a local volume name"));
    assert!(err("/a:/b:c:d").contains("too many colons"));
    // nocopy is for volumes only.
    assert!(err("/a:/b:nocopy").contains("invalid mode"));
}

#[test]
fn the_cli_splits_v_as_docker_does() {
    let (binds, anon) = cli_volumes(&[
        "/tmp:/data:ro".into(),
        "named:/n".into(),
        "/anon".into(),
        "/anon".into(),
    ])
    .unwrap();
    assert_eq!(binds, vec!["/tmp:/data:ro", "named:/n"]);
    assert_eq!(anon, vec!["/anon"]);
    assert!(cli_volumes(&["/a::b".into()]).is_err());
    assert!(cli_volumes(&["/a:/b:ro:x".into()]).is_err());
    // A one-letter source is taken for a Windows drive, as docker takes it.
    assert_eq!(cli_volumes(&["a::b".into()]).unwrap().0, vec!["a::b"]);
    assert_eq!(
        cli_tmpfs(&["/run:size=1m".into(), "/t".into()]),
        BTreeMap::from([("/run".into(), "size=1m".into()), ("/t".into(), "".into())])
    );
}

#[test]
fn mounts_are_checked_as_dockerd_checks_them() {
    use serde_json::json;
    let m =
        parse_mount(&json!({"Type": "bind", "Source": "/tmp", "Target": "/x", "ReadOnly": true}))
            .unwrap();
    assert!(m.read_only && !m.create_source);
    let m = parse_mount(&json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}}))
        .unwrap();
    assert_eq!(m.tmpfs_options, vec!["size=1048576", "mode=1777"]);
    let m = parse_mount(&json!({"Type": "volume", "Target": "/v", "VolumeOptions": {"NoCopy": true, "Subpath": "sub", "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}}))
        .unwrap();
    assert!(m.no_copy && m.subpath == "sub" && m.driver_opts["type"] == "tmpfs");
    let err = |v: serde_json::Value| parse_mount(&v).unwrap_err().to_string();
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
    assert!(
        err(json!({"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "../up"}}))
            .contains("subpath")
    );
    assert!(err(json!({"Type": "volume", "Target": "/x", "Bogus": 1})).contains("Bogus"));
    assert!(err(json!({"Type": "tmpfs", "Target": "/"})).contains("destination can't be '/'"));
}

#[test]
fn tmpfs_options_and_names() {
    let m = parse_tmpfs("/run", "rw,size=64m,noexec").unwrap();
    assert_eq!(m.tmpfs_options, vec!["size=64m", "noexec"]);
    assert!(parse_tmpfs("run", "").is_err());
    assert!(check_volume_name("db_1.data-x").is_ok());
    assert!(check_volume_name("a").is_err());
    assert!(check_volume_name("-a").is_err());
    assert!(check_volume_name("a/b").is_err());
    assert_eq!(clean_target("//a/./b/"), "/a/b");
}
