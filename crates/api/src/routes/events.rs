//! `GET /events`: past events since `since`, then live ones until `until` or the client leaves.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use berth_container::events::Event;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiResult;
use crate::filters::Filters;
use crate::SharedState;

#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

/// Docker's event timestamps: Unix seconds, with an optional fraction, or RFC 3339, or a
/// duration before now ("10m").
fn nanos(v: &Option<String>) -> ApiResult<Option<i64>> {
    let Some(s) = v.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Some((secs, frac)) = s.split_once('.') {
        if let (Ok(secs), Ok(frac)) = (
            secs.parse::<i64>(),
            format!("{frac:0<9}")[..9].parse::<i64>(),
        ) {
            return Ok(Some(secs * 1_000_000_000 + frac));
        }
    }
    Ok(Some(crate::filters::parse_until(s)? * 1_000_000_000))
}

fn matches(e: &Event, f: &Filters) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let want = f.get(key);
        want.is_empty() || want.iter().any(|w| test(w))
    };
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    any("type", &|t| t == e.kind)
        && any("event", &|a| {
            a == e.action || e.action.starts_with(&format!("{a}:"))
        })
        && any("container", &|c| {
            e.kind == "container" && (e.actor.id.starts_with(c) || attr("name") == c)
        })
        && any("image", &|i| attr("image") == i || e.actor.id == i)
        && any("volume", &|v| e.kind == "volume" && e.actor.id == v)
        && f.labels_match(&e.actor.attributes)
}

pub async fn events(
    State(st): State<SharedState>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let filters = Filters::parse(q.filters.as_deref())?;
    filters.only(&[
        "config",
        "container",
        "daemon",
        "event",
        "image",
        "label",
        "network",
        "node",
        "plugin",
        "scope",
        "secret",
        "service",
        "type",
        "volume",
    ])?;
    let since = nanos(&q.since)?;
    let until = nanos(&q.until)?;
    let (past, mut live) = st.events.subscribe(since);
    let (tx, body) = mpsc::channel::<Bytes>(64);
    let line = |e: &Event| {
        Bytes::from(format!(
            "{}\n",
            serde_json::to_string(e).unwrap_or_default()
        ))
    };
    tokio::spawn(async move {
        for e in past
            .iter()
            .filter(|e| until.is_none_or(|u| e.time_nano <= u))
        {
            if matches(e, &filters) && tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let wait_until = match until {
            Some(u) if u <= now => return,
            Some(u) => Some(
                tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now) as u64),
            ),
            None => None,
        };
        loop {
            let next = async {
                match wait_until {
                    Some(t) => tokio::time::timeout_at(t, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            let e = tokio::select! {
                e = next => e,
                _ = tx.closed() => return,
            };
            match e {
                None => return,
                Some(Ok(e)) => {
                    if matches(&e, &filters) && tx.send(line(&e)).await.is_err() {
                        return;
                    }
                }
                Some(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Some(Err(broadcast::error::RecvError::Closed)) => return,
            }
        }
    });
    Ok(crate::stream::bytes(body, "application/json"))
}
