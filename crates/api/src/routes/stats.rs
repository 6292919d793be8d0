//! `GET /containers/{id}/stats`: one sample, two a second apart (`stream=false`), or a stream
//! of one a second until the client goes.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use berth_container::StatsSample;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiResult;
use crate::SharedState;

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Deserialize)]
pub struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

fn flag(v: &Option<String>, default: bool) -> bool {
    match v.as_deref() {
        None | Some("") => default,
        Some(s) => matches!(s, "1" | "true" | "True"),
    }
}

fn cpu_json(s: &StatsSample) -> Value {
    if s.read.is_none() {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    }
    json!({
        "cpu_usage": s.cgroup.cpu,
        "system_cpu_usage": s.system_cpu_usage,
        "online_cpus": s.online_cpus,
        "throttling_data": s.cgroup.throttling,
    })
}

/// Docker's StatsJSON for a sample and the one before it.
fn stats_json(name: &str, id: &str, s: &StatsSample, pre: &StatsSample) -> Value {
    let time = |t: &Option<chrono::DateTime<chrono::Utc>>| {
        t.map(berth_container::state::format_timestamp)
            .unwrap_or_else(|| ZERO_TIME.into())
    };
    let entries = |e: &Vec<berth_runtime::stats::BlkioEntry>| {
        if s.read.is_none() {
            Value::Null
        } else {
            json!(e)
        }
    };
    let c = &s.cgroup;
    let memory = if s.read.is_none() {
        json!({})
    } else {
        let mut m =
            json!({"usage": c.memory_usage, "stats": c.memory_stats, "limit": s.memory_limit});
        if let Some(max) = c.memory_max_usage {
            m["max_usage"] = json!(max);
        }
        m
    };
    let mut pids = json!({"current": c.pids_current});
    if let Some(l) = c.pids_limit {
        pids["limit"] = json!(l);
    }
    let mut v = json!({
        "read": time(&s.read),
        "preread": time(&pre.read),
        "pids_stats": if s.read.is_none() { json!({}) } else { pids },
        "blkio_stats": {
            "io_service_bytes_recursive": entries(&c.io_service_bytes),
            "io_serviced_recursive": entries(&c.io_serviced),
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(s),
        "precpu_stats": cpu_json(pre),
        "memory_stats": memory,
        "name": name,
        "id": id,
    });
    if !s.networks.is_empty() {
        v["networks"] = json!(s.networks);
    }
    v
}

pub async fn stats(
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let stream = flag(&q.stream, true);
    let one_shot = flag(&q.one_shot, false);
    let sample = st.containers.stats(&c.id)?;
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let line = |s: &StatsSample, pre: &StatsSample| {
        let mut b = serde_json::to_vec(&stats_json(&c.name, &c.id, s, pre)).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    };
    if !stream {
        // Without one-shot, dockerd waits for a second sample so that the CPU figures have a
        // base.
        let (s, pre) = if one_shot {
            (sample, StatsSample::default())
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            (st.containers.stats(&c.id)?, sample)
        };
        let _ = tx.try_send(line(&s, &pre));
        drop(tx);
        return Ok(crate::stream::bytes(rx, "application/json"));
    }
    let (name, cid, svc) = (c.name.clone(), c.id.clone(), st.containers.clone());
    tokio::spawn(async move {
        let mut pre = StatsSample::default();
        let mut cur = sample;
        loop {
            let mut b =
                serde_json::to_vec(&stats_json(&name, &cid, &cur, &pre)).unwrap_or_default();
            b.push(b'\n');
            // The client has gone: the stream ends here, and with it this task.
            if tx.send(Bytes::from(b)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
            let Ok(next) = svc.stats(&cid) else { return };
            pre = std::mem::replace(&mut cur, next);
        }
    });
    Ok(crate::stream::bytes(rx, "application/json"))
}
