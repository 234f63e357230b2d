//! Waking one server worker's streams from that worker.
//!
//! The HTTP server runs each worker on a thread of its own with a local
//! task queue, and a task woken from another thread waits in a second
//! queue that the worker serves only once in a while when its own is busy.
//! If the feed woke every stream from its own thread, a write's handler —
//! woken from the writer's thread once its batch commits — would wait
//! behind thousands of stream wake-ups in that second queue. So the feed
//! signals each worker once, and a task on the worker wakes that worker's
//! streams, a chunk at a time, yielding between chunks: requests that became
//! ready meanwhile run between chunks instead of after the whole fan-out.
//!
//! Streams replaying the log take turns the same way: a stream that sent a
//! chunk of its replay waits to be woken with the worker's other replaying
//! streams, a chunk of them at a time, rather than being polled again at
//! once. Otherwise each of thousands of streams resuming together writes as
//! much as its socket takes before the worker looks at anything else, and a
//! request waits for all of them.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

use tokio::sync::Notify;

/// Streams woken between two yields of a worker's waking task.
const CHUNK: usize = 128;

/// The feed's handle on one worker: it says "wake your streams".
#[derive(Default)]
pub struct WorkerSignal {
    woken: Notify,
    closed: AtomicBool,
}

impl WorkerSignal {
    pub(super) fn wake(&self) {
        self.woken.notify_one();
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.woken.notify_one();
    }
}

/// The streams of this worker waiting for the feed, or for their next turn
/// at replaying.
#[derive(Default)]
pub struct LocalWakers {
    waiters: RefCell<Vec<Waker>>,
    /// Counts the times the waiting streams were taken to be woken, so a
    /// stream registers once per wake-up, not once per poll.
    generation: Cell<u64>,
    /// Replaying streams waiting for their turn, in the order they came.
    replaying: RefCell<Vec<Waker>>,
    turns: Notify,
}

thread_local! {
    /// This thread's wakers, per feed (one per server in practice).
    static WORKER: RefCell<Vec<(usize, Rc<LocalWakers>)>> = const { RefCell::new(Vec::new()) };
}

impl LocalWakers {
    /// This thread's, for the feed `key` names, created with its waking
    /// tasks on first use: then with the signal the feed must keep to wake
    /// them. Call it on a server worker (a thread running a `LocalSet`).
    pub fn for_this_thread(key: usize) -> (Rc<Self>, Option<Arc<WorkerSignal>>) {
        WORKER.with_borrow_mut(|workers| {
            if let Some((_, wakers)) = workers.iter().find(|(k, _)| *k == key) {
                return (wakers.clone(), None);
            }
            let wakers = Rc::new(Self::default());
            let signal = Arc::new(WorkerSignal::default());
            tokio::task::spawn_local(wake_when_signalled(signal.clone(), wakers.clone()));
            tokio::task::spawn_local(give_turns(wakers.clone()));
            workers.push((key, wakers.clone()));
            (wakers, Some(signal))
        })
    }

    /// Adds `waker` unless the stream whose registration generation is
    /// `registered` is already waiting.
    pub fn register(&self, registered: &mut u64, waker: &Waker) {
        let generation = self.generation.get();
        if *registered != generation {
            *registered = generation;
            self.waiters.borrow_mut().push(waker.clone());
        }
    }

    /// Has a replaying stream wait for its next turn.
    pub fn wait_for_turn(&self, waker: &Waker) {
        self.replaying.borrow_mut().push(waker.clone());
        self.turns.notify_one();
    }

    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiters.borrow().len()
    }

    fn take(&self) -> Vec<Waker> {
        self.generation.set(self.generation.get().wrapping_add(1));
        std::mem::take(&mut *self.waiters.borrow_mut())
    }
}

async fn wake_when_signalled(signal: Arc<WorkerSignal>, wakers: Rc<LocalWakers>) {
    loop {
        signal.woken.notified().await;
        let waiting = wakers.take();
        if signal.closed.load(Ordering::Acquire) {
            waiting.into_iter().for_each(Waker::wake);
            return;
        }
        for chunk in waiting.chunks(CHUNK) {
            chunk.iter().for_each(Waker::wake_by_ref);
            tokio::task::yield_now().await;
        }
    }
}

/// Wakes the replaying streams that wait for a turn, a chunk at a time, with
/// the worker's other tasks running in between.
async fn give_turns(wakers: Rc<LocalWakers>) {
    loop {
        wakers.turns.notified().await;
        loop {
            let turn: Vec<Waker> = {
                let mut replaying = wakers.replaying.borrow_mut();
                let end = replaying.len().min(CHUNK);
                replaying.drain(..end).collect()
            };
            if turn.is_empty() {
                break;
            }
            turn.into_iter().for_each(Waker::wake);
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn replaying_streams_take_turns_a_chunk_at_a_time() {
        let worker = tokio::task::LocalSet::new();
        worker
            .run_until(async {
                let wakers = Rc::new(LocalWakers::default());
                tokio::task::spawn_local(give_turns(wakers.clone()));
                let count = Arc::new(Count(AtomicUsize::new(0)));
                let waker = Waker::from(count.clone());
                for _ in 0..3 * CHUNK {
                    wakers.wait_for_turn(&waker);
                }
                // Each time this task gets to run again, the turn-giver has
                // woken one more chunk: other tasks run between chunks.
                for chunk in 1..=3 {
                    tokio::task::yield_now().await;
                    assert_eq!(count.0.load(Ordering::SeqCst), chunk * CHUNK);
                }
                tokio::task::yield_now().await;
                assert_eq!(count.0.load(Ordering::SeqCst), 3 * CHUNK);
            })
            .await;
    }
}
