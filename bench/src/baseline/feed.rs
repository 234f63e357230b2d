//! Event ids and the broadcast channel every stream reads.

use std::sync::Mutex;

use serde_json::json;
use tokio::sync::broadcast;

use crate::db::User;

/// How many events a slow stream may fall behind before it skips some: the
/// textbook value.
const CAPACITY: usize = 100;

/// An event as it goes out: its id and its JSON envelope.
#[derive(Clone)]
pub struct Published {
    pub id: u64,
    pub json: String,
}

pub struct Feed {
    sender: broadcast::Sender<Published>,
    /// The newest id handed out. Assigning and sending under one lock is what
    /// keeps ids going out in order.
    last_id: Mutex<u64>,
}

impl Feed {
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            last_id: Mutex::new(0),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.sender.subscribe()
    }

    pub fn last_id(&self) -> u64 {
        *self
            .last_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers the creation of `user`, committed at `at`, and sends it to
    /// every stream in the envelope Herald uses.
    pub fn user_created(&self, user: &User, at: &str) {
        let mut last_id = self
            .last_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *last_id += 1;
        let mut updated_fields = json!({"user_name": user.user_name, "email": user.email});
        if let Some(display_name) = &user.display_name {
            updated_fields["display_name"] = display_name.clone().into();
        }
        let envelope = json!({
            "id": *last_id,
            "event": "user_created",
            "topic": format!("users/{}", user.id),
            "at": at,
            "data": {"user_id": user.id, "updated_fields": updated_fields, "user": user},
        });
        // No stream open is not an error: the event is simply not seen.
        let _ = self.sender.send(Published {
            id: *last_id,
            json: envelope.to_string(),
        });
    }
}
