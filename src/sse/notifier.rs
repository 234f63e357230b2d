use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::frame;
use crate::db::event_log::LoggedEvent;
use crate::metrics::FanoutStats;

/// One committed event, encoded once; every subscriber shares these bytes.
#[derive(Debug)]
pub struct EventFrame {
    pub id: i64,
    pub topic: String,
    pub bytes: Bytes,
}

/// Hands committed events to every open stream, in event-id order.
///
/// Writers call [`SseNotifier::publish`] after their commit. Commits of
/// concurrent writers can reach it out of order, and other instances' commits
/// not at all; an event that is not the next one is left to the relay, which
/// reads the log from the last delivered id, so subscribers always see
/// 1, 2, 3, … without gaps or duplicates.
pub struct SseNotifier {
    live: Mutex<LiveFeed>,
    relay: Notify,
    subscribers: watch::Sender<usize>,
    stats: FanoutStats,
    closing: CancellationToken,
}

struct LiveFeed {
    last_id: i64,
    sender: broadcast::Sender<Arc<EventFrame>>,
}

impl SseNotifier {
    /// `last_id` is the newest committed event: live delivery continues after
    /// it. `capacity` bounds the shared in-memory feed; a subscriber further
    /// behind than that catches up from the event log. `stats` are counted
    /// here and read by `/metrics`.
    pub fn new(last_id: i64, capacity: usize, stats: FanoutStats) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self {
            live: Mutex::new(LiveFeed { last_id, sender }),
            relay: Notify::new(),
            subscribers: watch::Sender::new(0),
            stats,
            closing: CancellationToken::new(),
        }
    }

    /// Announces a committed event.
    pub fn publish(&self, event: &LoggedEvent) {
        self.stats.committed.inc();
        let mut live = self.live();
        if event.id == live.last_id + 1 {
            live.deliver(event, &self.stats);
        } else if event.id > live.last_id + 1 {
            self.wake_relay();
        }
    }

    /// Delivers events read from the log, skipping those already delivered.
    pub(super) fn deliver_from_log(&self, events: &[LoggedEvent]) {
        let mut live = self.live();
        for event in events {
            if event.id > live.last_id {
                live.deliver(event, &self.stats);
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

    /// A receiver of every event delivered from now on, and the id of the
    /// last event delivered before it: together they cover every event.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<EventFrame>>, i64) {
        let live = self.live();
        (live.sender.subscribe(), live.last_id)
    }

    pub fn last_delivered_id(&self) -> i64 {
        self.live().last_id
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

    /// Ends every open stream (clients reconnect with `Last-Event-ID`) and
    /// stops the relay.
    pub fn close(&self) {
        self.closing.cancel();
    }

    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, LiveFeed> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LiveFeed {
    fn deliver(&mut self, event: &LoggedEvent, stats: &FanoutStats) {
        self.last_id = event.id;
        stats.delivered.inc();
        let frame = EventFrame {
            id: event.id,
            topic: event.topic.clone(),
            bytes: frame::message(event.id, &event.payload),
        };
        // An error only means that no stream is open right now.
        let _ = self.sender.send(Arc::new(frame));
    }
}
