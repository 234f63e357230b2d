//! Reads of the event log for streams that replay or catch up, shared by
//! every stream that needs the same events and bounded in how many
//! database connections they take, so that thousands of streams resuming at
//! once neither flood the database nor starve writes and readiness checks.
//!
//! The log is read in aligned pages of ids: every stream that needs events
//! in a page waits for the one read of it, and pages that can no longer
//! change (every id in them is committed) stay cached for the next ones.
//! Pages are not filtered by topic: each stream filters in memory, as it
//! does live events, so a query's size never depends on a stream's topics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{OnceCell, Semaphore};

use super::EventFrame;
use crate::db::event_log;

/// Event ids per page.
pub const PAGE: i64 = 256;

/// Complete pages kept for streams that come by later.
const CACHED_PAGES: usize = 32;

/// Database connections stream reads may hold at once; the rest of the pool
/// stays free for writes, readiness and the relay.
const READ_CONNECTIONS: usize = 4;

/// The retained events of ids `(first_id - 1, last_id]`.
pub struct Page {
    pub events: Vec<EventFrame>,
    /// The newest id this page vouches for: every retained event up to it is
    /// in `events`, so an id up to it that is missing is a hole in the log.
    pub through: i64,
    /// Whether every id of the page was committed when it was read: later
    /// pages may hold more events.
    pub complete: bool,
}

pub struct LogReader {
    db: DatabaseConnection,
    connections: Semaphore,
    pages: Mutex<Pages>,
}

#[derive(Default)]
struct Pages {
    cells: HashMap<i64, Arc<OnceCell<Arc<Page>>>>,
    /// Complete pages, oldest first, to evict the oldest.
    cached: VecDeque<i64>,
}

impl LogReader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            connections: Semaphore::new(READ_CONNECTIONS),
            pages: Mutex::new(Pages::default()),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Drops every page read so far: the log no longer holds them.
    pub fn forget(&self) {
        let mut pages = self.lock();
        pages.cells.clear();
        pages.cached.clear();
    }

    /// The page holding event `after + 1`. `committed` is an event id known
    /// to be committed: pages up to it are complete.
    pub async fn page_after(&self, after: i64, committed: i64) -> Result<Arc<Page>, DbErr> {
        let index = after.max(0) / PAGE;
        let cell = self
            .lock()
            .cells
            .entry(index)
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let read = cell
            .get_or_try_init(|| async {
                let _connection = self
                    .connections
                    .acquire()
                    .await
                    .map_err(|_| DbErr::Custom("the log reader closed".to_owned()))?;
                let (first, last) = (index * PAGE, (index + 1) * PAGE);
                let complete = last <= committed;
                let events = event_log::read_range(&self.db, first, last).await?;
                // Events committed before the read are visible to it.
                let through = if complete {
                    last
                } else {
                    events
                        .last()
                        .map_or(first, |e| e.id)
                        .max(committed.min(last))
                };
                Ok::<_, DbErr>(Arc::new(Page {
                    events: events.iter().map(EventFrame::encode).collect(),
                    through,
                    complete,
                }))
            })
            .await
            .cloned();
        let mut pages = self.lock();
        match &read {
            Ok(page) if page.complete => {
                if !pages.cached.contains(&index) {
                    pages.cached.push_back(index);
                    if pages.cached.len() > CACHED_PAGES
                        && let Some(evicted) = pages.cached.pop_front()
                    {
                        pages.cells.remove(&evicted);
                    }
                }
            }
            // The newest page grows as events commit: the next stream that
            // needs it reads it again.
            _ => {
                if pages
                    .cells
                    .get(&index)
                    .is_some_and(|c| Arc::ptr_eq(c, &cell))
                {
                    pages.cells.remove(&index);
                }
            }
        }
        read
    }

    fn lock(&self) -> MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
