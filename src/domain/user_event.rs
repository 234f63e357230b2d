use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Topic, User, UserId};

/// What a committed write tells subscribers.
#[derive(Debug, Clone)]
pub struct UserEvent {
    kind: Kind,
    user_id: UserId,
    updated_fields: Map<String, Value>,
    user: Option<User>,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Created,
    Updated,
    Deleted,
}

/// The JSON every subscriber receives as an event's `data:`.
#[derive(Serialize)]
struct Envelope<'a> {
    id: i64,
    event: &'static str,
    topic: String,
    at: DateTime<Utc>,
    data: EnvelopeData<'a>,
}

#[derive(Serialize)]
struct EnvelopeData<'a> {
    user_id: UserId,
    updated_fields: &'a Map<String, Value>,
    user: Option<&'a User>,
}

impl UserEvent {
    pub fn created(user: &User) -> Self {
        let mut fields = Map::new();
        fields.insert("user_name".into(), user.user_name.clone().into());
        fields.insert("email".into(), user.email.clone().into());
        if let Some(display_name) = &user.display_name {
            fields.insert("display_name".into(), display_name.clone().into());
        }
        Self::new(
            Kind::Created,
            user.id,
            fields,
            Some(user.clone()),
            user.created_at,
        )
    }

    pub fn updated(user: &User, updated_fields: Map<String, Value>) -> Self {
        Self::new(
            Kind::Updated,
            user.id,
            updated_fields,
            Some(user.clone()),
            user.updated_at,
        )
    }

    pub fn deleted(user_id: UserId, at: DateTime<Utc>) -> Self {
        Self::new(Kind::Deleted, user_id, Map::new(), None, at)
    }

    fn new(
        kind: Kind,
        user_id: UserId,
        updated_fields: Map<String, Value>,
        user: Option<User>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            kind,
            user_id,
            updated_fields,
            user,
            at,
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Created => "user_created",
            Kind::Updated => "user_updated",
            Kind::Deleted => "user_deleted",
        }
    }

    pub fn topic(&self) -> Topic {
        Topic::User(self.user_id)
    }

    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The envelope as one line of JSON, once the event has its id.
    pub fn envelope(&self, id: i64) -> Result<String, serde_json::Error> {
        serde_json::to_string(&Envelope {
            id,
            event: self.name(),
            topic: self.topic().to_string(),
            at: self.at,
            data: EnvelopeData {
                user_id: self.user_id,
                updated_fields: &self.updated_fields,
                user: self.user.as_ref(),
            },
        })
    }
}
