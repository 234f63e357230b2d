//! The events table: the source of truth for what subscribers receive. Live
//! delivery, replays and catch-ups all read from here.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::entities::event;
use crate::domain::{Topic, TopicFilter, UserEvent};

/// A committed event: its id, its topic and its envelope JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: i64,
    pub topic: String,
    pub payload: String,
}

impl From<event::Model> for LoggedEvent {
    fn from(row: event::Model) -> Self {
        Self {
            id: row.id,
            topic: row.topic,
            payload: row.payload,
        }
    }
}

/// Reserves the next event id. The counter row stays locked until the
/// transaction ends, so writers queue here: ids are handed out in commit
/// order, and a rolled-back transaction gives its id back (no gaps).
pub async fn reserve_next_id(txn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let statement = Statement::from_string(
        txn.get_database_backend(),
        "UPDATE event_counter SET last_id = last_id + 1 WHERE id = 1 RETURNING last_id",
    );
    read_counter(txn.query_one_raw(statement).await?)
}

/// The id of the newest committed event, whether or not it is still retained.
pub async fn last_id(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let statement = Statement::from_string(
        conn.get_database_backend(),
        "SELECT last_id FROM event_counter WHERE id = 1",
    );
    read_counter(conn.query_one_raw(statement).await?)
}

fn read_counter(row: Option<sea_orm::QueryResult>) -> Result<i64, DbErr> {
    row.ok_or_else(|| DbErr::RecordNotFound("the event_counter row".to_owned()))?
        .try_get("", "last_id")
}

/// Appends `event` under the id reserved in the same transaction.
pub async fn append(
    txn: &impl ConnectionTrait,
    id: i64,
    event: &UserEvent,
) -> Result<LoggedEvent, DbErr> {
    let logged = LoggedEvent {
        id,
        topic: event.topic().to_string(),
        payload: event.envelope(id).map_err(|e| DbErr::Json(e.to_string()))?,
    };
    event::Entity::insert(event::ActiveModel {
        id: Set(logged.id),
        topic: Set(logged.topic.clone()),
        payload: Set(logged.payload.clone()),
        created_at: Set(event.at()),
    })
    .exec_without_returning(txn)
    .await?;
    wake_other_instances(txn, id).await?;
    Ok(logged)
}

/// The channel PostgreSQL instances notify each other on.
pub const NOTIFY_CHANNEL: &str = "herald_events";

/// On PostgreSQL, tells every instance's relay that event `id` exists. The
/// notification is sent only if the transaction commits. The payload is the
/// id alone: relays read the event from the table, the source of truth.
async fn wake_other_instances(txn: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [NOTIFY_CHANNEL.into(), id.to_string().into()],
    );
    txn.execute_raw(statement).await?;
    Ok(())
}

/// The oldest event still retained, if any.
pub async fn oldest_retained_id(conn: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    let oldest = event::Entity::find()
        .order_by_asc(event::Column::Id)
        .one(conn)
        .await?;
    Ok(oldest.map(|e| e.id))
}

/// Up to `limit` events after `after` that match `filter`, in id order.
pub async fn read_after(
    conn: &impl ConnectionTrait,
    after: i64,
    filter: &TopicFilter,
    limit: u64,
) -> Result<Vec<LoggedEvent>, DbErr> {
    let mut query = event::Entity::find()
        .filter(event::Column::Id.gt(after))
        .order_by_asc(event::Column::Id)
        .limit(limit);
    if !filter.topics().is_empty() {
        let any = filter
            .topics()
            .iter()
            .fold(Condition::any(), |any, topic| match topic {
                Topic::Users => any.add(event::Column::Topic.starts_with("users/")),
                Topic::User(_) => any.add(event::Column::Topic.eq(topic.to_string())),
            });
        query = query.filter(any);
    }
    Ok(query
        .all(conn)
        .await?
        .into_iter()
        .map(LoggedEvent::from)
        .collect())
}

/// Deletes events committed before `cutoff`; returns how many.
pub async fn prune_before(
    conn: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let result = event::Entity::delete_many()
        .filter(event::Column::CreatedAt.lt(cutoff))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
