//! The one write path. Every change to the database happens here, in one
//! transaction with the event it produces, and is announced to the notifier
//! once committed: an event exists if and only if its change committed, and a
//! change that committed cannot go unannounced.
//!
//! Writes that arrive together are committed together (group commit): one
//! transaction, one counter lock and one commit for a batch. A write that
//! fails (a duplicate, a stale version) does so before it changes anything,
//! which leaves the others in the batch alone. Writers then queue on the
//! counter once per batch instead of once per write, which is what bounds
//! write throughput on both databases.

use std::sync::Arc;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::event_log::{self, LoggedEvent};
use crate::domain::EventDraft;
use crate::error::Error;
use crate::sse::SseNotifier;

/// Writes waiting for a batch; past this a write is refused with `503`
/// rather than queued without bound.
const QUEUE_CAPACITY: usize = 1024;

/// Writes committed in one transaction at most.
const MAX_BATCH: usize = 64;

/// What a write decided inside its transaction.
pub enum Change<T> {
    /// Something changed: `event` is appended to the log in the same
    /// transaction.
    Made { value: T, event: EventDraft },
    /// Nothing changed: no event, and whatever the write read is returned.
    Nothing(T),
}

/// A write's body: runs inside the batch's transaction, given the id its
/// event gets if it makes one.
type WriteFn<T> = Box<
    dyn for<'t> FnOnce(&'t DatabaseTransaction, i64) -> BoxFuture<'t, Result<Change<T>, Error>>
        + Send,
>;

/// The handle request handlers write through.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the task that commits batches on `db`. It ends once every
    /// `Writer` is gone, after the writes already queued.
    pub fn spawn(db: DatabaseConnection) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        (Self { jobs }, tokio::spawn(commit_batches(db, queue)))
    }

    /// Runs `write` in the next batch, commits it, announces its event to
    /// `notifier` and returns what the write returned.
    pub async fn write<T, F>(&self, notifier: &Arc<SseNotifier>, write: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction, i64) -> BoxFuture<'t, Result<Change<T>, Error>>
            + Send
            + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            pending: Box::new(Pending {
                write: Some(Box::new(write)),
                outcome: None,
                reply,
            }),
            notifier: notifier.clone(),
        };
        self.jobs.try_send(job).map_err(|_| Error::Overloaded)?;
        let (value, event) = outcome
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the writer stopped")))??;
        if let Some(event) = event {
            tracing::info!(event_id = event.id, topic = %event.topic, "committed write");
        }
        Ok(value)
    }
}

struct Job {
    pending: Box<dyn Stage>,
    notifier: Arc<SseNotifier>,
}

/// A queued write with its result type erased, so one batch can hold
/// writes of any kind.
trait Stage: Send {
    /// Runs the write; `Ok(Some(draft))` when it made an event, `Err(())`
    /// when it failed (its error is kept for its caller).
    fn stage<'t>(
        &'t mut self,
        txn: &'t DatabaseTransaction,
        event_id: i64,
    ) -> BoxFuture<'t, Result<Option<EventDraft>, ()>>;

    /// Answers the caller once the batch has committed (`Ok`) or not.
    fn finish(self: Box<Self>, committed: Result<Option<&LoggedEvent>, Error>);
}

type Reply<T> = oneshot::Sender<Result<(T, Option<LoggedEvent>), Error>>;

struct Pending<T> {
    write: Option<WriteFn<T>>,
    outcome: Option<Result<T, Error>>,
    reply: Reply<T>,
}

impl<T: Send + 'static> Stage for Pending<T> {
    fn stage<'t>(
        &'t mut self,
        txn: &'t DatabaseTransaction,
        event_id: i64,
    ) -> BoxFuture<'t, Result<Option<EventDraft>, ()>> {
        Box::pin(async move {
            let Some(write) = self.write.take() else {
                return Err(());
            };
            match write(txn, event_id).await {
                Ok(Change::Made { value, event }) => {
                    self.outcome = Some(Ok(value));
                    Ok(Some(event))
                }
                Ok(Change::Nothing(value)) => {
                    self.outcome = Some(Ok(value));
                    Ok(None)
                }
                Err(error) => {
                    self.outcome = Some(Err(error));
                    Err(())
                }
            }
        })
    }

    fn finish(self: Box<Self>, committed: Result<Option<&LoggedEvent>, Error>) {
        let result = match (self.outcome, committed) {
            (Some(Err(error)), _) | (_, Err(error)) => Err(error),
            (Some(Ok(value)), Ok(event)) => Ok((value, event.cloned())),
            (None, Ok(_)) => Err(Error::Internal(anyhow::anyhow!("a write never ran"))),
        };
        // The caller may have gone (its client disconnected); the write
        // stands all the same.
        let _ = self.reply.send(result);
    }
}

async fn commit_batches(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        // A write that panics fails its batch (the callers are told the
        // writer stopped), not every write after it.
        if AssertUnwindSafe(commit_batch(&db, jobs))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("a batch of writes panicked; its writes were not committed");
        }
    }
}

/// One job's place in a batch: the event it made, if any.
struct Staged {
    job: Job,
    event: Option<usize>,
}

async fn commit_batch(db: &DatabaseConnection, jobs: Vec<Job>) {
    tracing::debug!(writes = jobs.len(), "committing a batch");
    let mut staged: Vec<Staged> = Vec::with_capacity(jobs.len());
    let mut events: Vec<LoggedEvent> = Vec::new();
    let committed = run_batch(db, jobs, &mut staged, &mut events).await;
    match committed {
        Ok(()) => {
            // Callers are answered before the streams are woken: a caller's
            // task then runs ahead of the thousands of streams an event
            // wakes on the same worker, so writes keep their latency while
            // the fan-out is busy. Announcing still follows the commit.
            let mut announce = Vec::with_capacity(events.len());
            for job in staged {
                let event = job.event.map(|i| &events[i]);
                if let Some(event) = event {
                    announce.push((job.job.notifier.clone(), event));
                }
                job.job.pending.finish(Ok(event));
            }
            for (notifier, event) in announce {
                notifier.publish(event);
            }
        }
        Err(error) => {
            let error = Error::from(error);
            tracing::error!(%error, writes = staged.len(), "a batch of writes failed to commit");
            for job in staged {
                job.job.pending.finish(Err(error.replicate()));
            }
        }
    }
}

/// Runs every job in one transaction and commits it. Jobs move into
/// `staged` as they run, so that all of them can be answered whatever
/// happens.
async fn run_batch(
    db: &DatabaseConnection,
    jobs: Vec<Job>,
    staged: &mut Vec<Staged>,
    events: &mut Vec<LoggedEvent>,
) -> Result<(), DbErr> {
    let mut jobs = jobs.into_iter();
    let outcome = async {
        // IMMEDIATE takes SQLite's write lock at BEGIN, so writers of other
        // processes queue in the busy timeout instead of failing on a
        // snapshot gone stale.
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = db.begin_with_options(options).await?;
        let mut last_id = event_log::lock_counter(&txn).await?;
        for mut job in jobs.by_ref() {
            // Writes decide their own failures (a duplicate, a stale
            // version) before they change anything, so none of them needs a
            // savepoint. A statement that fails on PostgreSQL aborts the whole
            // transaction; the append below then fails too, and so does the
            // batch: nothing is reported committed that was not.
            let made = job.pending.stage(&txn, last_id + 1).await;
            let event = match made {
                Ok(Some(draft)) => {
                    let logged = LoggedEvent::new(last_id + 1, &draft)
                        .map_err(|error| DbErr::Json(error.to_string()));
                    let logged = match logged {
                        Ok(logged) => logged,
                        // The change is made but cannot be announced: it
                        // must not commit.
                        Err(error) => {
                            staged.push(Staged { job, event: None });
                            return Err(error);
                        }
                    };
                    last_id = logged.id;
                    events.push(logged);
                    Some(events.len() - 1)
                }
                Ok(None) | Err(()) => None,
            };
            staged.push(Staged { job, event });
        }
        event_log::append(&txn, events).await?;
        txn.commit().await
    }
    .await;
    // Jobs that never ran because the batch failed first are answered too.
    staged.extend(jobs.map(|job| Staged { job, event: None }));
    outcome
}
