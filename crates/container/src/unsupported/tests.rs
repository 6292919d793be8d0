use serde_json::{json, Value};

use super::*;

/// Every field of the Engine API 1.47 create body (`ContainerConfig` and `HostConfig`, from
/// the swagger definitions), each with a value a user could set.
fn fields_of_the_1_47_create_body() -> Vec<(&'static str, &'static str, Value)> {
    let c = |f, v| ("Config", f, v);
    let h = |f, v| ("HostConfig", f, v);
    vec![
        c("Hostname", json!("web")),
        c("Domainname", json!("example.org")),
        c("User", json!("1000")),
        c("AttachStdin", json!(true)),
        c("AttachStdout", json!(true)),
        c("AttachStderr", json!(true)),
        c("ExposedPorts", json!({"80/tcp": {}})),
        c("Tty", json!(true)),
        c("OpenStdin", json!(true)),
        c("StdinOnce", json!(true)),
        c("Env", json!(["A=1"])),
        c("Cmd", json!(["true"])),
        c("Healthcheck", json!({"Test": ["CMD", "true"]})),
        c("ArgsEscaped", json!(true)),
        c("Image", json!("busybox")),
        c("Volumes", json!({"/data": {}})),
        c("WorkingDir", json!("/tmp")),
        c("Entrypoint", json!(["sh"])),
        c("NetworkDisabled", json!(true)),
        c("MacAddress", json!("02:42:ac:11:00:02")),
        c("OnBuild", json!(["RUN true"])),
        c("Labels", json!({"a": "b"})),
        c("StopSignal", json!("SIGINT")),
        c("StopTimeout", json!(3)),
        c("Shell", json!(["/bin/sh", "-c"])),
        h("CpuShares", json!(512)),
        h("Memory", json!(6291456)),
        h("CgroupParent", json!("/mine")),
        h("BlkioWeight", json!(300)),
        h(
            "BlkioWeightDevice",
            json!([{"Path": "/dev/sda", "Weight": 10}]),
        ),
        h(
            "BlkioDeviceReadBps",
            json!([{"Path": "/dev/sda", "Rate": 1}]),
        ),
        h(
            "BlkioDeviceWriteBps",
            json!([{"Path": "/dev/sda", "Rate": 1}]),
        ),
        h(
            "BlkioDeviceReadIOps",
            json!([{"Path": "/dev/sda", "Rate": 1}]),
        ),
        h(
            "BlkioDeviceWriteIOps",
            json!([{"Path": "/dev/sda", "Rate": 1}]),
        ),
        h("CpuPeriod", json!(50000)),
        h("CpuQuota", json!(25000)),
        h("CpuRealtimePeriod", json!(1000)),
        h("CpuRealtimeRuntime", json!(100)),
        h("CpusetCpus", json!("0")),
        h("CpusetMems", json!("0")),
        h(
            "Devices",
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]),
        ),
        h("DeviceCgroupRules", json!(["c 1:3 rwm"])),
        h("DeviceRequests", json!([{"Count": -1}])),
        h("KernelMemoryTCP", json!(1024)),
        h("MemoryReservation", json!(6291456)),
        h("MemorySwap", json!(12582912)),
        h("MemorySwappiness", json!(10)),
        h("NanoCpus", json!(500000000)),
        h("OomKillDisable", json!(true)),
        h("Init", json!(true)),
        h("PidsLimit", json!(10)),
        h(
            "Ulimits",
            json!([{"Name": "nofile", "Soft": 10, "Hard": 10}]),
        ),
        h("CpuCount", json!(1)),
        h("CpuPercent", json!(50)),
        h("IOMaximumIOps", json!(10)),
        h("IOMaximumBandwidth", json!(10)),
        h("Binds", json!(["/tmp:/tmp"])),
        h("ContainerIDFile", json!("/tmp/cid")),
        h("LogConfig", json!({"Type": "syslog", "Config": {}})),
        h("NetworkMode", json!("host")),
        h(
            "PortBindings",
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
        ),
        h("RestartPolicy", json!({"Name": "always"})),
        h("AutoRemove", json!(true)),
        h("VolumeDriver", json!("convoy")),
        h("VolumesFrom", json!(["other"])),
        h("Mounts", json!([{"Type": "volume", "Target": "/data"}])),
        h("ConsoleSize", json!([24, 80])),
        h("Annotations", json!({"a": "b"})),
        h("CapAdd", json!(["NET_ADMIN"])),
        h("CapDrop", json!(["CHOWN"])),
        h("CgroupnsMode", json!("private")),
        h("Dns", json!(["10.0.0.1"])),
        h("DnsOptions", json!(["ndots:2"])),
        h("DnsSearch", json!(["example.org"])),
        h("ExtraHosts", json!(["gw:host-gateway"])),
        h("GroupAdd", json!(["10"])),
        h("IpcMode", json!("container:other")),
        h("Cgroup", json!("container:other")),
        h("Links", json!(["other:alias"])),
        h("OomScoreAdj", json!(100)),
        h("PidMode", json!("container:other")),
        h("Privileged", json!(true)),
        h("PublishAllPorts", json!(true)),
        h("ReadonlyRootfs", json!(true)),
        h("SecurityOpt", json!(["apparmor=docker-default"])),
        h("StorageOpt", json!({"size": "1G"})),
        h("Tmpfs", json!({"/run": ""})),
        h("UTSMode", json!("container:other")),
        h("UsernsMode", json!("private")),
        h("ShmSize", json!(1048576)),
        h("Sysctls", json!({"net.ipv4.ip_forward": "1"})),
        h("Runtime", json!("runc")),
        h("Isolation", json!("hyperv")),
        h("MaskedPaths", json!(["/proc/kcore"])),
        h("ReadonlyPaths", json!(["/proc/sys"])),
    ]
}

fn body_with(section: &str, field: &str, v: Value) -> Value {
    if section == "HostConfig" {
        json!({ "Image": "busybox", "HostConfig": { field: v } })
    } else {
        json!({ "Image": "busybox", field: v })
    }
}

#[test]
fn every_field_of_the_create_body_is_honoured_or_refused_by_name() {
    let mut honoured = Vec::new();
    for (section, field, v) in fields_of_the_1_47_create_body() {
        match check_create(&body_with(section, field, v)) {
            Ok(()) => {
                let list = if section == "Config" {
                    CONFIG_HONOURED
                } else {
                    HOST_CONFIG_HONOURED
                };
                assert!(
                    list.contains(&field),
                    "{section}.{field} is taken but not listed as honoured"
                );
                honoured.push(field);
            }
            Err(Unsupported(msg)) => {
                assert!(
                    msg.contains(field) && msg.contains("not supported yet"),
                    "{section}.{field}: {msg}"
                );
            }
        }
    }
    // Every honoured field was met: the list is not wider than the API.
    for f in CONFIG_HONOURED.iter().chain(HOST_CONFIG_HONOURED) {
        assert!(
            honoured.contains(f),
            "{f} is listed as honoured but not in the 1.47 body"
        );
    }
}

#[test]
fn zero_values_and_defaults_pass() {
    // The docker CLI 28's body for `docker run --rm busybox sh -c …`, as traced against
    // dockerd: every field present, unset ones zero.
    let body: Value = serde_json::from_str(
        r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,
        "AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,
        "Env":null,"Cmd":["sh","-c","exit 3"],"Image":"busybox","Volumes":{},"WorkingDir":"",
        "Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,
        "ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default",
        "PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,
        "VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,
        "CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,
        "GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"",
        "Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,
        "UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,
        "NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],
        "BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],
        "BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,
        "CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],
        "DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,
        "MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,
        "CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,
        "ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{
        "IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,
        "GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"",
        "IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,
        "DNSNames":null}}}}"#,
    )
    .unwrap();
    check_create(&body).unwrap();
}

#[test]
fn values_berth_has_pass_and_others_are_named() {
    let ok = |hc: Value| check_create(&json!({ "HostConfig": hc })).unwrap();
    ok(json!({"IpcMode": "host", "PidMode": "host", "UTSMode": "host", "UsernsMode": "host"}));
    ok(json!({"LogConfig": {"Type": "json-file"}, "Isolation": "default"}));
    ok(json!({"SecurityOpt": ["seccomp=unconfined", "no-new-privileges", "label=disable"]}));
    ok(json!({"ExtraHosts": ["db:10.0.0.2"], "NetworkMode": "container:abc"}));
    let err = |hc: Value| check_create(&json!({ "HostConfig": hc })).unwrap_err().0;
    assert!(
        err(json!({"SecurityOpt": ["seccomp={\"defaultAction\":1}"]})).contains("--security-opt")
    );
    assert!(err(json!({"Frobnicate": 1})).contains("HostConfig.Frobnicate"));
    // Unknown fields at zero are what newer clients send: taken.
    ok(json!({"GwPriority": 0, "Frobnicate": ""}));
    // A HostConfig field at the top is not a Config field: not taken as honoured.
    let top = check_create(&json!({"Runtime": "runc"})).unwrap_err().0;
    assert!(top.contains("Runtime"), "{top}");
    check_create(&json!({"NetworkingConfig": {"EndpointsConfig": {
        "front": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.0.0.5", "IPv6Address": ""}}}}}))
    .unwrap();
    let net = check_create(&json!({"NetworkingConfig": {"EndpointsConfig": {
        "front": {"Links": ["db:db"]}}}}))
    .unwrap_err()
    .0;
    assert!(net.contains("EndpointsConfig.front.Links"), "{net}");
    let v6 = check_create(&json!({"NetworkingConfig": {"EndpointsConfig": {
        "front": {"IPAMConfig": {"IPv6Address": "fd00::5"}}}}}))
    .unwrap_err()
    .0;
    assert!(v6.contains("IPAMConfig"), "{v6}");
}

#[test]
fn nulls_are_absent() {
    let mut v = json!({"Env": null, "HostConfig": {"Binds": null, "LogConfig": null,
        "Ulimits": [null]}, "Labels": {"a": null}});
    strip_nulls(&mut v);
    assert_eq!(v, json!({"HostConfig": {"Ulimits": [null]}, "Labels": {}}));
}
