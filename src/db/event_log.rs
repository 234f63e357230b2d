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

/// Appends the event `draft` becomes under the next id of the counter
/// (locked by [`lock_counter`] in the same transaction), as the triggers on
/// `users` append theirs: both take ids from the one counter, in the order
/// the transaction's statements run.
pub(super) async fn append(
    txn: &impl ConnectionTrait,
    draft: &EventDraft,
) -> Result<LoggedEvent, DbErr> {
    let next = Statement::from_string(
        txn.get_database_backend(),
        "UPDATE event_counter SET last_id = last_id + 1 WHERE id = 1 RETURNING last_id",
    );
    let id = read_counter(txn.query_one_raw(next).await?)?;
    let event = LoggedEvent::new(id, draft).map_err(|error| DbErr::Json(error.to_string()))?;
    event::Entity::insert(event::ActiveModel {
        id: Set(event.id),
        topic: Set(event.topic.clone()),
        payload: Set(event.payload.clone()),
        created_at: Set(event.at),
        sse_event: Set(event.sse_event.clone()),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(event)
}

/// The events the transaction appended since the counter stood at `after`:
/// whatever statements and triggers made them.
pub(super) async fn appended_since(
    txn: &impl ConnectionTrait,
    after: i64,
) -> Result<Vec<LoggedEvent>, DbErr> {
    let through = last_id(txn).await?;
    // Bounded on both sides: with `id > ?` alone a prepared statement may
    // come to scan the whole table.
    read_range(txn, after, through).await
}

/// The channel PostgreSQL instances notify each other on.
pub const NOTIFY_CHANNEL: &str = "herald_events";

/// On PostgreSQL, tells every instance's relay that the log grew, once the
/// transaction commits. The payload is constant, so PostgreSQL folds it
/// with the one the triggers on `users` send: relays read the events from
/// the table, the source of truth.
pub(super) async fn wake_other_instances(txn: &impl ConnectionTrait) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, '')",
        [NOTIFY_CHANNEL.into()],
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
