//! An event as every stream sends it: encoded once, when it is delivered
//! or read from the log, and shared by every subscriber it goes to.

use std::sync::Arc;

use bytes::Bytes;

use super::frame;
use super::position::Tag;
use crate::db::event_log::LoggedEvent;
use crate::db::mercure;
use crate::domain::mercure::{HUB_PATH, SharedUpdate};

/// One committed event, encoded once; every subscriber shares these bytes.
/// A Mercure update is encoded as the hub sends it, for Mercure streams only.
#[derive(Debug)]
pub struct EventFrame {
    pub id: i64,
    pub tag: Tag,
    pub topic: String,
    pub bytes: Bytes,
    /// The update, if this event is a Mercure update.
    pub mercure: Option<Arc<SharedUpdate>>,
}

impl EventFrame {
    pub fn encode(event: &LoggedEvent) -> Self {
        let tag = Tag::of(&event.payload);
        let mercure = (event.topic == HUB_PATH)
            .then(|| mercure::update_of(&event.payload))
            .flatten();
        let bytes = match &mercure {
            Some(update) => frame::mercure(update),
            None => frame::message(event.id, tag, event.sse_event.as_deref(), &event.payload),
        };
        Self {
            id: event.id,
            tag,
            topic: event.topic.clone(),
            bytes,
            mercure: mercure.map(|update| Arc::new(SharedUpdate::new(update))),
        }
    }
}
