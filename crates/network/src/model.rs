//! The records of networking: networks, and what attaching a container gave it (kept in the
//! container's record, shown by inspect, and used to detach it and to re-adopt it after a
//! daemon restart).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::firewall::PortRule;
use crate::ipam::Subnet;

fn subnet_str<S: serde::Serializer>(s: &Option<Subnet>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_some(&s.to_string()),
        None => ser.serialize_none(),
    }
}

fn subnet_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Subnet>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| s.parse().map_err(serde::de::Error::custom))
        .transpose()
}

/// The kinds of network berth has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    Null,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// A network as berth keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub driver: Driver,
    pub created: DateTime<Utc>,
    #[serde(default, serialize_with = "subnet_str", deserialize_with = "subnet_de")]
    pub subnet: Option<Subnet>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default, serialize_with = "subnet_str", deserialize_with = "subnet_de")]
    pub ip_range: Option<Subnet>,
    /// The bridge device (`berth0`, `br-<id12>`).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default = "yes")]
    pub icc: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// One of the networks every daemon has (bridge, host, none): never removed.
    #[serde(default)]
    pub predefined: bool,
}

fn yes() -> bool {
    true
}

/// What a container asks of one network: Docker's `EndpointSettings` in a create body or a
/// connect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRequest {
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    #[serde(default)]
    pub mac: Option<String>,
    /// `--link name:alias` on a user network.
    #[serde(default)]
    pub links: Vec<String>,
}

/// One endpoint of a container, as attaching made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub network_name: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The host end of the veth pair.
    pub host_ifname: String,
    /// The container's end: `eth0`, `eth1`, …
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The names this endpoint answers to on the network's DNS.
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub links: Vec<String>,
    pub bridge: String,
}

/// A published port: the container's, and the host's address and port it is reached on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// `80/tcp`
    pub container_port: String,
    pub host_ip: String,
    pub host_port: u16,
    pub rule: PortRule,
}

/// Everything networking gave a container: its endpoints by network name, and its
/// published ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettings {
    pub endpoints: BTreeMap<String, Endpoint>,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// The container's namespace file.
    #[serde(default)]
    pub sandbox_key: String,
}
