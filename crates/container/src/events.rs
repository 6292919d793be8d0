//! Events as `/events` reports them: the current shape (Type, Action, Actor) plus the old
//! `status`/`id`/`from` fields that older clients still read.

use std::collections::BTreeMap;

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::record::Container;

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// A container event; attributes carry the image, the name, the labels and `extra`
    /// (exitCode on die, signal on kill, oldName on rename).
    pub fn container(c: &Container, action: &str, extra: &[(&str, String)]) -> Self {
        let mut attributes: BTreeMap<String, String> = c.config.labels.clone();
        attributes.insert("image".into(), c.config.image.clone());
        attributes.insert("name".into(), c.bare_name().to_string());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        let now = Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        Event {
            status: Some(action.to_string()),
            id: Some(c.id.clone()),
            from: Some(c.config.image.clone()),
            kind: "container".into(),
            action: action.to_string(),
            actor: Actor {
                id: c.id.clone(),
                attributes,
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
        }
    }
}

impl Event {
    /// An event of another kind of object (a volume, a network): Type, Action and Actor only,
    /// as dockerd sends them.
    pub fn object(kind: &str, id: &str, action: &str, attrs: &[(&str, String)]) -> Self {
        let now = Utc::now();
        Event {
            status: None,
            id: None,
            from: None,
            kind: kind.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), v.clone()))
                    .collect(),
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: now.timestamp_nanos_opt().unwrap_or(0),
        }
    }
}

/// How many past events `/events?since=` can replay.
const KEPT: usize = 1024;

/// The daemon's events: a broadcast for live listeners and the recent past for `since`.
pub struct EventLog {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            tx: broadcast::channel(KEPT).0,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }
}

impl EventLog {
    pub fn publish(&self, e: Event) {
        let mut recent = self.recent.lock().unwrap();
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(e.clone());
        // Subscribing under the same lock (see `subscribe`) means no event is both replayed
        // and delivered live, and none falls between the two.
        let _ = self.tx.send(e);
    }

    /// Past events at or after `since_nanos`, and a receiver for everything after them.
    pub fn subscribe(&self, since_nanos: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let recent = self.recent.lock().unwrap();
        let past = match since_nanos {
            Some(s) => recent
                .iter()
                .filter(|e| e.time_nano >= s)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, self.tx.subscribe())
    }
}
