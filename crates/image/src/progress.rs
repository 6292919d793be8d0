//! Docker's JSON progress messages (`JSONMessage`), as pull, push, load and import stream them,
//! and the size and progress-bar formatting Docker uses for them.

use serde::{Deserialize, Serialize};

/// One line of a progress stream. Field names and presence follow the Docker daemon exactly:
/// clients key on `status`, `id`, `progressDetail`, `errorDetail` and `aux`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

impl JsonMessage {
    /// A status line without an id: `Digest: …`, `Status: …`.
    pub fn status(s: impl Into<String>) -> Self {
        JsonMessage {
            status: Some(s.into()),
            ..Default::default()
        }
    }

    /// A per-item status line (`Pull complete` for a layer): carries an empty `progressDetail`.
    pub fn item(id: impl Into<String>, s: impl Into<String>) -> Self {
        JsonMessage {
            status: Some(s.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail::default()),
            ..Default::default()
        }
    }

    /// The header line of a pull or push: an id but no `progressDetail`.
    pub fn header(id: impl Into<String>, s: impl Into<String>) -> Self {
        JsonMessage {
            status: Some(s.into()),
            id: Some(id.into()),
            ..Default::default()
        }
    }

    /// A progress line with a pre-rendered bar, as the daemon sends for old clients.
    pub fn bytes(id: impl Into<String>, s: impl Into<String>, current: u64, total: u64) -> Self {
        JsonMessage {
            status: Some(s.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: Some(total),
            }),
            progress: Some(progress_bar(current, total, 200)),
            ..Default::default()
        }
    }

    pub fn stream(s: impl Into<String>) -> Self {
        JsonMessage {
            stream: Some(s.into()),
            ..Default::default()
        }
    }

    /// An in-band error, with both the field the Go client reads and the one docker-py reads.
    pub fn error(message: impl Into<String>) -> Self {
        let m = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code: None,
                message: m.clone(),
            }),
            error: Some(m),
            ..Default::default()
        }
    }

    pub fn aux(v: serde_json::Value) -> Self {
        JsonMessage {
            progress_detail: Some(ProgressDetail::default()),
            aux: Some(v),
            ..Default::default()
        }
    }
}

/// Docker's `units.HumanSizeWithPrecision`: decimal units, `precision` significant digits.
pub fn human_size(size: f64, precision: usize) -> String {
    scaled(
        size,
        precision,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
    )
}

/// Docker's `units.BytesSize`: binary units, four significant digits (`Total Memory: 23.47GiB`).
pub fn bytes_size(size: f64) -> String {
    scaled(
        size,
        4,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
    )
}

fn scaled(size: f64, precision: usize, base: f64, units: &[&str]) -> String {
    let mut s = size;
    let mut i = 0;
    while s >= base && i < units.len() - 1 {
        s /= base;
        i += 1;
    }
    format!("{}{}", format_g(s, precision), units[i])
}

/// Go's `%.{p}g` for the non-negative values sizes take: `p` significant digits, trailing zeros
/// trimmed.
fn format_g(v: f64, p: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits_before = (v.abs().log10().floor() as i32 + 1).max(1) as usize;
    let decimals = p.saturating_sub(digits_before);
    let mut s = format!("{v:.decimals$}");
    // Rounding may add a digit (999.95 → 1000.0); Go would switch to exponent form there, which
    // sizes never reach because the caller divides by 1000 first.
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

/// The bar Docker renders into the `progress` field: `[=====>     ]  1.2MB/4.5MB`.
pub fn progress_bar(current: u64, total: u64, width: usize) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current as f64, 4));
    }
    let mut pct = ((current as f64 / total as f64 * 100.0) as usize) / 2;
    pct = pct.min(50);
    let mut out = String::new();
    if width > 110 {
        out.push('[');
        out.push_str(&"=".repeat(pct));
        out.push('>');
        out.push_str(&" ".repeat(50 - pct));
        out.push_str("] ");
    }
    let cur = human_size(current as f64, 4);
    if current > total {
        out.push_str(&format!("{cur:>8}"));
    } else {
        out.push_str(&format!("{cur:>8}/{}", human_size(total as f64, 4)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(153.0, 4), "153B");
        assert_eq!(human_size(4_857_600.0, 3), "4.86MB");
        assert_eq!(human_size(1000.0, 3), "1kB");
        assert_eq!(human_size(1024.0, 3), "1.02kB");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(2_200_000.0, 4), "2.2MB");
        assert_eq!(bytes_size(25_200_000_000.0), "23.47GiB");
    }

    #[test]
    fn bar_matches_the_daemon() {
        assert_eq!(
            progress_bar(153, 153, 200),
            "[==================================================>]     153B/153B"
        );
        assert_eq!(
            progress_bar(0, 100, 200),
            format!("[>{}]       0B/100B", " ".repeat(50))
        );
    }

    #[test]
    fn serialises_like_dockerd() {
        let m = JsonMessage::item("6a9c585051dd", "Pulling fs layer");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Pulling fs layer","progressDetail":{},"id":"6a9c585051dd"}"#
        );
        let m = JsonMessage::header("latest", "Pulling from library/twolayer");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Pulling from library/twolayer","id":"latest"}"#
        );
        let m = JsonMessage::bytes("6a9c585051dd", "Downloading", 153, 153);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Downloading","progressDetail":{"current":153,"total":153},"progress":"[==================================================>]     153B/153B","id":"6a9c585051dd"}"#
        );
    }
}
