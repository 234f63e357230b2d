//! The live feed: the newest delivered events, each encoded once, that every
//! open stream reads from, and the moments at which streams are woken to
//! read it.
//!
//! Delivering an event to a subscriber costs a wake-up and a `send` on its
//! connection, whatever the event's size. Under load the feed therefore
//! gathers events: the first event after a quiet spell is released at once,
//! later ones wait until `window` after the previous release, so that one
//! wake-up and one `send` carry every event released together. The same
//! wake-ups carry the keep-alive tick, so an idle stream owns no timer.
//!
//! Streams polled on a server worker are woken by that worker (see
//! `worker_wakers`); the feed only signals each worker once.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::event_frame::EventFrame;
use super::frame;
use super::position::Tag;
use super::reset::ResetReason;
use super::stream_filter::StreamFilter;
use super::worker_wakers::{LocalWakers, WorkerSignal};
use crate::db::event_log::LoggedEvent;
use crate::lock::lock;

pub struct Feed {
    state: Mutex<State>,
    capacity: usize,
    window: Duration,
    release_later: Notify,
    /// Every server worker whose streams read this feed.
    workers: Mutex<Vec<Arc<WorkerSignal>>>,
}

struct State {
    /// The newest delivered events, the last one being `last_id`.
    frames: VecDeque<Arc<EventFrame>>,
    last_id: i64,
    /// The newest event streams may read; those after it wait for the next
    /// release.
    released_id: i64,
    /// When events were last released; `None` until the first event.
    last_release: Option<Instant>,
    release_scheduled: bool,
    /// Streams to wake at the next release, tick or close, but those polled
    /// on a server worker, which wait with their worker.
    waiters: Vec<Waker>,
    /// Counts wake-ups of all waiters, so a stream registers once per round.
    round: u64,
    keep_alive: u64,
    closed: bool,
    /// The released frames after some id, joined: every stream that follows
    /// every topic reads the same bytes, so they are joined once.
    joined: Option<Joined>,
    /// Counts the times the log went back on what the feed had delivered
    /// (see [`Feed::start_over`]); a cursor of an older epoch must reset.
    epoch: u64,
    /// Why the log last went back: the `reset` reason streams are given.
    start_over_reason: ResetReason,
}

struct Joined {
    after: i64,
    through: i64,
    bytes: Bytes,
}

/// Where one stream is in the feed.
#[derive(Debug, Clone, Copy)]
pub struct FeedCursor {
    /// The newest event id this stream has passed, sent or filtered out.
    pub id: i64,
    epoch: u64,
    round: u64,
    /// Its registration with its worker, if it waits with one.
    local_generation: u64,
    keep_alive: u64,
}

/// What a stream found in the feed.
pub enum FeedRead {
    /// Bytes to send: events, a keep-alive, or both.
    Send(Bytes),
    /// Events the stream has not passed have left the feed: read the log.
    Behind,
    /// The feed closed: end the stream.
    Closed,
    /// The log went back on what the feed delivered: the stream must say
    /// `reset` (for this reason) and go on from the feed's newest event.
    StartedOver(ResetReason),
}

impl Feed {
    /// `last_id` is the newest committed event: delivery continues after it.
    pub fn new(last_id: i64, capacity: usize, window: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                frames: VecDeque::with_capacity(capacity),
                last_id,
                released_id: last_id,
                last_release: None,
                release_scheduled: false,
                waiters: Vec::new(),
                round: 0,
                keep_alive: 0,
                closed: false,
                joined: None,
                epoch: 0,
                start_over_reason: ResetReason::Rewound,
            }),
            capacity,
            window,
            release_later: Notify::new(),
            workers: Mutex::default(),
        }
    }

    /// A cursor at the newest event delivered so far.
    pub fn cursor(&self) -> FeedCursor {
        self.cursor_at(self.last_id())
    }

    /// A cursor after event `id`.
    pub fn cursor_at(&self, id: i64) -> FeedCursor {
        let state = self.lock();
        FeedCursor {
            id,
            epoch: state.epoch,
            // Not the current round: the first read that finds nothing
            // registers the stream.
            round: state.round.wrapping_sub(1),
            local_generation: u64::MAX,
            keep_alive: state.keep_alive,
        }
    }

    pub fn last_id(&self) -> i64 {
        self.lock().last_id
    }

    /// The tag of the delivered event `id`, while the feed still holds it.
    pub fn tag_of(&self, id: i64) -> Option<Tag> {
        let state = self.lock();
        let oldest = state.last_id - state.frames.len() as i64 + 1;
        let index = usize::try_from(id.checked_sub(oldest)?).ok()?;
        state.frames.get(index).map(|frame| frame.tag)
    }

    /// Whether `cursor` was placed before the log last went back, and why
    /// it went back.
    pub fn started_over_since(&self, cursor: &FeedCursor) -> Option<ResetReason> {
        let state = self.lock();
        (cursor.epoch != state.epoch).then_some(state.start_over_reason)
    }

    /// The log went back on what was delivered up to `delivered` (a
    /// database restored from an older backup, a failover to a replica that
    /// lagged) or lost events the feed had yet to deliver: forgets every
    /// event held, goes on after `newest` (the log's newest event now), and
    /// makes every stream say `reset` with `reason` rather than send what
    /// the log no longer holds or wait for what it never will. Does nothing,
    /// and returns `false`, if the feed has delivered more than `delivered`
    /// meanwhile: whoever found the log wanting read it before that.
    pub fn start_over(&self, delivered: i64, newest: i64, reason: ResetReason) -> bool {
        let mut state = self.lock();
        if state.last_id != delivered {
            return false;
        }
        state.frames.clear();
        state.joined = None;
        state.last_id = newest;
        state.released_id = newest;
        state.epoch += 1;
        state.start_over_reason = reason;
        let waiters = state.take_waiters();
        drop(state);
        self.wake(waiters);
        true
    }

    /// Appends `event` if it is the next one; returns whether it was.
    pub fn deliver(&self, event: &LoggedEvent) -> bool {
        let mut state = self.lock();
        if event.id != state.last_id + 1 {
            return false;
        }
        if state.frames.len() == self.capacity {
            state.frames.pop_front();
        }
        state.frames.push_back(Arc::new(EventFrame::encode(event)));
        state.last_id = event.id;
        let now = Instant::now();
        if state
            .last_release
            .is_none_or(|last| now >= last + self.window)
        {
            state.release(now);
            let waiters = state.take_waiters();
            drop(state);
            self.wake(waiters);
        } else if !state.release_scheduled {
            state.release_scheduled = true;
            drop(state);
            self.release_later.notify_one();
        }
        true
    }

    /// Releases gathered events, sends keep-alive ticks, until `closing`;
    /// then ends every stream.
    pub async fn run(&self, keep_alive: Duration, closing: CancellationToken) {
        let mut ticks = tokio::time::interval_at(Instant::now() + keep_alive, keep_alive);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = closing.cancelled() => break,
                _ = ticks.tick() => self.wake_all(|state| state.keep_alive += 1),
                () = self.release_later.notified() => {
                    let due = self.lock().last_release.map(|last| last + self.window);
                    let due = due.unwrap_or_else(Instant::now);
                    tokio::time::sleep_until(due).await;
                    self.wake_all(|state| state.release(Instant::now()));
                }
            }
        }
        self.close();
    }

    /// Wakes `waiters` and signals every worker to wake its own.
    fn wake(&self, waiters: Vec<Waker>) {
        waiters.into_iter().for_each(Waker::wake);
        for worker in self.workers().iter() {
            worker.wake();
        }
    }

    /// The wakers of the server worker this is called on: streams polled
    /// there register with them rather than here. Call it on a server
    /// worker (a thread running a `LocalSet`).
    pub fn local_wakers(&self) -> Rc<LocalWakers> {
        let (wakers, signal) = LocalWakers::for_this_thread(std::ptr::from_ref(self) as usize);
        if let Some(signal) = signal {
            self.workers().push(signal);
        }
        wakers
    }

    /// Ends every stream: they see [`FeedRead::Closed`].
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let waiters = state.take_waiters();
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
        for worker in self.workers().iter() {
            worker.close();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The released events after `cursor` that `filter` matches, and a
    /// keep-alive if one is due; or registers the stream to be woken.
    pub fn poll_read(
        &self,
        cursor: &mut FeedCursor,
        filter: &StreamFilter,
        local: Option<&LocalWakers>,
        cx: &mut Context<'_>,
    ) -> Poll<FeedRead> {
        let mut state = self.lock();
        if state.closed {
            return Poll::Ready(FeedRead::Closed);
        }
        if cursor.epoch != state.epoch {
            return Poll::Ready(FeedRead::StartedOver(state.start_over_reason));
        }
        let oldest = state.last_id - state.frames.len() as i64 + 1;
        if cursor.id < state.released_id && cursor.id + 1 < oldest {
            return Poll::Ready(FeedRead::Behind);
        }
        let mut frames = Vec::new();
        if cursor.id < state.released_id {
            let first = usize::try_from(cursor.id + 1 - oldest).unwrap_or(0);
            let released = usize::try_from(state.released_id - cursor.id).unwrap_or(0);
            let mut size = 0;
            let through = state
                .frames
                .range(first..first + released)
                .take_while(|f| {
                    let fits = size == 0 || size + f.bytes.len() <= frame::SEND_AT_ONCE;
                    size += f.bytes.len();
                    fits
                })
                .count();
            let through_id = cursor.id + through as i64;
            if filter.takes_every_herald_event() {
                frames.push(state.joined(cursor.id, through_id, first));
            } else {
                frames.extend(
                    state
                        .frames
                        .range(first..first + through)
                        .filter(|f| filter.accepts(f))
                        .map(|f| f.bytes.clone()),
                );
            }
            cursor.id = through_id;
        }
        if cursor.keep_alive != state.keep_alive {
            cursor.keep_alive = state.keep_alive;
            // Data keeps the connection alive as well as a comment does.
            if frames.is_empty() {
                frames.push(frame::KEEP_ALIVE);
            }
        }
        if frames.is_empty() {
            state.register(cursor, local, cx.waker());
            return Poll::Pending;
        }
        drop(state);
        Poll::Ready(FeedRead::Send(frame::join(&frames)))
    }

    /// Whether a keep-alive is due for a stream that is not reading the
    /// feed (it waits for the database); registers it otherwise.
    pub fn poll_keep_alive(
        &self,
        cursor: &mut FeedCursor,
        local: Option<&LocalWakers>,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        let mut state = self.lock();
        if state.closed {
            return Poll::Ready(false);
        }
        if cursor.keep_alive != state.keep_alive {
            cursor.keep_alive = state.keep_alive;
            return Poll::Ready(true);
        }
        state.register(cursor, local, cx.waker());
        Poll::Pending
    }

    fn wake_all(&self, change: impl FnOnce(&mut State)) {
        let mut state = self.lock();
        change(&mut state);
        let waiters = state.take_waiters();
        drop(state);
        self.wake(waiters);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn workers(&self) -> MutexGuard<'_, Vec<Arc<WorkerSignal>>> {
        lock(&self.workers)
    }
}

impl State {
    /// Makes every delivered event readable.
    fn release(&mut self, now: Instant) {
        self.released_id = self.last_id;
        self.last_release = Some(now);
        self.release_scheduled = false;
    }

    /// Has `waker` woken at the next wake-up: with its worker when it has
    /// one, here otherwise; once per wake-up, however often it is polled.
    fn register(&mut self, cursor: &mut FeedCursor, local: Option<&LocalWakers>, waker: &Waker) {
        match local {
            // Under the feed's lock: a release cannot slip between the read
            // that found nothing and this registration.
            Some(local) => local.register(&mut cursor.local_generation, waker),
            None if cursor.round != self.round => {
                cursor.round = self.round;
                self.waiters.push(waker.clone());
            }
            None => {}
        }
    }

    fn take_waiters(&mut self) -> Vec<Waker> {
        self.round = self.round.wrapping_add(1);
        std::mem::take(&mut self.waiters)
    }

    /// The Herald frames in `(after, through]`, the first at index `first`,
    /// as one buffer shared by every stream that reads the same range.
    fn joined(&mut self, after: i64, through: i64, first: usize) -> Bytes {
        if let Some(joined) = &self.joined
            && joined.after == after
            && joined.through == through
        {
            return joined.bytes.clone();
        }
        let count = usize::try_from(through - after).unwrap_or(0);
        let frames: Vec<Bytes> = self
            .frames
            .range(first..first + count)
            .filter(|f| f.mercure.is_none())
            .map(|f| f.bytes.clone())
            .collect();
        let bytes = frame::join(&frames);
        self.joined = Some(Joined {
            after,
            through,
            bytes: bytes.clone(),
        });
        bytes
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;
    use crate::domain::{TopicFilter, TopicPattern};

    fn all() -> StreamFilter {
        StreamFilter::Herald(TopicFilter::all())
    }

    /// The frame of `event(id, …)`, as text.
    fn frame_of(id: i64) -> String {
        let payload = format!("{{\"id\":{id}}}");
        format!("id: {id}.{}\ndata: {payload}\n\n", Tag::of(&payload))
    }

    fn event(id: i64, topic: &str) -> LoggedEvent {
        LoggedEvent {
            id,
            topic: topic.to_owned(),
            sse_event: None,
            payload: format!("{{\"id\":{id}}}"),
            at: chrono::Utc::now(),
        }
    }

    fn read(feed: &Feed, cursor: &mut FeedCursor, filter: &TopicFilter) -> Option<Bytes> {
        let filter = StreamFilter::Herald(filter.clone());
        let filter = &filter;
        let mut cx = Context::from_waker(Waker::noop());
        match feed.poll_read(cursor, filter, None, &mut cx) {
            Poll::Ready(FeedRead::Send(bytes)) => Some(bytes),
            Poll::Ready(FeedRead::Behind) => panic!("behind"),
            Poll::Ready(FeedRead::Closed) => panic!("closed"),
            Poll::Ready(FeedRead::StartedOver(reason)) => panic!("started over: {reason:?}"),
            Poll::Pending => None,
        }
    }

    #[test]
    fn events_are_delivered_in_sequence_only() {
        let feed = Feed::new(0, 8, Duration::ZERO);
        assert!(feed.deliver(&event(1, "a")));
        assert!(!feed.deliver(&event(3, "a")), "3 is not next after 1");
        assert!(!feed.deliver(&event(1, "a")), "1 is already delivered");
        assert!(feed.deliver(&event(2, "a")));
        assert_eq!(feed.last_id(), 2);
    }

    #[test]
    fn a_read_joins_every_released_event_once() {
        let feed = Feed::new(0, 8, Duration::ZERO);
        let mut everything = feed.cursor();
        let mut only_b = feed.cursor();
        let b = TopicFilter::new([TopicPattern::Exact(
            crate::domain::Topic::parse("b").unwrap_or_else(|e| panic!("{e}")),
        )]);
        assert_eq!(read(&feed, &mut everything, &TopicFilter::all()), None);
        for (id, topic) in [(1, "a"), (2, "b"), (3, "a")] {
            feed.deliver(&event(id, topic));
        }
        let all = read(&feed, &mut everything, &TopicFilter::all());
        assert_eq!(
            all.as_deref(),
            Some(format!("{}{}{}", frame_of(1), frame_of(2), frame_of(3)).as_bytes())
        );
        assert_eq!(
            read(&feed, &mut only_b, &b).as_deref(),
            Some(frame_of(2).as_bytes())
        );
        assert_eq!(only_b.id, 3, "the filtered-out events are passed too");
        assert_eq!(read(&feed, &mut everything, &TopicFilter::all()), None);
    }

    #[test]
    fn starting_over_forgets_what_was_delivered_and_tells_every_cursor() {
        let feed = Feed::new(0, 8, Duration::ZERO);
        let mut cursor = feed.cursor();
        for id in 1..=3 {
            feed.deliver(&event(id, "a"));
        }
        assert!(feed.tag_of(3).is_some());
        assert!(
            !feed.start_over(2, 1, ResetReason::Rewound),
            "3 was delivered since"
        );
        assert!(feed.start_over(3, 1, ResetReason::Rewound));
        assert_eq!(feed.last_id(), 1);
        assert_eq!(feed.tag_of(3), None, "nothing delivered is kept");
        assert_eq!(feed.started_over_since(&cursor), Some(ResetReason::Rewound));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            feed.poll_read(&mut cursor, &all(), None, &mut cx),
            Poll::Ready(FeedRead::StartedOver(ResetReason::Rewound))
        ));
        let mut fresh = feed.cursor();
        assert!(
            feed.deliver(&event(2, "b")),
            "delivery goes on after the newest"
        );
        assert!(read(&feed, &mut fresh, &TopicFilter::all()).is_some());
    }

    #[test]
    fn a_stream_past_the_capacity_is_behind() {
        let feed = Feed::new(0, 2, Duration::ZERO);
        let mut cursor = feed.cursor();
        for id in 1..=3 {
            feed.deliver(&event(id, "a"));
        }
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            feed.poll_read(&mut cursor, &all(), None, &mut cx),
            Poll::Ready(FeedRead::Behind)
        ));
        let mut caught_up = feed.cursor_at(1);
        assert!(read(&feed, &mut caught_up, &TopicFilter::all()).is_some());
    }

    #[tokio::test]
    async fn a_waiting_stream_is_woken_by_the_delayed_release() {
        let feed = Arc::new(Feed::new(0, 8, Duration::from_millis(10)));
        let closing = CancellationToken::new();
        let running = tokio::spawn({
            let (feed, closing) = (feed.clone(), closing.clone());
            async move { feed.run(Duration::from_secs(3600), closing).await }
        });
        let mut cursor = feed.cursor();
        let next = async |cursor: &mut FeedCursor| {
            let read = futures_util::future::poll_fn(|cx| feed.poll_read(cursor, &all(), None, cx));
            match tokio::time::timeout(Duration::from_secs(10), read).await {
                Ok(FeedRead::Send(bytes)) => bytes,
                _ => panic!("no release"),
            }
        };
        feed.deliver(&event(1, "a"));
        assert!(next(&mut cursor).await.starts_with(b"id: 1."));
        // Within the window: released by the feed's task, which wakes us.
        feed.deliver(&event(2, "a"));
        assert!(next(&mut cursor).await.starts_with(b"id: 2."));
        closing.cancel();
        running.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(feed.is_closed());
    }

    /// Counts its wake-ups and says when it has been woken `expected` times.
    struct Tally {
        woken: std::sync::atomic::AtomicUsize,
        expected: usize,
        all: Notify,
    }

    impl std::task::Wake for Tally {
        fn wake(self: Arc<Self>) {
            let woken = self.woken.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if woken == self.expected {
                self.all.notify_one();
            }
        }
    }

    #[tokio::test]
    async fn streams_on_a_worker_are_woken_by_the_worker() {
        let streams = 300;
        let feed = Arc::new(Feed::new(0, 8, Duration::ZERO));
        let tally = Arc::new(Tally {
            woken: Default::default(),
            expected: streams,
            all: Notify::new(),
        });
        let worker = tokio::task::LocalSet::new();
        worker
            .run_until(async {
                let local = feed.local_wakers();
                let waker = Waker::from(tally.clone());
                let mut cx = Context::from_waker(&waker);
                let all = all();
                let mut cursors = Vec::new();
                for _ in 0..streams {
                    let mut cursor = feed.cursor();
                    // Polled twice, registered once.
                    for _ in 0..2 {
                        let read = feed.poll_read(&mut cursor, &all, Some(&local), &mut cx);
                        assert!(read.is_pending());
                    }
                    cursors.push(cursor);
                }
                assert!(
                    feed.lock().waiters.is_empty(),
                    "they wait with their worker"
                );
                feed.deliver(&event(1, "a"));
                tokio::time::timeout(Duration::from_secs(10), tally.all.notified())
                    .await
                    .unwrap_or_else(|_| panic!("not every stream was woken"));
                assert_eq!(
                    tally.woken.load(std::sync::atomic::Ordering::SeqCst),
                    streams
                );
                // Woken, they read, and wait again for the next event.
                for cursor in &mut cursors {
                    let read = feed.poll_read(cursor, &all, Some(&local), &mut cx);
                    assert!(matches!(read, Poll::Ready(FeedRead::Send(_))));
                    assert!(
                        feed.poll_read(cursor, &all, Some(&local), &mut cx)
                            .is_pending()
                    );
                }
                assert_eq!(local.waiting(), streams);
            })
            .await;
    }

    #[test]
    fn events_within_the_window_wait_for_the_release() {
        let feed = Feed::new(0, 8, Duration::from_secs(3600));
        let mut cursor = feed.cursor();
        // After a quiet spell the first event goes at once…
        feed.deliver(&event(1, "a"));
        assert!(read(&feed, &mut cursor, &TopicFilter::all()).is_some());
        // …and the next one waits for the window to end.
        feed.deliver(&event(2, "a"));
        assert_eq!(read(&feed, &mut cursor, &TopicFilter::all()), None);
        feed.wake_all(|state| state.release(Instant::now()));
        assert_eq!(
            read(&feed, &mut cursor, &TopicFilter::all()).as_deref(),
            Some(frame_of(2).as_bytes())
        );
    }
}
