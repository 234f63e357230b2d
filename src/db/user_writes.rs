//! Every change to users happens here, in one transaction with the event it
//! produces: the event exists if and only if the change committed.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use super::event_log::{self, LoggedEvent};
use super::users;
use crate::domain::{IfMatch, NewUser, User, UserEvent, UserId, UserPatch};
use crate::error::Error;

/// The result of a write, with the event to publish when something changed.
#[derive(Debug)]
pub struct Written<T> {
    pub value: T,
    pub event: Option<LoggedEvent>,
}

/// What a write decided inside its transaction.
enum Change<T> {
    Made { value: T, event: UserEvent },
    Nothing(T),
}

pub async fn create(db: &DatabaseConnection, new: NewUser) -> Result<Written<User>, Error> {
    write(db, async move |txn| {
        let now = now();
        let user = User {
            id: UserId::new(),
            user_name: new.user_name.as_str().to_owned(),
            email: new.email.as_str().to_owned(),
            display_name: new.display_name.map(|d| d.as_str().to_owned()),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        users::insert(txn, &user).await?;
        Ok(Change::Made {
            event: UserEvent::created(&user),
            value: user,
        })
    })
    .await
}

/// Applies `patch`; a patch that changes nothing commits nothing.
pub async fn update(
    db: &DatabaseConnection,
    id: UserId,
    patch: UserPatch,
    if_match: IfMatch,
) -> Result<Written<User>, Error> {
    write(db, async move |txn| {
        let current = current_version(txn, id, &if_match).await?;
        let changes = patch.changes_to(&current);
        if changes.is_empty() {
            return Ok(Change::Nothing(current));
        }
        let updated = patch.apply_to(current, now());
        users::update(txn, &updated).await?;
        Ok(Change::Made {
            event: UserEvent::updated(&updated, changes),
            value: updated,
        })
    })
    .await
}

pub async fn delete(
    db: &DatabaseConnection,
    id: UserId,
    if_match: IfMatch,
) -> Result<Written<()>, Error> {
    write(db, async move |txn| {
        current_version(txn, id, &if_match).await?;
        users::delete(txn, id).await?;
        Ok(Change::Made {
            event: UserEvent::deleted(id, now()),
            value: (),
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

/// Runs `op` in a write transaction that has reserved the next event id
/// before anything else, so concurrent writers commit in event-id order.
async fn write<T>(
    db: &DatabaseConnection,
    op: impl AsyncFnOnce(&DatabaseTransaction) -> Result<Change<T>, Error>,
) -> Result<Written<T>, Error> {
    // IMMEDIATE takes SQLite's write lock at BEGIN, so the busy timeout
    // queues writers instead of failing one whose read snapshot went stale.
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let txn = db.begin_with_options(options).await?;
    let event_id = event_log::reserve_next_id(&txn).await?;
    match op(&txn).await {
        Ok(Change::Made { value, event }) => {
            let logged = event_log::append(&txn, event_id, &event).await?;
            txn.commit().await?;
            tracing::info!(event_id, event = event.name(), topic = %logged.topic, "committed write");
            Ok(Written {
                value,
                event: Some(logged),
            })
        }
        Ok(Change::Nothing(value)) => {
            txn.rollback().await?;
            Ok(Written { value, event: None })
        }
        Err(error) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "rollback after a failed write failed");
            }
            Err(error)
        }
    }
}

/// Timestamps keep microseconds, the precision both databases store.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
