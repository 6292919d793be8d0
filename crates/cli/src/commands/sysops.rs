//! `system df|prune|events|info` and `events`: the daemon-wide views and clean-up, with the
//! docker CLI's tables, warnings and order of work.

use std::io::Write;

use berth_image::progress::human_size;
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{empty, q, Client};
use crate::format::{since, tabwrite, Output, Template};

use super::image::filters_json;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Show docker disk usage
    #[command(override_usage = "berth system df [OPTIONS]")]
    Df(DfArgs),
    /// Get real time events from the server
    #[command(override_usage = "berth system events [OPTIONS]")]
    Events(EventsArgs),
    /// Display system-wide information
    #[command(override_usage = "berth system info [OPTIONS]")]
    Info(super::system::InfoArgs),
    /// Remove unused data
    #[command(override_usage = "berth system prune [OPTIONS]")]
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    volumes: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long = "since")]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until")]
    until: Option<String>,
}

pub async fn run(client: &Client, c: SystemCommand) -> anyhow::Result<u8> {
    match c {
        SystemCommand::Df(a) => df(client, a).await,
        SystemCommand::Events(a) => events(client, a).await,
        SystemCommand::Info(a) => super::system::info(client, a).await,
        SystemCommand::Prune(a) => prune(client, a).await,
    }
}

fn n(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// go-units `HumanSize`: four significant digits.
fn size(v: f64) -> String {
    human_size(v, 4)
}

fn reclaimable(part: f64, total: f64) -> String {
    if total > 0.0 {
        format!("{} ({}%)", size(part), (part * 100.0 / total) as i64)
    } else {
        size(part)
    }
}

async fn df(client: &Client, a: DfArgs) -> anyhow::Result<u8> {
    let d = client.get_json("/system/df").await?;
    let list = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let (images, containers, volumes, cache) = (
        list("Images"),
        list("Containers"),
        list("Volumes"),
        list("BuildCache"),
    );
    if a.verbose {
        return df_verbose(&images, &containers, &volumes, &cache, n(&d["LayersSize"]));
    }
    let active_images = images.iter().filter(|i| n(&i["Containers"]) > 0.0).count();
    let image_total = n(&d["LayersSize"]);
    let image_reclaim: f64 = image_total
        - images
            .iter()
            .filter(|i| n(&i["Containers"]) > 0.0)
            .map(|i| n(&i["Size"]) - n(&i["SharedSize"]).max(0.0))
            .sum::<f64>()
            .min(image_total);
    let running = |c: &&Value| {
        matches!(
            c["State"].as_str(),
            Some("running" | "paused" | "restarting")
        )
    };
    let c_total: f64 = containers.iter().map(|c| n(&c["SizeRw"])).sum();
    let c_reclaim: f64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| n(&c["SizeRw"]))
        .sum();
    let used = |v: &&Value| n(&v["UsageData"]["RefCount"]) > 0.0;
    let v_total: f64 = volumes.iter().map(|v| n(&v["UsageData"]["Size"])).sum();
    let v_reclaim: f64 = volumes
        .iter()
        .filter(|v| !used(v))
        .map(|v| n(&v["UsageData"]["Size"]))
        .sum();
    let b_total: f64 = cache.iter().map(|b| n(&b["Size"])).sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active_images.to_string(), "Size": size(image_total), "Reclaimable": reclaimable(image_reclaim.max(0.0), image_total)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": containers.iter().filter(running).count().to_string(), "Size": size(c_total), "Reclaimable": reclaimable(c_reclaim, c_total)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": volumes.iter().filter(used).count().to_string(), "Size": size(v_total), "Reclaimable": reclaimable(v_reclaim, v_total)}),
        json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(), "Active": "0", "Size": size(b_total), "Reclaimable": size(b_total)}),
    ];
    let header = |f: &str| match f {
        "TotalCount" => "TOTAL".to_string(),
        other => other.to_uppercase(),
    };
    print!(
        "{}",
        Output::new(
            a.format.as_deref(),
            "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
        )?
        .render(&rows, header)?
    );
    Ok(0)
}

fn df_verbose(
    images: &[Value],
    containers: &[Value],
    volumes: &[Value],
    cache: &[Value],
    _layers: f64,
) -> anyhow::Result<u8> {
    let mut out = String::from("Images space usage:\n\n");
    let mut rows = vec![
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"
            .to_string(),
    ];
    for i in images {
        let id = i["Id"].as_str().unwrap_or("").trim_start_matches("sha256:");
        let (repo, tag) = i["RepoTags"]
            .as_array()
            .and_then(|t| t.first())
            .and_then(|t| t.as_str())
            .and_then(|t| t.rsplit_once(':'))
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .unwrap_or(("<none>".into(), "<none>".into()));
        let shared = n(&i["SharedSize"]).max(0.0);
        rows.push(format!(
            "{repo}\t{tag}\t{}\t{}\t{}\t{}\t{}\t{}",
            &id[..12.min(id.len())],
            since(i["Created"].as_i64().unwrap_or(0)),
            size(n(&i["Size"])),
            size(shared),
            size(n(&i["Size"]) - shared),
            n(&i["Containers"]) as i64
        ));
    }
    out.push_str(&tabwrite(&rows));
    out.push_str("\nContainers space usage:\n\n");
    let mut rows = vec![
        "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES".to_string(),
    ];
    for c in containers {
        let id = c["Id"].as_str().unwrap_or("");
        let vols = c["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"] == "volume")
            .count();
        let cmd = c["Command"].as_str().unwrap_or("");
        let cmd: String = if cmd.chars().count() > 20 {
            cmd.chars().take(19).collect::<String>() + "…"
        } else {
            cmd.to_string()
        };
        rows.push(format!(
            "{}\t{}\t\"{cmd}\"\t{vols}\t{}\t{}\t{}\t{}",
            &id[..12.min(id.len())],
            c["Image"].as_str().unwrap_or(""),
            size(n(&c["SizeRw"])),
            since(c["Created"].as_i64().unwrap_or(0)),
            c["Status"].as_str().unwrap_or(""),
            c["Names"][0].as_str().unwrap_or("").trim_start_matches('/')
        ));
    }
    out.push_str(&tabwrite(&rows));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut rows = vec!["VOLUME NAME\tLINKS\tSIZE".to_string()];
    for v in volumes {
        rows.push(format!(
            "{}\t{}\t{}",
            v["Name"].as_str().unwrap_or(""),
            n(&v["UsageData"]["RefCount"]) as i64,
            size(n(&v["UsageData"]["Size"]))
        ));
    }
    out.push_str(&tabwrite(&rows));
    let total: f64 = cache.iter().map(|b| n(&b["Size"])).sum();
    out.push_str(&format!("\nBuild cache usage: {}\n\n", size(total)));
    out.push_str(&tabwrite(&[
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED".to_string(),
    ]));
    print!("{out}");
    Ok(0)
}

/// Deleted items and reclaimed bytes of one prune, printed under `title`.
fn print_report(title: &str, items: &[String]) {
    if !items.is_empty() {
        println!("{title}:");
        for i in items {
            println!("{i}");
        }
        println!();
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

async fn prune(client: &Client, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        let mut warning = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            warning.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        warning.push_str(if a.all {
            "  - all images without at least one container associated to them\n  - all build cache\n"
        } else {
            "  - all dangling images\n  - unused build cache\n"
        });
        print!("{warning}\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    let filters = q(&filters_json(&a.filter, &[])?);
    let mut space = 0.0;
    let r = client
        .send_json(
            Method::POST,
            &format!("/containers/prune?filters={filters}"),
            None,
        )
        .await?;
    print_report("Deleted Containers", &strings(&r["ContainersDeleted"]));
    space += n(&r["SpaceReclaimed"]);
    let r = client
        .send_json(
            Method::POST,
            &format!("/networks/prune?filters={filters}"),
            None,
        )
        .await?;
    print_report("Deleted Networks", &strings(&r["NetworksDeleted"]));
    if a.volumes {
        let r = client
            .send_json(
                Method::POST,
                &format!("/volumes/prune?filters={filters}"),
                None,
            )
            .await?;
        print_report("Deleted Volumes", &strings(&r["VolumesDeleted"]));
        space += n(&r["SpaceReclaimed"]);
    }
    let extra: Vec<(&str, String)> = if a.all {
        vec![("dangling", "false".into())]
    } else {
        vec![]
    };
    let path = format!(
        "/images/prune?filters={}",
        q(&filters_json(&a.filter, &extra)?)
    );
    let r = client.send_json(Method::POST, &path, None).await?;
    let items: Vec<String> = r["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| {
            [("Untagged", "untagged"), ("Deleted", "deleted")]
                .into_iter()
                .filter_map(|(k, w)| i[k].as_str().map(|v| format!("{w}: {v}")))
                .collect::<Vec<_>>()
        })
        .collect();
    print_report("Deleted Images", &items);
    space += n(&r["SpaceReclaimed"]);
    let r = client
        .send_json(
            Method::POST,
            &format!("/build/prune?all={}&filters={filters}", u8::from(a.all)),
            None,
        )
        .await?;
    print_report("Deleted build cache objects", &strings(&r["CachesDeleted"]));
    space += n(&r["SpaceReclaimed"]);
    println!("Total reclaimed space: {}", size(space));
    Ok(0)
}

/// One event as the docker CLI prints it: `<time> <type> <action> <id> (<attributes>)`.
fn event_line(e: &Value) -> String {
    let nanos = e["timeNano"].as_i64().unwrap_or(0);
    let t = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
    // Go's RFC3339Nano: trailing zeros of the fraction dropped.
    let frac = format!("{:09}", nanos % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    let stamp = format!(
        "{}{}{}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        if frac.is_empty() {
            String::new()
        } else {
            format!(".{frac}")
        },
        t.format("%:z").to_string().replace("+00:00", "Z")
    );
    let attrs: Vec<String> = e["Actor"]["Attributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    format!(
        "{stamp} {} {} {} ({})",
        e["Type"].as_str().unwrap_or(""),
        e["Action"].as_str().unwrap_or(""),
        e["Actor"]["ID"].as_str().unwrap_or(""),
        attrs.join(", ")
    )
}

pub async fn events(client: &Client, a: EventsArgs) -> anyhow::Result<u8> {
    let now = chrono::Utc::now();
    let mut query = vec![format!("filters={}", q(&filters_json(&a.filter, &[])?))];
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let ts = crate::timestamp::get_timestamp(v, now).map_err(|e| anyhow::anyhow!(e))?;
            query.push(format!("{k}={}", q(&ts)));
        }
    }
    let template = match a.format.as_deref() {
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) if !f.is_empty() => Some(Template::parse(f)?),
        _ => None,
    };
    let resp = client
        .request(
            Method::GET,
            &format!("/events?{}", query.join("&")),
            empty(),
            &[],
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut out = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| anyhow::anyhow!("reading events: {e}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buf.extend_from_slice(data);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let Ok(e) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let text = match &template {
                Some(t) => t.render(&e)?,
                None => event_line(&e),
            };
            writeln!(out, "{text}")?;
            out.flush()?;
        }
    }
    Ok(0)
}
