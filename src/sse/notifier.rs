use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::feed::Feed;
use super::log_reader::LogReader;
use super::reset::ResetReason;
use super::worker_wakers::LocalWakers;
use crate::db::event_log::LoggedEvent;
use crate::db::{Announce, Reader};
use crate::metrics::FanoutStats;

/// Hands committed events to every open stream, in event-id order.
///
/// The write path announces each event after its commit (see [`Announce`]). Commits
/// reach it in order from this instance's writer, but other instances'
/// commits not at all; an event that is not the next one is left to the
/// relay, which reads the log from the last delivered id, so subscribers
/// always see 1, 2, 3, … without gaps or duplicates.
pub struct SseNotifier {
    feed: Feed,
    log: LogReader,
    relay: Notify,
    subscribers: watch::Sender<usize>,
    stats: FanoutStats,
}

/// How the live feed behaves.
#[derive(Debug, Clone, Copy)]
pub struct FeedSettings {
    /// Events the feed holds; a stream further behind reads the log.
    pub capacity: usize,
    /// How long events may gather before streams are woken (0: never).
    pub window: std::time::Duration,
}

impl SseNotifier {
    /// `last_id` is the newest committed event: live delivery continues after
    /// it. `stats` are counted here and read by `/metrics`.
    pub fn new(last_id: i64, db: Reader, settings: FeedSettings, stats: FanoutStats) -> Self {
        Self {
            feed: Feed::new(last_id, settings.capacity, settings.window),
            log: LogReader::new(db),
            relay: Notify::new(),
            subscribers: watch::Sender::new(0),
            stats,
        }
    }

    /// The log went back on what was delivered up to `delivered`, or lost
    /// events yet to be delivered: every stream says `reset` with `reason`
    /// and goes on after `newest`, and nothing read from the log before is
    /// used again. Returns `false` (and does nothing) if more than
    /// `delivered` was delivered meanwhile: the log must be read again.
    pub(super) fn start_over(&self, delivered: i64, newest: i64, reason: ResetReason) -> bool {
        if !self.feed.start_over(delivered, newest, reason) {
            return false;
        }
        tracing::warn!(
            newest,
            delivered,
            reason = reason.as_str(),
            "the event log went back on what this instance delivered; every stream resets"
        );
        self.log.forget();
        true
    }

    /// Delivers events read from the log, skipping those already delivered.
    pub(super) fn deliver_from_log(&self, events: &[LoggedEvent]) {
        for event in events {
            if self.feed.deliver(event) {
                self.stats.delivered.inc();
            }
        }
    }

    /// Asks the relay to deliver whatever the log holds past the last
    /// delivered event.
    pub fn wake_relay(&self) {
        self.relay.notify_one();
    }

    pub(super) async fn relay_woken(&self) {
        self.relay.notified().await;
    }

    pub fn last_delivered_id(&self) -> i64 {
        self.feed.last_id()
    }

    pub(super) fn feed(&self) -> &Feed {
        &self.feed
    }

    pub(super) fn log(&self) -> &LogReader {
        &self.log
    }

    /// The wakers of the server worker this is called on: streams polled
    /// there wait with them. Call it on a server worker (a thread running
    /// a `LocalSet`), such as in a request handler.
    pub fn local_wakers(&self) -> Rc<LocalWakers> {
        self.feed.local_wakers()
    }

    /// Releases gathered events and sends keep-alives until `shutdown`,
    /// then ends every open stream (see [`Self::close_streams`]).
    pub async fn run_feed(
        self: Arc<Self>,
        keep_alive: std::time::Duration,
        shutdown: CancellationToken,
    ) {
        self.feed.run(keep_alive, shutdown).await;
    }

    /// Ends every open stream (clients reconnect with `Last-Event-ID`,
    /// elsewhere or later).
    pub fn close_streams(&self) {
        self.feed.close();
    }

    /// Watches the number of open streams.
    pub fn subscriber_count(&self) -> watch::Receiver<usize> {
        self.subscribers.subscribe()
    }

    pub(super) fn count_subscriber(&self, delta: isize) -> usize {
        self.subscribers
            .send_modify(|n| *n = n.saturating_add_signed(delta));
        *self.subscribers.borrow()
    }

    pub fn stats(&self) -> &FanoutStats {
        &self.stats
    }
}

/// The write path announces each event this instance commits here.
impl Announce for SseNotifier {
    fn announce(&self, event: &LoggedEvent) {
        self.stats.committed.inc();
        if self.feed.deliver(event) {
            self.stats.delivered.inc();
        } else {
            // Not the next one: another instance's events came first, or
            // (an id already delivered) the log went back, which the relay
            // finds out.
            self.wake_relay();
        }
    }
}
