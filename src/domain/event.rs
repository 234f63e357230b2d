use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{EventName, Topic, time};

/// An event a write is about to commit, before the log gives it an id.
#[derive(Debug, Clone)]
pub struct EventDraft {
    topic: Topic,
    /// The envelope's `event` field.
    name: Cow<'static, str>,
    /// The SSE `event:` line; `None` sends a default `message`.
    sse_event: Option<EventName>,
    at: DateTime<Utc>,
    data: Value,
}

/// The JSON every subscriber receives as an event's `data:`. The triggers
/// on `users` write the same shape for data changes (`migrations/sql/`).
#[derive(Serialize)]
struct Envelope<'a> {
    id: i64,
    event: &'a str,
    topic: &'a str,
    #[serde(serialize_with = "time::rfc3339_micros")]
    at: DateTime<Utc>,
    data: &'a Value,
}

impl EventDraft {
    pub fn new(
        topic: Topic,
        name: impl Into<Cow<'static, str>>,
        sse_event: Option<EventName>,
        at: DateTime<Utc>,
        data: Value,
    ) -> Self {
        Self {
            topic,
            name: name.into(),
            sse_event,
            at,
            data,
        }
    }

    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn sse_event(&self) -> Option<&EventName> {
        self.sse_event.as_ref()
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The envelope as one line of JSON, once the event has its id.
    pub fn envelope(&self, id: i64) -> Result<String, serde_json::Error> {
        serde_json::to_string(&Envelope {
            id,
            event: &self.name,
            topic: self.topic.as_str(),
            at: self.at,
            data: &self.data,
        })
    }
}
