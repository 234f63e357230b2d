//! How writes are going, as readiness reports it: whether commits are
//! failing for the environment's reasons (the database away, the disk
//! full), and whether a batch has been waiting on the database too long.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::lock::lock;
use tokio::time::Instant;

/// A batch waiting on the database longer than this makes the instance
/// unready: its writes are stuck (a stalled peer holds the counter's lock,
/// another process holds SQLite's write lock).
pub const STUCK_AFTER: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct WriteHealth(Mutex<State>);

#[derive(Default)]
struct State {
    /// Why commits fail, until one succeeds again.
    failing: Option<String>,
    /// When the batch now waiting on the database began.
    batch_since: Option<Instant>,
}

impl WriteHealth {
    /// Why writes cannot be taken now, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let state = self.lock();
        if let Some(why) = &state.failing {
            return Some(format!("writes are failing: {why}"));
        }
        let waiting = state.batch_since.map(|since| since.elapsed())?;
        (waiting >= STUCK_AFTER).then(|| {
            format!(
                "writes have waited {} s for the database",
                waiting.as_secs()
            )
        })
    }

    pub(super) fn failing(&self) -> Option<String> {
        self.lock().failing.clone()
    }

    pub(super) fn batch_started(&self) {
        self.lock().batch_since = Some(Instant::now());
    }

    pub(super) fn batch_ended(&self) {
        self.lock().batch_since = None;
    }

    pub(super) fn committed(&self) {
        self.lock().failing = None;
    }

    pub(super) fn failed(&self, why: String) {
        self.lock().failing = Some(why);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.0)
    }
}
