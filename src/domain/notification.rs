//! A message a server pushes through the log: to one inbox, to everyone, or
//! to any topic of its own.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::user_input::{optional, required, unknown_fields};
use super::{EventDraft, EventName, FieldErrors, Topic};

/// The most `data` may take, serialized: a notification is a message, not a
/// file transfer.
pub const MAX_DATA_BYTES: usize = 16 * 1024;

const FIELDS: [&str; 3] = ["topic", "event", "data"];

#[derive(Debug, Clone)]
pub struct NewNotification {
    topic: Topic,
    event: Option<EventName>,
    data: Value,
}

/// Why a notification cannot be published.
#[derive(Debug)]
pub enum NotificationProblem {
    Invalid(FieldErrors),
    /// `users/…` carries committed data changes only.
    ReservedTopic(String),
    DataTooLarge,
}

impl NewNotification {
    pub fn parse(mut body: Map<String, Value>) -> Result<Self, NotificationProblem> {
        if let Some(raw) = body.get("topic").and_then(Value::as_str)
            && Topic::is_reserved(raw)
        {
            return Err(NotificationProblem::ReservedTopic(raw.to_owned()));
        }
        let mut errors = unknown_fields(&body, &[&FIELDS]);
        let topic = required(&body, "topic", &mut errors, Topic::parse);
        let event = optional(&body, "event", &mut errors, EventName::parse);
        let data = body.remove("data");
        if data.is_none() {
            errors.add("data", "is required (any JSON value)");
        }
        let (Some(topic), Some(event), Some(data)) = (topic, event, data) else {
            return Err(NotificationProblem::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(NotificationProblem::Invalid(errors));
        }
        if data.to_string().len() > MAX_DATA_BYTES {
            return Err(NotificationProblem::DataTooLarge);
        }
        Ok(Self { topic, event, data })
    }

    pub fn topic(&self) -> &Topic {
        &self.topic
    }

    /// The event this notification becomes: named after `event` when given
    /// (and sent with that SSE `event:` line), `notification` otherwise.
    pub fn draft(&self, at: DateTime<Utc>) -> EventDraft {
        let name = self
            .event
            .as_ref()
            .map_or("notification".to_owned(), |e| e.as_str().to_owned());
        EventDraft::new(
            self.topic.clone(),
            name,
            self.event.clone(),
            at,
            self.data.clone(),
        )
    }

    /// What makes two requests the same request, for `Idempotency-Key`:
    /// object keys are sorted, so key order and spacing do not matter.
    pub fn fingerprint(&self) -> String {
        json!({
            "topic": self.topic.as_str(),
            "event": self.event.as_ref().map(EventName::as_str),
            "data": self.data,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<NewNotification, NotificationProblem> {
        match body {
            Value::Object(map) => NewNotification::parse(map),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        match parse(json!({"topic": "a b", "event": "message", "extra": 1})) {
            Err(NotificationProblem::Invalid(errors)) => {
                assert_eq!(
                    errors.fields().collect::<Vec<_>>(),
                    ["data", "event", "extra", "topic"]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn users_topics_are_refused_and_data_is_bounded() {
        let id = crate::domain::UserId::new();
        for topic in [
            format!("users/{id}"),
            "users".into(),
            "users/not-an-id".into(),
        ] {
            assert!(matches!(
                parse(json!({"topic": topic, "data": 1})),
                Err(NotificationProblem::ReservedTopic(_))
            ));
        }
        assert!(matches!(
            parse(json!({"topic": "news", "data": "x".repeat(MAX_DATA_BYTES)})),
            Err(NotificationProblem::DataTooLarge)
        ));
    }

    #[test]
    fn the_fingerprint_ignores_key_order() -> Result<(), String> {
        let a =
            parse(json!({"topic": "t", "data": {"a": 1, "b": 2}})).map_err(|e| format!("{e:?}"))?;
        let b =
            parse(json!({"data": {"b": 2, "a": 1}, "topic": "t"})).map_err(|e| format!("{e:?}"))?;
        assert_eq!(a.fingerprint(), b.fingerprint());
        let named = parse(json!({"topic": "t", "event": "psh", "data": null}))
            .map_err(|e| format!("{e:?}"))?;
        assert_eq!(named.draft(chrono::Utc::now()).name(), "psh");
        Ok(())
    }
}
