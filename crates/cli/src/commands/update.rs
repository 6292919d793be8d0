//! `update`: new resource limits and restart policy for containers, with docker's flags.

use clap::Args;
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::client::{q, Client};

use super::parse::{self, flag};
use super::report;

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_parser = flag("--blkio-weight", parse::go_int))]
    blkio_weight: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_parser = flag("--cpu-period", parse::go_int))]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_parser = flag("--cpu-quota", parse::go_int), allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_parser = flag("--cpu-rt-period", parse::go_int))]
    cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_parser = flag("--cpu-rt-runtime", parse::go_int))]
    cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_parser = flag("-c, --cpu-shares", parse::go_int))]
    cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_parser = flag("--cpus", parse::parse_cpus))]
    cpus: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_parser = flag("-m, --memory", parse::ram_in_bytes))]
    memory: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_parser = flag("--memory-reservation", parse::ram_in_bytes))]
    memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = flag("--memory-swap", parse::mem_swap), allow_hyphen_values = true)]
    memory_swap: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_parser = flag("--pids-limit", parse::go_int), allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// The update body: the flags given, named as the API names them.
fn body(a: &UpdateArgs) -> anyhow::Result<Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("BlkioWeight", a.blkio_weight.map(|v| json!(v)));
    put("CpuPeriod", a.cpu_period.map(|v| json!(v)));
    put("CpuQuota", a.cpu_quota.map(|v| json!(v)));
    put("CpuRealtimePeriod", a.cpu_rt_period.map(|v| json!(v)));
    put("CpuRealtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v)));
    put("CpuShares", a.cpu_shares.map(|v| json!(v)));
    put("NanoCpus", a.cpus.map(|v| json!(v)));
    put("CpusetCpus", a.cpuset_cpus.clone().map(Value::from));
    put("CpusetMems", a.cpuset_mems.clone().map(Value::from));
    put("Memory", a.memory.map(|v| json!(v)));
    put("MemoryReservation", a.memory_reservation.map(|v| json!(v)));
    put("MemorySwap", a.memory_swap.map(|v| json!(v)));
    put("PidsLimit", a.pids_limit.map(|v| json!(v)));
    if let Some(r) = &a.restart {
        put(
            "RestartPolicy",
            Some(parse::restart_policy(r).map_err(|e| anyhow::anyhow!(e))?),
        );
    }
    if m.is_empty() {
        anyhow::bail!("you must provide one or more flags when using this command");
    }
    Ok(Value::Object(m))
}

pub async fn update(client: &Client, a: UpdateArgs) -> anyhow::Result<u8> {
    let body = body(&a)?;
    let mut errors = Vec::new();
    for c in &a.containers {
        let path = format!("/containers/{}/update", q(c));
        match client.send_json(Method::POST, &path, Some(&body)).await {
            Ok(resp) => {
                for w in resp["Warnings"].as_array().into_iter().flatten() {
                    eprintln!("{}", w.as_str().unwrap_or(""));
                }
                println!("{c}");
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    Ok(report(errors))
}
