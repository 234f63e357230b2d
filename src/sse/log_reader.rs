//! Reads of the event log for streams that replay or catch up, shared by
//! every stream that needs the same events and bounded in how many
//! database connections they take, so that thousands of streams resuming at
//! once neither flood the database nor starve writes and readiness checks.
//!
//! The log is read in aligned blocks of ids: every stream that needs events
//! in a block waits for the one read of it, and blocks that can no longer
//! change (every id in them is committed) stay cached for the next ones.
//! Blocks are not filtered by topic: each stream filters in memory, as it
//! does live events, so a query's size never depends on a stream's topics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OnceCell, Semaphore};

use super::EventFrame;
use crate::db::{self, Reader};
use crate::lock::lock;

/// Event ids per block.
pub const BLOCK: i64 = 256;

/// Complete blocks kept for streams that come by later.
const CACHED_BLOCKS: usize = 32;

/// Database connections stream reads may hold at once; the rest of the pool
/// stays free for writes, readiness and the relay.
const READ_CONNECTIONS: usize = 4;

/// The retained events of ids `(first_id - 1, last_id]`.
pub struct Block {
    pub events: Vec<EventFrame>,
    /// The newest id this block vouches for: every retained event up to it is
    /// in `events`, so an id up to it that is missing is a hole in the log.
    pub through: i64,
    /// Whether every id of the block was committed when it was read: later
    /// blocks may hold more events.
    pub complete: bool,
}

pub struct LogReader {
    db: Reader,
    connections: Semaphore,
    blocks: Mutex<Blocks>,
}

#[derive(Default)]
struct Blocks {
    cells: HashMap<i64, Arc<OnceCell<Arc<Block>>>>,
    /// Complete blocks, oldest first, to evict the oldest.
    cached: VecDeque<i64>,
}

impl LogReader {
    pub fn new(db: Reader) -> Self {
        Self {
            db,
            connections: Semaphore::new(READ_CONNECTIONS),
            blocks: Mutex::new(Blocks::default()),
        }
    }

    pub fn db(&self) -> &Reader {
        &self.db
    }

    /// Drops every block read so far: the log no longer holds them.
    pub fn forget(&self) {
        let mut blocks = self.lock();
        blocks.cells.clear();
        blocks.cached.clear();
    }

    /// The block holding event `after + 1`. `committed` is an event id known
    /// to be committed: blocks up to it are complete.
    pub async fn block_after(&self, after: i64, committed: i64) -> Result<Arc<Block>, db::Error> {
        let index = after.max(0) / BLOCK;
        let cell = self
            .lock()
            .cells
            .entry(index)
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let read = cell
            .get_or_try_init(|| async {
                let _connection =
                    self.connections.acquire().await.map_err(|_| {
                        db::Error::Internal(anyhow::anyhow!("the log reader closed"))
                    })?;
                let (first, last) = (index * BLOCK, (index + 1) * BLOCK);
                let complete = last <= committed;
                let events = self.db.events(first, last).await?;
                // Events committed before the read are visible to it.
                let through = if complete {
                    last
                } else {
                    events
                        .last()
                        .map_or(first, |e| e.id)
                        .max(committed.min(last))
                };
                Ok::<_, db::Error>(Arc::new(Block {
                    events: events.iter().map(EventFrame::encode).collect(),
                    through,
                    complete,
                }))
            })
            .await
            .cloned();
        let mut blocks = self.lock();
        match &read {
            Ok(block) if block.complete => {
                if !blocks.cached.contains(&index) {
                    blocks.cached.push_back(index);
                    if blocks.cached.len() > CACHED_BLOCKS
                        && let Some(evicted) = blocks.cached.pop_front()
                    {
                        blocks.cells.remove(&evicted);
                    }
                }
            }
            // The newest block grows as events commit: the next stream that
            // needs it reads it again.
            _ => {
                if blocks
                    .cells
                    .get(&index)
                    .is_some_and(|c| Arc::ptr_eq(c, &cell))
                {
                    blocks.cells.remove(&index);
                }
            }
        }
        read
    }

    fn lock(&self) -> MutexGuard<'_, Blocks> {
        lock(&self.blocks)
    }
}
