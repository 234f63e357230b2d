//! Writes (user creates, or Mercure publishes) from a pool of keep-alive connections, open loop: write k is
//! due at k / rate after the start, and its latency runs from then, so time
//! spent queueing for a free writer is not hidden.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::dialect::Dialect;
use crate::histogram;
use crate::http::Client;
use crate::subscriber::wall_micros;

/// A create that takes longer than this counts as an error.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct WritePlan {
    pub targets: Vec<SocketAddr>,
    pub writers: usize,
    /// Writes per second; 0 = each writer as fast as it goes (closed loop).
    pub rate: f64,
    pub writes: Option<u64>,
    pub duration: Option<Duration>,
    /// Makes user names and Mercure ids unique to this run.
    pub tag: String,
    pub dialect: Dialect,
}

/// Live counters for the progress line.
#[derive(Default)]
pub struct WriteCounts {
    pub sent: AtomicU64,
    pub admitted: AtomicU64,
}

pub struct WriteOutcome {
    pub statuses: BTreeMap<u16, u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub latency: Histogram<u64>,
    pub started_micros: i64,
    pub seconds: f64,
}

/// Runs the writers on a thread of their own: on the shared runtime a
/// create's response would wait behind thousands of subscriber tasks with
/// frames to read, and the load generator's queueing would pass for the
/// server's write latency.
pub async fn run(plan: WritePlan, counts: Arc<WriteCounts>) -> anyhow::Result<WriteOutcome> {
    let (done, outcome) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("writers".to_owned())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(write_all(plan, counts)));
            let _ = done.send(outcome);
        })?;
    outcome.await?
}

async fn write_all(plan: WritePlan, counts: Arc<WriteCounts>) -> anyhow::Result<WriteOutcome> {
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicU64::new(0));
    let outcome = Arc::new(Mutex::new(WriteOutcome {
        statuses: BTreeMap::new(),
        errors: 0,
        error_samples: Vec::new(),
        latency: histogram::new()?,
        started_micros: wall_micros(),
        seconds: 0.0,
    }));
    let start = Instant::now();
    let writers: Vec<_> = (0..plan.writers)
        .map(|writer| {
            tokio::spawn(write_loop(
                plan.clone(),
                plan.targets[writer % plan.targets.len()],
                start,
                next.clone(),
                counts.clone(),
                outcome.clone(),
            ))
        })
        .collect();
    for writer in writers {
        writer.await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut outcome = Arc::into_inner(outcome)
        .ok_or_else(|| anyhow::anyhow!("a writer outlived the pool"))?
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    outcome.seconds = seconds;
    Ok(outcome)
}

async fn write_loop(
    plan: Arc<WritePlan>,
    target: SocketAddr,
    start: Instant,
    next: Arc<AtomicU64>,
    counts: Arc<WriteCounts>,
    outcome: Arc<Mutex<WriteOutcome>>,
) {
    let mut client = Client::new(target);
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        if plan.writes.is_some_and(|writes| seq >= writes) {
            return;
        }
        let due = if plan.rate > 0.0 {
            let offset = Duration::from_secs_f64(seq as f64 / plan.rate);
            if plan.duration.is_some_and(|duration| offset >= duration) {
                return;
            }
            tokio::time::sleep_until(start + offset).await;
            start + offset
        } else {
            if plan
                .duration
                .is_some_and(|duration| start.elapsed() >= duration)
            {
                return;
            }
            Instant::now()
        };
        let write = plan.dialect.write(seq, &plan.tag);
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(
            WRITE_TIMEOUT,
            client.request("POST", write.path, Some(write.body())),
        )
        .await;
        let latency = due.elapsed();
        let mut outcome = outcome.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(Ok(response)) => {
                *outcome.statuses.entry(response.status).or_default() += 1;
                if response.status == plan.dialect.taken() {
                    counts.admitted.fetch_add(1, Ordering::Relaxed);
                }
                outcome
                    .latency
                    .saturating_record(latency.as_micros() as u64);
            }
            Ok(Err(error)) => outcome.error(format!("{error:#}")),
            Err(_) => {
                // The connection may still deliver the late answer: drop it.
                client = Client::new(target);
                outcome.error(format!("no answer within {WRITE_TIMEOUT:?}"));
            }
        }
    }
}

impl WriteOutcome {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.error_samples.len() < 5 && !self.error_samples.contains(&message) {
            self.error_samples.push(message);
        }
    }
}
