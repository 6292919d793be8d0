//! Nothing a user asks for is taken and dropped: every create option berth does not implement
//! yet is refused with an error naming it, through berth, the docker CLI, the raw API and
//! docker-py; and request bodies as Go clients send them (nil maps and slices as `null`) are
//! taken.
//!
//! When an option is implemented, its row leaves `REFUSED_FLAGS` (and its field leaves the
//! refused set in `crates/container/src/unsupported.rs`) in the same change.

use berth_tests::Daemon;
use serde_json::Value;

/// `run` options berth does not implement yet, and the field or words its error names.
const REFUSED_FLAGS: &[(&[&str], &str)] = &[
    (&["--device", "/dev/null:/dev/x"], "HostConfig.Devices"),
    (&["--log-driver", "syslog"], "log driver \"syslog\""),
    (&["--log-opt", "labels=a"], "log option \"labels\""),
    (&["--sysctl", "net.ipv4.ip_forward=1"], "HostConfig.Sysctls"),
    (&["--init"], "HostConfig.Init"),
    (&["--security-opt", "apparmor=berth-test"], "--security-opt"),
    (&["--ipc", "container:other"], "HostConfig.IpcMode"),
    (&["--pid", "container:other"], "HostConfig.PidMode"),
    (&["--cgroupns", "private"], "HostConfig.CgroupnsMode"),
];

#[test]
fn options_berth_lacks_are_refused_by_name_and_leave_nothing() {
    let (d, _reg) = Daemon::with_busybox();
    for (flags, named) in REFUSED_FLAGS {
        for cli in ["berth", "docker"] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["busybox", "true"]);
            let out = if cli == "berth" {
                d.berth(&args)
            } else {
                d.docker(&args)
            };
            assert_eq!(out.code, 125, "{cli} {flags:?}: {out:?}");
            // berth's CLI may not have the flag at all yet: then it says so, naming it.
            let unknown_flag = cli == "berth"
                && out
                    .stderr
                    .starts_with(&format!("unknown flag: {}\n", flags[0]));
            assert!(
                unknown_flag
                    || (out.stderr.contains("not supported yet") && out.stderr.contains(named)),
                "{cli} {flags:?}: {}",
                out.stderr
            );
        }
    }
    let left = d.berth(&["ps", "-aq"]).ok();
    assert_eq!(left.stdout, "", "containers left behind");
}

#[test]
fn a_platform_the_image_is_not_for_is_refused() {
    let (d, reg) = Daemon::with_busybox();
    let (status, _, resp) = d.http(
        "POST",
        "/containers/create?platform=linux/s390x",
        Some(r#"{"Image":"busybox"}"#),
    );
    assert_eq!(status, 404, "{resp}");
    assert!(
        resp.contains(
            "does not match the specified platform: wanted linux/s390x, actual: linux/amd64"
        ),
        "{resp}"
    );
    // The docker CLI then pulls for that platform, as from dockerd; the test registry has
    // none for it.
    let image = format!("{}/library/busybox", reg.addr);
    let out = d.docker(&["create", "--platform", "linux/s390x", &image]);
    assert_ne!(out.code, 0, "{out:?}");
    d.docker(&["create", "--platform", "linux/amd64", "busybox"])
        .ok();
    let (status, _, resp) = d.http(
        "POST",
        "/containers/create?platform=linux",
        Some(r#"{"Image":"busybox"}"#),
    );
    assert_eq!(status, 201, "{resp}");
}

/// The docker CLI 28's create body for `docker run --rm busybox …`, as traced against dockerd.
const CLI28_BODY: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

/// What Docker Compose v2 sends (the Go client's structs with nil maps, slices and
/// pointers): `null` wherever a field is unset.
const COMPOSE_BODY: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["true"],"Healthcheck":null,"Image":"busybox","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"com.docker.compose.project":"app","com.docker.compose.service":"web"},"StopSignal":"","HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":null},"NetworkMode":"default","PortBindings":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"Annotations":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":null,"DnsOptions":null,"DnsSearch":null,"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"StorageOpt":null,"Tmpfs":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Sysctls":null,"Runtime":"","Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":null,"MaskedPaths":null,"ReadonlyPaths":null,"Init":null},"NetworkingConfig":null}"#;

/// What docker-py 7 sends for `containers.create('busybox', 'true')`.
const DOCKER_PY_BODY: &str = r#"{"Hostname":null,"Domainname":null,"ExposedPorts":null,"User":null,"Tty":false,"OpenStdin":false,"StdinOnce":false,"AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":null,"NetworkDisabled":false,"Entrypoint":null,"WorkingDir":null,"HostConfig":{"NetworkMode":"default"},"NetworkingConfig":null,"MacAddress":null,"Labels":null,"StopSignal":null,"Healthcheck":null,"StopTimeout":null,"Runtime":null}"#;

/// Every zero-valued member of `v`, at any depth, replaced by `null`.
fn nulled(v: &mut Value) {
    if let Value::Object(o) = v {
        for x in o.values_mut() {
            let zero = match x {
                Value::Bool(b) => !*b,
                Value::Number(n) => n.as_f64() == Some(0.0),
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty() || a.iter().all(|e| e == &Value::from(0)),
                Value::Object(o) => o.is_empty(),
                Value::Null => true,
            };
            if zero {
                *x = Value::Null;
            } else {
                nulled(x);
            }
        }
    }
}

#[test]
fn bodies_of_real_clients_with_nulls_everywhere_are_taken() {
    let (d, _reg) = Daemon::with_busybox();
    let mut all_null: Value = serde_json::from_str(CLI28_BODY).unwrap();
    nulled(&mut all_null);
    let all_null = all_null.to_string();
    assert!(
        all_null.contains(r#""RestartPolicy":{"MaximumRetryCount":null,"Name":"no"}"#)
            || all_null.contains(r#""RestartPolicy":{"Name":"no","MaximumRetryCount":null}"#)
    );
    for (what, body) in [
        ("docker CLI 28", CLI28_BODY),
        ("docker CLI 28, nulls", all_null.as_str()),
        ("Compose v2", COMPOSE_BODY),
        ("docker-py", DOCKER_PY_BODY),
    ] {
        let (status, _, resp) = d.http("POST", "/v1.47/containers/create", Some(body));
        assert_eq!(status, 201, "{what}: {resp}");
        let id = serde_json::from_str::<Value>(&resp).unwrap()["Id"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, _, resp) = d.http("POST", &format!("/containers/{id}/start"), None);
        assert_eq!(status, 204, "{what}: {resp}");
        let (_, _, resp) = d.http("POST", &format!("/containers/{id}/wait"), None);
        assert!(resp.contains(r#""StatusCode":0"#), "{what}: {resp}");
        let (status, _, inspect) = d.http("GET", &format!("/containers/{id}/json"), None);
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&inspect).unwrap();
        assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file", "{what}");
        d.http("DELETE", &format!("/containers/{id}"), None);
    }
}

#[test]
fn the_api_refuses_fields_by_name_and_docker_py_raises() {
    let (d, _reg) = Daemon::with_busybox();
    let body = r#"{"Image":"busybox","HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"}}}"#;
    let (status, _, resp) = d.http("POST", "/containers/create", Some(body));
    assert_eq!(status, 400, "{resp}");
    let msg = serde_json::from_str::<Value>(&resp).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("HostConfig.Sysctls (--sysctl) is not supported yet"),
        "{msg}"
    );
    let (status, _, resp) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"FancyNewThing":{"on":true}}}"#),
    );
    assert_eq!(status, 400, "{resp}");
    assert!(resp.contains("HostConfig.FancyNewThing"), "{resp}");
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
for kw in ({'log_config': {'type': 'syslog'}}, {'sysctls': {'net.ipv4.ip_forward': '1'}}):
    try:
        c.containers.run('busybox', 'true', remove=True, **kw)
        raise AssertionError('taken: %r' % kw)
    except docker.errors.APIError as e:
        assert e.status_code == 400 and 'not supported yet' in str(e), (kw, e)
assert c.containers.list(all=True) == []
print('ok')
"#;
    d.docker_py(script);
}
