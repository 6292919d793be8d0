use super::*;
use clap::Parser;

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct T {
    #[command(flatten)]
    opts: ContainerOpts,
    #[arg(trailing_var_arg = true)]
    args: Vec<String>,
}

fn body(args: &[&str], lookup: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let t = T::try_parse_from(std::iter::once("create").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    t.opts.create_body(&t.args[0], &t.args[1..], lookup, (0, 0))
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// The body docker CLI 28 sent for `run --rm busybox sh -c '…'` (docker-cli28-api-trace.txt).
const DOCKER_DEFAULT: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["sh","-c","echo to-stdout; echo to-stderr \u003e\u00262; exit 3"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

/// The body docker CLI 28.2.2 sends for the flags in `every_flag_like_docker`, captured.
const DOCKER_RICH: &str = r#"{"Hostname":"host1","Domainname":"","User":"1000","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"53/udp":{},"80/tcp":{},"9000/tcp":{}},"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":["BAR=2"],"Cmd":["-c","echo hi"],"Image":"busybox","Volumes":{"/anon":{}},"WorkingDir":"/w","Entrypoint":["/bin/sh"],"OnBuild":null,"Labels":{"a":"b"},"StopSignal":"SIGUSR1","StopTimeout":5,"HostConfig":{"Binds":["/tmp:/data:ro","named:/n"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{"max-size":"1m"}},"NetworkMode":"mynet","PortBindings":{"53/udp":[{"HostIp":"127.0.0.1","HostPort":"53"}],"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":["CAP_NET_ADMIN"],"CapDrop":["ALL"],"CgroupnsMode":"","Dns":["8.8.8.8"],"DnsOptions":[],"DnsSearch":["example.com"],"ExtraHosts":["h:1.2.3.4"],"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":true,"PublishAllPorts":false,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],"Tmpfs":{"/run":"size=1m"},"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Sysctls":{"net.ipv4.ip_forward":"1"},"Isolation":"","CpuShares":0,"Memory":1073741824,"NanoCpus":1500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":-1,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":10,"Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"bind","Source":"/tmp","Target":"/x","ReadOnly":true}],"MaskedPaths":null,"ReadonlyPaths":null,"Init":true},"NetworkingConfig":{"EndpointsConfig":{"mynet":{"IPAMConfig":{"IPv4Address":"10.1.0.9"},"Links":null,"Aliases":["db"],"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

#[test]
fn default_body_like_docker() {
    let b = body(
        &[
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; exit 3",
        ],
        &no_env,
    )
    .unwrap();
    assert_eq!(crate::format::go_json(&b), DOCKER_DEFAULT);
    assert_eq!(
        AttachSpec::of(&b),
        AttachSpec {
            stdin: false,
            stdout: true,
            stderr: true,
            tty: false,
            auto_remove: true
        }
    );
}

#[test]
fn every_flag_like_docker() {
    let args = [
        "-e",
        "BAR=1",
        "-e",
        "BAR=2",
        "-m",
        "1g",
        "--cpus",
        "1.5",
        "-p",
        "8080:80",
        "-p",
        "127.0.0.1:53:53/udp",
        "--expose",
        "9000",
        "-v",
        "/tmp:/data:ro",
        "-v",
        "named:/n",
        "-v",
        "/anon",
        "--tmpfs",
        "/run:size=1m",
        "--mount",
        "type=bind,src=/tmp,dst=/x,readonly",
        "--init",
        "--restart",
        "on-failure:3",
        "--cap-add",
        "net_admin",
        "--cap-drop",
        "ALL",
        "--add-host",
        "h:1.2.3.4",
        "--dns",
        "8.8.8.8",
        "--dns-search",
        "example.com",
        "-l",
        "a=b",
        "--entrypoint",
        "/bin/sh",
        "-w",
        "/w",
        "-u",
        "1000",
        "-h",
        "host1",
        "--read-only",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "5",
        "--pids-limit",
        "10",
        "--memory-swap",
        "-1",
        "--shm-size",
        "64m",
        "--security-opt",
        "no-new-privileges",
        "--privileged",
        "--ulimit",
        "nofile=1024:2048",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--log-opt",
        "max-size=1m",
        "--network",
        "name=mynet,alias=db",
        "--ip",
        "10.1.0.9",
        "-it",
        "busybox",
        "-c",
        "echo hi",
    ];
    let b = body(&args, &no_env).unwrap();
    assert_eq!(crate::format::go_json(&b), DOCKER_RICH);
}

#[test]
fn env_attach_and_network_rules() {
    let lookup = |k: &str| (k == "SET_X").then(|| "v".to_string());
    let b = body(
        &["-e", "SET_X", "-e", "UNSET_Y", "-a", "stderr", "busybox"],
        &lookup,
    )
    .unwrap();
    assert_eq!(b["Env"], json!(["SET_X=v", "UNSET_Y"]));
    assert_eq!(
        (b["AttachStdout"].clone(), b["AttachStderr"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(b["Cmd"], Value::Null);
    let b = body(&["--network", "host", "busybox"], &no_env).unwrap();
    assert_eq!(b["HostConfig"]["NetworkMode"], "host");
    assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}));
    let b = body(&["--entrypoint", "", "busybox"], &no_env).unwrap();
    assert_eq!(b["Entrypoint"], json!([""]));
    assert_eq!(
        body(&["--rm", "--restart", "always", "busybox"], &no_env).unwrap_err(),
        "conflicting options: cannot specify both --restart and --rm"
    );
    assert_eq!(
        body(&["--network-alias", "x", "busybox"], &no_env).unwrap_err(),
        "network-scoped aliases are only supported for user-defined networks"
    );
    assert_eq!(
        body(
            &["--network", "host", "--network", "mynet", "busybox"],
            &no_env
        )
        .unwrap_err(),
        "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
    );
    assert!(body(&["-m", "x", "busybox"], &no_env)
        .unwrap_err()
        .contains("invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'"));
    let b = body(
        &["--security-opt", "systempaths=unconfined", "busybox"],
        &no_env,
    )
    .unwrap();
    assert_eq!(b["HostConfig"]["MaskedPaths"], json!([]));
    assert_eq!(b["HostConfig"]["SecurityOpt"], json!([]));
}
