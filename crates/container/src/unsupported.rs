//! The create-body fields berth does not implement yet, and the values of implemented fields
//! it cannot honour: each is refused at create with an error naming it, never taken and
//! dropped. A user who asked for a volume or a published port and silently got none loses
//! data.
//!
//! The check reads the raw JSON, so that fields berth's own types do not know are caught as
//! well. A field counts as absent when its value is a zero value (null, false, 0, "", [], {},
//! or an object of zero values): clients send every field, set or not (the docker CLI's body
//! carries `"BlkioWeight":0`, `"Devices":[]`, `"LogConfig":{"Type":"","Config":{}}`).
//!
//! When a field is implemented, it moves from [`REFUSED`] (or a check below) to
//! [`CONFIG_HONOURED`] or [`HOST_CONFIG_HONOURED`] in the same change, with a test that shows it honoured.

use serde_json::Value;

/// Fields of `Config` berth honours whatever their value (the checks of each value are the
/// service's: restart policy, limits, names).
const CONFIG_HONOURED: &[&str] = &[
    "Hostname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "ArgsEscaped",
    "Image",
    "WorkingDir",
    "Entrypoint",
    "OnBuild",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "StopTimeout",
    "Shell",
    "Volumes",
    "Domainname",
    "MacAddress",
];

/// The same for `HostConfig`.
const HOST_CONFIG_HONOURED: &[&str] = &[
    "CpuShares",
    "Memory",
    "CgroupParent",
    "CpusetCpus",
    "MemorySwap",
    "NanoCpus",
    "PidsLimit",
    "ContainerIDFile",
    "RestartPolicy",
    "AutoRemove",
    "ConsoleSize",
    "CapAdd",
    "CapDrop",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "GroupAdd",
    "Privileged",
    "ReadonlyRootfs",
    "ShmSize",
    "Runtime",
    "PortBindings",
    "PublishAllPorts",
    // host-gateway is the default bridge's gateway.
    "ExtraHosts",
    // The service checks the driver and its options (json-file, local, none).
    "LogConfig",
    "CpuPeriod",
    "CpuQuota",
    "CpusetMems",
    "MemoryReservation",
    "MemorySwappiness",
    "OomKillDisable",
    "Ulimits",
    "OomScoreAdj",
    // Storage: the volume service checks each mount.
    "Binds",
    "Mounts",
    "Tmpfs",
    "VolumesFrom",
    // The service checks the mode: default, bridge, host, none and container:<id> are what
    // berth has; any other name is a network that does not exist.
    "NetworkMode",
];

/// Fields berth does not implement yet, with the docker flag a user would have typed; refused
/// unless zero.
const REFUSED: &[(&str, &str)] = &[
    // Config
    ("NetworkDisabled", "--network-disabled"),
    // HostConfig: networking
    ("Links", "--link"),
    // HostConfig: resources
    ("BlkioWeight", "--blkio-weight"),
    ("BlkioWeightDevice", "--blkio-weight-device"),
    ("BlkioDeviceReadBps", "--device-read-bps"),
    ("BlkioDeviceWriteBps", "--device-write-bps"),
    ("BlkioDeviceReadIOps", "--device-read-iops"),
    ("BlkioDeviceWriteIOps", "--device-write-iops"),
    ("CpuRealtimePeriod", "--cpu-rt-period"),
    ("CpuRealtimeRuntime", "--cpu-rt-runtime"),
    ("Devices", "--device"),
    ("DeviceCgroupRules", "--device-cgroup-rule"),
    ("DeviceRequests", "--gpus"),
    ("KernelMemoryTCP", "--kernel-memory"),
    ("Init", "--init"),
    ("CpuCount", "--cpu-count"),
    ("CpuPercent", "--cpu-percent"),
    ("IOMaximumIOps", "--io-maxiops"),
    ("IOMaximumBandwidth", "--io-maxbandwidth"),
    // HostConfig: the rest
    ("Sysctls", "--sysctl"),
    ("StorageOpt", "--storage-opt"),
    ("Annotations", "--annotation"),
    ("MaskedPaths", "--security-opt systempaths"),
    ("ReadonlyPaths", "--security-opt systempaths"),
    ("Cgroup", "--cgroup"),
];

/// Why a create body cannot be taken as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

fn refused(field: &str, flag: &str) -> Unsupported {
    Unsupported(format!(
        "{field} ({flag}) is not supported yet by berth; leave it unset"
    ))
}

fn value_refused(field: &str, value: &str) -> Unsupported {
    Unsupported(format!("{field} {value:?} is not supported yet by berth"))
}

fn named(path: &str, e: Unsupported) -> Unsupported {
    Unsupported(format!("{path}: {}", e.0))
}

/// Checks a create body (`Config` fields at the top, `HostConfig`, `NetworkingConfig`):
/// everything set in it is something berth does.
pub fn check_create(body: &Value) -> Result<(), Unsupported> {
    let Some(top) = body.as_object() else {
        return Ok(());
    };
    for (key, value) in top {
        match key.as_str() {
            "HostConfig" => {
                if let Some(hc) = value.as_object() {
                    for (k, v) in hc {
                        check_field(HOST_CONFIG_HONOURED, &format!("HostConfig.{k}"), k, v)?;
                    }
                }
            }
            "NetworkingConfig" => check_networking(value)?,
            k => check_field(CONFIG_HONOURED, k, k, value)?,
        }
    }
    Ok(())
}

/// One field: honoured, checked by value, refused unless zero, or unknown (refused unless
/// zero, naming it as unknown).
fn check_field(honoured: &[&str], path: &str, key: &str, v: &Value) -> Result<(), Unsupported> {
    if honoured.contains(&key) {
        return Ok(());
    }
    let s = v.as_str().unwrap_or("");
    match key {
        "IpcMode" => match s {
            "" | "private" | "shareable" | "host" => Ok(()),
            m => Err(value_refused("HostConfig.IpcMode (--ipc)", m)),
        },
        "PidMode" => match s {
            "" | "host" => Ok(()),
            m => Err(value_refused("HostConfig.PidMode (--pid)", m)),
        },
        "UTSMode" => match s {
            "" | "host" => Ok(()),
            m => Err(value_refused("HostConfig.UTSMode (--uts)", m)),
        },
        // berth remaps no user namespace: "host" is what every container gets.
        "UsernsMode" => match s {
            "" | "host" => Ok(()),
            m => Err(value_refused("HostConfig.UsernsMode (--userns)", m)),
        },
        // Docker's default (host on cgroup v1, private on v2) is what berth does.
        "CgroupnsMode" => match s {
            "" => Ok(()),
            m => Err(value_refused("HostConfig.CgroupnsMode (--cgroupns)", m)),
        },
        "Isolation" => match s {
            "" | "default" => Ok(()),
            m => Err(value_refused("HostConfig.Isolation (--isolation)", m)),
        },
        "VolumeDriver" => match s {
            "" | "local" => Ok(()),
            m => Err(value_refused(
                "HostConfig.VolumeDriver (--volume-driver)",
                m,
            )),
        },
        "SecurityOpt" => check_security_opts(v).map_err(|e| named(path, e)),
        _ => match REFUSED.iter().find(|(k, _)| *k == key) {
            Some((_, flag)) if !is_zero(v) => Err(refused(path, flag)),
            Some(_) => Ok(()),
            None if !is_zero(v) => Err(Unsupported(format!(
                "{path} is not a field berth knows; leave it unset"
            ))),
            None => Ok(()),
        },
    }
}

/// The security options berth applies, and those that ask to switch off a confinement berth
/// never applies on this host (AppArmor, SELinux labels), which it therefore honours.
fn check_security_opts(v: &Value) -> Result<(), Unsupported> {
    for opt in v.as_array().into_iter().flatten() {
        let o = opt.as_str().unwrap_or("");
        let known = matches!(
            o,
            "seccomp=unconfined"
                | "seccomp:unconfined"
                | "no-new-privileges"
                | "no-new-privileges=true"
                | "no-new-privileges:true"
                | "no-new-privileges=false"
                | "no-new-privileges:false"
                | "apparmor=unconfined"
                | "apparmor:unconfined"
                | "label=disable"
                | "label:disable"
        );
        if !known {
            // A seccomp profile arrives as its JSON text: name only its start.
            let shown: String = o.chars().take(40).collect();
            return Err(Unsupported(format!(
                "security option {shown:?} (--security-opt) is not supported yet by berth"
            )));
        }
    }
    Ok(())
}

/// Per-network endpoint settings: aliases, an IPv4 address and a MAC address are berth's;
/// links, IPv6 and link-local addresses, driver options are refused unless unset (as are the
/// fields an answer fills in, which a request has no business setting).
fn check_networking(v: &Value) -> Result<(), Unsupported> {
    let endpoints = v.get("EndpointsConfig").and_then(Value::as_object);
    for (net, settings) in endpoints.into_iter().flatten() {
        for (k, val) in settings.as_object().into_iter().flatten() {
            let honoured = match k.as_str() {
                "Aliases" | "MacAddress" => true,
                "IPAMConfig" => val
                    .as_object()
                    .into_iter()
                    .flatten()
                    .all(|(f, x)| f == "IPv4Address" || is_unset(x)),
                _ => false,
            };
            if !honoured && !is_unset(val) {
                return Err(Unsupported(format!(
                    "NetworkingConfig.EndpointsConfig.{net}.{k} is not supported yet by berth"
                )));
            }
        }
    }
    for (k, val) in v.as_object().into_iter().flatten() {
        if k != "EndpointsConfig" && !is_zero(val) {
            return Err(Unsupported(format!(
                "NetworkingConfig.{k} is not a field berth knows; leave it unset"
            )));
        }
    }
    Ok(())
}

/// A value a client sends for a field it did not set. An object counts only when empty: the
/// keys of a map (`{"/data": {}}` in `Volumes`) are what the user asked for.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.is_empty(),
        v => is_unset(v),
    }
}

/// [`is_zero`], and a settings object (an endpoint's `IPAMConfig`) whose members are all
/// unset.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_unset),
    }
}

/// Removes every `null` member of every object, as Go clients send nil maps and slices for
/// fields they leave unset: berth's types then read the member as absent (its default), which
/// is what the client meant. Nulls inside arrays are left alone.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Parses a request body as Go clients send it: an empty body is the defaults, `null`
/// members are absent ([`strip_nulls`]).
pub fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    strip_nulls(&mut v);
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
