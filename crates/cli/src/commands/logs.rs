//! `logs`: the container's log stream, demultiplexed to stdout and stderr unless the container
//! has a TTY (the CLI inspects it first to know which).

use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;

use crate::client::{empty, q, Client};
use crate::session::write_to;
use crate::stdcopy::{Demux, Stream};
use crate::timestamp::get_timestamp;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since", default_value = "", hide_default_value = true)]
    since: String,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long = "tail", default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until", default_value = "", hide_default_value = true)]
    until: String,
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// The logs query, keys sorted as Go's `url.Values` encodes them.
fn logs_query(a: &LogsArgs, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    let mut query = Vec::new();
    if a.details {
        query.push("details=1".to_string());
    }
    if a.follow {
        query.push("follow=1".into());
    }
    if !a.since.is_empty() {
        let ts = get_timestamp(&a.since, now)
            .map_err(|e| anyhow::anyhow!("invalid value for \"since\": {e}"))?;
        query.push(format!("since={}", q(&ts)));
    }
    query.push("stderr=1".into());
    query.push("stdout=1".into());
    query.push(format!("tail={}", q(&a.tail)));
    if a.timestamps {
        query.push("timestamps=1".into());
    }
    if !a.until.is_empty() {
        let ts = get_timestamp(&a.until, now)
            .map_err(|e| anyhow::anyhow!("invalid value for \"until\": {e}"))?;
        query.push(format!("until={}", q(&ts)));
    }
    Ok(query.join("&"))
}

/// `logs`: inspects for the TTY setting, then copies the log stream until it ends.
pub async fn logs(client: &Client, a: LogsArgs) -> anyhow::Result<u8> {
    let c = client
        .get_json(&format!("/containers/{}/json", a.container))
        .await?;
    let id = c["Id"].as_str().unwrap_or(&a.container).to_string();
    let tty = c["Config"]["Tty"].as_bool().unwrap_or(false);
    let query = logs_query(&a, chrono::Utc::now())?;
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{id}/logs?{query}"),
            empty(),
            &[],
        )
        .await?;
    let mut body = resp.into_body();
    let mut demux = Demux::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if tty {
            write_to(Stream::Stdout, data)?;
        } else {
            demux.feed(data, &mut |s, p| write_to(s, p))?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: LogsArgs,
    }

    #[test]
    fn query_like_the_go_client() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let a = T::parse_from(["logs", "x"]).a;
        assert_eq!(logs_query(&a, now).unwrap(), "stderr=1&stdout=1&tail=all");
        let a = T::parse_from([
            "logs",
            "-f",
            "--since",
            "10m",
            "--until",
            "2024-01-02T10:00:00Z",
            "-t",
            "-n",
            "5",
            "--details",
            "x",
        ])
        .a;
        assert_eq!(
            logs_query(&a, now).unwrap(),
            "details=1&follow=1&since=1704189000&stderr=1&stdout=1&tail=5&timestamps=1&until=1704189600.000000000"
        );
        let a = T::parse_from(["logs", "--since", "soon", "x"]).a;
        assert_eq!(
            logs_query(&a, now).unwrap_err().to_string(),
            "invalid value for \"since\": failed to parse value as time or duration: \"soon\""
        );
    }
}
