//! `stats`: a live table of containers' resource use, redrawn every second, or one table with
//! `--no-stream`; docker's columns, figures and `--format` fields.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use berth_image::progress::{bytes_size, human_size};
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{empty, q, Client};
use crate::format::Output;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Format output using a custom template
    #[arg(long = "format")]
    format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    containers: Vec<String>,
}

const DEFAULT: &str =
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn header(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => return other.to_uppercase(),
    }
    .to_string()
}

/// One row from one stats object, computed as the docker CLI computes it.
pub fn row(key: &str, s: &Value, no_trunc: bool) -> Value {
    let n = |v: &Value| v.as_f64().unwrap_or(0.0);
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta = n(&cpu["cpu_usage"]["total_usage"]) - n(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = n(&cpu["system_cpu_usage"]) - n(&pre["system_cpu_usage"]);
    let online = match n(&cpu["online_cpus"]) {
        0.0 => cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0.0, |a| a.len() as f64),
        c => c,
    };
    let cpu_perc = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    let usage = n(&mem["usage"]);
    // The page cache the kernel would give back first is not counted (v1 names it
    // total_inactive_file, v2 inactive_file), as the docker CLI does since 19.03.
    let inactive = [
        &mem["stats"]["total_inactive_file"],
        &mem["stats"]["inactive_file"],
    ]
    .into_iter()
    .find(|v| v.is_number())
    .map_or(0.0, n);
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = n(&mem["limit"]);
    let mem_perc = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for i in s["networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, v)| v)
    {
        rx += n(&i["rx_bytes"]);
        tx += n(&i["tx_bytes"]);
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += n(&e["value"]),
            Some("write") => write += n(&e["value"]),
            _ => {}
        }
    }
    let id = s["id"].as_str().unwrap_or("");
    let id = if no_trunc || id.len() < 12 {
        id
    } else {
        &id[..12]
    };
    let name = s["name"].as_str().unwrap_or("").trim_start_matches('/');
    json!({
        "Container": key,
        "ID": id,
        "Name": if name.is_empty() { "--" } else { name },
        "CPUPerc": format!("{cpu_perc:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(used), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx, 3), human_size(tx, 3)),
        "BlockIO": format!("{} / {}", human_size(read, 3), human_size(write, 3)),
        "PIDs": format!("{}", n(&s["pids_stats"]["current"]) as u64),
    })
}

/// The containers to show: those named, or every running (or, with `-a`, every) one.
async fn targets(client: &Client, a: &StatsArgs) -> anyhow::Result<Vec<String>> {
    if !a.containers.is_empty() {
        return Ok(a.containers.clone());
    }
    let list = client
        .get_json(&format!("/containers/json?all={}", u8::from(a.all)))
        .await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str().map(str::to_string))
        .collect())
}

fn render(a: &StatsArgs, rows: &[Value]) -> anyhow::Result<String> {
    Ok(Output::new(a.format.as_deref(), DEFAULT)?.render(rows, header)?)
}

pub async fn stats(client: &Client, a: StatsArgs) -> anyhow::Result<u8> {
    let keys = targets(client, &a).await?;
    if a.no_stream {
        let paths: Vec<String> = keys
            .iter()
            .map(|k| format!("/containers/{}/stats?stream=0", q(k)))
            .collect();
        let samples = futures::future::join_all(paths.iter().map(|p| client.get_json(p))).await;
        let mut rows = Vec::new();
        for (k, s) in keys.iter().zip(samples) {
            rows.push(row(k, &s?, a.no_trunc));
        }
        print!("{}", render(&a, &rows)?);
        return Ok(0);
    }
    // Each container's stream feeds its latest sample here; the table is drawn from them
    // once a second.
    let latest: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let mut tasks = Vec::new();
    for k in &keys {
        let resp = client
            .request(
                Method::GET,
                &format!("/containers/{}/stats?stream=1", q(k)),
                empty(),
                &[],
            )
            .await?;
        let (latest, k) = (latest.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Some(data) = frame.data_ref() else {
                    continue;
                };
                buf.extend_from_slice(data);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                        latest.lock().unwrap().insert(k.clone(), v);
                    }
                }
            }
        }));
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let rows: Vec<Value> = {
            let l = latest.lock().unwrap();
            keys.iter()
                .filter_map(|k| l.get(k).map(|s| row(k, s, a.no_trunc)))
                .collect()
        };
        let mut out = std::io::stdout().lock();
        // Clear the screen and go home, as the docker CLI redraws its table.
        write!(out, "\x1b[2J\x1b[H{}", render(&a, &rows)?)?;
        out.flush()?;
        if !keys.is_empty() && tasks.iter().all(|t| t.is_finished()) {
            return Ok(0);
        }
    }
}
