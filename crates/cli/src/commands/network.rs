//! `network create|ls|inspect|connect|disconnect|rm|prune` and `port`, with docker's flags,
//! tables and messages.

use std::io::Write;

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::client::{q, Client};
use crate::format::Output;

use super::image::filters_json;
use super::report;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Connect a container to a network
    #[command(override_usage = "berth network connect [OPTIONS] NETWORK CONTAINER")]
    Connect(ConnectArgs),
    /// Create a network
    #[command(override_usage = "berth network create [OPTIONS] NETWORK")]
    Create(CreateArgs),
    /// Disconnect a container from a network
    #[command(override_usage = "berth network disconnect [OPTIONS] NETWORK CONTAINER")]
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    #[command(override_usage = "berth network inspect [OPTIONS] NETWORK [NETWORK...]")]
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list", override_usage = "berth network ls [OPTIONS]")]
    Ls(ListArgs),
    /// Remove all unused networks
    #[command(override_usage = "berth network prune [OPTIONS]")]
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(
        visible_alias = "remove",
        override_usage = "berth network rm NETWORK [NETWORK...]"
    )]
    Rm(RmArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet")]
    subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway")]
    gateway: Vec<String>,
    /// Enable or disable IPv6 networking
    #[arg(long = "ipv6")]
    ipv6: bool,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    attachable: bool,
    /// Set metadata on a network
    #[arg(long = "label")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// Control the network's scope
    #[arg(long = "scope", default_value = "")]
    scope: String,
    /// Create swarm routing-mesh network
    #[arg(long = "ingress")]
    ingress: bool,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    config_only: bool,
    /// The network from which to copy the configuration
    #[arg(long = "config-from", default_value = "")]
    config_from: String,
    #[arg(value_name = "NETWORK")]
    name: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    alias: Vec<String>,
    /// Driver options for the network
    #[arg(long = "driver-opt")]
    driver_opt: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip", default_value = "")]
    ip: String,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6", default_value = "")]
    ip6: String,
    /// Add link to another container
    #[arg(long = "link")]
    link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip")]
    link_local_ip: Vec<String>,
    #[arg(value_name = "NETWORK")]
    network: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    force: bool,
    #[arg(value_name = "NETWORK")]
    network: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

pub async fn run(client: &Client, c: NetworkCommand) -> anyhow::Result<u8> {
    match c {
        NetworkCommand::Create(a) => create(client, a).await,
        NetworkCommand::Ls(a) => list(client, a).await,
        NetworkCommand::Inspect(a) => inspect(client, a).await,
        NetworkCommand::Connect(a) => connect(client, a).await,
        NetworkCommand::Disconnect(a) => disconnect(client, a).await,
        NetworkCommand::Rm(a) => remove(client, a).await,
        NetworkCommand::Prune(a) => prune(client, a).await,
    }
}

fn kv(flags: &[String]) -> Map<String, Value> {
    flags
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

async fn create(client: &Client, a: CreateArgs) -> anyhow::Result<u8> {
    if a.subnet.len() > 1 || a.ip_range.len() > 1 || a.gateway.len() > 1 {
        anyhow::bail!("berth takes one --subnet (with its --ip-range and --gateway) per network");
    }
    let mut config = Map::new();
    if let Some(s) = a.subnet.first() {
        config.insert("Subnet".into(), json!(s));
    }
    if let Some(r) = a.ip_range.first() {
        config.insert("IPRange".into(), json!(r));
    }
    if let Some(g) = a.gateway.first() {
        config.insert("Gateway".into(), json!(g));
    }
    if !a.aux_address.is_empty() {
        config.insert(
            "AuxiliaryAddresses".into(),
            Value::Object(kv(&a.aux_address)),
        );
    }
    let configs = if config.is_empty() {
        vec![]
    } else {
        vec![Value::Object(config)]
    };
    let body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Scope": a.scope,
        "EnableIPv6": a.ipv6,
        "IPAM": {"Driver": a.ipam_driver, "Config": configs, "Options": kv(&a.ipam_opt)},
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": a.ingress,
        "ConfigOnly": a.config_only,
        "ConfigFrom": {"Network": a.config_from},
        "Options": kv(&a.opt),
        "Labels": kv(&a.label),
    });
    let resp = client
        .send_json(Method::POST, "/networks/create", Some(&body))
        .await?;
    println!("{}", resp["Id"].as_str().unwrap_or(""));
    Ok(0)
}

fn header(field: &str) -> String {
    match field {
        "ID" => "NETWORK ID".into(),
        "CreatedAt" => "CREATED AT".into(),
        other => other.to_uppercase(),
    }
}

async fn list(client: &Client, a: ListArgs) -> anyhow::Result<u8> {
    let path = format!("/networks?filters={}", q(&filters_json(&a.filter, &[])?));
    let mut nets = client
        .get_json(&path)
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default();
    nets.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let id = |n: &Value| {
        let id = n["Id"].as_str().unwrap_or("");
        if a.no_trunc || id.len() < 12 {
            id.to_string()
        } else {
            id[..12].to_string()
        }
    };
    if a.quiet {
        for n in &nets {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| {
            let labels = n["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({
                "ID": id(n), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels, "CreatedAt": n["Created"],
            })
        })
        .collect();
    print!(
        "{}",
        Output::new(
            a.format.as_deref(),
            "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
        )?
        .render(&rows, header)?
    );
    Ok(0)
}

async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<u8> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        let path = format!(
            "/networks/{}{}",
            q(n),
            if a.verbose { "?verbose=true" } else { "" }
        );
        match client.get_json(&path).await {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::system::print_inspect(&found, a.format.as_deref())?;
    Ok(report(errors))
}

async fn connect(client: &Client, a: ConnectArgs) -> anyhow::Result<u8> {
    let mut ipam = Map::new();
    if !a.ip.is_empty() {
        ipam.insert("IPv4Address".into(), json!(a.ip));
    }
    if !a.ip6.is_empty() {
        ipam.insert("IPv6Address".into(), json!(a.ip6));
    }
    if !a.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
    }
    let body = json!({
        "Container": a.container,
        "EndpointConfig": {
            "IPAMConfig": if ipam.is_empty() { Value::Null } else { Value::Object(ipam) },
            "Links": if a.link.is_empty() { Value::Null } else { json!(a.link) },
            "Aliases": if a.alias.is_empty() { Value::Null } else { json!(a.alias) },
            "DriverOpts": if a.driver_opt.is_empty() { Value::Null } else { Value::Object(kv(&a.driver_opt)) },
        },
    });
    client
        .send_json(
            Method::POST,
            &format!("/networks/{}/connect", q(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(0)
}

async fn disconnect(client: &Client, a: DisconnectArgs) -> anyhow::Result<u8> {
    let body = json!({"Container": a.container, "Force": a.force});
    client
        .send_json(
            Method::POST,
            &format!("/networks/{}/disconnect", q(&a.network)),
            Some(&body),
        )
        .await?;
    Ok(0)
}

async fn remove(client: &Client, a: RmArgs) -> anyhow::Result<u8> {
    let mut errors = Vec::new();
    for n in &a.names {
        match client
            .request(
                Method::DELETE,
                &format!("/networks/{}", q(n)),
                crate::client::empty(),
                &[],
            )
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && e.to_string().contains("not found") => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok(report(errors))
}

async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    let path = format!(
        "/networks/prune?filters={}",
        q(&filters_json(&a.filter, &[])?)
    );
    let r = client.send_json(Method::POST, &path, None).await?;
    let gone: Vec<&str> = r["NetworksDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    if !gone.is_empty() {
        println!("Deleted Networks:");
        for n in gone {
            println!("{n}");
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    port: Option<String>,
}

/// `port`: the container's published ports, as the docker CLI lists them.
pub async fn port(client: &Client, a: PortArgs) -> anyhow::Result<u8> {
    let c = client
        .get_json(&format!("/containers/{}/json", q(&a.container)))
        .await?;
    let ports = c["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let binding = |b: &Value| {
        format!(
            "{}:{}",
            b["HostIp"].as_str().unwrap_or(""),
            b["HostPort"].as_str().unwrap_or("")
        )
    };
    if let Some(p) = &a.port {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        let list = ports
            .get(&key)
            .and_then(Value::as_array)
            .filter(|l| !l.is_empty());
        let Some(list) = list else {
            return Err(super::status_error(
                1,
                format!(
                    "Error: No public port '{key}' published for {}",
                    a.container
                ),
            ));
        };
        for b in list {
            println!("{}", binding(b));
        }
        return Ok(0);
    }
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u16>().unwrap_or(0), proto.to_string())
    });
    for k in keys {
        for b in ports[k].as_array().into_iter().flatten() {
            println!("{k} -> {}", binding(b));
        }
    }
    Ok(0)
}
