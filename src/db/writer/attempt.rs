//! One try at committing a batch: its writes run in one transaction, the
//! joined rows go in, the events the batch appended are read back and
//! matched to their writes, and the transaction commits.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::Slot;
use super::job::{Job, Staged};
use super::joined::JoinedRows;
use crate::db::Error;
use crate::db::event_log::{self, LoggedEvent};

/// What one attempt at a batch came to.
pub(super) enum Attempt {
    /// The batch committed with these events, in id order; each job knows
    /// the index of its own.
    Committed(Vec<LoggedEvent>),
    /// The write at this index failed with a statement of its own: the
    /// batch was rolled back, and runs again without it.
    WithoutWrite(usize),
    /// A joined insert failed: the batch was rolled back, and runs again
    /// inserting each joined row where its write stands, which tells whose
    /// row it was.
    OneByOne,
    /// Nothing of the batch committed, for a reason that is every write's:
    /// the environment (the database away, the disk full), or the batch as
    /// a whole going wrong.
    Failed(Error),
    /// The database failed the batch to break a deadlock or a serialization
    /// conflict, wherever in it that happened: running it again is what
    /// PostgreSQL says to do.
    Conflict(Error),
}

impl Attempt {
    /// The batch failed with `error`. `conflict` is read from the
    /// database's own answer, which a replica of a write's error (the
    /// write keeps the original for its caller) no longer carries.
    fn failed(error: Error, conflict: bool) -> Self {
        if conflict {
            Self::Conflict(error)
        } else {
            Self::Failed(error)
        }
    }
}

impl From<DbErr> for Attempt {
    fn from(error: DbErr) -> Self {
        let error = Error::from(error);
        let conflict = error.is_conflict();
        Self::failed(error, conflict)
    }
}

/// Runs `jobs` in one transaction on `connection` and commits it. Joined
/// rows go in with one statement per kind after every write has run if
/// `together`, otherwise each where its write stands.
pub(super) async fn attempt(
    connection: &DatabaseConnection,
    jobs: &mut [Job],
    together: bool,
    batch: u64,
) -> Attempt {
    match run(connection, jobs, together, batch).await {
        Ok(events) => Attempt::Committed(events),
        Err(attempt) => attempt,
    }
}

async fn run(
    connection: &DatabaseConnection,
    jobs: &mut [Job],
    together: bool,
    batch: u64,
) -> Result<Vec<LoggedEvent>, Attempt> {
    let txn = begin(connection).await?;
    let start = event_log::begin_batch(&txn).await?;
    let slot = Slot {
        now: start.now,
        batch,
    };
    // Whose each event is, in the order they are appended: one per write
    // that made a change, in the order of the writes, then the joined rows',
    // known by their topics.
    let mut owners = Vec::with_capacity(jobs.len());
    let mut joined = JoinedRows::default();
    for (index, job) in jobs.iter_mut().enumerate() {
        job.event = None;
        let staged = match job.pending.stage(&txn, slot).await {
            Staged::Joined(row) if together => {
                joined.push(index, row);
                continue;
            }
            Staged::Joined(row) => match row.insert_alone(&txn).await {
                Ok(Ok(_)) => Staged::Made,
                Ok(Err(refusal)) => {
                    job.pending.refuse(refusal);
                    continue;
                }
                Err(error) => {
                    job.pending.refuse(Error::from(error));
                    Staged::Failed
                }
            },
            staged => staged,
        };
        match staged {
            Staged::Made => owners.push(index),
            Staged::Joined(_) | Staged::Nothing => {}
            Staged::Failed => match job.pending.error() {
                Some(error) if error.is_environmental() => {
                    return Err(Attempt::failed(error.replicate(), error.is_conflict()));
                }
                // Refused before changing anything, or a statement of
                // its own failed: only the database can tell whether
                // the transaction survived that.
                _ if usable(&txn).await => {}
                _ => {
                    rollback(txn).await?;
                    return Err(Attempt::WithoutWrite(index));
                }
            },
        }
    }
    let mut joined_topics = HashMap::new();
    if !joined.is_empty() {
        let answered = match joined.insert(&txn).await {
            Ok(answered) => answered,
            Err(error) => {
                let error = Error::from(error);
                if error.is_environmental() {
                    let conflict = error.is_conflict();
                    return Err(Attempt::failed(error, conflict));
                }
                rollback(txn).await?;
                return Err(Attempt::OneByOne);
            }
        };
        for (index, outcome) in answered {
            match outcome {
                Ok(topic) => {
                    joined_topics.insert(topic, index);
                }
                Err(refusal) => jobs[index].pending.refuse(refusal),
            }
        }
    }
    let events = event_log::batch_events(&txn, &start).await?;
    let made = owners.len() + joined_topics.len();
    let mut owned = events.len() == made;
    for (position, event) in events.iter().enumerate() {
        let owner = owners
            .get(position)
            .or_else(|| joined_topics.get(&event.topic));
        match owner.and_then(|&index| jobs.get_mut(index)) {
            Some(job) => job.event = Some(position),
            None => owned = false,
        }
    }
    if !owned {
        // Each write changes one thing, so makes one event: anything else
        // is a trigger or a write out of step, and its events cannot be
        // told apart.
        rollback(txn).await?;
        return Err(Attempt::Failed(Error::Internal(anyhow::anyhow!(
            "a batch of {made} changes appended {} events",
            events.len()
        ))));
    }
    txn.commit().await?;
    Ok(events)
}

async fn begin(connection: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    // IMMEDIATE takes SQLite's write lock at BEGIN, so writers of other
    // processes queue in the busy timeout instead of failing on a snapshot
    // gone stale.
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    connection.begin_with_options(options).await
}

/// Whether the transaction still takes statements: on PostgreSQL one
/// failed statement aborts it; on SQLite it only undoes that statement.
async fn usable(txn: &DatabaseTransaction) -> bool {
    txn.get_database_backend() != DbBackend::Postgres
        || txn.execute_unprepared("SELECT 1").await.is_ok()
}

/// Rolls back a batch that one of its writes failed; a rollback that fails
/// leaves the connection in an unknown state, which only the environment
/// explains.
async fn rollback(txn: DatabaseTransaction) -> Result<(), Attempt> {
    Ok(txn.rollback().await?)
}
