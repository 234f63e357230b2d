//! The background tasks an instance runs beside its HTTP server (the feed,
//! the relay, the PostgreSQL listener, the pruner): spawned under one
//! tracker, stopped by the application's shutdown token, and supervised, so that a task that ends
//! on its own is logged at `error`, makes `/readyz` answer 503 while it is
//! down, and is restarted with backoff instead of silently stopping
//! delivery. Restarting rather than exiting keeps the instance's open
//! streams: every task can start over from the event log without losing
//! anything.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lock::lock;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A run that lasted this long was healthy: if it ends, the backoff starts
/// from the first step again, so that failures spread over days do not
/// each leave the task down for the longest backoff.
const HEALTHY_RUN: Duration = MAX_BACKOFF;

/// Which tasks are down, and why.
pub type Down = BTreeMap<&'static str, String>;

#[derive(Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
    health: Arc<TaskHealth>,
    supervision: Arc<Supervision>,
}

/// What every supervisor of one instance shares.
struct Supervision {
    /// The current run of each task, to abort it.
    runs: Mutex<HashMap<&'static str, AbortHandle>>,
    first_backoff: Mutex<Duration>,
}

impl Supervision {
    /// Starts a run of `task` as a task of its own, so that a panic or an
    /// abort ends only this run.
    fn start<F, Fut>(
        &self,
        name: &'static str,
        task: &F,
        stop: &CancellationToken,
    ) -> JoinHandle<()>
    where
        F: Fn(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run = tokio::spawn(task(stop.clone()));
        lock(&self.runs).insert(name, run.abort_handle());
        run
    }
}

/// Which supervised tasks are down, for readiness, and how often they were
/// restarted, for metrics.
pub struct TaskHealth {
    down: watch::Sender<Down>,
    restarts: Counter,
}

impl TaskHealth {
    /// The first task that is down and why, if any.
    pub fn first_down(&self) -> Option<(&'static str, String)> {
        self.down
            .borrow()
            .iter()
            .next()
            .map(|(name, why)| (*name, why.clone()))
    }

    /// Watches which tasks are down: each change is announced, so a caller
    /// can await a task going down or coming back instead of polling.
    pub fn watch(&self) -> watch::Receiver<Down> {
        self.down.subscribe()
    }
}

impl Tasks {
    /// Tasks that `stop` (the application's shutdown) ends, counting their
    /// restarts in `restarts`.
    pub fn new(stop: CancellationToken, restarts: Counter) -> Self {
        Self {
            tracker: TaskTracker::new(),
            stop,
            health: Arc::new(TaskHealth {
                down: watch::Sender::new(Down::new()),
                restarts,
            }),
            supervision: Arc::new(Supervision {
                runs: Mutex::default(),
                first_backoff: Mutex::new(FIRST_BACKOFF),
            }),
        }
    }

    pub fn health(&self) -> Arc<TaskHealth> {
        self.health.clone()
    }

    /// Ends the current run of the task `name` as a crash would: it is
    /// logged, reported down and restarted like any unexpected end. A hook
    /// for tests and operators, to exercise supervision on a live instance.
    /// Returns whether such a task was running.
    pub fn abort(&self, name: &str) -> bool {
        match lock(&self.supervision.runs).get(name) {
            Some(run) if !run.is_finished() => {
                run.abort();
                true
            }
            _ => false,
        }
    }

    /// Sets the wait before the first restart of a task that fails after a
    /// healthy run (250 ms unless changed); later ones double it, up to
    /// 30 s. A hook for tests, which need a task to stay down long enough
    /// to be seen down.
    pub fn set_first_backoff(&self, first: Duration) {
        *lock(&self.supervision.first_backoff) = first;
    }

    /// Runs `task(stop)` until the stop token is cancelled, starting it
    /// again whenever it ends before that; each run is handed the token.
    pub fn supervise<F, Fut>(&self, name: &'static str, task: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, health, supervision) = (
            self.stop.clone(),
            self.health.clone(),
            self.supervision.clone(),
        );
        // The first run starts here rather than in the supervisor, so that
        // a task can be aborted as soon as it is supervised.
        let mut run = supervision.start(name, &task, &stop);
        self.tracker.spawn(async move {
            let mut failures = 0;
            loop {
                let started = Instant::now();
                let ended = run.await;
                lock(&supervision.runs).remove(name);
                if stop.is_cancelled() {
                    break;
                }
                let why = match ended {
                    Ok(()) => "it ended".to_owned(),
                    Err(error) if error.is_panic() => "it panicked".to_owned(),
                    Err(error) if error.is_cancelled() => "it was aborted".to_owned(),
                    Err(error) => error.to_string(),
                };
                failures = failures_after(failures, started.elapsed());
                let backoff = backoff(*lock(&supervision.first_backoff), failures);
                tracing::error!(task = name, reason = %why, retry_in = ?backoff, "background task stopped unexpectedly; restarting");
                health.restarts.inc();
                health.down.send_modify(|down| {
                    down.insert(name, why);
                });
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                health.down.send_modify(|down| {
                    down.remove(name);
                });
                run = supervision.start(name, &task, &stop);
            }
        });
    }

    /// Runs `f` once the stop token is cancelled, whatever state the
    /// supervised tasks are in then (one may be down, waiting to restart).
    pub fn on_stop(&self, f: impl FnOnce() + Send + 'static) {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            stop.cancelled().await;
            f();
        });
    }

    /// Waits for every task to end, once the stop token is cancelled.
    pub async fn stopped(&self) {
        self.tracker.close();
        self.stop.cancelled().await;
        self.tracker.wait().await;
    }
}

/// Failures in a row once a run that lasted `ran_for` has ended.
fn failures_after(previous: u32, ran_for: Duration) -> u32 {
    if ran_for >= HEALTHY_RUN {
        1
    } else {
        previous.saturating_add(1)
    }
}

/// The wait before restarting a task that failed `failures` times in a row:
/// `first`, doubled for each failure before the last, at most
/// [`MAX_BACKOFF`].
fn backoff(first: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    first.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_double_the_backoff_up_to_its_cap() {
        let quick = Duration::from_millis(10);
        let mut failures = 0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            failures = failures_after(failures, quick);
            waits.push(backoff(FIRST_BACKOFF, failures).as_millis());
        }
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(FIRST_BACKOFF, u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn a_healthy_run_starts_the_backoff_over() {
        let failures = (0..12).fold(0, |n, _| failures_after(n, Duration::ZERO));
        assert_eq!(backoff(FIRST_BACKOFF, failures), MAX_BACKOFF);
        let after_a_long_run = failures_after(failures, HEALTHY_RUN);
        assert_eq!(backoff(FIRST_BACKOFF, after_a_long_run), FIRST_BACKOFF);
    }
}
