//! A container's configuration in the Engine API's shapes (`Config`, `HostConfig`), as the
//! create request sends it and as inspect shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ContainerError;
use crate::state::RestartPolicy;

/// The body of `POST /containers/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    #[serde(flatten)]
    pub config: Config,
    pub host_config: HostConfig,
    pub networking_config: Option<Value>,
}

impl CreateBody {
    /// Reads a create request's JSON: members sent as `null` count as absent (Go clients send
    /// nil maps and slices), and a body that sets anything berth does not do is refused,
    /// naming the field (see [`crate::unsupported`]).
    pub fn from_json(bytes: &[u8]) -> Result<CreateBody, ContainerError> {
        let mut raw: Value = serde_json::from_slice(bytes)
            .map_err(|e| ContainerError::Invalid(format!("invalid JSON: {e}")))?;
        crate::unsupported::strip_nulls(&mut raw);
        crate::unsupported::check_create(&raw).map_err(|e| ContainerError::Invalid(e.0))?;
        serde_json::from_value(raw)
            .map_err(|e| ContainerError::Invalid(format!("invalid JSON: {e}")))
    }
}

/// `Config`: what the container runs and how. `None` and empty differ where Docker's do
/// (an `Entrypoint` of `[]` or `[""]` clears the image's; `null` keeps it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "string_or_list")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    #[serde(deserialize_with = "string_or_list")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// The API accepts `"Cmd": "echo hi"` as well as a list; null stays null.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::One(s)) => Some(vec![s]),
        Some(Either::Many(v)) => Some(v),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            kind: "json-file".into(),
            config: BTreeMap::new(),
        }
    }
}

/// `HostConfig`: what the host gives the container. Resource fields sit flat in it, as in the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<BTreeMap<String, Value>>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub mounts: Option<Vec<Value>>,
    pub console_size: [u32; 2],
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    pub runtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<Value>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Value>>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_as_the_docker_cli_sends_them() {
        let body = r#"{"Hostname":"","Image":"busybox","Cmd":["echo","hi"],"Entrypoint":null,
            "Tty":false,"OpenStdin":true,"StdinOnce":true,"Env":[],"Labels":{},
            "HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
            "Memory":6291456,"ContainerIDFile":"","UTSMode":""},"NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let b: CreateBody = serde_json::from_str(body).unwrap();
        assert_eq!(
            b.config.cmd.as_deref(),
            Some(&["echo".to_string(), "hi".to_string()][..])
        );
        assert_eq!(b.config.entrypoint, None);
        assert!(b.config.open_stdin && b.config.stdin_once);
        assert!(b.host_config.auto_remove);
        assert_eq!(b.host_config.memory, 6291456);
        assert_eq!(b.host_config.restart_policy.name, "no");
    }

    #[test]
    fn a_string_command_is_one_word_and_empty_entrypoint_is_kept() {
        let c: Config = serde_json::from_str(r#"{"Cmd":"true","Entrypoint":[""]}"#).unwrap();
        assert_eq!(c.cmd, Some(vec!["true".to_string()]));
        assert_eq!(c.entrypoint, Some(vec![String::new()]));
        let v = serde_json::to_value(HostConfig::default()).unwrap();
        assert_eq!(v["LogConfig"]["Type"], "json-file");
        assert!(v.get("ContainerIDFile").is_some() && v.get("UTSMode").is_some());
    }
}
