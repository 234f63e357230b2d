//! The background tasks an instance runs beside its HTTP server (the feed,
//! the relay, the PostgreSQL listener, the pruner): spawned under one
//! tracker, stopped by one token, and supervised, so that a task that ends
//! on its own is logged at `error`, makes `/readyz` answer 503 while it is
//! down, and is restarted with backoff instead of silently stopping
//! delivery.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use prometheus_client::metrics::counter::Counter;

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
    health: Arc<TaskHealth>,
}

/// Which supervised tasks are down, for readiness, and how often they were
/// restarted, for metrics.
pub struct TaskHealth {
    down: Mutex<BTreeMap<&'static str, String>>,
    restarts: Counter,
}

impl TaskHealth {
    /// The first task that is down and why, if any.
    pub fn first_down(&self) -> Option<(&'static str, String)> {
        self.lock()
            .iter()
            .next()
            .map(|(name, why)| (*name, why.clone()))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, String>> {
        self.down.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Tasks {
    /// Tasks that `stop` ends, counting their restarts in `restarts`.
    pub fn new(stop: CancellationToken, restarts: Counter) -> Self {
        Self {
            tracker: TaskTracker::new(),
            stop,
            health: Arc::new(TaskHealth {
                down: Mutex::default(),
                restarts,
            }),
        }
    }

    pub fn health(&self) -> Arc<TaskHealth> {
        self.health.clone()
    }

    /// Runs `task()` until the stop token is cancelled, starting it again
    /// whenever it ends before that.
    pub fn supervise<F, Fut>(&self, name: &'static str, task: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, health) = (self.stop.clone(), self.health.clone());
        self.tracker.spawn(async move {
            let mut backoff = FIRST_BACKOFF;
            loop {
                // A task of its own, so that a panic ends only this run.
                let ended = tokio::spawn(task()).await;
                if stop.is_cancelled() {
                    break;
                }
                let why = match ended {
                    Ok(()) => "it ended".to_owned(),
                    Err(error) if error.is_panic() => "it panicked".to_owned(),
                    Err(error) => error.to_string(),
                };
                tracing::error!(task = name, reason = %why, retry_in = ?backoff, "background task stopped unexpectedly; restarting");
                health.lock().insert(name, why);
                health.restarts.inc();
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                health.lock().remove(name);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// Runs a task that ends by itself when its work is done, tracked so
    /// that shutdown waits for it.
    pub fn spawn_tracked<Fut>(&self, task: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Cancels every task and waits for them to end.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
