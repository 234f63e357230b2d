//! One open stream: replay from the log, then live events, with catch-up
//! from the log whenever the shared live feed has moved on without it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{EventFrame, SseNotifier, frame};
use crate::db::event_log;
use crate::domain::TopicFilter;

/// Events read from the log at a time, replaying or catching up: what bounds
/// a subscriber's memory.
const PAGE: u64 = 256;

/// How soon a stream behind the live feed tries the event log again after
/// the database failed to answer.
const LOG_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    pub keep_alive: Duration,
    pub retry: Duration,
}

/// Where a stream begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the events committed from now on.
    Live,
    /// After the event with this id: the ones after it are replayed first.
    After(i64),
    /// The client sent a resume point that is not an event id.
    Unreadable,
}

pub struct Subscription {
    db: DatabaseConnection,
    filter: TopicFilter,
    live: broadcast::Receiver<Arc<EventFrame>>,
    /// The newest event id this stream has passed, sent or filtered out.
    cursor: i64,
    /// Whether events after `cursor` must be read from the log first.
    behind: bool,
    ready: VecDeque<Bytes>,
    keep_alive: Interval,
    closing: CancellationToken,
    registration: Registration,
}

impl Subscription {
    pub async fn open(
        notifier: Arc<SseNotifier>,
        db: DatabaseConnection,
        filter: TopicFilter,
        start: Start,
        settings: StreamSettings,
    ) -> Result<Self, DbErr> {
        // Subscribe before looking at the log: an event committed meanwhile
        // is then in the feed, if not in what the log showed.
        let (live, delivered) = notifier.subscribe();
        let mut ready = VecDeque::from([frame::retry(settings.retry)]);
        let (cursor, behind) = match start {
            Start::Live => (delivered, false),
            Start::After(_) | Start::Unreadable => {
                let last_id = event_log::last_id(&db).await?;
                let resumable = match start {
                    Start::After(id) => {
                        let oldest = event_log::oldest_retained_id(&db).await?;
                        check_resume_point(id, last_id, oldest).map(|()| id)
                    }
                    _ => Err("invalid"),
                };
                match resumable {
                    Ok(id) => (id, true),
                    Err(reason) => {
                        notifier.stats().resets.inc();
                        ready.push_back(reset(reason, last_id));
                        (last_id, false)
                    }
                }
            }
        };
        let mut keep_alive =
            tokio::time::interval_at(Instant::now() + settings.keep_alive, settings.keep_alive);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Self {
            db,
            filter,
            live,
            cursor,
            behind,
            ready,
            keep_alive,
            closing: notifier.closing(),
            registration: Registration::new(notifier),
        })
    }

    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
        futures_util::stream::unfold(self, |mut subscription| async move {
            let frame = subscription.next_frame().await?;
            Some((Ok(frame), subscription))
        })
    }

    /// The next bytes to send; `None` ends the stream.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(frame);
            }
            if self.behind {
                let Err(error) = self.read_log().await else {
                    continue;
                };
                // The database is away: keep the stream (and its keep-alives)
                // and read on from the cursor once it is back.
                tracing::warn!(%error, cursor = self.cursor, "stream could not read the event log; retrying");
                tokio::select! {
                    biased;
                    () = self.closing.cancelled() => return None,
                    _ = self.keep_alive.tick() => return Some(frame::KEEP_ALIVE),
                    () = tokio::time::sleep(LOG_RETRY) => continue,
                }
            }
            tokio::select! {
                biased;
                () = self.closing.cancelled() => return None,
                received = self.live.recv() => match received {
                    Ok(event) if event.id > self.cursor => {
                        self.cursor = event.id;
                        if self.filter.matches(&event.topic) {
                            return Some(event.bytes.clone());
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, cursor = self.cursor, "stream fell behind the live feed; catching up from the log");
                        self.registration.0.stats().catch_ups.inc();
                        self.behind = true;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.keep_alive.tick() => return Some(frame::KEEP_ALIVE),
            }
        }
    }

    /// Queues the next page of logged events after the cursor.
    async fn read_log(&mut self) -> Result<(), DbErr> {
        let events = event_log::read_after(&self.db, self.cursor, &self.filter, PAGE).await?;
        self.behind = events.len() as u64 == PAGE;
        for event in events {
            self.cursor = event.id;
            self.ready
                .push_back(frame::message(event.id, &event.payload));
        }
        Ok(())
    }
}

/// Whether the events after `id` can all be replayed.
fn check_resume_point(
    id: i64,
    last_id: i64,
    oldest_retained: Option<i64>,
) -> Result<(), &'static str> {
    if id > last_id {
        return Err("unknown");
    }
    match oldest_retained {
        // 0 asks for all retained history, whatever has been pruned.
        _ if id == last_id || id == 0 => Ok(()),
        Some(oldest) if oldest <= id + 1 => Ok(()),
        _ => Err("expired"),
    }
}

fn reset(reason: &str, last_id: i64) -> Bytes {
    frame::named(
        "reset",
        &serde_json::json!({ "reason": reason, "last_id": last_id }).to_string(),
    )
}

/// Counts a stream while it is open and logs its opening and closing.
struct Registration(Arc<SseNotifier>);

impl Registration {
    fn new(notifier: Arc<SseNotifier>) -> Self {
        let subscribers = notifier.count_subscriber(1);
        tracing::info!(subscribers, "stream opened");
        Self(notifier)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let subscribers = self.0.count_subscriber(-1);
        tracing::info!(subscribers, "stream closed");
    }
}

#[cfg(test)]
mod tests {
    use super::check_resume_point;

    #[test]
    fn a_resume_point_must_lie_within_the_retained_log() {
        assert_eq!(check_resume_point(5, 5, None), Ok(()));
        assert_eq!(check_resume_point(3, 5, Some(1)), Ok(()));
        assert_eq!(check_resume_point(3, 5, Some(4)), Ok(()));
        assert_eq!(check_resume_point(0, 0, None), Ok(()));
        assert_eq!(check_resume_point(0, 5, Some(4)), Ok(()));
        assert_eq!(check_resume_point(2, 5, Some(4)), Err("expired"));
        assert_eq!(check_resume_point(2, 5, None), Err("expired"));
        assert_eq!(check_resume_point(6, 5, Some(1)), Err("unknown"));
    }
}
