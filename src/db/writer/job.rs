//! A queued write with its result type erased, so that one batch can hold
//! writes of any kind, and what running it in an attempt came to.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Change, Growth, JoinedRow, Slot, WriteBody};
use crate::db::Error;
use crate::db::announce::Announce;
use crate::db::event_log::LoggedEvent;

pub(super) struct Job {
    pub pending: Box<dyn Stage>,
    /// Who hears of its event; `None` for maintenance, which makes none.
    pub announce: Option<Arc<dyn Announce>>,
    pub growth: Growth,
    /// The index of its event among the batch's, in the current attempt.
    pub event: Option<usize>,
    /// Until when a write whose row another transaction holds is tried
    /// again in later batches (set the first time it finds the row busy).
    pub busy_until: Option<Instant>,
}

impl Job {
    pub fn new<T: Send + 'static>(
        pending: Pending<T>,
        announce: Option<Arc<dyn Announce>>,
        growth: Growth,
    ) -> Self {
        Self {
            pending: Box::new(pending),
            announce,
            growth,
            event: None,
            busy_until: None,
        }
    }
}

/// What running a write in an attempt came to.
pub(super) enum Staged {
    Made,
    Joined(JoinedRow),
    Nothing,
    /// The write was refused or failed; its error is kept for its caller.
    Failed,
}

/// A write of any result type, as a batch runs and answers it.
pub(super) trait Stage: Send {
    fn stage<'t>(&'t mut self, txn: &'t DatabaseTransaction, slot: Slot) -> BoxFuture<'t, Staged>;

    /// The error of a write that [`Staged::Failed`].
    fn error(&self) -> Option<&Error>;

    /// Whether the write found its row held by another transaction.
    fn busy(&self) -> bool {
        matches!(self.error(), Some(Error::RowBusy))
    }

    /// Refuses a write that staged, for what the batch found afterwards.
    fn refuse(&mut self, error: Error);

    /// Answers the caller: with the write's own outcome once the batch has
    /// committed (`Ok`), with `Err` otherwise.
    fn finish(self: Box<Self>, committed: Result<Option<&LoggedEvent>, Error>);
}

type Reply<T> = oneshot::Sender<Result<(T, Option<LoggedEvent>), Error>>;

pub(super) struct Pending<T> {
    write: Box<dyn WriteBody<T>>,
    outcome: Option<Result<T, Error>>,
    reply: Reply<T>,
}

impl<T> Pending<T> {
    pub fn new(write: Box<dyn WriteBody<T>>, reply: Reply<T>) -> Self {
        Self {
            write,
            outcome: None,
            reply,
        }
    }
}

impl<T: Send + 'static> Stage for Pending<T> {
    fn stage<'t>(&'t mut self, txn: &'t DatabaseTransaction, slot: Slot) -> BoxFuture<'t, Staged> {
        Box::pin(async move {
            let (outcome, staged) = match (self.write)(txn, slot).await {
                Ok(Change::Made(value)) => (Ok(value), Staged::Made),
                Ok(Change::Joined(row, value)) => (Ok(value), Staged::Joined(row)),
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
