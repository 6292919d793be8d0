//! The healthcheck of a running container: a probe run as an exec every interval (the start
//! interval during the start period), its result recorded in `State.Health`, and a
//! `health_status` event when the status changes. The watch ends with the run it was started
//! for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use tokio::io::AsyncReadExt;

use crate::exec::ExecConfig;
use crate::health::{HealthConfig, HealthResult, MAX_OUTPUT};
use crate::record::Container;
use crate::service::ContainerService;
use crate::ExecStartOptions;

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl ContainerService {
    /// The container's healthcheck, if it has one that runs something.
    pub(crate) fn health_config(&self, c: &Container) -> Option<HealthConfig> {
        let h = HealthConfig::from_value(c.config.healthcheck.as_ref()?).ok()?;
        h.probe().is_some().then_some(h)
    }

    /// Starts probing the run of `c` that has just started.
    pub(crate) fn watch_health(self: Arc<Self>, c: &Container, cfg: HealthConfig) {
        let id = c.id.clone();
        let started_at = c.state.started_at.clone();
        tokio::spawn(async move {
            let begun = Instant::now();
            let start_period = Duration::from_nanos(cfg.start_period.max(0) as u64);
            let argv = cfg.probe().unwrap_or_default();
            loop {
                let in_start = begun.elapsed() < start_period;
                let wait = if in_start {
                    cfg.start_interval_ns()
                } else {
                    cfg.interval_ns()
                };
                tokio::time::sleep(Duration::from_nanos(wait as u64)).await;
                let Ok(c) = self.get(&id) else { return };
                if !c.state.running || c.state.started_at != started_at {
                    return;
                }
                if c.state.paused || c.state.restarting {
                    continue;
                }
                let timeout = Duration::from_nanos(cfg.timeout_ns() as u64);
                let result = self.probe(&c, &argv, timeout).await;
                let in_start = begun.elapsed() < start_period;
                let mut changed = None;
                let updated = self.update(&id, |c| {
                    if c.state.started_at != started_at || !c.state.running {
                        return;
                    }
                    if let Some(h) = c.state.health.as_mut() {
                        changed = h.record(result, cfg.retries(), in_start);
                    }
                });
                match (updated, changed) {
                    (None, _) => return,
                    (Some(c), Some(status)) => {
                        self.emit(&c, &format!("health_status: {status}"), &[]);
                    }
                    _ => {}
                }
            }
        });
    }

    /// Runs one probe as an exec and collects what it printed (the first 4 KiB) and its exit.
    async fn probe(
        self: &Arc<Self>,
        c: &Container,
        argv: &[String],
        timeout: Duration,
    ) -> HealthResult {
        let start = now_text();
        let config = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: argv.to_vec(),
            ..Default::default()
        };
        let failed = |msg: String, code: i32| HealthResult {
            start: start.clone(),
            end: now_text(),
            exit_code: code,
            output: msg,
        };
        let exec_id = match self.exec_create(&c.id, config) {
            Ok(id) => id,
            Err(e) => return failed(e.to_string(), -1),
        };
        let run = async {
            let session = match self.exec_start(&exec_id, ExecStartOptions::default()).await {
                Ok(Some(s)) => s,
                Ok(None) => return Err("no stream".to_string()),
                Err(e) => return Err(e.to_string()),
            };
            let mut stream = session.stream;
            let mut output = Vec::new();
            let mut header = [0u8; 8];
            while stream.read_exact(&mut header).await.is_ok() {
                let (_, len) = berth_runtime::shim::protocol::parse_frame_header(&header);
                let mut buf = vec![0u8; len];
                if stream.read_exact(&mut buf).await.is_err() {
                    break;
                }
                let room = MAX_OUTPUT.saturating_sub(output.len());
                output.extend_from_slice(&buf[..len.min(room)]);
            }
            let mut done = session.done;
            let _ = done.wait_for(|d| *d).await;
            Ok(output)
        };
        let result = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(out)) => {
                let code = self
                    .exec_inspect(&exec_id)
                    .ok()
                    .and_then(|e| e.exit_code)
                    .unwrap_or(-1);
                HealthResult {
                    start: start.clone(),
                    end: now_text(),
                    exit_code: code,
                    output: String::from_utf8_lossy(&out).into_owned(),
                }
            }
            Ok(Err(e)) => failed(e, -1),
            Err(_) => failed(format!("Health check exceeded timeout ({timeout:?})"), -1),
        };
        self.forget_exec(&exec_id);
        result
    }
}
