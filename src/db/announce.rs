//! How the write path tells the rest of Herald what it committed, without
//! knowing who listens: the notifier that fans events out to streams
//! implements [`Announce`], and handlers hand it to the write path.

use super::event_log::LoggedEvent;

/// Hears of every event this instance commits, once committed, in commit
/// order.
pub trait Announce: Send + Sync {
    fn announce(&self, event: &LoggedEvent);
}
