//! One open stream: replay from the log, then live events from the feed,
//! with catch-up from the log whenever the feed has moved on without it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::admission::Admitted;
use super::feed::{FeedCursor, FeedRead};
use super::log_reader::Block;
use super::position::{Position, Tag};
use super::reset::ResetReason;
use super::stream_filter::StreamFilter;
use super::worker_wakers::LocalWakers;
use super::{SseNotifier, frame};
use crate::db;

/// How soon a stream behind the live feed tries the event log again after
/// the database failed to answer.
const LOG_RETRY: Duration = Duration::from_secs(1);

/// Bytes of replay a stream sends in one turn on its worker before it lets
/// the worker's other streams and requests run.
const TURN_BYTES: usize = 64 * 1024;

/// Where a stream begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the events committed from now on.
    Live,
    /// After this event: the ones after it are replayed first.
    After(Position),
    /// The client sent a resume point that is not an event's position.
    Unreadable,
}

/// What a stream is opened with.
pub struct Opening {
    /// The events it receives.
    pub filter: StreamFilter,
    pub start: Start,
    /// Sent first, as `retry:`.
    pub retry: Duration,
    /// Its place among the open streams.
    pub admitted: Admitted,
    /// When its credential expires: the stream ends then, after an
    /// `auth_expired` event.
    pub expires_at: Option<DateTime<Utc>>,
    /// The wakers of the server worker that polls it, if any (see
    /// [`SseNotifier::local_wakers`]).
    pub local: Option<Rc<LocalWakers>>,
}

/// One open stream.
///
/// A Mercure stream differs in what it says, not in what it sends: where a
/// Herald stream says `reset` it ends (the client reconnects with its last
/// id, and the hub's `Last-Event-ID` answer tells it whether that id is
/// still known), and when its token expires it ends without a word.
///
/// ### Invariants
/// - It sends every event after its cursor that its filter matches, in id
///   order, each once, or says `reset` and goes on from the newest event:
///   it never skips an event silently. An id missing from the log between
///   two it holds (a hole) or right after the cursor (pruned) is a `reset`.
/// - It never sends an event the log no longer holds: when the log goes
///   back (see [`Feed::start_over`](super::feed::Feed::start_over)), and
///   when a client resumes from an event whose content differs from the
///   log's event of that id, it says `reset`.
pub struct Subscription {
    notifier: Arc<SseNotifier>,
    filter: StreamFilter,
    /// Also the newest event id this stream has passed, sent or filtered
    /// out.
    cursor: FeedCursor,
    local: Option<Rc<LocalWakers>>,
    phase: Phase,
    /// Frames sent before any event: `retry:`, then a `reset` if any.
    prelude: Option<Bytes>,
    /// Replaying from the very start of the log (`last_event_id=0`): the
    /// first retained event need not follow the cursor, as it must
    /// everywhere else.
    from_the_start: bool,
    /// Bytes of replay sent in this turn: past [`TURN_BYTES`] the stream
    /// waits for its next turn (see `worker_wakers`).
    sent_this_turn: usize,
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
    // Fields drop in order: the place is given back before the stream stops
    // being counted, so a client that sees the count drop can open another.
    _admitted: Admitted,
    _registration: Registration,
}

type BlockRead = Pin<Box<dyn Future<Output = Result<Arc<Block>, db::Error>>>>;

enum Phase {
    Live,
    /// Events after the cursor must be read from the log.
    Behind,
    Reading(BlockRead),
    /// Sending a block's events from this index on.
    Replaying(Arc<Block>, usize),
    /// Checking that the event the client resumes after is the one the log
    /// holds under its id; then going on as `then` says.
    Verifying {
        read: BlockRead,
        tag: Tag,
        then: Resume,
    },
    /// The database did not answer; try again after this.
    Waiting(Pin<Box<tokio::time::Sleep>>),
    /// The client must be told to start over, for this reason.
    Resetting(ResetReason),
}

/// How a resumed stream goes on once its resume point checks out.
#[derive(Clone, Copy)]
enum Resume {
    Live,
    Behind,
}

impl Resume {
    fn phase(self) -> Phase {
        match self {
            Self::Live => Phase::Live,
            Self::Behind => Phase::Behind,
        }
    }
}

impl Subscription {
    /// Opens a stream of the events `filter` matches, from `start`.
    pub async fn open(notifier: Arc<SseNotifier>, opening: Opening) -> Result<Self, db::Error> {
        let Opening {
            filter,
            start,
            retry,
            admitted,
            expires_at,
            local,
        } = opening;
        let registration = Registration::new(notifier.clone());
        let feed = notifier.feed();
        let mut prelude = vec![frame::retry(retry)];
        let delivered = feed.last_id();
        let (cursor, phase) = match start {
            Start::Live => (feed.cursor(), Phase::Live),
            Start::After(position) => {
                // Newer than anything delivered here: another instance may
                // have committed it moments ago, so only the database can
                // say.
                let newest = if position.id > delivered {
                    notifier.log().db().last_event_id().await?
                } else {
                    delivered
                };
                if position.id > newest {
                    if !filter.is_mercure() {
                        prelude.push(reset(&notifier, ResetReason::Unknown, newest));
                    }
                    (feed.cursor_at(newest), Phase::Live)
                } else {
                    let then = if position.id == delivered {
                        Resume::Live
                    } else {
                        Resume::Behind
                    };
                    let phase = match position.tag {
                        Some(tag) if position.id > 0 => verify(&notifier, position.id, tag, then),
                        _ => then.phase(),
                    };
                    (feed.cursor_at(position.id), phase)
                }
            }
            // Only Herald's streams start so: the hub never opens one with
            // a resume point it could not read.
            Start::Unreadable => {
                prelude.push(reset(&notifier, ResetReason::Invalid, delivered));
                (feed.cursor_at(delivered), Phase::Live)
            }
        };
        Ok(Self {
            notifier,
            filter,
            from_the_start: matches!(start, Start::After(Position { id: 0, .. })),
            sent_this_turn: 0,
            cursor,
            local,
            phase,
            prelude: Some(frame::join(&prelude)),
            expiry: expires_at.map(|at| {
                let left = (at - Utc::now()).to_std().unwrap_or_default();
                Box::pin(tokio::time::sleep(left))
            }),
            expired: false,
            _admitted: admitted,
            _registration: registration,
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
        Poll::Ready(if self.filter.is_mercure() {
            Bytes::new()
        } else {
            frame::named(
                "auth_expired",
                r#"{"reason":"the token has expired: sign in again"}"#,
            )
        })
    }

    /// The next events of a block, after the cursor and for this stream,
    /// joined up to [`frame::SEND_AT_ONCE`]; moves `index` past them. `Err` carries
    /// the events before a hole in the log, where the stream must reset.
    fn replay(&mut self, block: &Block, index: &mut usize) -> Result<Bytes, Bytes> {
        let mut frames = Vec::new();
        let mut size = 0;
        while let Some(event) = block.events.get(*index) {
            if size >= frame::SEND_AT_ONCE {
                return Ok(frame::join(&frames));
            }
            if event.id <= self.cursor.id {
                *index += 1;
                continue;
            }
            if event.id != self.cursor.id + 1 && !std::mem::take(&mut self.from_the_start) {
                return Err(frame::join(&frames));
            }
            self.from_the_start = false;
            *index += 1;
            self.cursor.id = event.id;
            if self.filter.accepts(event) {
                size += event.bytes.len();
                frames.push(event.bytes.clone());
            }
        }
        if self.cursor.id < block.through {
            if !std::mem::take(&mut self.from_the_start) {
                return Err(frame::join(&frames));
            }
            self.cursor.id = block.through;
        }
        Ok(frame::join(&frames))
    }

    fn poll_frames(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let notifier = self.notifier.clone();
        let feed = notifier.feed();
        loop {
            match &mut self.phase {
                Phase::Live => {
                    match feed.poll_read(&mut self.cursor, &self.filter, self.local.as_deref(), cx)
                    {
                        Poll::Ready(FeedRead::Send(bytes)) => return Poll::Ready(Some(bytes)),
                        Poll::Ready(FeedRead::Closed) => return Poll::Ready(None),
                        Poll::Ready(FeedRead::StartedOver(reason)) => {
                            self.phase = Phase::Resetting(reason);
                        }
                        Poll::Ready(FeedRead::Behind) => {
                            tracing::debug!(
                                cursor = self.cursor.id,
                                "stream fell behind the live feed; catching up from the log"
                            );
                            notifier.stats().catch_ups.inc();
                            self.phase = Phase::Behind;
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Phase::Behind => {
                    if feed.is_closed() {
                        return Poll::Ready(None);
                    }
                    if let Some(reason) = feed.started_over_since(&self.cursor) {
                        self.phase = Phase::Resetting(reason);
                        continue;
                    }
                    let reader = notifier.clone();
                    let (after, committed) = (self.cursor.id, feed.last_id());
                    self.phase = Phase::Reading(Box::pin(async move {
                        reader.log().block_after(after, committed).await
                    }));
                }
                Phase::Reading(read) => match read.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(block)) => self.phase = Phase::Replaying(block, 0),
                    Poll::Ready(Err(error)) => self.wait_for_the_log(&error),
                },
                Phase::Verifying { read, tag, then } => match read.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(block)) => {
                        let held = block.events.iter().find(|e| e.id == self.cursor.id);
                        self.phase = match held {
                            Some(event) if event.tag != *tag => {
                                Phase::Resetting(ResetReason::Rewound)
                            }
                            // The same event, or one pruned since: the
                            // replay finds out the rest.
                            _ => then.phase(),
                        };
                    }
                    Poll::Ready(Err(error)) => self.wait_for_the_log(&error),
                },
                Phase::Replaying(block, index) => {
                    if let Some(reason) = feed.started_over_since(&self.cursor) {
                        self.phase = Phase::Resetting(reason);
                        continue;
                    }
                    if self.sent_this_turn >= TURN_BYTES
                        && let Some(local) = &self.local
                    {
                        self.sent_this_turn = 0;
                        local.wait_for_turn(cx.waker());
                        return Poll::Pending;
                    }
                    let (block, mut index) = (block.clone(), *index);
                    let bytes = match self.replay(&block, &mut index) {
                        Ok(bytes) => {
                            self.phase = if index < block.events.len() {
                                Phase::Replaying(block, index)
                            } else if block.complete {
                                Phase::Behind
                            } else {
                                Phase::Live
                            };
                            bytes
                        }
                        Err(before_the_hole) => {
                            self.phase = Phase::Resetting(ResetReason::Expired);
                            before_the_hole
                        }
                    };
                    if !bytes.is_empty() {
                        self.sent_this_turn += bytes.len();
                        return Poll::Ready(Some(bytes));
                    }
                }
                Phase::Waiting(sleep) => {
                    match feed.poll_keep_alive(&mut self.cursor, self.local.as_deref(), cx) {
                        Poll::Ready(true) => return Poll::Ready(Some(frame::KEEP_ALIVE)),
                        Poll::Ready(false) => return Poll::Ready(None),
                        Poll::Pending => {}
                    }
                    match sleep.as_mut().poll(cx) {
                        Poll::Ready(()) => self.phase = Phase::Behind,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Phase::Resetting(_) if self.filter.is_mercure() => return Poll::Ready(None),
                Phase::Resetting(reason) => {
                    let reason = *reason;
                    self.cursor = feed.cursor();
                    self.from_the_start = false;
                    self.phase = Phase::Live;
                    return Poll::Ready(Some(reset(&notifier, reason, self.cursor.id)));
                }
            }
        }
    }

    /// The database is away: keep the stream (and its keep-alives) and
    /// read on from the cursor once it is back.
    fn wait_for_the_log(&mut self, error: &db::Error) {
        tracing::warn!(%error, cursor = self.cursor.id, "stream could not read the event log; retrying");
        self.phase = Phase::Waiting(Box::pin(tokio::time::sleep(LOG_RETRY)));
    }
}

/// Checks, before a stream resumes after event `id`, that the log's event
/// `id` is the one the client saw (tag `tag`): from the feed when it still
/// holds it, from the log otherwise.
fn verify(notifier: &Arc<SseNotifier>, id: i64, tag: Tag, then: Resume) -> Phase {
    match notifier.feed().tag_of(id) {
        Some(held) if held == tag => then.phase(),
        Some(_) => Phase::Resetting(ResetReason::Rewound),
        None => {
            let (reader, committed) = (notifier.clone(), notifier.feed().last_id());
            Phase::Verifying {
                // The block holding `id` itself.
                read: Box::pin(async move { reader.log().block_after(id - 1, committed).await }),
                tag,
                then,
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

fn reset(notifier: &SseNotifier, reason: ResetReason, last_id: i64) -> Bytes {
    notifier.stats().resets.inc();
    reason.frame(last_id)
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
