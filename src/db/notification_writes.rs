//! Publishing a notification: an event of its own in the log, written
//! through the [`Writer`] like any data change.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::Error;
use super::announce::Announce;
use sea_orm::DatabaseTransaction;

use super::event_log;
use super::idempotency::{self, Remembered};
use super::live_tables;
use super::writer::{Change, Writer};
use crate::domain::NewNotification;

/// Where a notification went: its event id and topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Published {
    pub id: i64,
    pub topic: String,
}

/// A caller's `Idempotency-Key`, scoped to the caller (the token's subject).
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub subject: String,
    pub key: String,
}

/// Publishes `notification`. With a key already used for the same request
/// it publishes nothing and returns what the first request published.
pub async fn publish(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    notification: NewNotification,
    idempotency_key: Option<IdempotencyKey>,
) -> Result<Published, Error> {
    writer
        .write(announce, move |txn, slot| {
            let (notification, idempotency_key) = (notification.clone(), idempotency_key.clone());
            Box::pin(async move {
                refuse_live_table_topic(txn, notification.topic().as_str()).await?;
                let fingerprint = idempotency_key
                    .as_ref()
                    .map(|_| digest(&notification.fingerprint()));
                if let (Some(IdempotencyKey { subject, key }), Some(fingerprint)) =
                    (&idempotency_key, &fingerprint)
                    && let Some(first) = idempotency::find(txn, subject, key).await?
                {
                    return if first.fingerprint == *fingerprint {
                        Ok(Change::Nothing(Published {
                            id: first.event_id,
                            topic: first.topic,
                        }))
                    } else {
                        Err(Error::IdempotencyKeyReused)
                    };
                }
                let event = event_log::append(txn, &notification.draft(slot.now)).await?;
                let published = Published {
                    id: event.id,
                    topic: event.topic,
                };
                if let (Some(IdempotencyKey { subject, key }), Some(fingerprint)) =
                    (&idempotency_key, fingerprint)
                {
                    let remembered = Remembered {
                        fingerprint,
                        event_id: published.id,
                        topic: published.topic.clone(),
                    };
                    idempotency::remember(txn, subject, key, remembered, slot.now)
                        .await
                        .map_err(|error| match error.sql_err() {
                            // Another writer holds the key and has not
                            // committed yet: never publish a second time.
                            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                                Error::IdempotencyKeyInProgress
                            }
                            _ => error.into(),
                        })?;
                }
                Ok(Change::Made(published))
            })
        })
        .await
}

/// A live table's topics (`<table>` and under it) carry its data changes
/// only: a client must be able to trust a `row_*` event. Asked in the write
/// itself, so that a table watched a moment ago counts.
async fn refuse_live_table_topic(txn: &DatabaseTransaction, topic: &str) -> Result<(), Error> {
    let first = topic.split('/').next().unwrap_or(topic);
    if live_tables::is_watched(txn, first).await? {
        return Err(Error::LiveTableTopic {
            topic: topic.to_owned(),
            table: first.to_owned(),
        });
    }
    Ok(())
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
