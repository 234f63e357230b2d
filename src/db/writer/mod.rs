//! The one write path. Every change Herald makes to its data happens here,
//! in one transaction with the event it produces, and is announced once
//! committed: an event exists if and only if its change committed, and a
//! change that committed cannot go unannounced.
//!
//! - [`queue`]: the [`Writer`] handle requests write through, and the task
//!   that gathers queued writes into batches (group commit: one
//!   transaction and one commit for a batch, which is what bounds write
//!   throughput on both databases).
//! - [`committer`]: commits one batch, running it again without a write
//!   that failed on its own, and answers every write of it.
//! - [`attempt`]: one try at a batch, in one transaction, and its
//!   [`Attempt`](attempt::Attempt) outcome.
//! - [`job`]: a queued write with its result type erased.
//! - [`joined`]: kinds of writes whose rows a batch inserts with one
//!   statement ([`Joined`]); the kinds themselves live with their tables.
//!
//! Nothing here names a table: writes bring their own statements, and the
//! database's triggers append their events (see `event_log`).
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
//!   read when the batch begins, so instances whose clocks disagree still
//!   agree on the time.

mod attempt;
mod committer;
mod job;
pub mod joined;
mod queue;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::DatabaseTransaction;

use super::Error;
pub use joined::{Joined, JoinedRow};
pub use queue::Writer;

/// What a write decided inside its transaction.
pub enum Change<T> {
    /// It changed one thing, and appended that change's event to the log in
    /// the same transaction (a table's triggers append a row's; a
    /// notification appends its own).
    Made(T),
    /// Nothing changed: no event, and whatever the write read is returned.
    Nothing(T),
    /// A row inserted with the batch's other rows of its kind, in one
    /// statement after every write of the batch has run (see [`Joined`]).
    /// Its event is known by its topic.
    Joined(JoinedRow, T),
}

/// Where a write runs: its batch, and the batch's time by the database's
/// clock.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub now: DateTime<Utc>,
    /// The batch's number, counted from 1 by its writer.
    pub batch: u64,
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
