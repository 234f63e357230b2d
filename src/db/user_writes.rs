//! Changes to users, each written through the [`Writer`]. The database's
//! triggers on `users` append each change's event in the same statement
//! (see `migrations/sql/`), as they do for any other writer: one source of
//! events, so Herald's own writes and a SQL shell's cannot disagree. Each
//! write here changes one row, so it makes one event, and answers with the
//! user as that event has it: what the database made of the row (its
//! version and times), without asking for the row again on the write path.

use std::sync::Arc;

use sea_orm::DatabaseTransaction;
use serde::Deserialize;

use super::Error;
use super::announce::Announce;
use super::event_log::LoggedEvent;
use super::users::{self, NewUserRow, NewUsers, Taken};
use super::writer::{Change, JoinedRow, Writer};
use crate::domain::{IfMatch, NewUser, User, UserId, UserPatch};

pub async fn create(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    new: NewUser,
) -> Result<User, Error> {
    let ((), event) = writer
        .write_logged(announce, move |_, slot| {
            let new = new.clone();
            Box::pin(async move {
                // The id sorts by the batch's time, which the database's
                // clock gave; the database fills in the rest.
                let row = NewUserRow {
                    id: UserId::created_at(slot.now),
                    fields: new,
                };
                Ok(Change::Joined(JoinedRow::new::<NewUsers>(row), ()))
            })
        })
        .await?;
    user_after(event)
}

/// Applies `patch`; a patch that changes nothing commits nothing.
pub async fn update(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    id: UserId,
    patch: UserPatch,
    if_match: IfMatch,
) -> Result<User, Error> {
    let (unchanged, event) = writer
        .write_logged(announce, move |txn, slot| {
            let (patch, if_match) = (patch.clone(), if_match.clone());
            Box::pin(async move {
                let current = current_version(txn, id, &if_match).await?;
                let changes = patch.changes_to(&current);
                if changes.is_empty() {
                    return Ok(Change::Nothing(Some(current)));
                }
                let renamed = changes.contains_key("user_name") || changes.contains_key("email");
                let updated = patch.apply_to(current, slot.now);
                if renamed
                    && let Some(field) =
                        users::taken_field(txn, id, &updated.user_name, &updated.email).await?
                {
                    return Err(Error::Duplicate { field });
                }
                users::update(txn, &updated, changes.keys().map(String::as_str)).await?;
                Ok(Change::Made(None))
            })
        })
        .await?;
    match unchanged {
        Some(current) => Ok(current),
        None => user_after(event),
    }
}

pub async fn delete(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    id: UserId,
    if_match: IfMatch,
) -> Result<(), Error> {
    writer
        .write(announce, move |txn, _| {
            let if_match = if_match.clone();
            Box::pin(async move {
                current_version(txn, id, &if_match).await?;
                users::delete(txn, id).await?;
                Ok(Change::Made(()))
            })
        })
        .await
}

async fn current_version(
    txn: &DatabaseTransaction,
    id: UserId,
    if_match: &IfMatch,
) -> Result<User, Error> {
    let current = match users::take(txn, id).await? {
        Taken::User(user) => user,
        Taken::Missing => return Err(Error::UserNotFound(id)),
        Taken::Busy => return Err(Error::RowBusy),
    };
    if if_match.allows(current.version) {
        Ok(current)
    } else {
        Err(Error::VersionMismatch {
            current: current.version,
        })
    }
}

/// The user after a write, as its event has it.
fn user_after(event: Option<LoggedEvent>) -> Result<User, Error> {
    #[derive(Deserialize)]
    struct Envelope {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        user: User,
    }
    let event = event.ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("a write that changed a user made no event"))
    })?;
    serde_json::from_str::<Envelope>(&event.payload)
        .map(|envelope| envelope.data.user)
        .map_err(|error| {
            Error::Internal(anyhow::anyhow!(
                "event {} does not hold the user it wrote: {error}",
                event.id
            ))
        })
}
