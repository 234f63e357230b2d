//! The events table: the source of truth for what subscribers receive. Live
//! delivery, replays and catch-ups all read from here.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Statement,
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

/// Where a batch of writes begins: the database's time, by which every
/// time the batch writes is read, and on SQLite the newest event id, after
/// which the batch's events come.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchStart {
    pub now: DateTime<Utc>,
    /// SQLite's one writer holds the counter from `BEGIN IMMEDIATE`; on
    /// PostgreSQL the counter is taken at commit, and the database keeps
    /// where the transaction's events begin.
    newest: Option<i64>,
}

/// Starts a batch in `txn`. On PostgreSQL the time is the database's
/// clock, which every instance shares; an embedded SQLite database has only
/// this process's clock.
pub(super) async fn begin_batch(txn: &impl ConnectionTrait) -> Result<BatchStart, DbErr> {
    let backend = txn.get_database_backend();
    let start = if backend == DbBackend::Postgres {
        let row = txn
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT clock_timestamp() AS now",
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("the database's clock".to_owned()))?;
        BatchStart {
            now: row.try_get("", "now")?,
            newest: None,
        }
    } else {
        BatchStart {
            now: Utc::now(),
            newest: Some(last_id(txn).await?),
        }
    };
    // Both databases keep microseconds.
    Ok(BatchStart {
        now: start.now.trunc_subsecs(6),
        ..start
    })
}

/// Every event the batch begun at `start` appended, whatever statements
/// and triggers made them, in id order. On PostgreSQL this is when the
/// events its changes staged are appended, taking the counter until the
/// commit.
pub(super) async fn batch_events(
    txn: &impl ConnectionTrait,
    start: &BatchStart,
) -> Result<Vec<LoggedEvent>, DbErr> {
    match start.newest {
        // Bounded on both sides: with `id > ?` alone a prepared statement
        // may come to scan the whole table.
        Some(newest) => read_range(txn, newest, last_id(txn).await?).await,
        None => Ok(event::Model::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id, topic, payload, created_at, sse_event FROM herald_transaction_events()",
        ))
        .all(txn)
        .await?
        .into_iter()
        .map(LoggedEvent::from)
        .collect()),
    }
}

/// The id of the newest committed event, whether or not it is still retained.
pub(super) async fn last_id(conn: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let statement = Statement::from_string(
        conn.get_database_backend(),
        "SELECT last_id FROM event_counter WHERE id = 1",
    );
    read_counter(conn.query_one_raw(statement).await?, "last_id")
}

/// `column` of the row read from the counter, which is always there.
fn read_counter(row: Option<sea_orm::QueryResult>, column: &str) -> Result<i64, DbErr> {
    row.ok_or_else(|| DbErr::RecordNotFound("the event_counter row".to_owned()))?
        .try_get("", column)
}

/// Appends the event `draft` becomes under the next id of the counter, as
/// the triggers append theirs: the log takes an insert only with the
/// counter's next id, and advances the counter itself. On PostgreSQL the
/// events the transaction staged before go first, and the counter is held
/// from here until the commit.
pub(super) async fn append(
    txn: &impl ConnectionTrait,
    draft: &EventDraft,
) -> Result<LoggedEvent, DbErr> {
    let backend = txn.get_database_backend();
    let next = Statement::from_string(
        backend,
        if backend == DbBackend::Postgres {
            "SELECT herald_next_event_id() AS id"
        } else {
            "SELECT last_id + 1 AS id FROM event_counter WHERE id = 1"
        },
    );
    let id = read_counter(txn.query_one_raw(next).await?, "id")?;
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

/// The channel PostgreSQL instances notify each other on: the database
/// notifies it when a transaction that appended events commits.
pub const NOTIFY_CHANNEL: &str = "herald_events";

/// The retained events with ids in `(after, through]`, in id order, up to
/// the counter: a row past it was not appended as the log appends (a
/// forgery with the database's rules turned off), and is never read.
pub(super) async fn read_range(
    conn: &impl ConnectionTrait,
    after: i64,
    through: i64,
) -> Result<Vec<LoggedEvent>, DbErr> {
    Ok(event::Entity::find()
        .filter(event::Column::Id.gt(after))
        .filter(event::Column::Id.lte(through))
        .filter(Expr::cust(
            "\"id\" <= (SELECT last_id FROM event_counter WHERE id = 1)",
        ))
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
