//! The events table: the source of truth for what subscribers receive. Live
//! delivery, replays and catch-ups all read from here.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use super::entities::event;
use crate::domain::EventDraft;

/// A committed event: its id, its topic, its SSE event name and its
/// envelope JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub id: i64,
    pub topic: String,
    pub sse_event: Option<String>,
    pub payload: String,
    pub at: DateTime<Utc>,
}

impl LoggedEvent {
    /// `draft` under the id the log gives it.
    pub fn new(id: i64, draft: &EventDraft) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id,
            topic: draft.topic().to_string(),
            sse_event: draft.sse_event().map(|name| name.as_str().to_owned()),
            payload: draft.envelope(id)?,
            at: draft.at(),
        })
    }
}

impl From<event::Model> for LoggedEvent {
    fn from(row: event::Model) -> Self {
        Self {
            id: row.id,
            topic: row.topic,
            sse_event: row.sse_event,
            payload: row.payload,
            at: row.created_at,
        }
    }
}

/// Locks the event counter until the transaction ends; returns the newest
/// event id and the database's time. Writers of every instance queue here,
/// so ids are handed out in commit order, and a rolled-back transaction
/// gives its ids back. The time is read once the lock is held, from the
/// database's clock on PostgreSQL, which every instance shares (an
/// embedded SQLite database has only this process's clock): times then
/// follow ids whatever the instances' own clocks say.
pub(super) async fn lock_counter(
    txn: &impl ConnectionTrait,
) -> Result<(i64, DateTime<Utc>), DbErr> {
    let backend = txn.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        "UPDATE event_counter SET last_id = last_id WHERE id = 1 \
         RETURNING last_id, clock_timestamp() AS now"
    } else {
        "UPDATE event_counter SET last_id = last_id WHERE id = 1 RETURNING last_id"
    };
    let row = txn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the event_counter row".to_owned()))?;
    let last_id = row.try_get("", "last_id")?;
    let now = if backend == DbBackend::Postgres {
        row.try_get::<DateTime<Utc>>("", "now")?
    } else {
        Utc::now()
    };
    // Both databases keep microseconds.
    Ok((last_id, now.trunc_subsecs(6)))
}

/// The id of the newest committed event, whether or not it is still retained.
pub(super) async fn last_id(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
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

/// Appends `events`, whose ids follow the counter locked by
/// [`lock_counter`] in the same transaction, and moves the counter on.
pub(super) async fn append(
    txn: &impl ConnectionTrait,
    events: &[LoggedEvent],
) -> Result<(), DbErr> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    event::Entity::insert_many(events.iter().map(|e| event::ActiveModel {
        id: Set(e.id),
        topic: Set(e.topic.clone()),
        payload: Set(e.payload.clone()),
        created_at: Set(e.at),
        sse_event: Set(e.sse_event.clone()),
    }))
    .exec_without_returning(txn)
    .await?;
    let backend = txn.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("UPDATE event_counter SET last_id = {placeholder} WHERE id = 1"),
        [last.id.into()],
    ))
    .await?;
    wake_other_instances(txn, last.id).await
}

/// The channel PostgreSQL instances notify each other on.
pub const NOTIFY_CHANNEL: &str = "herald_events";

/// On PostgreSQL, tells every instance's relay that events up to `id`
/// exist. The notification is sent only if the transaction commits. The
/// payload is the id alone: relays read the events from the table, the
/// source of truth.
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

/// The retained events with ids in `(after, through]`, in id order.
pub(super) async fn read_range(
    conn: &impl ConnectionTrait,
    after: i64,
    through: i64,
) -> Result<Vec<LoggedEvent>, DbErr> {
    Ok(event::Entity::find()
        .filter(event::Column::Id.gt(after))
        .filter(event::Column::Id.lte(through))
        .order_by_asc(event::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(LoggedEvent::from)
        .collect())
}

/// Deletes the oldest events, up to `limit` of them, as long as each was
/// committed before `cutoff`: it stops at the first one that was not, even
/// if later ones are older, so that what remains of the log has no hole.
/// Returns how many it deleted.
pub(super) async fn prune_prefix(
    txn: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    let oldest: Vec<(i64, DateTime<Utc>)> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .column(event::Column::CreatedAt)
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(txn)
        .await?;
    let expired = oldest.iter().take_while(|(_, at)| *at < cutoff).count();
    let Some((through, _)) = expired.checked_sub(1).and_then(|last| oldest.get(last)) else {
        return Ok(0);
    };
    let result = event::Entity::delete_many()
        .filter(event::Column::Id.lte(*through))
        .exec(txn)
        .await?;
    Ok(result.rows_affected)
}
