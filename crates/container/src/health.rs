//! Healthchecks as dockerd runs them: the config (`HEALTHCHECK`, `--health-*`), the state
//! inspect shows (`State.Health`), and how one probe's result moves it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Docker's defaults (moby `daemon/health.go`).
pub const DEFAULT_INTERVAL_NS: i64 = 30_000_000_000;
pub const DEFAULT_TIMEOUT_NS: i64 = 30_000_000_000;
pub const DEFAULT_START_INTERVAL_NS: i64 = 5_000_000_000;
pub const DEFAULT_RETRIES: i64 = 3;
/// How many results inspect keeps, and how much of a probe's output.
const KEPT_RESULTS: usize = 5;
pub const MAX_OUTPUT: usize = 4096;

/// `Config.Healthcheck`, durations in nanoseconds; 0 means "the default".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

impl HealthConfig {
    pub fn from_value(v: &Value) -> Result<HealthConfig, String> {
        let mut v = v.clone();
        crate::unsupported::strip_nulls(&mut v);
        let c: HealthConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
        for (name, d) in [
            ("Interval", c.interval),
            ("Timeout", c.timeout),
            ("StartPeriod", c.start_period),
            ("StartInterval", c.start_interval),
        ] {
            if d != 0 && d < 1_000_000 {
                return Err(format!("{name} in Healthcheck cannot be less than 1ms"));
            }
        }
        if c.retries < 0 {
            return Err("Retries in Healthcheck cannot be negative".into());
        }
        Ok(c)
    }

    /// The probe's argv; `None` for `NONE` (or nothing to run).
    pub fn probe(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => None,
        }
    }

    pub fn interval_ns(&self) -> i64 {
        if self.interval > 0 {
            self.interval
        } else {
            DEFAULT_INTERVAL_NS
        }
    }
    pub fn timeout_ns(&self) -> i64 {
        if self.timeout > 0 {
            self.timeout
        } else {
            DEFAULT_TIMEOUT_NS
        }
    }
    pub fn start_interval_ns(&self) -> i64 {
        if self.start_interval > 0 {
            self.start_interval
        } else {
            DEFAULT_START_INTERVAL_NS
        }
    }
    pub fn retries(&self) -> u32 {
        if self.retries > 0 {
            self.retries as u32
        } else {
            DEFAULT_RETRIES as u32
        }
    }
}

/// One probe, as inspect lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl Health {
    pub fn starting() -> Health {
        Health {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Takes one probe's result; returns the new status if it changed. As with dockerd, a
    /// failure in the start period does not count while the container has not been healthy.
    pub fn record(
        &mut self,
        r: HealthResult,
        retries: u32,
        in_start_period: bool,
    ) -> Option<String> {
        let before = self.status.clone();
        if r.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !(in_start_period && self.status == "starting") {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(r);
        if self.log.len() > KEPT_RESULTS {
            self.log.remove(0);
        }
        (self.status != before).then(|| self.status.clone())
    }

    /// What `ps` shows after "Up …": `health: starting`, `healthy`, `unhealthy`.
    pub fn summary(&self) -> String {
        if self.status == "starting" {
            "health: starting".into()
        } else {
            self.status.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn configs_parse_validate_and_give_the_probe() {
        let c = HealthConfig::from_value(&serde_json::json!({
            "Test": ["CMD-SHELL", "test -e /ready"], "Interval": 100_000_000, "Retries": 2
        }))
        .unwrap();
        assert_eq!(c.probe().unwrap(), ["/bin/sh", "-c", "test -e /ready"]);
        assert_eq!(
            (c.interval_ns(), c.timeout_ns(), c.retries()),
            (100_000_000, DEFAULT_TIMEOUT_NS, 2)
        );
        let none = HealthConfig::from_value(&serde_json::json!({"Test": ["NONE"]})).unwrap();
        assert_eq!(none.probe(), None);
        let cmd =
            HealthConfig::from_value(&serde_json::json!({"Test": ["CMD", "true", "x"]})).unwrap();
        assert_eq!(cmd.probe().unwrap(), ["true", "x"]);
        assert_eq!(
            HealthConfig::from_value(&serde_json::json!({"Interval": 5})).unwrap_err(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        assert!(HealthConfig::from_value(&serde_json::json!({"Retries": -1})).is_err());
    }

    #[test]
    fn results_move_the_status_as_dockerds() {
        let mut h = Health::starting();
        // Failures in the start period do not count.
        assert_eq!(h.record(result(1), 2, true), None);
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.record(result(0), 2, true).as_deref(), Some("healthy"));
        assert_eq!(h.record(result(1), 2, false), None);
        assert_eq!(h.record(result(1), 2, false).as_deref(), Some("unhealthy"));
        assert_eq!(h.failing_streak, 2);
        assert_eq!(h.record(result(0), 2, false).as_deref(), Some("healthy"));
        for _ in 0..10 {
            h.record(result(0), 2, false);
        }
        assert_eq!(h.log.len(), 5);
        assert_eq!(h.summary(), "healthy");
        assert_eq!(Health::starting().summary(), "health: starting");
    }
}
