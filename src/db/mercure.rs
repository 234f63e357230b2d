//! The Mercure hub's updates in the event log. An update is one event (topic
//! `/.well-known/mercure`, `event` `mercure_update`, the update as `data`),
//! appended through the [`Writer`] like a notification, with its id
//! reserved in `mercure_ids` in the same transaction: unique across every
//! instance, and where it stands in the log for a resume by id.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

use super::Error;
use super::announce::Announce;
use super::event_log;
use super::writer::{Change, Writer};
use crate::db::statement::statement;
use crate::domain::mercure::Update;
use crate::domain::{EventDraft, Topic};

/// The envelope's `event` of an update.
pub const UPDATE_EVENT: &str = "mercure_update";

/// Appends `update`, its id reserved, unless the same update holds it
/// already; `Error::MercureIdTaken` if another update does.
pub async fn publish(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    update: Update,
) -> Result<(), Error> {
    writer
        .write(announce, move |txn, slot| {
            let update = update.clone();
            Box::pin(async move {
                // Does nothing on a conflict, which would otherwise abort the
                // transaction the batch's other writes share; on PostgreSQL
                // it first waits for a transaction holding the same id.
                let reserved = txn
                    .query_one_raw(statement(
                        txn,
                        "INSERT INTO mercure_ids (mercure_id, fingerprint, event_id, created_at) \
                         VALUES ($1, $2, NULL, $3) ON CONFLICT (mercure_id) DO NOTHING \
                         RETURNING mercure_id",
                        vec![
                            update.id.clone().into(),
                            update.fingerprint().into(),
                            slot.now.into(),
                        ],
                    ))
                    .await?;
                if reserved.is_none() {
                    let held: Option<String> = txn
                        .query_one_raw(statement(
                            txn,
                            "SELECT fingerprint FROM mercure_ids WHERE mercure_id = $1",
                            vec![update.id.clone().into()],
                        ))
                        .await?
                        .map(|row| row.try_get("", "fingerprint"))
                        .transpose()?;
                    // The same update published before: a publisher's
                    // retry, answered with the id again and appended once.
                    return if held.as_deref() == Some(update.fingerprint().as_str()) {
                        Ok(Change::Nothing(()))
                    } else {
                        Err(Error::MercureIdTaken(update.id.clone()))
                    };
                }
                let id = append(txn, &update, slot.now).await?;
                txn.execute_raw(statement(
                    txn,
                    "UPDATE mercure_ids SET event_id = $1 WHERE mercure_id = $2",
                    vec![id.into(), update.id.clone().into()],
                ))
                .await?;
                Ok(Change::Made(()))
            })
        })
        .await
}

/// Appends `update` to the log in `txn`: for a publisher's update, and for
/// the hub's own subscription events.
pub(super) async fn append(
    txn: &impl ConnectionTrait,
    update: &Update,
    at: DateTime<Utc>,
) -> Result<i64, Error> {
    let data = serde_json::to_value(update).map_err(|e| Error::Internal(e.into()))?;
    let draft = EventDraft::new(Topic::mercure_hub(), UPDATE_EVENT, None, at, data);
    Ok(event_log::append(txn, &draft).await?.id)
}

/// Where the update `mercure_id` stands in the log, while it is retained.
pub(super) async fn position(
    db: &DatabaseConnection,
    mercure_id: &str,
) -> Result<Option<i64>, Error> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT m.event_id FROM mercure_ids AS m \
             JOIN events AS e ON e.id = m.event_id WHERE m.mercure_id = $1",
            vec![mercure_id.into()],
        ))
        .await?;
    Ok(row.map(|row| row.try_get("", "event_id")).transpose()?)
}

/// The newest retained updates, newest first, at most `limit` of them: for
/// telling a subscriber which one it would have had last. Generic over the
/// connection so that a listing reads it in its own snapshot.
pub(super) async fn newest(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<Update>, Error> {
    let rows = db
        .query_all_raw(statement(
            db,
            "SELECT payload FROM events WHERE topic = $1 ORDER BY id DESC LIMIT $2",
            vec![
                Topic::mercure_hub().as_str().into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        ))
        .await?;
    let mut updates = Vec::with_capacity(rows.len());
    for row in rows {
        let payload: String = row.try_get("", "payload")?;
        if let Some(update) = update_of(&payload) {
            updates.push(update);
        }
    }
    Ok(updates)
}

/// The update an event's envelope holds, if it holds one.
pub fn update_of(payload: &str) -> Option<Update> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        event: String,
        data: Update,
    }
    serde_json::from_str::<Envelope>(payload)
        .ok()
        .filter(|envelope| envelope.event == UPDATE_EVENT)
        .map(|envelope| envelope.data)
}

/// Forgets the ids whose updates retention has pruned: they may be used
/// again. Returns how many.
pub(super) async fn forget_pruned(txn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let result = txn
        .execute_raw(statement(
            txn,
            "DELETE FROM mercure_ids WHERE event_id < coalesce((SELECT min(id) FROM events), \
             (SELECT last_id + 1 FROM event_counter WHERE id = 1))",
            vec![],
        ))
        .await?;
    Ok(result.rows_affected())
}
