use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{EventName, Topic, User, UserId};

/// An event a write is about to commit, before the log gives it an id.
#[derive(Debug, Clone)]
pub struct EventDraft {
    topic: Topic,
    /// The envelope's `event` field.
    name: Cow<'static, str>,
    /// The SSE `event:` line; `None` sends a default `message`.
    sse_event: Option<EventName>,
    at: DateTime<Utc>,
    data: EventData,
}

/// An event's `data`: a data change's fields in a fixed order, or the JSON
/// a publisher sent.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum EventData {
    UserChange(Box<UserChange>),
    Json(Value),
}

/// What a data event says about a user.
#[derive(Debug, Clone, Serialize)]
pub struct UserChange {
    pub user_id: UserId,
    pub updated_fields: Map<String, Value>,
    pub user: Option<User>,
}

/// The JSON every subscriber receives as an event's `data:`.
#[derive(Serialize)]
struct Envelope<'a> {
    id: i64,
    event: &'a str,
    topic: &'a str,
    at: DateTime<Utc>,
    data: &'a EventData,
}

impl EventDraft {
    pub fn new(
        topic: Topic,
        name: impl Into<Cow<'static, str>>,
        sse_event: Option<EventName>,
        at: DateTime<Utc>,
        data: EventData,
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
