//! Commits one batch: refuses what the disk cannot take, tries the batch
//! (again without a write that failed on its own, or with its joined rows
//! one by one), and answers every write of it; then, once committed,
//! announces the batch's events.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::time::Instant;

use super::Growth;
use super::attempt::{Attempt, attempt};
use super::job::Job;
use crate::db::Error;
use crate::db::connection::DatabaseConfig;
use crate::db::disk_space::DiskSpace;
use crate::db::event_log::LoggedEvent;
use crate::db::write_health::WriteHealth;

/// A batch that has not committed after this long is abandoned (its
/// connection with it) and its writes answered `503`: a database that
/// stopped answering must not hold every writer forever.
const BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Times a batch runs again after the database broke a deadlock or a
/// serialization conflict by failing it, which PostgreSQL says to retry,
/// before its writes are answered `503`.
const CONFLICT_RETRIES: u32 = 3;

/// How long a write whose row another transaction holds is tried again in
/// later batches before it is answered `503 row_busy`: as long as a
/// PostgreSQL statement waits for a lock. Its batch-mates never wait for
/// it.
const BUSY_FOR: Duration = crate::db::connection::LOCK_TIMEOUT;

/// Owns the connection batches commit on.
pub(super) struct Committer {
    config: DatabaseConfig,
    /// `None` once thrown away; opened again for the next batch.
    connection: Option<DatabaseConnection>,
    disk: Option<DiskSpace>,
    health: Arc<WriteHealth>,
    batches: u64,
}

impl Committer {
    pub fn new(config: DatabaseConfig, disk: Option<DiskSpace>, health: Arc<WriteHealth>) -> Self {
        Self {
            config,
            connection: None,
            disk,
            health,
            batches: 0,
        }
    }

    /// Whether commits are failing for the environment's reasons.
    pub fn is_failing(&self) -> bool {
        self.health.failing().is_some()
    }

    /// Closes the connection; the next batch opens another.
    pub async fn close(&mut self) {
        if let Some(connection) = self.connection.take() {
            let _ = connection.close().await;
        }
    }

    /// Commits `jobs` as one batch (less those that fail on their own) and
    /// answers each of them, but those whose row another transaction holds:
    /// they are returned, to be tried again. An empty batch probes whether
    /// commits succeed.
    pub async fn commit(&mut self, jobs: Vec<Job>) -> Vec<Job> {
        let disk_low = self.disk.as_ref().and_then(|disk| disk.check().err());
        let mut jobs = match &disk_low {
            None => jobs,
            Some(low) => {
                self.health.failed(low.to_string());
                let kept = refuse_growth(jobs, &Error::StorageFull(low.to_string()));
                if kept.is_empty() {
                    return Vec::new();
                }
                kept
            }
        };
        self.batches += 1;
        let (mut together, mut conflicts) = (true, 0);
        let failure = loop {
            self.health.batch_started();
            let attempt = self.attempt(&mut jobs, together).await;
            self.health.batch_ended();
            match attempt {
                Attempt::Committed(events) => {
                    if disk_low.is_none() {
                        self.health.committed();
                    }
                    return announce(jobs, &events);
                }
                Attempt::WithoutWrite(index) => {
                    let job = jobs.remove(index);
                    if let Some(error) = job.pending.error() {
                        tracing::warn!(%error, "a write failed; its batch runs again without it");
                    }
                    job.pending.finish(Err(Error::Internal(anyhow::anyhow!(
                        "the write could not be committed"
                    ))));
                }
                Attempt::OneByOne => together = false,
                Attempt::Conflict(error) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::warn!(%error, "the database failed a batch to break a conflict; it runs again");
                    self.close().await;
                }
                Attempt::Failed(error) | Attempt::Conflict(error) => break error,
            }
        };
        self.close().await;
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
        Vec::new()
    }

    /// One attempt, within [`BATCH_TIMEOUT`]; a write that panics fails its
    /// batch, not every write after it.
    async fn attempt(&mut self, jobs: &mut [Job], together: bool) -> Attempt {
        let batch = self.batches;
        let connection = match self.connection().await {
            Ok(connection) => connection,
            Err(error) => return Attempt::from(error),
        };
        let run = tokio::time::timeout(BATCH_TIMEOUT, attempt(connection, jobs, together, batch));
        match AssertUnwindSafe(run).catch_unwind().await {
            Ok(Ok(attempt)) => attempt,
            Ok(Err(_)) => Attempt::Failed(Error::Unavailable(DbErr::Custom(format!(
                "the database did not commit within {BATCH_TIMEOUT:?}"
            )))),
            Err(_) => Attempt::Failed(Error::Internal(anyhow::anyhow!("a write panicked"))),
        }
    }

    async fn connection(&mut self) -> Result<&DatabaseConnection, DbErr> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => self.config.open_writer().await?,
        };
        Ok(self.connection.insert(connection))
    }
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

/// Answers every write of a committed batch, then announces its events;
/// returns the writes to try again, whose rows were busy.
fn announce(jobs: Vec<Job>, events: &[LoggedEvent]) -> Vec<Job> {
    // Callers are answered before the streams are woken: a caller's task
    // then runs ahead of the thousands of streams an event wakes on the
    // same worker, so writes keep their latency while the fan-out is busy.
    // Announcing still follows the commit.
    let mut announced = Vec::with_capacity(events.len());
    let mut again = Vec::new();
    for mut job in jobs {
        if job.pending.busy() {
            let until = *job
                .busy_until
                .get_or_insert_with(|| Instant::now() + BUSY_FOR);
            if Instant::now() < until {
                again.push(job);
                continue;
            }
        }
        let event = job.event.and_then(|index| events.get(index));
        if let (Some(event), Some(announce)) = (event, job.announce) {
            announced.push((announce, event));
        }
        job.pending.finish(Ok(event));
    }
    // In id order, as `Announce` promises: a batch's joined rows have the
    // last ids whatever their writes' places.
    announced.sort_by_key(|(_, event)| event.id);
    for (announce, event) in announced {
        announce.announce(event);
    }
    again
}
