//! What the database layer answers when a read or write does not succeed:
//! the outcome a caller can act on (a user that is not there, a stale
//! version, the database away), knowing nothing of HTTP. The HTTP layer
//! maps it to responses in one place (`http::error`).

use sea_orm::sqlx::error::DatabaseError;
use sea_orm::sqlx::sqlite::SqliteError;
use sea_orm::{DbErr, RuntimeErr};

use crate::domain::UserId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no user has the id {0}")]
    UserNotFound(UserId),
    #[error("{0} is not a live table: `herald watch {0}` makes it one")]
    TableNotWatched(String),
    #[error("{table} has no row with the key {key:?} that this token may read")]
    RowNotFound { table: String, key: String },
    /// Another transaction held the row this write changes for as long as
    /// the write could wait.
    #[error("another transaction is changing this row; retry shortly")]
    RowBusy,
    #[error("cursor must be a next_cursor value from an earlier page")]
    InvalidCursor,
    /// A Mercure update's id that another update holds.
    #[error("the id {0} is another update's")]
    MercureIdTaken(String),
    #[error("{0} is watched without --scope: its rows have no scope to ask for")]
    NotScoped(String),
    /// A topic that carries a live table's data changes only.
    #[error(
        "{topic} is the topic of the live table {table}'s rows, which carries its data changes only: it cannot be published to"
    )]
    LiveTableTopic { topic: String, table: String },
    #[error("the user has changed since you read it: its version is now {current}")]
    VersionMismatch { current: i64 },
    #[error("another user already has this {field}")]
    Duplicate { field: &'static str },
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress; retry shortly")]
    IdempotencyKeyInProgress,
    /// The writer's queue is full.
    #[error("too many writes are queued; retry shortly")]
    Overloaded,
    /// The database cannot be reached, has no schema, or asked for a retry.
    #[error("the database is unavailable")]
    Unavailable(#[source] DbErr),
    #[error("the database's storage is full: {0}")]
    StorageFull(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// Whether this failure is the environment's (the database away or
    /// full), not the request's: it fails every write alike, and clears up
    /// by itself.
    pub fn is_environmental(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::StorageFull(_))
    }

    /// Whether the database failed this to break a deadlock or a
    /// serialization conflict between transactions: running it again is
    /// what PostgreSQL says to do.
    pub fn is_conflict(&self) -> bool {
        match self {
            Self::Unavailable(error) => database_error(error)
                .and_then(|db| db.code())
                .is_some_and(|code| code == "40001" || code == "40P01"),
            _ => false,
        }
    }

    /// The same failure for another caller: one failed batch answers every
    /// write in it. Only what a client can act on is kept.
    pub fn replicate(&self) -> Self {
        match self {
            Self::Unavailable(source) => Self::Unavailable(DbErr::Custom(source.to_string())),
            Self::StorageFull(why) => Self::StorageFull(why.clone()),
            Self::Internal(source) => Self::Internal(anyhow::anyhow!("{source:#}")),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) = error.sql_err() {
            // Index names carry the column (see the users migration).
            if let Some(field) = ["user_name", "email"]
                .into_iter()
                .find(|f| message.contains(f))
            {
                return Self::Duplicate { field };
            }
        }
        if is_storage_full(&error) {
            Self::StorageFull(error.to_string())
        } else if is_unavailable(&error) {
            Self::Unavailable(error)
        } else {
            Self::Internal(error.into())
        }
    }
}

/// The error the database itself answered with, if `error` is one.
pub(super) fn database_error(error: &DbErr) -> Option<&dyn DatabaseError> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e.as_database_error(),
        _ => None,
    }
}

/// SQLite's primary result code: extended codes carry it in their low byte.
pub(super) fn sqlite_primary_code(error: &dyn DatabaseError) -> Option<i32> {
    error.try_downcast_ref::<SqliteError>()?;
    let code: i32 = error.code()?.parse().ok()?;
    Some(code & 0xff)
}

/// SQLITE_FULL; PostgreSQL's disk_full.
fn is_storage_full(error: &DbErr) -> bool {
    database_error(error).is_some_and(|db| match sqlite_primary_code(db) {
        Some(code) => code == 13,
        None => db.code().as_deref() == Some("53100"),
    })
}

/// PostgreSQL errors that are the database's state, not the query's: a
/// client that retries later succeeds.
fn is_transient_postgres(code: &str) -> bool {
    // 08: connection exceptions. 57P01-57P03: shutting down, not accepting
    // connections. 57014: a statement cancelled by statement_timeout (or
    // an operator). 55P03: lock_timeout, a write queued behind a stalled
    // transaction. 25P03: idle_in_transaction_session_timeout ended the
    // session. 40001, 40P01: serialization failures and deadlocks, which
    // PostgreSQL itself says to retry. 53: insufficient resources. 42P01:
    // a table gone missing (the schema being restored).
    code.starts_with("08")
        || code.starts_with("57P0")
        || code.starts_with("53")
        || ["57014", "55P03", "25P03", "40001", "40P01", "42P01"].contains(&code)
}

/// Whether `error` says the database cannot be reached (as opposed to a
/// query it refused): clients should retry those later.
fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Database(db) => match sqlite_primary_code(db.as_ref()) {
                    // SQLITE_BUSY, SQLITE_LOCKED: another connection (or
                    // process) held the lock past the busy timeout;
                    // SQLITE_IOERR: the disk failed under it. A missing
                    // table is a database whose schema is gone (a restore
                    // in progress, say): nothing a request can fix.
                    Some(code) => {
                        matches!(code, 5 | 6 | 10) || db.message().starts_with("no such table")
                    }
                    None => db.code().is_some_and(|code| is_transient_postgres(&code)),
                },
                _ => false,
            }
        }
        _ => false,
    }
}
