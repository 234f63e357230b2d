//! Requests remembered by their `Idempotency-Key`, so that a retry returns
//! the first response instead of publishing twice.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entities::idempotency_key;

/// How long a key is remembered.
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What the first request with a key published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub fingerprint: String,
    pub event_id: i64,
    pub topic: String,
}

pub async fn find(
    conn: &impl ConnectionTrait,
    subject: &str,
    key: &str,
) -> Result<Option<Remembered>, DbErr> {
    Ok(
        idempotency_key::Entity::find_by_id((subject.to_owned(), key.to_owned()))
            .one(conn)
            .await?
            .map(|row| Remembered {
                fingerprint: row.fingerprint,
                event_id: row.event_id,
                topic: row.topic,
            }),
    )
}

pub async fn remember(
    conn: &impl ConnectionTrait,
    subject: &str,
    key: &str,
    remembered: Remembered,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    idempotency_key::Entity::insert(idempotency_key::ActiveModel {
        subject: Set(subject.to_owned()),
        key: Set(key.to_owned()),
        fingerprint: Set(remembered.fingerprint),
        event_id: Set(remembered.event_id),
        topic: Set(remembered.topic),
        created_at: Set(at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Forgets keys used before `cutoff`; returns how many.
pub async fn forget_before(
    conn: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreatedAt.lt(cutoff))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
