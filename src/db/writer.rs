//! The one write path. Every change Herald makes to its data happens here,
//! in one transaction with the event it produces, and is announced to the
//! notifier once committed: an event exists if and only if its change
//! committed, and a change that committed cannot go unannounced.
//!
//! Writes that arrive together are committed together (group commit): one
//! transaction, one counter lock and one commit for a batch. Writers then
//! queue on the counter once per batch instead of once per write, which is
//! what bounds write throughput on both databases. The users a batch
//! creates go in with one statement: a round trip to the database costs
//! more than the triggers' work for a row, and the batch is serial.
//!
//! ### Invariants
//! - A write is answered `Ok` only after the transaction holding it
//!   committed, and every write of a batch that did not commit is answered
//!   with an error: nothing is reported committed that was not.
//! - One write never fails another: a write refused for its own reasons (a
//!   duplicate, a stale version) changes nothing and leaves its batch alone;
//!   a write whose statement failed is answered with its error and the
//!   batch runs again without it (on PostgreSQL a failed statement aborts
//!   the whole transaction). Only the environment (the database away, the
//!   disk full) fails a whole batch.
//! - The connection a batch committed on is thrown away whenever a batch
//!   fails for the environment's reasons: after a failed `COMMIT` or
//!   `ROLLBACK` nobody knows what state it is in (SQLite rolls back by
//!   itself on a full disk, and a connection that believes a transaction is
//!   still open turns the next `BEGIN` into a savepoint that never commits).
//! - Every timestamp a batch writes comes from one clock, the database's,
//!   read when the batch takes the counter, so instances whose clocks
//!   disagree still write times in id order.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::Error;
use super::announce::Announce;
use super::connection::DatabaseConfig;
use super::disk_space::DiskSpace;
use super::event_log::{self, LoggedEvent};
use super::users::{self, NewUserRow};
use super::write_health::WriteHealth;
use crate::domain::Topic;

/// Writes waiting for a batch; past this a write is refused with `503`
/// rather than queued without bound.
const QUEUE_CAPACITY: usize = 1024;

/// Writes committed in one transaction at most.
const MAX_BATCH: usize = 64;

/// A batch that has not committed after this long is abandoned (its
/// connection with it) and its writes answered `503`: a database that
/// stopped answering must not hold every writer forever.
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// While writes are failing for the environment's reasons, the writer
/// tries an empty commit this often, so that it (and readiness) notices the
/// database is back without waiting for a client to write.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What a write decided inside its transaction.
pub enum Change<T> {
    /// It changed one thing, and appended that change's event to the log in
    /// the same transaction (the triggers on `users` append a user's; a
    /// notification appends its own).
    Made(T),
    /// Nothing changed: no event, and whatever the write read is returned.
    Nothing(T),
    /// A new user, inserted with the batch's other new users in one
    /// statement, where the triggers append its `user_created` event. If its
    /// name or email is taken by then, the write is refused with
    /// [`Error::Duplicate`] instead.
    NewUser(NewUserRow, T),
}

/// Where a write runs: the batch's time by the database's clock.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub now: DateTime<Utc>,
}

/// A write's body: runs inside the batch's transaction. It may run more
/// than once (when another write of its batch failed first), so it must
/// take what it writes by reference or clone it.
pub trait WriteBody<T>:
    for<'t> Fn(&'t DatabaseTransaction, Slot) -> BoxFuture<'t, Result<Change<T>, Error>>
    + Send
    + 'static
{
}

impl<T, F> WriteBody<T> for F where
    F: for<'t> Fn(&'t DatabaseTransaction, Slot) -> BoxFuture<'t, Result<Change<T>, Error>>
        + Send
        + 'static
{
}

/// Whether a write adds data. Writes that do are refused while the disk is
/// below its watermark; those that only remove data (pruning) are not,
/// since they are how space comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    Adds,
    Removes,
}

/// The handle request handlers write through.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    health: Arc<WriteHealth>,
}

impl Writer {
    /// Starts the task that commits batches on a connection of its own to
    /// the database `config` names, keeping `disk` free where given. It
    /// ends once every `Writer` is gone, after the writes already queued.
    pub fn spawn(
        config: DatabaseConfig,
        disk: Option<DiskSpace>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let health = Arc::new(WriteHealth::default());
        let committer = Committer {
            config,
            connection: None,
            disk,
            health: health.clone(),
        };
        let task = tokio::spawn(committer.run(queue));
        (Self { jobs, health }, task)
    }

    /// How writes are going, for readiness.
    pub fn health(&self) -> Arc<WriteHealth> {
        self.health.clone()
    }

    /// Writes waiting for a batch.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Runs `write` in the next batch, commits it, announces its event to
    /// `announce` and returns what the write returned.
    pub async fn write<T, F>(&self, announce: Arc<dyn Announce>, write: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: WriteBody<T>,
    {
        let (value, _) = self.submit(Some(announce), Growth::Adds, write).await?;
        Ok(value)
    }

    /// Like [`write`](Self::write), and also returns the event the write
    /// made, as committed (`None` if it changed nothing): what a trigger
    /// wrote is read there rather than asked of the database again.
    pub async fn write_logged<T, F>(
        &self,
        announce: Arc<dyn Announce>,
        write: F,
    ) -> Result<(T, Option<LoggedEvent>), Error>
    where
        T: Send + 'static,
        F: WriteBody<T>,
    {
        self.submit(Some(announce), Growth::Adds, write).await
    }

    /// Runs `maintenance`, which changes no data clients see and makes no
    /// event, between batches of writes: on SQLite it then never competes
    /// with them for the write lock.
    pub async fn maintain<T, F>(&self, maintenance: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: WriteBody<T>,
    {
        let (value, _) = self.submit(None, Growth::Removes, maintenance).await?;
        Ok(value)
    }

    async fn submit<T, F>(
        &self,
        announce: Option<Arc<dyn Announce>>,
        growth: Growth,
        write: F,
    ) -> Result<(T, Option<LoggedEvent>), Error>
    where
        T: Send + 'static,
        F: WriteBody<T>,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            pending: Box::new(Pending {
                write: Box::new(write),
                outcome: None,
                reply,
            }),
            announce,
            growth,
            event: None,
        };
        self.jobs.try_send(job).map_err(|_| Error::Overloaded)?;
        let (value, event) = outcome
            .await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the writer stopped")))??;
        if let Some(event) = &event {
            tracing::info!(event_id = event.id, topic = %event.topic, "committed write");
        }
        Ok((value, event))
    }
}

struct Job {
    pending: Box<dyn Stage>,
    /// Who hears of its event; `None` for maintenance, which makes none.
    announce: Option<Arc<dyn Announce>>,
    growth: Growth,
    /// The index of its event among the batch's, in the current attempt.
    event: Option<usize>,
}

/// What running a write in a batch came to.
enum Staged {
    Made,
    NewUser(NewUserRow),
    Nothing,
    /// The write was refused or failed; its error is kept for its caller.
    Failed,
}

/// A queued write with its result type erased, so one batch can hold
/// writes of any kind.
trait Stage: Send {
    fn stage<'t>(&'t mut self, txn: &'t DatabaseTransaction, slot: Slot) -> BoxFuture<'t, Staged>;

    /// The error of a write that [`Staged::Failed`].
    fn error(&self) -> Option<&Error>;

    /// Refuses a write that staged, for what the batch found afterwards.
    fn refuse(&mut self, error: Error);

    /// Answers the caller: with the write's own outcome once the batch has
    /// committed (`Ok`), with `Err` otherwise.
    fn finish(self: Box<Self>, committed: Result<Option<&LoggedEvent>, Error>);
}

type Reply<T> = oneshot::Sender<Result<(T, Option<LoggedEvent>), Error>>;

struct Pending<T> {
    write: Box<dyn WriteBody<T>>,
    outcome: Option<Result<T, Error>>,
    reply: Reply<T>,
}

impl<T: Send + 'static> Stage for Pending<T> {
    fn stage<'t>(&'t mut self, txn: &'t DatabaseTransaction, slot: Slot) -> BoxFuture<'t, Staged> {
        Box::pin(async move {
            let (outcome, staged) = match (self.write)(txn, slot).await {
                Ok(Change::Made(value)) => (Ok(value), Staged::Made),
                Ok(Change::NewUser(row, value)) => (Ok(value), Staged::NewUser(row)),
                Ok(Change::Nothing(value)) => (Ok(value), Staged::Nothing),
                Err(error) => (Err(error), Staged::Failed),
            };
            self.outcome = Some(outcome);
            staged
        })
    }

    fn error(&self) -> Option<&Error> {
        self.outcome.as_ref()?.as_ref().err()
    }

    fn refuse(&mut self, error: Error) {
        self.outcome = Some(Err(error));
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

/// Why a batch did not commit.
enum BatchFailure {
    /// The write at this index failed with a statement of its own: the
    /// batch was rolled back, and runs again without it.
    Write(usize),
    /// The statement inserting the batch's new users failed: the batch was
    /// rolled back, and runs again inserting them one by one, which tells
    /// whose row it was.
    NewUsers,
    /// The environment failed (or a write was refused for it): every write
    /// of the batch gets this error.
    Batch(Error),
}

/// The writer's task: owns the connection batches commit on.
struct Committer {
    config: DatabaseConfig,
    /// `None` once thrown away; opened again for the next batch.
    connection: Option<DatabaseConnection>,
    disk: Option<DiskSpace>,
    health: Arc<WriteHealth>,
}

impl Committer {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        loop {
            let received = if self.health.failing().is_some() {
                match tokio::time::timeout(PROBE_EVERY, queue.recv_many(&mut jobs, MAX_BATCH)).await
                {
                    Ok(received) => received,
                    // Nobody wrote for a while: an empty batch finds out
                    // whether writes would succeed again.
                    Err(_) => {
                        self.commit(Vec::new()).await;
                        continue;
                    }
                }
            } else {
                queue.recv_many(&mut jobs, MAX_BATCH).await
            };
            if received == 0 {
                break;
            }
            self.commit(std::mem::take(&mut jobs)).await;
        }
        if let Some(connection) = self.connection.take() {
            let _ = connection.close().await;
        }
    }

    /// Commits `jobs` as one batch (less those that fail on their own) and
    /// answers each of them. An empty batch probes whether commits succeed.
    async fn commit(&mut self, jobs: Vec<Job>) {
        let disk_low = self.disk.as_ref().and_then(|disk| disk.check().err());
        let mut jobs = match &disk_low {
            None => jobs,
            Some(low) => {
                self.health.failed(low.to_string());
                let kept = refuse_growth(jobs, &Error::StorageFull(low.to_string()));
                if kept.is_empty() {
                    return;
                }
                kept
            }
        };
        let mut together = true;
        loop {
            // A write that panics fails its batch, not every write after it.
            self.health.batch_started();
            let attempt = AssertUnwindSafe(tokio::time::timeout(
                BATCH_TIMEOUT,
                self.attempt(&mut jobs, together),
            ))
            .catch_unwind()
            .await;
            self.health.batch_ended();
            let failure = match attempt {
                Ok(Ok(Ok(events))) => {
                    if disk_low.is_none() {
                        self.health.committed();
                    }
                    announce(jobs, &events);
                    return;
                }
                Ok(Ok(Err(BatchFailure::Write(index)))) => {
                    let job = jobs.remove(index);
                    if let Some(error) = job.pending.error() {
                        tracing::warn!(%error, "a write failed; its batch runs again without it");
                    }
                    job.pending.finish(Err(Error::Internal(anyhow::anyhow!(
                        "the write could not be committed"
                    ))));
                    continue;
                }
                Ok(Ok(Err(BatchFailure::NewUsers))) => {
                    together = false;
                    continue;
                }
                Ok(Ok(Err(BatchFailure::Batch(error)))) => error,
                Ok(Err(_)) => Error::Unavailable(DbErr::Custom(format!(
                    "the database did not commit within {BATCH_TIMEOUT:?}"
                ))),
                Err(_) => Error::Internal(anyhow::anyhow!("a write panicked")),
            };
            self.discard_connection().await;
            if jobs.is_empty() {
                tracing::warn!(error = %failure, "the database is not taking writes");
            } else {
                tracing::error!(error = %failure, writes = jobs.len(), "a batch of writes failed to commit");
            }
            if failure.is_environmental() {
                self.health.failed(failure.to_string());
            }
            for job in jobs {
                job.pending.finish(Err(failure.replicate()));
            }
            return;
        }
    }

    /// Runs `jobs` in one transaction and commits it. The new users go in
    /// with one statement at the end if `together`, otherwise each where its
    /// write stands.
    async fn attempt(
        &mut self,
        jobs: &mut [Job],
        together: bool,
    ) -> Result<Vec<LoggedEvent>, BatchFailure> {
        let connection = self.connection().await.map_err(batch_failure)?;
        let txn = begin(connection).await.map_err(batch_failure)?;
        let (first, now) = event_log::lock_counter(&txn).await.map_err(batch_failure)?;
        let slot = Slot { now };
        // Whose each event is, in the order they are appended; new users
        // inserted together come last, known by their topic.
        let mut owners = Vec::with_capacity(jobs.len());
        let mut new_users = Vec::new();
        for (index, job) in jobs.iter_mut().enumerate() {
            job.event = None;
            let staged = match job.pending.stage(&txn, slot).await {
                Staged::NewUser(row) if together => {
                    new_users.push((index, row));
                    continue;
                }
                Staged::NewUser(row) => match insert_new_user(&txn, index, row).await {
                    Ok(()) => Staged::Made,
                    Err(error) => {
                        job.pending.refuse(error);
                        Staged::Failed
                    }
                },
                staged => staged,
            };
            match staged {
                Staged::Made => owners.push(index),
                Staged::NewUser(_) | Staged::Nothing => {}
                Staged::Failed => match job.pending.error() {
                    Some(error) if error.is_environmental() => {
                        return Err(BatchFailure::Batch(error.replicate()));
                    }
                    // Refused before changing anything, or a statement of
                    // its own failed: only the database can tell whether
                    // the transaction survived that.
                    _ if usable(&txn).await => {}
                    _ => {
                        rollback(txn).await?;
                        return Err(BatchFailure::Write(index));
                    }
                },
            }
        }
        let mut inserted_together = HashMap::new();
        if !new_users.is_empty() {
            let outcomes = match insert_new_users(&txn, &new_users).await {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    let error = Error::from(error);
                    if error.is_environmental() {
                        return Err(BatchFailure::Batch(error));
                    }
                    rollback(txn).await?;
                    return Err(BatchFailure::NewUsers);
                }
            };
            for (index, outcome) in outcomes {
                match outcome {
                    Ok(topic) => {
                        inserted_together.insert(topic, index);
                    }
                    Err(refusal) => jobs[index].pending.refuse(refusal),
                }
            }
        }
        let made = owners.len() + inserted_together.len();
        let events = event_log::appended_since(&txn, first)
            .await
            .map_err(batch_failure)?;
        let mut owned = true;
        for (position, event) in events.iter().enumerate() {
            let owner = owners
                .get(position)
                .or_else(|| inserted_together.get(&event.topic));
            match owner.and_then(|&index| jobs.get_mut(index)) {
                Some(job) => job.event = Some(position),
                None => owned = false,
            }
        }
        if events.len() != made || !owned {
            // Each write changes one thing, so makes one event: anything
            // else is a trigger or a write out of step, and its events
            // cannot be told apart.
            rollback(txn).await?;
            return Err(BatchFailure::Batch(Error::Internal(anyhow::anyhow!(
                "a batch of {made} changes appended {} events",
                events.len()
            ))));
        }
        if !events.is_empty() {
            event_log::wake_other_instances(&txn)
                .await
                .map_err(batch_failure)?;
        }
        txn.commit().await.map_err(batch_failure)?;
        Ok(events)
    }

    async fn connection(&mut self) -> Result<&DatabaseConnection, DbErr> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => self.config.open_writer().await?,
        };
        Ok(self.connection.insert(connection))
    }

    async fn discard_connection(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = connection.close().await;
        }
    }
}

fn batch_failure(error: DbErr) -> BatchFailure {
    BatchFailure::Batch(Error::from(error))
}

/// Inserts one write's new user where the write stands: refused with the
/// field that was taken, or with the statement's error.
async fn insert_new_user(
    txn: &DatabaseTransaction,
    index: usize,
    row: NewUserRow,
) -> Result<(), Error> {
    match insert_new_users(txn, &[(index, row)]).await?.pop() {
        Some((_, Err(refusal))) => Err(refusal),
        _ => Ok(()),
    }
}

/// Inserts the new users of these writes (by index) with one statement.
/// Each comes back with the topic of its events, or refused with the field
/// that was taken.
async fn insert_new_users(
    txn: &DatabaseTransaction,
    new_users: &[(usize, NewUserRow)],
) -> Result<Vec<(usize, Result<String, Error>)>, DbErr> {
    let rows: Vec<NewUserRow> = new_users.iter().map(|(_, row)| row.clone()).collect();
    let inserted = users::insert_skipping_taken(txn, &rows).await?;
    let mut outcomes = Vec::with_capacity(new_users.len());
    for (index, row) in new_users {
        let outcome = if inserted.contains(&row.id.uuid()) {
            Ok(Topic::user(row.id).as_str().to_owned())
        } else {
            let field = users::taken_by_another(txn, row).await?;
            Err(Error::Duplicate { field })
        };
        outcomes.push((*index, outcome));
    }
    Ok(outcomes)
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
async fn rollback(txn: DatabaseTransaction) -> Result<(), BatchFailure> {
    txn.rollback().await.map_err(batch_failure)
}

/// Answers `refusal` to the writes that would add data; returns the others.
fn refuse_growth(jobs: Vec<Job>, refusal: &Error) -> Vec<Job> {
    let (refused, kept): (Vec<Job>, Vec<Job>) =
        jobs.into_iter().partition(|job| job.growth == Growth::Adds);
    for job in refused {
        job.pending.finish(Err(refusal.replicate()));
    }
    kept
}

/// Answers every write of a committed batch, then announces its events.
fn announce(jobs: Vec<Job>, events: &[LoggedEvent]) {
    // Callers are answered before the streams are woken: a caller's task
    // then runs ahead of the thousands of streams an event wakes on the
    // same worker, so writes keep their latency while the fan-out is busy.
    // Announcing still follows the commit.
    let mut announced = Vec::with_capacity(events.len());
    for job in jobs {
        let event = job.event.and_then(|index| events.get(index));
        if let (Some(event), Some(announce)) = (event, job.announce) {
            announced.push((announce, event));
        }
        job.pending.finish(Ok(event));
    }
    for (announce, event) in announced {
        announce.announce(event);
    }
}
