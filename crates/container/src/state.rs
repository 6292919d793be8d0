//! A container's state and its transitions, and the status texts Docker shows for them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};

/// Go's zero `time.Time` as Docker prints it for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("invalid restart policy format: {0}")]
    RestartPolicyFormat(&'static str),
    #[error("invalid restart policy: {0}")]
    InvalidRestartPolicy(String),
    #[error("invalid value for state ({0}): must be one of created, running, paused, restarting, removing, exited, dead")]
    InvalidStatus(String),
}

/// The `State.Status` values of Docker's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        }
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the `status=` filter values Docker accepts, with its error text for others.
impl FromStr for ContainerStatus {
    type Err = StateError;

    fn from_str(s: &str) -> Result<Self, StateError> {
        Ok(match s {
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            "dead" => ContainerStatus::Dead,
            _ => return Err(StateError::InvalidStatus(s.to_string())),
        })
    }
}

/// The persisted state, serialised in the shape of Docker's inspect `State`.
///
/// As in moby, the flags are the truth and `status` is derived from them by every setter:
/// `Running` stays true while paused and while waiting to restart, and removal-in-progress is a
/// flag that is never persisted (a daemon that died mid-removal reloads the container as it was).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", from = "PersistedState")]
pub struct ContainerState {
    pub status: ContainerStatus,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// With a healthcheck: how the probes went since the last start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
    #[serde(skip)]
    pub removal_in_progress: bool,
}

/// The on-disk shape, so that loading recomputes `status` instead of trusting a stale "removing".
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct PersistedState {
    running: bool,
    paused: bool,
    restarting: bool,
    #[serde(rename = "OOMKilled")]
    oom_killed: bool,
    dead: bool,
    pid: i32,
    exit_code: i32,
    error: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    health: Option<crate::health::Health>,
}

impl From<PersistedState> for ContainerState {
    fn from(p: PersistedState) -> Self {
        let mut state = ContainerState {
            status: ContainerStatus::Created,
            running: p.running,
            paused: p.paused,
            restarting: p.restarting,
            oom_killed: p.oom_killed,
            dead: p.dead,
            pid: p.pid,
            exit_code: p.exit_code,
            error: p.error,
            started_at: p.started_at.unwrap_or_else(|| ZERO_TIME.to_string()),
            finished_at: p.finished_at.unwrap_or_else(|| ZERO_TIME.to_string()),
            health: p.health,
            removal_in_progress: false,
        };
        state.refresh_status();
        state
    }
}

impl Default for ContainerState {
    fn default() -> Self {
        Self::new_created()
    }
}

impl ContainerState {
    pub fn new_created() -> Self {
        ContainerState {
            status: ContainerStatus::Created,
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.to_string(),
            finished_at: ZERO_TIME.to_string(),
            health: None,
            removal_in_progress: false,
        }
    }

    /// moby `State.State()`: the precedence among the non-exclusive flags.
    pub fn computed_status(&self) -> ContainerStatus {
        if self.running {
            if self.paused {
                ContainerStatus::Paused
            } else if self.restarting {
                ContainerStatus::Restarting
            } else {
                ContainerStatus::Running
            }
        } else if self.removal_in_progress {
            ContainerStatus::Removing
        } else if self.dead {
            ContainerStatus::Dead
        } else if is_zero_time(&self.started_at) {
            ContainerStatus::Created
        } else {
            ContainerStatus::Exited
        }
    }

    fn refresh_status(&mut self) {
        self.status = self.computed_status();
    }

    /// The process started: clears the previous run's exit code, error and OOM flag.
    pub fn set_running(&mut self, pid: i32, now: DateTime<Utc>) {
        self.error.clear();
        self.running = true;
        self.paused = false;
        self.restarting = false;
        self.exit_code = 0;
        self.pid = pid;
        self.oom_killed = false;
        self.started_at = format_timestamp(now);
        self.refresh_status();
    }

    /// The process exited. `error` replaces the recorded error (empty clears it), as moby's
    /// `SetError`.
    pub fn set_exited(
        &mut self,
        exit_code: i32,
        oom_killed: bool,
        error: &str,
        now: DateTime<Utc>,
    ) {
        self.running = false;
        self.paused = false;
        self.restarting = false;
        self.pid = 0;
        self.exit_code = exit_code;
        self.oom_killed = oom_killed;
        self.error = error.to_string();
        self.finished_at = format_timestamp(now);
        self.refresh_status();
    }

    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.refresh_status();
    }

    /// Waiting out the back-off before a policy restart. Call after [`Self::set_exited`], which
    /// records the exit code and finish time that "Restarting (N) X ago" shows. Docker keeps
    /// `Running` true meanwhile so that stop/rm/etc. treat the container as live.
    pub fn set_restarting(&mut self) {
        self.running = true;
        self.restarting = true;
        self.paused = false;
        self.pid = 0;
        self.refresh_status();
    }

    /// Removal failed part-way; the container is only good for another `rm`.
    pub fn set_dead(&mut self) {
        self.dead = true;
        self.refresh_status();
    }

    pub fn set_removing(&mut self) {
        self.removal_in_progress = true;
        self.refresh_status();
    }

    /// Removal failed (moby `ResetRemovalInProgress`).
    pub fn reset_removing(&mut self) {
        self.removal_in_progress = false;
        self.refresh_status();
    }

    /// moby `IsRunning`: true also while paused or restarting, because `Running` stays set then.
    pub fn is_running(&self) -> bool {
        self.running
    }
}

/// Go's `time.RFC3339Nano` for UTC: fraction without trailing zeros, `Z` suffix.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    // chrono folds a leap second into nanos >= 1e9; Go has no leap seconds, so clamp.
    let nanos = t.nanosecond().min(999_999_999);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

fn zero_time() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Parse a stored timestamp; unparsable text counts as Go's zero time.
pub fn parse_timestamp(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| zero_time())
}

fn is_zero_time(s: &str) -> bool {
    parse_timestamp(s) == zero_time()
}

/// The `Status` column of `/containers/json` (moby `State.String()`).
pub fn status_text(state: &ContainerState, now: DateTime<Utc>) -> String {
    if state.running {
        if state.paused {
            let up = human_duration(now - parse_timestamp(&state.started_at));
            return format!("Up {up} (Paused)");
        }
        if state.restarting {
            let ago = human_duration(now - parse_timestamp(&state.finished_at));
            return format!("Restarting ({}) {ago} ago", state.exit_code);
        }
        let up = human_duration(now - parse_timestamp(&state.started_at));
        return match &state.health {
            Some(h) => format!("Up {up} ({})", h.summary()),
            None => format!("Up {up}"),
        };
    }
    if state.removal_in_progress {
        return "Removal In Progress".to_string();
    }
    if state.dead {
        return "Dead".to_string();
    }
    if is_zero_time(&state.started_at) {
        return "Created".to_string();
    }
    if is_zero_time(&state.finished_at) {
        return String::new();
    }
    let ago = human_duration(now - parse_timestamp(&state.finished_at));
    format!("Exited ({}) {ago} ago", state.exit_code)
}

/// go-units `HumanDuration`, thresholds included: seconds and minutes truncate, hours round half
/// up, and years truncate again from the raw hours.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let exact_hours = d
        .num_nanoseconds()
        .map(|n| n as f64 / 3.6e12)
        .unwrap_or(seconds as f64 / 3600.0);
    let hours = (exact_hours + 0.5) as i64;
    if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

/// `HostConfig.RestartPolicy`. An empty name is Docker's pre-25.0 default and means "no".
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

impl RestartPolicy {
    /// The docker CLI's `--restart` parsing: syntax only (`name[:count]`); the daemon judges names.
    /// An empty string gives the empty policy, not "no", as the CLI sends for old daemons.
    pub fn parse(s: &str) -> Result<Self, StateError> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let (name, count) = match s.split_once(':') {
            Some(("", _)) => {
                return Err(StateError::RestartPolicyFormat(
                    "no policy provided before colon",
                ))
            }
            Some((name, count)) => (name, count),
            None => (s, ""),
        };
        let maximum_retry_count = if count.is_empty() {
            0
        } else {
            count.parse::<i64>().map_err(|_| {
                StateError::RestartPolicyFormat("maximum retry count must be an integer")
            })?
        };
        Ok(RestartPolicy {
            name: name.to_string(),
            maximum_retry_count,
        })
    }

    /// The daemon's check at create/update (moby `ValidateRestartPolicy`).
    pub fn validate(&self) -> Result<(), StateError> {
        let invalid = |msg: String| Err(StateError::InvalidRestartPolicy(msg));
        match self.name.as_str() {
            "always" | "unless-stopped" | "no" => match self.maximum_retry_count {
                0 => Ok(()),
                n if n < 0 => invalid(
                    "maximum retry count can only be used with 'on-failure' and cannot be negative"
                        .into(),
                ),
                _ => invalid("maximum retry count can only be used with 'on-failure'".into()),
            },
            "on-failure" if self.maximum_retry_count < 0 => {
                invalid("maximum retry count cannot be negative".into())
            }
            "on-failure" | "" => Ok(()),
            other => invalid(format!(
                "unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )),
        }
    }

    pub fn is_none(&self) -> bool {
        self.name.is_empty() || self.name == "no"
    }
}

/// moby restartmanager's verdict for the policy itself, before any manual stop is considered.
fn policy_restarts(
    policy: &RestartPolicy,
    exit_code: i32,
    stopped_by_user: bool,
    restart_count: u64,
) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !stopped_by_user,
        "on-failure" => {
            let max = policy.maximum_retry_count;
            let under_limit = max == 0 || (max > 0 && restart_count < max as u64);
            under_limit && exit_code != 0
        }
        _ => false,
    }
}

/// Whether to restart after the process exited. A user's stop/kill cancels any restart in Docker
/// (`ExitOnNext`), whatever the policy; `on-failure` counts retries against `MaximumRetryCount` (0
/// means unlimited).
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    stopped_by_user: bool,
    restart_count: u64,
) -> bool {
    !stopped_by_user && policy_restarts(policy, exit_code, stopped_by_user, restart_count)
}

/// Whether the daemon starts the container when it itself starts (moby `Container.ShouldRestart`
/// at restore). Here the manual stop matters only to `unless-stopped`: that is the whole difference
/// between it and `always`. Docker also requires the container to have been started before.
pub fn should_start_on_daemon_start(
    policy: &RestartPolicy,
    exit_code: i32,
    stopped_by_user: bool,
    restart_count: u64,
) -> bool {
    policy_restarts(policy, exit_code, stopped_by_user, restart_count)
}

const BACKOFF_INITIAL: StdDuration = StdDuration::from_millis(100);
const BACKOFF_MAX: StdDuration = StdDuration::from_secs(60);
const BACKOFF_RESET_AFTER: StdDuration = StdDuration::from_secs(10);

/// moby restartmanager's delay between policy restarts of one container. Docker starts a fresh one
/// whenever the user starts the container, so create a new `Backoff` then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    current: StdDuration,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay before the next restart, given how long the last run lasted. Call once per exit
    /// that is going to be restarted.
    pub fn next_delay(&mut self, ran_for: StdDuration) -> StdDuration {
        if ran_for >= BACKOFF_RESET_AFTER {
            self.current = StdDuration::ZERO;
        }
        self.current = if self.current.is_zero() {
            BACKOFF_INITIAL
        } else {
            (self.current * 2).min(BACKOFF_MAX)
        };
        self.current
    }
}

#[cfg(test)]
mod tests;
