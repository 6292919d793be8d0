//! The flags `run` and `create` share, and the `POST /containers/create` body they make: the
//! Config, HostConfig and NetworkingConfig objects with the fields, defaults and key order the
//! docker CLI sends, so the daemon sees the same request from berth as from docker.

use std::collections::BTreeMap;

use clap::{ArgAction, Args};
use serde_json::{json, Map, Value};

use super::netopts::{self, NetworkAttachment};
use super::parse::{self, flag};
use berth_volume::cli as mounts;

#[derive(Debug, Clone, Args)]
pub struct ContainerOpts {
    #[command(flatten)]
    pub health: health::HealthOpts,
    /// Assign a name to the container
    #[arg(long = "name", default_value = "", hide_default_value = true)]
    pub name: String,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", env = "DOCKER_DEFAULT_PLATFORM")]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_parser = flag("-a, --attach", parse::attach_stream))]
    pub attach: Vec<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_parser = flag("-e, --env", parse::validate_env))]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Container host name
    #[arg(
        short = 'h',
        long = "hostname",
        default_value = "",
        hide_default_value = true
    )]
    pub hostname: String,
    /// Container NIS domain name
    #[arg(long = "domainname", default_value = "", hide_default_value = true)]
    pub domainname: String,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_parser = flag("-l, --label", parse::validate_label))]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", default_value = "no")]
    pub restart: String,
    /// Signal to stop the container
    #[arg(long = "stop-signal", default_value = "", hide_default_value = true)]
    pub stop_signal: String,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_parser = flag("--stop-timeout", parse::go_int))]
    pub stop_timeout: Option<i64>,
    /// Sysctl options
    #[arg(long = "sysctl", value_parser = flag("--sysctl", parse::sysctl))]
    pub sysctl: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_parser = flag("--ulimit", parse::ulimit))]
    pub ulimit: Vec<Value>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(
        short = 'u',
        long = "user",
        default_value = "",
        hide_default_value = true
    )]
    pub user: String,
    /// Working directory inside the container
    #[arg(
        short = 'w',
        long = "workdir",
        default_value = "",
        hide_default_value = true
    )]
    pub workdir: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,

    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// User namespace to use
    #[arg(long = "userns", default_value = "", hide_default_value = true)]
    pub userns: String,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", default_value = "", hide_default_value = true)]
    pub cgroupns: String,

    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_parser = flag("--add-host", parse::extra_host))]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_parser = flag("--dns", parse::ip_address))]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", visible_alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", default_value = "", hide_default_value = true)]
    pub ip: String,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", default_value = "", hide_default_value = true)]
    pub ip6: String,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", default_value = "", hide_default_value = true)]
    pub mac_address: String,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_parser = flag("--network", netopts::network))]
    pub network: Vec<NetworkAttachment>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,

    /// Logging driver for the container
    #[arg(long = "log-driver", default_value = "", hide_default_value = true)]
    pub log_driver: String,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_parser = flag("--mount", mounts::mount))]
    pub mount: Vec<Value>,

    /// Write the container ID to the file
    #[arg(long = "cidfile", default_value = "", hide_default_value = true)]
    pub cidfile: String,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", default_value = "", hide_default_value = true)]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", default_value = "", hide_default_value = true)]
    pub cpuset_mems: String,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", default_value = "0", value_parser = flag("--cpu-period", parse::go_int))]
    pub cpu_period: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", default_value = "0", value_parser = flag("--cpu-quota", parse::go_int))]
    pub cpu_quota: i64,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", default_value = "0", value_parser = flag("-c, --cpu-shares", parse::go_int))]
    pub cpu_shares: i64,
    /// Number of CPUs
    #[arg(long = "cpus", default_value = "0", value_parser = flag("--cpus", parse::parse_cpus))]
    pub cpus: i64,
    /// Memory limit
    #[arg(short = 'm', long = "memory", default_value = "0", value_parser = flag("-m, --memory", parse::ram_in_bytes))]
    pub memory: i64,
    /// Memory soft limit
    #[arg(long = "memory-reservation", default_value = "0", value_parser = flag("--memory-reservation", parse::ram_in_bytes))]
    pub memory_reservation: i64,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", default_value = "0", value_parser = flag("--memory-swap", parse::mem_swap), allow_hyphen_values = true)]
    pub memory_swap: i64,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", default_value = "-1", value_parser = flag("--memory-swappiness", parse::go_int), allow_hyphen_values = true)]
    pub memory_swappiness: i64,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", default_value = "0", value_parser = flag("--oom-score-adj", parse::go_int), allow_hyphen_values = true)]
    pub oom_score_adj: i64,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", default_value = "0", value_parser = flag("--pids-limit", parse::go_int), allow_hyphen_values = true)]
    pub pids_limit: i64,

    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", default_value = "", hide_default_value = true)]
    pub cgroup_parent: String,
    /// IPC mode to use
    #[arg(long = "ipc", default_value = "", hide_default_value = true)]
    pub ipc: String,
    /// PID namespace to use
    #[arg(long = "pid", default_value = "", hide_default_value = true)]
    pub pid: String,
    /// Size of /dev/shm
    #[arg(long = "shm-size", default_value = "0", value_parser = flag("--shm-size", parse::ram_in_bytes))]
    pub shm_size: i64,
    /// UTS namespace to use
    #[arg(long = "uts", default_value = "", hide_default_value = true)]
    pub uts: String,
    /// Runtime to use for this container
    #[arg(long = "runtime", default_value = "", hide_default_value = true)]
    pub runtime: String,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set, value_parser = flag("--init", parse::go_bool))]
    pub init: Option<bool>,
}

/// What the create body says about attaching, read back by `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachSpec {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    pub auto_remove: bool,
}

impl AttachSpec {
    pub fn of(body: &Value) -> AttachSpec {
        let b = |v: &Value| v.as_bool().unwrap_or(false);
        AttachSpec {
            stdin: b(&body["AttachStdin"]),
            stdout: b(&body["AttachStdout"]),
            stderr: b(&body["AttachStderr"]),
            tty: b(&body["Tty"]),
            auto_remove: b(&body["HostConfig"]["AutoRemove"]),
        }
    }

    pub fn any(&self) -> bool {
        self.stdin || self.stdout || self.stderr
    }
}

fn list(v: &[String]) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

fn kv_map(v: &[String]) -> Map<String, Value> {
    let sorted: BTreeMap<&str, &str> = v
        .iter()
        .map(|s| s.split_once('=').unwrap_or((s.as_str(), "")))
        .collect();
    sorted
        .into_iter()
        .map(|(k, v)| (k.into(), json!(v)))
        .collect()
}

/// docker's `container.NetworkMode.IsUserDefined`.
fn user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// One EndpointSettings object with every field the Go client marshals.
fn endpoint(n: &NetworkAttachment) -> Value {
    let ipam = if n.ipv4.is_empty() && n.ipv6.is_empty() && n.link_local_ips.is_empty() {
        Value::Null
    } else {
        let mut m = Map::new();
        if !n.ipv4.is_empty() {
            m.insert("IPv4Address".into(), json!(n.ipv4));
        }
        if !n.ipv6.is_empty() {
            m.insert("IPv6Address".into(), json!(n.ipv6));
        }
        if !n.link_local_ips.is_empty() {
            m.insert("LinkLocalIPs".into(), json!(n.link_local_ips));
        }
        Value::Object(m)
    };
    json!({
        "IPAMConfig": ipam, "Links": null, "Aliases": list(&n.aliases), "MacAddress": n.mac,
        "DriverOpts": if n.driver_opts.is_empty() { Value::Null } else { json!(n.driver_opts) },
        "GwPriority": n.gw_priority, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null
    })
}

impl ContainerOpts {
    /// docker's `parseNetworkOpts`: the EndpointsConfig map. A single network named without
    /// options is left out, as the Go client leaves it out.
    fn endpoints(&self) -> Result<Map<String, Value>, String> {
        let apply = |mut n: NetworkAttachment| -> Result<NetworkAttachment, String> {
            let conflict = |what: &str| format!("conflicting options: cannot specify both {what}");
            if !n.aliases.is_empty() && !self.network_alias.is_empty() {
                return Err(conflict("--network-alias and per-network alias"));
            }
            if !n.ipv4.is_empty() && !self.ip.is_empty() {
                return Err(conflict("--ip and per-network IPv4 address"));
            }
            if !n.ipv6.is_empty() && !self.ip6.is_empty() {
                return Err(conflict("--ip6 and per-network IPv6 address"));
            }
            if !n.mac.is_empty() && !self.mac_address.is_empty() {
                return Err(conflict("--mac-address and per-network MAC address"));
            }
            if !self.network_alias.is_empty() {
                n.aliases = self.network_alias.clone();
            }
            for (dst, src) in [
                (&mut n.ipv4, &self.ip),
                (&mut n.ipv6, &self.ip6),
                (&mut n.mac, &self.mac_address),
            ] {
                if !src.is_empty() {
                    *dst = src.clone();
                }
            }
            Ok(n)
        };
        let check = |n: &NetworkAttachment| -> Result<(), String> {
            if n.target.trim().is_empty() {
                return Err("no name set for network".into());
            }
            if !user_defined(&n.target) && !n.aliases.is_empty() {
                return Err(
                    "network-scoped aliases are only supported for user-defined networks".into(),
                );
            }
            if !n.mac.is_empty() && !valid_mac(&n.mac) {
                return Err(format!("{} is not a valid mac address", n.mac));
            }
            Ok(())
        };
        let mut out = Map::new();
        if self.network.is_empty() {
            let n = apply(NetworkAttachment {
                target: "default".into(),
                ..Default::default()
            })?;
            check(&n)?;
            out.insert("default".into(), endpoint(&n));
            return Ok(out);
        }
        let (mut has_user, mut has_other) = (false, false);
        for (i, n) in self.network.iter().enumerate() {
            if user_defined(&n.target) {
                has_user = true;
            } else {
                has_other = true;
            }
            let n = if i == 0 { apply(n.clone())? } else { n.clone() };
            check(&n)?;
            if out.contains_key(&n.target) {
                return Err(format!(
                    "network {:?} is specified multiple times",
                    n.target
                ));
            }
            let bare = NetworkAttachment {
                target: n.target.clone(),
                ..Default::default()
            };
            if i == 0 && self.network.len() == 1 && n == bare {
                continue;
            }
            out.insert(n.target.clone(), endpoint(&n));
        }
        if has_user && has_other {
            return Err("conflicting options: cannot attach both user-defined and non-user-defined network-modes".into());
        }
        Ok(out)
    }

    /// Builds the create body for `image` and its command `args`. `lookup` reads the client's
    /// environment (for `-e KEY` and env files); `console` is the client terminal's size.
    pub fn create_body(
        &self,
        image: &str,
        args: &[String],
        lookup: &dyn Fn(&str) -> Option<String>,
        console: (u16, u16),
    ) -> Result<Value, String> {
        let attach_stdin = self.interactive || self.attach.iter().any(|a| a == "stdin");
        let (attach_stdout, attach_stderr) = if self.attach.is_empty() {
            (true, true)
        } else {
            (
                self.attach.iter().any(|a| a == "stdout"),
                self.attach.iter().any(|a| a == "stderr"),
            )
        };
        if self.memory_swappiness != -1 && !(0..=100).contains(&self.memory_swappiness) {
            return Err(format!(
                "invalid value: {}. Valid memory swappiness range is 0-100",
                self.memory_swappiness
            ));
        }
        let (binds, anon_volumes) = mounts::volumes(&self.volume)?;
        let tmpfs = mounts::tmpfs(&self.tmpfs);
        let entrypoint = match &self.entrypoint {
            Some(e) => json!([e]),
            None => Value::Null,
        };
        let ports = netopts::ports(&self.publish, &self.expose)?;

        // Env files first, then -e values: one per name, the last one winning (docker goes
        // through a map there), so the daemon applies them after the files'.
        let mut env = parse::read_kv_files(&self.env_file, Some(lookup))?;
        let key = |s: &str| s.split('=').next().unwrap_or("").to_string();
        let mut from_flags: Vec<String> = Vec::new();
        for e in &self.env {
            let resolved = parse::resolve_env(e, lookup);
            match from_flags.iter_mut().find(|x| key(x) == key(&resolved)) {
                Some(slot) => *slot = resolved,
                None => from_flags.push(resolved),
            }
        }
        env.extend(from_flags);
        let labels = {
            let mut l = parse::read_kv_files(&self.label_file, None)?;
            l.extend(self.label.iter().cloned());
            kv_map(&l)
        };
        if !(self.pid.is_empty()
            || self.pid == "host"
            || self
                .pid
                .strip_prefix("container:")
                .is_some_and(|c| !c.is_empty()))
        {
            return Err("--pid: invalid PID mode".into());
        }
        if !matches!(self.uts.as_str(), "" | "host") {
            return Err("--uts: invalid UTS mode".into());
        }
        if !matches!(self.userns.as_str(), "" | "host") {
            return Err("--userns: invalid USER mode".into());
        }
        if !matches!(self.cgroupns.as_str(), "" | "host" | "private") {
            return Err("--cgroupns: invalid CGROUP mode".into());
        }
        let restart = parse::restart_policy(&self.restart)?;
        let log_opts = kv_map(&self.log_opt);
        if self.log_driver == "none" && !self.log_opt.is_empty() {
            return Err(format!(
                "invalid logging opts for driver {}",
                self.log_driver
            ));
        }
        let (security_opt, unconfined_paths) = parse::security_opts(&self.security_opt)?;
        let restart_none = matches!(restart["Name"].as_str(), Some("no") | Some(""));
        if self.rm && !restart_none {
            return Err("conflicting options: cannot specify both --restart and --rm".into());
        }
        if !self.mac_address.is_empty() && !valid_mac(self.mac_address.trim()) {
            return Err(format!("{} is not a valid mac address", self.mac_address));
        }
        let network_mode = self
            .network
            .first()
            .map_or("default".to_string(), |n| n.target.clone());
        let endpoints = self.endpoints()?;

        let mut config = Map::new();
        let put = |m: &mut Map<String, Value>, k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put(&mut config, "Hostname", json!(self.hostname));
        put(&mut config, "Domainname", json!(self.domainname));
        put(&mut config, "User", json!(self.user));
        put(&mut config, "AttachStdin", json!(attach_stdin));
        put(&mut config, "AttachStdout", json!(attach_stdout));
        put(&mut config, "AttachStderr", json!(attach_stderr));
        if !ports.exposed.is_empty() {
            let exposed: Map<String, Value> = ports
                .exposed
                .keys()
                .map(|k| (k.clone(), json!({})))
                .collect();
            put(&mut config, "ExposedPorts", Value::Object(exposed));
        }
        put(&mut config, "Tty", json!(self.tty));
        put(&mut config, "OpenStdin", json!(self.interactive));
        put(
            &mut config,
            "StdinOnce",
            json!(self.interactive && attach_stdin),
        );
        put(&mut config, "Env", list(&env));
        put(&mut config, "Cmd", list(args));
        put(&mut config, "Image", json!(image));
        let vols: Map<String, Value> = anon_volumes
            .keys()
            .map(|k| (k.clone(), json!({})))
            .collect();
        put(&mut config, "Volumes", Value::Object(vols));
        put(&mut config, "WorkingDir", json!(self.workdir));
        put(&mut config, "Entrypoint", entrypoint);
        put(&mut config, "OnBuild", Value::Null);
        put(&mut config, "Labels", Value::Object(labels));
        if !self.stop_signal.is_empty() {
            put(&mut config, "StopSignal", json!(self.stop_signal));
        }
        if let Some(t) = self.stop_timeout {
            put(&mut config, "StopTimeout", json!(t));
        }
        if let Some(h) = self.health.healthcheck()? {
            put(&mut config, "Healthcheck", h);
        }

        let bindings: Map<String, Value> = ports
            .bindings
            .iter()
            .map(|(k, v)| {
                let list: Vec<Value> = v
                    .iter()
                    .map(|(ip, p)| json!({"HostIp": ip, "HostPort": p}))
                    .collect();
                (k.clone(), Value::Array(list))
            })
            .collect();
        let mut hc = Map::new();
        put(&mut hc, "Binds", list(&binds));
        put(&mut hc, "ContainerIDFile", json!(self.cidfile));
        put(
            &mut hc,
            "LogConfig",
            json!({"Type": self.log_driver, "Config": log_opts}),
        );
        put(&mut hc, "NetworkMode", json!(network_mode));
        put(&mut hc, "PortBindings", Value::Object(bindings));
        put(&mut hc, "RestartPolicy", restart);
        put(&mut hc, "AutoRemove", json!(self.rm));
        put(&mut hc, "VolumeDriver", json!(""));
        put(&mut hc, "VolumesFrom", list(&self.volumes_from));
        put(&mut hc, "ConsoleSize", json!([console.0, console.1]));
        put(&mut hc, "CapAdd", parse::normalize_caps(&self.cap_add));
        put(&mut hc, "CapDrop", parse::normalize_caps(&self.cap_drop));
        put(&mut hc, "CgroupnsMode", json!(self.cgroupns));
        put(&mut hc, "Dns", json!(self.dns));
        put(&mut hc, "DnsOptions", json!(self.dns_option));
        put(&mut hc, "DnsSearch", json!(self.dns_search));
        put(&mut hc, "ExtraHosts", list(&self.add_host));
        put(&mut hc, "GroupAdd", list(&self.group_add));
        put(&mut hc, "IpcMode", json!(self.ipc));
        put(&mut hc, "Cgroup", json!(""));
        put(&mut hc, "Links", Value::Null);
        put(&mut hc, "OomScoreAdj", json!(self.oom_score_adj));
        put(&mut hc, "PidMode", json!(self.pid));
        put(&mut hc, "Privileged", json!(self.privileged));
        put(&mut hc, "PublishAllPorts", json!(self.publish_all));
        put(&mut hc, "ReadonlyRootfs", json!(self.read_only));
        put(
            &mut hc,
            "SecurityOpt",
            if self.security_opt.is_empty() {
                Value::Null
            } else {
                json!(security_opt)
            },
        );
        if !tmpfs.is_empty() {
            put(&mut hc, "Tmpfs", json!(tmpfs));
        }
        put(&mut hc, "UTSMode", json!(self.uts));
        put(&mut hc, "UsernsMode", json!(self.userns));
        put(&mut hc, "ShmSize", json!(self.shm_size));
        if !self.sysctl.is_empty() {
            put(&mut hc, "Sysctls", Value::Object(kv_map(&self.sysctl)));
        }
        if !self.runtime.is_empty() {
            put(&mut hc, "Runtime", json!(self.runtime));
        }
        put(&mut hc, "Isolation", json!(""));
        put(&mut hc, "CpuShares", json!(self.cpu_shares));
        put(&mut hc, "Memory", json!(self.memory));
        put(&mut hc, "NanoCpus", json!(self.cpus));
        put(&mut hc, "CgroupParent", json!(self.cgroup_parent));
        put(&mut hc, "BlkioWeight", json!(0));
        for k in [
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteBps",
            "BlkioDeviceReadIOps",
            "BlkioDeviceWriteIOps",
        ] {
            put(&mut hc, k, json!([]));
        }
        put(&mut hc, "CpuPeriod", json!(self.cpu_period));
        put(&mut hc, "CpuQuota", json!(self.cpu_quota));
        put(&mut hc, "CpuRealtimePeriod", json!(0));
        put(&mut hc, "CpuRealtimeRuntime", json!(0));
        put(&mut hc, "CpusetCpus", json!(self.cpuset_cpus));
        put(&mut hc, "CpusetMems", json!(self.cpuset_mems));
        put(&mut hc, "Devices", json!([]));
        put(&mut hc, "DeviceCgroupRules", Value::Null);
        put(&mut hc, "DeviceRequests", Value::Null);
        put(&mut hc, "MemoryReservation", json!(self.memory_reservation));
        put(&mut hc, "MemorySwap", json!(self.memory_swap));
        put(&mut hc, "MemorySwappiness", json!(self.memory_swappiness));
        put(&mut hc, "OomKillDisable", json!(self.oom_kill_disable));
        put(&mut hc, "PidsLimit", json!(self.pids_limit));
        put(&mut hc, "Ulimits", json!(self.ulimit));
        put(&mut hc, "CpuCount", json!(0));
        put(&mut hc, "CpuPercent", json!(0));
        put(&mut hc, "IOMaximumIOps", json!(0));
        put(&mut hc, "IOMaximumBandwidth", json!(0));
        if !self.mount.is_empty() {
            put(&mut hc, "Mounts", json!(self.mount));
        }
        let paths = if unconfined_paths {
            json!([])
        } else {
            Value::Null
        };
        put(&mut hc, "MaskedPaths", paths.clone());
        put(&mut hc, "ReadonlyPaths", paths);
        if let Some(init) = self.init {
            put(&mut hc, "Init", json!(init));
        }

        put(&mut config, "HostConfig", Value::Object(hc));
        put(
            &mut config,
            "NetworkingConfig",
            json!({"EndpointsConfig": Value::Object(endpoints)}),
        );
        Ok(Value::Object(config))
    }
}

/// Go's `net.ParseMAC` for the common 6-byte forms (`aa:bb:…`, `aa-bb-…`).
fn valid_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

mod health;
#[cfg(test)]
mod tests;
