//! One open stream: replay from the log, then live events from the feed,
//! with catch-up from the log whenever the feed has moved on without it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use sea_orm::DbErr;

use super::admission::Admitted;
use super::feed::{FeedCursor, FeedRead};
use super::log_reader::Page;
use super::{SseNotifier, frame};
use crate::db::event_log;
use crate::domain::TopicFilter;

/// How soon a stream behind the live feed tries the event log again after
/// the database failed to answer.
const LOG_RETRY: Duration = Duration::from_secs(1);

/// Bytes of replayed events handed over at once: one slow stream's share of
/// its connection's write buffer.
const MAX_CHUNK: usize = 16 * 1024;

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

/// What a stream is opened with.
pub struct Opening {
    /// The events it receives.
    pub filter: TopicFilter,
    pub start: Start,
    /// Sent first, as `retry:`.
    pub retry: Duration,
    /// Its place among the open streams.
    pub admitted: Admitted,
    /// When its credential expires: the stream ends then, after an
    /// `auth_expired` event.
    pub expires_at: Option<DateTime<Utc>>,
}

pub struct Subscription {
    notifier: Arc<SseNotifier>,
    filter: TopicFilter,
    /// Also the newest event id this stream has passed, sent or filtered
    /// out.
    cursor: FeedCursor,
    phase: Phase,
    /// Frames sent before any event: `retry:`, then a `reset` if any.
    prelude: Option<Bytes>,
    /// A resume point whose next event must be the first one replayed:
    /// if it is gone, the client gets a `reset`.
    resuming: bool,
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
    // Fields drop in this order: the stream's admission is given back
    // before the subscriber count says it closed, so a client that waits for
    // the count and reopens is admitted.
    _admitted: Admitted,
    _registration: Registration,
}

enum Phase {
    Live,
    /// Events after the cursor must be read from the log.
    Behind,
    Reading(Pin<Box<dyn Future<Output = Result<Arc<Page>, DbErr>>>>),
    /// Sending a page's events from this index on.
    Replaying(Arc<Page>, usize),
    /// The database did not answer; try again after this.
    Waiting(Pin<Box<tokio::time::Sleep>>),
}

impl Subscription {
    /// Opens a stream of the events `filter` matches, from `start`.
    pub async fn open(notifier: Arc<SseNotifier>, opening: Opening) -> Result<Self, DbErr> {
        let Opening {
            filter,
            start,
            retry,
            admitted,
            expires_at,
        } = opening;
        let registration = Registration::new(notifier.clone());
        let feed = notifier.feed();
        let mut prelude = vec![frame::retry(retry)];
        let delivered = feed.last_id();
        let (cursor, phase, resuming) = match start {
            Start::Live => (feed.cursor(), Phase::Live, false),
            Start::After(id) if id == delivered => (feed.cursor_at(id), Phase::Live, false),
            Start::After(id) if id < delivered => (feed.cursor_at(id), Phase::Behind, id != 0),
            // Newer than anything delivered here: another instance may have
            // committed it moments ago, so only the database can say.
            Start::After(id) => {
                let newest = event_log::last_id(notifier.log().db()).await?;
                if id <= newest {
                    (feed.cursor_at(id), Phase::Behind, true)
                } else {
                    prelude.push(reset(&notifier, "unknown", newest));
                    (feed.cursor_at(newest), Phase::Live, false)
                }
            }
            Start::Unreadable => {
                prelude.push(reset(&notifier, "invalid", delivered));
                (feed.cursor_at(delivered), Phase::Live, false)
            }
        };
        Ok(Self {
            notifier,
            filter,
            cursor,
            phase,
            prelude: Some(frame::join(&prelude)),
            resuming,
            expiry: expires_at.map(|at| {
                let left = (at - Utc::now()).to_std().unwrap_or_default();
                Box::pin(tokio::time::sleep(left))
            }),
            expired: false,
            _registration: registration,
            _admitted: admitted,
        })
    }

    /// `auth_expired` once the credential has expired; the stream ends after
    /// it, and the browser's reconnect with the same credential gets `401`.
    fn poll_expiry(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let Some(expiry) = &mut self.expiry else {
            return Poll::Pending;
        };
        if expiry.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.expiry = None;
        self.expired = true;
        Poll::Ready(frame::named(
            "auth_expired",
            r#"{"reason":"the token has expired: sign in again"}"#,
        ))
    }

    /// The next events of a page, after the cursor and for this stream,
    /// joined up to [`MAX_CHUNK`]; moves `index` past them.
    fn replay(&mut self, page: &Page, index: &mut usize) -> Bytes {
        let mut frames = Vec::new();
        let mut size = 0;
        while let Some(event) = page.events.get(*index) {
            if size >= MAX_CHUNK {
                return frame::join(&frames);
            }
            *index += 1;
            if event.id <= self.cursor.id {
                continue;
            }
            self.cursor.id = event.id;
            if self.filter.matches(&event.topic) {
                size += event.bytes.len();
                frames.push(event.bytes.clone());
            }
        }
        self.cursor.id = self.cursor.id.max(page.through);
        frame::join(&frames)
    }

    /// Whether the events right after a resume point are gone from the log
    /// (pruned): the first event of the page after the cursor must be the
    /// next id, if any event after it had been committed.
    fn resume_point_expired(&self, page: &Page) -> bool {
        let after = self.cursor.id;
        let first = page.events.iter().map(|e| e.id).find(|id| *id > after);
        after < page.committed && first != Some(after + 1)
    }

    fn poll_frames(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let notifier = self.notifier.clone();
        let feed = notifier.feed();
        loop {
            match &mut self.phase {
                Phase::Live => match feed.poll_read(&mut self.cursor, &self.filter, cx) {
                    Poll::Ready(FeedRead::Send(bytes)) => return Poll::Ready(Some(bytes)),
                    Poll::Ready(FeedRead::Closed) => return Poll::Ready(None),
                    Poll::Ready(FeedRead::Behind) => {
                        tracing::debug!(
                            cursor = self.cursor.id,
                            "stream fell behind the live feed; catching up from the log"
                        );
                        notifier.stats().catch_ups.increment();
                        self.phase = Phase::Behind;
                    }
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Behind => {
                    if feed.is_closed() {
                        return Poll::Ready(None);
                    }
                    let reader = notifier.clone();
                    let (after, committed) = (self.cursor.id, feed.last_id());
                    self.phase = Phase::Reading(Box::pin(async move {
                        reader.log().page_after(after, committed).await
                    }));
                }
                Phase::Reading(read) => match read.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(page)) => {
                        if std::mem::take(&mut self.resuming) && self.resume_point_expired(&page) {
                            let newest = feed.last_id();
                            self.cursor = feed.cursor_at(newest);
                            self.phase = Phase::Live;
                            return Poll::Ready(Some(reset(&notifier, "expired", newest)));
                        }
                        self.phase = Phase::Replaying(page, 0);
                    }
                    Poll::Ready(Err(error)) => {
                        // The database is away: keep the stream (and its
                        // keep-alives) and read on from the cursor once it
                        // is back.
                        tracing::warn!(%error, cursor = self.cursor.id, "stream could not read the event log; retrying");
                        self.phase = Phase::Waiting(Box::pin(tokio::time::sleep(LOG_RETRY)));
                    }
                },
                Phase::Replaying(page, index) => {
                    let (page, mut index) = (page.clone(), *index);
                    let bytes = self.replay(&page, &mut index);
                    self.phase = if index < page.events.len() {
                        Phase::Replaying(page, index)
                    } else if page.complete {
                        Phase::Behind
                    } else {
                        Phase::Live
                    };
                    if !bytes.is_empty() {
                        return Poll::Ready(Some(bytes));
                    }
                }
                Phase::Waiting(sleep) => {
                    match feed.poll_keep_alive(&mut self.cursor, cx) {
                        Poll::Ready(true) => return Poll::Ready(Some(frame::KEEP_ALIVE)),
                        Poll::Ready(false) => return Poll::Ready(None),
                        Poll::Pending => {}
                    }
                    match sleep.as_mut().poll(cx) {
                        Poll::Ready(()) => self.phase = Phase::Behind,
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }
}

impl Stream for Subscription {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(prelude) = this.prelude.take() {
            return Poll::Ready(Some(Ok(prelude)));
        }
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(expired) = this.poll_expiry(cx) {
            return Poll::Ready(Some(Ok(expired)));
        }
        this.poll_frames(cx).map(|frames| frames.map(Ok))
    }
}

fn reset(notifier: &SseNotifier, reason: &str, last_id: i64) -> Bytes {
    notifier.stats().resets.increment();
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
