//! Tests of the assembled spec, against a fake host shaped like the build machine.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::*;

use super::caps::caps_from_mask;
use super::host::{bounding_set, online_cpus, Host};
use super::*;
use oci_spec::runtime::LinuxSeccompAction;

/// This machine's shape: two CPUs, cgroup v1, and no CAP_SYS_RESOURCE.
pub(super) fn host() -> Host {
    Host {
        cpus: 2,
        bounding: Some(caps_from_mask(0x1fffeffffff)),
        cgroup_v2: false,
        swap_limit: true,
        nofile_hard: Some(20000),
        oom_score_adj: 0,
        net_sysctls: vec![
            ("net.ipv4.ping_group_range", "0 2147483647"),
            ("net.ipv4.ip_unprivileged_port_start", "0"),
        ],
        thermal_throttle: Vec::new(),
    }
}

pub(super) fn opts() -> SpecOptions {
    SpecOptions {
        rootfs: "/var/lib/berth/containers/abc/rootfs".into(),
        args: vec!["sh".into(), "-c".into(), "true".into()],
        env: vec!["PATH=/usr/bin:/bin".into(), "HOSTNAME=abc".into()],
        hostname: "abc".into(),
        cgroups_path: "/berth/abc".into(),
        etc_files: vec![
            (
                "/var/lib/berth/containers/abc/hostname".into(),
                "/etc/hostname",
            ),
            ("/var/lib/berth/containers/abc/hosts".into(), "/etc/hosts"),
            (
                "/var/lib/berth/containers/abc/resolv.conf".into(),
                "/etc/resolv.conf",
            ),
        ],
        ..SpecOptions::default()
    }
}

pub(super) fn build(o: &SpecOptions) -> Spec {
    build_spec_on(o, &host()).unwrap()
}

pub(super) fn err(o: &SpecOptions) -> String {
    build_spec_on(o, &host()).unwrap_err().to_string()
}

pub(super) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(super) fn mount_at<'a>(s: &'a Spec, dest: &str) -> Option<&'a Mount> {
    s.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new(dest))
}

pub(super) fn mount_opts(s: &Spec, dest: &str) -> Vec<String> {
    mount_at(s, dest).unwrap().options().clone().unwrap()
}

pub(super) fn linux(s: &Spec) -> &Linux {
    s.linux().as_ref().unwrap()
}

pub(super) fn resources_of(s: &Spec) -> &LinuxResources {
    linux(s).resources().as_ref().unwrap()
}

pub(super) fn cap_names(s: &Spec) -> HashSet<String> {
    let caps = s
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .as_ref()
        .unwrap();
    let b = caps.bounding().as_ref().unwrap();
    assert_eq!(Some(b), caps.effective().as_ref());
    assert_eq!(Some(b), caps.permitted().as_ref());
    assert!(caps.inheritable().is_none() && caps.ambient().is_none());
    serde_json::to_value(b)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

pub(super) fn set(v: &[&str]) -> HashSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn defaults_match_docker() {
    let s = build(&opts());
    let dests: Vec<_> = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().clone())
        .collect();
    let expected = [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ];
    assert_eq!(dests, expected.map(PathBuf::from));
    assert_eq!(
        mount_opts(&s, "/proc"),
        strings(&["nosuid", "noexec", "nodev"])
    );
    assert_eq!(
        mount_opts(&s, "/dev"),
        strings(&["nosuid", "strictatime", "mode=755", "size=65536k"])
    );
    assert_eq!(
        mount_opts(&s, "/dev/pts"),
        strings(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ])
    );
    assert_eq!(
        mount_opts(&s, "/sys"),
        strings(&["nosuid", "noexec", "nodev", "ro"])
    );
    assert_eq!(
        mount_opts(&s, "/sys/fs/cgroup"),
        strings(&["ro", "nosuid", "noexec", "nodev"])
    );
    assert_eq!(
        mount_opts(&s, "/dev/shm"),
        strings(&["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"])
    );
    let hosts = mount_at(&s, "/etc/hosts").unwrap();
    assert_eq!(hosts.typ().as_deref(), Some("bind"));
    assert_eq!(
        hosts.source().as_deref(),
        Some(Path::new("/var/lib/berth/containers/abc/hosts"))
    );
    assert_eq!(
        mount_opts(&s, "/etc/hosts"),
        strings(&["rbind", "rprivate"])
    );

    assert_eq!(cap_names(&s), set(DEFAULT_CAPABILITIES));
    let p = s.process().as_ref().unwrap();
    assert_eq!(
        p.args().as_deref(),
        Some(&strings(&["sh", "-c", "true"])[..])
    );
    assert_eq!(p.cwd(), Path::new("/"));
    assert_eq!(p.user().additional_gids().as_deref(), Some(&[0][..]));
    assert_eq!(p.rlimits(), &None);
    assert_eq!(p.no_new_privileges(), None);
    assert_eq!(p.oom_score_adj(), Some(0));
    assert_eq!(p.terminal(), Some(false));

    assert_eq!(s.hostname().as_deref(), Some("abc"));
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(false));
    let l = linux(&s);
    let ns: Vec<_> = l
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect();
    use LinuxNamespaceType::*;
    assert_eq!(ns, [Mount, Network, Uts, Pid, Ipc].map(|t| (t, None)));
    assert_eq!(l.cgroups_path().as_deref(), Some(Path::new("/berth/abc")));
    let masked = l.masked_paths().as_ref().unwrap();
    assert_eq!(masked.len(), 12);
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/interrupts",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ] {
        assert!(masked.iter().any(|m| m == p), "{p} not masked");
    }
    assert_eq!(
        l.readonly_paths().as_deref(),
        Some(
            &strings(&[
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ])[..]
        )
    );
    assert_eq!(l.devices().as_deref(), Some(&[][..]));
    let rules = resources_of(&s).devices().as_ref().unwrap();
    assert_eq!(rules[0].to_string(), "a *:* rwm");
    assert!(!rules[0].allow());
    let allowed: Vec<String> = rules
        .iter()
        .filter(|r| r.allow())
        .map(|r| r.to_string())
        .collect();
    for r in [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:9 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
        "c 10:200 rwm",
    ] {
        assert!(allowed.iter().any(|a| a == r), "{r} not allowed");
    }
    assert!(resources_of(&s).memory().is_none() && resources_of(&s).cpu().is_none());
    assert!(l.seccomp().is_some());
    let sysctl = l.sysctl().as_ref().unwrap();
    assert_eq!(sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
    assert_eq!(sysctl["net.ipv4.ping_group_range"], "0 2147483647");
}

#[test]
fn cgroup_v2_gets_a_cgroup_namespace() {
    let h = Host {
        cgroup_v2: true,
        ..host()
    };
    let s = build_spec_on(&opts(), &h).unwrap();
    let ns = linux(&s).namespaces().as_ref().unwrap();
    assert!(ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
}

#[test]
fn cap_sys_admin_opens_seccomp_groups() {
    let allows_mount = |s: &Spec| {
        let sc = linux(s).seccomp().as_ref().unwrap();
        sc.syscalls().as_ref().unwrap().iter().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow && r.names().iter().any(|n| n == "mount")
        })
    };
    assert!(!allows_mount(&build(&opts())));
    let o = SpecOptions {
        cap_add: strings(&["SYS_ADMIN"]),
        ..opts()
    };
    assert!(allows_mount(&build(&o)));
}

#[test]
fn privileged() {
    let o = SpecOptions {
        privileged: true,
        ..opts()
    };
    let s = build(&o);
    let got = cap_names(&s);
    assert_eq!(got.len(), 40, "every cap in our bounding set");
    assert!(!got.contains("CAP_SYS_RESOURCE"));
    let l = linux(&s);
    assert!(l.seccomp().is_none());
    assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    assert!(!mount_opts(&s, "/sys").contains(&"ro".to_string()));
    assert!(!mount_opts(&s, "/sys/fs/cgroup").contains(&"ro".to_string()));
    let rules = resources_of(&s).devices().as_ref().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].to_string(), "a *:* rwm");
    assert!(rules[0].allow());
    let null = l
        .devices()
        .as_ref()
        .unwrap()
        .iter()
        .find(|d| d.path() == Path::new("/dev/null"))
        .expect("/dev/null among the host devices");
    assert_eq!(
        (null.typ(), null.major(), null.minor()),
        (LinuxDeviceType::C, 1, 3)
    );
    assert!(l
        .devices()
        .as_ref()
        .unwrap()
        .iter()
        .all(|d| !d.path().starts_with("/dev/pts")));
}

#[test]
fn seccomp_unconfined_keeps_the_rest() {
    let s = build(&SpecOptions {
        seccomp_unconfined: true,
        ..opts()
    });
    assert!(linux(&s).seccomp().is_none());
    assert!(linux(&s).masked_paths().is_some());
    assert_eq!(cap_names(&s), set(DEFAULT_CAPABILITIES));
}

#[test]
fn namespace_modes() {
    let o = SpecOptions {
        network: NamespaceMode::Path("/run/berth/netns/abc".into()),
        ipc: NamespaceMode::Host,
        pid: NamespaceMode::Path("/proc/42/ns/pid".into()),
        uts_host: true,
        ..opts()
    };
    let s = build(&o);
    let ns = linux(&s).namespaces().clone().unwrap();
    let find = |t| ns.iter().find(|n| n.typ() == t);
    assert_eq!(
        find(LinuxNamespaceType::Network).unwrap().path().as_deref(),
        Some(Path::new("/run/berth/netns/abc"))
    );
    assert_eq!(
        find(LinuxNamespaceType::Pid).unwrap().path().as_deref(),
        Some(Path::new("/proc/42/ns/pid"))
    );
    assert!(find(LinuxNamespaceType::Ipc).is_none());
    assert!(find(LinuxNamespaceType::Uts).is_none());
    assert!(find(LinuxNamespaceType::Mount).is_some());
    assert_eq!(s.hostname(), &None);
    // A joined netns is the container's own, so Docker's sysctls still apply.
    assert!(linux(&s).sysctl().is_some());

    let s = build(&SpecOptions {
        network: NamespaceMode::Host,
        ..opts()
    });
    assert!(linux(&s)
        .namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .all(|n| n.typ() != LinuxNamespaceType::Network));
    assert!(linux(&s).sysctl().is_none());
    assert!(mount_opts(&s, "/sys").contains(&"ro".to_string()));
}

#[test]
fn process_fields() {
    let o = SpecOptions {
        terminal: true,
        cwd: "/work".into(),
        uid: 1000,
        gid: 1000,
        additional_gids: vec![1000, 27, 100],
        no_new_privileges: true,
        rlimits_nofile: Some((1_048_576, 1_048_576)),
        ..opts()
    };
    let s = build(&o);
    let p = s.process().as_ref().unwrap();
    assert_eq!(p.terminal(), Some(true));
    assert_eq!(p.cwd(), Path::new("/work"));
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(
        p.user().additional_gids().as_deref(),
        Some(&[1000, 27, 100][..])
    );
    assert_eq!(p.no_new_privileges(), Some(true));
    let r = p.rlimits().as_ref().unwrap();
    assert_eq!(
        (r[0].typ(), r[0].soft(), r[0].hard()),
        (PosixRlimitType::RlimitNofile, 20000, 20000)
    );

    let s = build(&SpecOptions {
        rlimits_nofile: Some((1024, 4096)),
        ..opts()
    });
    let r = &s.process().as_ref().unwrap().rlimits().as_ref().unwrap()[0];
    assert_eq!((r.soft(), r.hard()), (1024, 4096));

    let s = build_spec_on(
        &opts(),
        &Host {
            oom_score_adj: 300,
            ..host()
        },
    )
    .unwrap();
    assert_eq!(s.process().as_ref().unwrap().oom_score_adj(), Some(300));

    assert_eq!(
        err(&SpecOptions {
            cwd: "work".into(),
            ..opts()
        }),
        "the working directory 'work' is invalid, it needs to be an absolute path"
    );
    let s = build(&SpecOptions {
        cwd: String::new(),
        ..opts()
    });
    assert_eq!(s.process().as_ref().unwrap().cwd(), Path::new("/"));
    assert!(matches!(
        build_spec_on(
            &SpecOptions {
                rootfs: "rootfs".into(),
                ..opts()
            },
            &host()
        ),
        Err(SpecError::RelativeRootfs(_))
    ));
}

#[test]
fn json_round_trip() {
    let s = build(&SpecOptions {
        cap_add: strings(&["NET_ADMIN"]),
        ..opts()
    });
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["ociVersion"], oci_spec::runtime::VERSION);
    assert_eq!(json["root"]["path"], "/var/lib/berth/containers/abc/rootfs");
    assert_eq!(json["linux"]["cgroupsPath"], "/berth/abc");
    assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(
        json["linux"]["resources"]["devices"][0],
        serde_json::json!({"allow": false, "access": "rwm"})
    );
    assert!(json["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .contains(&"CAP_NET_ADMIN".into()));
    assert!(json["process"].get("rlimits").is_none());
    let back: Spec = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn write_spec_writes_config_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = build(&opts());
    write_spec(&s, dir.path()).unwrap();
    assert_eq!(Spec::load(dir.path().join("config.json")).unwrap(), s);
    // Overwrites in place and leaves no temporary behind.
    write_spec(&s, dir.path()).unwrap();
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["config.json", "process.json"]);
    // The process execs start from is the spec's own.
    assert_eq!(Some(read_process(dir.path()).unwrap()), s.process().clone());
    let missing = dir.path().join("nope");
    assert!(matches!(
        write_spec(&s, &missing),
        Err(SpecError::Io { .. })
    ));
}

#[test]
fn builds_on_this_host() {
    let s = build_spec(&opts()).unwrap();
    assert_eq!(cap_names(&s), set(DEFAULT_CAPABILITIES));
    let bnd = bounding_set().expect("CapBnd readable");
    assert!(DEFAULT_CAPABILITIES.iter().all(|c| bnd.contains(c)));
    assert!(online_cpus() >= 1);
}
