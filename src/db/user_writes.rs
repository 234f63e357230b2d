//! Changes to users, each written through the [`Writer`] together with the
//! event it produces.

use std::sync::Arc;

use sea_orm::DatabaseTransaction;

use super::Error;
use super::announce::Announce;
use super::users;
use super::writer::{Change, Writer};
use crate::domain::{EventDraft, IfMatch, NewUser, User, UserId, UserPatch};

pub async fn create(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    new: NewUser,
) -> Result<User, Error> {
    writer
        .write(announce, move |txn, slot| {
            let new = new.clone();
            Box::pin(async move {
                let user = User {
                    id: UserId::created_at(slot.now),
                    user_name: new.user_name.as_str().to_owned(),
                    email: new.email.as_str().to_owned(),
                    display_name: new.display_name.map(|d| d.as_str().to_owned()),
                    version: 1,
                    created_at: slot.now,
                    updated_at: slot.now,
                };
                if let Some(field) = users::insert_unless_taken(txn, &user).await? {
                    return Err(Error::Duplicate { field });
                }
                Ok(Change::Made {
                    event: EventDraft::user_created(&user),
                    value: user,
                })
            })
        })
        .await
}

/// Applies `patch`; a patch that changes nothing commits nothing.
pub async fn update(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    id: UserId,
    patch: UserPatch,
    if_match: IfMatch,
) -> Result<User, Error> {
    writer
        .write(announce, move |txn, slot| {
            let (patch, if_match) = (patch.clone(), if_match.clone());
            Box::pin(async move {
                let current = current_version(txn, id, &if_match).await?;
                let changes = patch.changes_to(&current);
                if changes.is_empty() {
                    return Ok(Change::Nothing(current));
                }
                let renamed = changes.contains_key("user_name") || changes.contains_key("email");
                let updated = patch.apply_to(current, slot.now);
                if renamed && let Some(field) = users::taken_field(txn, &updated).await? {
                    return Err(Error::Duplicate { field });
                }
                users::update(txn, &updated).await?;
                Ok(Change::Made {
                    event: EventDraft::user_updated(&updated, changes),
                    value: updated,
                })
            })
        })
        .await
}

pub async fn delete(
    writer: &Writer,
    announce: Arc<dyn Announce>,
    id: UserId,
    if_match: IfMatch,
) -> Result<(), Error> {
    writer
        .write(announce, move |txn, slot| {
            let if_match = if_match.clone();
            Box::pin(async move {
                current_version(txn, id, &if_match).await?;
                users::delete(txn, id).await?;
                Ok(Change::Made {
                    event: EventDraft::user_deleted(id, slot.now),
                    value: (),
                })
            })
        })
        .await
}

async fn current_version(
    txn: &DatabaseTransaction,
    id: UserId,
    if_match: &IfMatch,
) -> Result<User, Error> {
    let current = users::find(txn, id).await?.ok_or(Error::UserNotFound(id))?;
    if if_match.allows(current.version) {
        Ok(current)
    } else {
        Err(Error::VersionMismatch {
            current: current.version,
        })
    }
}
