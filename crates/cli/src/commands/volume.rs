//! `volume create|ls|inspect|rm|prune`, with docker's flags, tables and messages.

use std::io::Write;

use berth_image::progress::human_size;
use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::client::{q, Client};
use crate::format::Output;

use super::image::filters_json;
use super::report;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume
    #[command(override_usage = "berth volume create [OPTIONS] [VOLUME]")]
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list", override_usage = "berth volume ls [OPTIONS]")]
    Ls(ListArgs),
    /// Display detailed information on one or more volumes
    #[command(override_usage = "berth volume inspect [OPTIONS] VOLUME [VOLUME...]")]
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(
        visible_alias = "remove",
        override_usage = "berth volume rm [OPTIONS] VOLUME [VOLUME...]"
    )]
    Rm(RmArgs),
    /// Remove unused local volumes
    #[command(override_usage = "berth volume prune [OPTIONS]")]
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", hide = true)]
    name_flag: Option<String>,
    #[arg(value_name = "VOLUME")]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

pub async fn run(client: &Client, c: VolumeCommand) -> anyhow::Result<u8> {
    match c {
        VolumeCommand::Create(a) => create(client, a).await,
        VolumeCommand::Ls(a) => list(client, a).await,
        VolumeCommand::Inspect(a) => inspect(client, a).await,
        VolumeCommand::Rm(a) => remove(client, a).await,
        VolumeCommand::Prune(a) => prune(client, a).await,
    }
}

/// `k=v` flags as a JSON object (a bare `k` is an empty value, as docker reads them).
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
    if a.name.is_some() && a.name_flag.is_some() {
        anyhow::bail!("conflicting options: cannot specify a volume-name through both --name and as a positional arg");
    }
    let name = a.name.or(a.name_flag).unwrap_or_default();
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": kv(&a.opt),
        "Labels": kv(&a.label),
    });
    let v = client
        .send_json(Method::POST, "/volumes/create", Some(&body))
        .await?;
    println!("{}", v["Name"].as_str().unwrap_or(""));
    Ok(0)
}

/// One `volume ls` row: docker's fields for templates and `--format json`.
fn row(v: &Value) -> Value {
    let labels = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "Availability": "N/A",
        "Driver": v["Driver"],
        "Group": "N/A",
        "Labels": labels,
        "Links": "N/A",
        "Mountpoint": v["Mountpoint"],
        "Name": v["Name"],
        "Scope": v["Scope"],
        "Size": "N/A",
        "Status": "N/A",
    })
}

fn header(field: &str) -> String {
    match field {
        "Name" => "VOLUME NAME".into(),
        other => other.to_uppercase(),
    }
}

async fn list(client: &Client, a: ListArgs) -> anyhow::Result<u8> {
    let path = format!("/volumes?filters={}", q(&filters_json(&a.filter, &[])?));
    let resp = client.get_json(&path).await?;
    let mut vols: Vec<Value> = resp["Volumes"].as_array().cloned().unwrap_or_default();
    // The docker CLI sorts by name.
    vols.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    if a.quiet {
        for v in &vols {
            println!("{}", v["Name"].as_str().unwrap_or(""));
        }
        return Ok(0);
    }
    let rows: Vec<Value> = vols.iter().map(row).collect();
    print!(
        "{}",
        Output::new(a.format.as_deref(), "{{.Driver}}\t{{.Name}}")?.render(&rows, header)?
    );
    Ok(0)
}

async fn inspect(client: &Client, a: InspectArgs) -> anyhow::Result<u8> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match client.get_json(&format!("/volumes/{}", q(n))).await {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e.to_string()),
        }
    }
    super::system::print_inspect(&found, a.format.as_deref())?;
    Ok(report(errors))
}

async fn remove(client: &Client, a: RmArgs) -> anyhow::Result<u8> {
    let mut errors = Vec::new();
    for n in &a.names {
        let path = format!("/volumes/{}?force={}", q(n), u8::from(a.force));
        match client
            .request(Method::DELETE, &path, crate::client::empty(), &[])
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok(report(errors))
}

async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        let what = if a.all {
            "all local volumes"
        } else {
            "anonymous local volumes"
        };
        print!("WARNING! This will remove {what} not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    let extra: Vec<(&str, String)> = if a.all {
        vec![("all", "true".into())]
    } else {
        Vec::new()
    };
    let path = format!(
        "/volumes/prune?filters={}",
        q(&filters_json(&a.filter, &extra)?)
    );
    let report = client.send_json(Method::POST, &path, None).await?;
    let deleted: Vec<&str> = report["VolumesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    let mut reclaimed = 0.0;
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for n in &deleted {
            println!("{n}");
        }
        println!();
        reclaimed = report["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    println!("Total reclaimed space: {}", human_size(reclaimed, 4));
    Ok(0)
}
