//! `--health-*` and `--no-healthcheck`: the container's `Healthcheck`, as the docker CLI
//! builds it.

use clap::Args;
use serde_json::{json, Value};

use crate::commands::parse::flag;
use crate::timestamp::go_duration;

fn duration(s: &str) -> Result<i64, String> {
    let ns = go_duration(s)?;
    i64::try_from(ns).map_err(|_| format!("time: invalid duration {s:?}"))
}

#[derive(Debug, Clone, Args, Default)]
pub struct HealthOpts {
    /// Command to run to check health
    #[arg(long = "health-cmd", default_value = "", hide_default_value = true)]
    pub cmd: String,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_parser = flag("--health-interval", duration))]
    pub interval: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_parser = flag("--health-retries", crate::commands::parse::go_int))]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_parser = flag("--health-start-period", duration))]
    pub start_period: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_parser = flag("--health-start-interval", duration))]
    pub start_interval: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_parser = flag("--health-timeout", duration))]
    pub timeout: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub none: bool,
}

impl HealthOpts {
    /// The `Healthcheck` for the create body; `None` when no flag asks for one.
    pub fn healthcheck(&self) -> Result<Option<Value>, String> {
        let any = !self.cmd.is_empty()
            || self.interval.is_some()
            || self.retries.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.timeout.is_some();
        if self.none {
            if any {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            return Ok(Some(json!({ "Test": ["NONE"] })));
        }
        if !any {
            return Ok(None);
        }
        for (name, v) in [
            ("--health-interval", self.interval),
            ("--health-timeout", self.timeout),
            ("--health-start-period", self.start_period),
            ("--health-start-interval", self.start_interval),
        ] {
            if v.is_some_and(|d| d < 0) {
                return Err(format!("{name} cannot be negative"));
            }
        }
        if self.retries.is_some_and(|r| r < 0) {
            return Err("--health-retries cannot be negative".into());
        }
        let test = if self.cmd.is_empty() {
            Value::Null
        } else {
            json!(["CMD-SHELL", self.cmd])
        };
        Ok(Some(json!({
            "Test": test,
            "Interval": self.interval.unwrap_or(0),
            "Timeout": self.timeout.unwrap_or(0),
            "StartPeriod": self.start_period.unwrap_or(0),
            "StartInterval": self.start_interval.unwrap_or(0),
            "Retries": self.retries.unwrap_or(0),
        })))
    }
}
