//! The events that writes to users produce.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::event::{EventData, UserChange};
use super::{EventDraft, Topic, User, UserId};

impl EventDraft {
    /// `user_created`: every field the user was created with.
    pub fn user_created(user: &User) -> Self {
        let mut fields = Map::new();
        fields.insert("user_name".into(), user.user_name.clone().into());
        fields.insert("email".into(), user.email.clone().into());
        if let Some(display_name) = &user.display_name {
            fields.insert("display_name".into(), display_name.clone().into());
        }
        user_event(
            "user_created",
            user.id,
            fields,
            Some(user.clone()),
            user.created_at,
        )
    }

    /// `user_updated`: only the fields whose value changed.
    pub fn user_updated(user: &User, updated_fields: Map<String, Value>) -> Self {
        user_event(
            "user_updated",
            user.id,
            updated_fields,
            Some(user.clone()),
            user.updated_at,
        )
    }

    pub fn user_deleted(user_id: UserId, at: DateTime<Utc>) -> Self {
        user_event("user_deleted", user_id, Map::new(), None, at)
    }
}

/// Data events are default `message` events: no SSE `event:` line.
fn user_event(
    name: &'static str,
    user_id: UserId,
    updated_fields: Map<String, Value>,
    user: Option<User>,
    at: DateTime<Utc>,
) -> EventDraft {
    let change = UserChange {
        user_id,
        updated_fields,
        user,
    };
    EventDraft::new(
        Topic::user(user_id),
        name,
        None,
        at,
        EventData::UserChange(Box::new(change)),
    )
}
