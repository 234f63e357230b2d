//! The queue writes wait in, and the batches taken from it: every write
//! queued while a batch commits joins the next one, up to [`MAX_BATCH`].
//! Writers then queue on the database once per batch instead of once per
//! write.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::committer::Committer;
use super::job::{Job, Pending};
use super::{Growth, WriteBody};
use crate::db::Error;
use crate::db::announce::Announce;
use crate::db::connection::DatabaseConfig;
use crate::db::disk_space::DiskSpace;
use crate::db::event_log::LoggedEvent;
use crate::db::write_health::WriteHealth;

/// Writes waiting for a batch; past this a write is refused with `503`
/// rather than queued without bound.
const QUEUE_CAPACITY: usize = 1024;

/// Writes committed in one transaction at most.
pub(super) const MAX_BATCH: usize = 64;

/// While writes are failing for the environment's reasons, the writer
/// tries an empty commit this often, so that it (and readiness) notices the
/// database is back without waiting for a client to write.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How soon a write whose row was busy is tried again when nothing else
/// comes to make a batch.
const BUSY_AGAIN_AFTER: Duration = Duration::from_millis(20);

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
        let committer = Committer::new(config, disk, health.clone());
        let task = tokio::spawn(take_batches(committer, queue));
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
        let job = Job::new(Pending::new(Box::new(write), reply), announce, growth);
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

/// The writer's task: takes what is queued as one batch, with the writes
/// whose rows were busy, commits it, and again, until every [`Writer`] is
/// gone and nothing waits.
async fn take_batches(mut committer: Committer, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut again: Vec<Job> = Vec::new();
    let mut open = true;
    loop {
        let wait = if !again.is_empty() {
            Some(BUSY_AGAIN_AFTER)
        } else if committer.is_failing() {
            Some(PROBE_EVERY)
        } else {
            None
        };
        let received = match (open, wait) {
            // Every writer is gone: the busy writes left are tried at the
            // same pace as before, not back to back.
            (false, _) => {
                if !again.is_empty() {
                    tokio::time::sleep(BUSY_AGAIN_AFTER).await;
                }
                0
            }
            (true, None) => queue.recv_many(&mut jobs, MAX_BATCH).await,
            // Nobody wrote for a while: the writes to try again go, or an
            // empty batch finds out whether writes would succeed again.
            (true, Some(wait)) => tokio::time::timeout(wait, queue.recv_many(&mut jobs, MAX_BATCH))
                .await
                .unwrap_or(usize::MAX),
        };
        if received == 0 {
            open = false;
            if again.is_empty() {
                break;
            }
        }
        jobs.append(&mut again);
        again = committer.commit(std::mem::take(&mut jobs)).await;
    }
    committer.close().await;
}
