//! The subscribers one process holds: connected at a steady rate, watched
//! while the run goes on, then closed and summed up.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::commit_times::CommitTimes;
use crate::dialect::Dialect;
use crate::histogram::{self, Recorded};
use crate::subscriber::{self, Outcome, Spec};

/// Stands for "this subscriber will receive nothing more" in `highest`.
pub const GONE: u64 = u64::MAX;
const NOT_YET: u64 = u64::MAX;
/// How often a drain looks at the subscribers.
const DRAIN_POLL: Duration = Duration::from_millis(20);
/// Distinct failure messages kept for the report.
const FAILURE_SAMPLES: usize = 5;

/// What one process is asked to hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetPlan {
    pub targets: Vec<SocketAddr>,
    pub subscribers: usize,
    /// This process's first subscriber in the run's numbering: targets are
    /// assigned round-robin over the whole run.
    pub first_index: usize,
    /// Source addresses are 127.0.<block>.1 … 127.0.<block>.<source_ips>.
    pub source_block: u8,
    pub source_ips: u8,
    pub connect_rate: f64,
    pub connect_concurrency: usize,
    pub dialect: Dialect,
}

impl FleetPlan {
    fn spec(&self, index: usize) -> Spec {
        let global = self.first_index + index;
        let targets = self.targets.len();
        Spec {
            index,
            target: self.targets[global % targets],
            source: Ipv4Addr::new(
                127,
                0,
                self.source_block,
                1 + ((global / targets) % usize::from(self.source_ips.max(1))) as u8,
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Ramp,
    /// Subscribers are counted as live: keep-alives now count.
    Hold,
    Writes,
}

/// State every subscriber of the process reads and updates.
pub struct Shared {
    pub dialect: Dialect,
    /// The id before the run's first write.
    first_id: AtomicU64,
    phase: AtomicU8,
    pub commit_times: CommitTimes,
    pub latency: histogram::Sharded,
    /// Per subscriber: the highest id received, or `GONE`.
    pub highest: Box<[AtomicU64]>,
    pub received: AtomicU64,
    connected: AtomicUsize,
    failed: AtomicUsize,
    settled: watch::Sender<usize>,
}

impl Shared {
    /// An event id's position in the run; `None` for events from before it.
    pub fn position(&self, id: u64) -> Option<u64> {
        let first_id = self.first_id.load(Ordering::Acquire);
        (first_id != NOT_YET && id > first_id).then(|| id - first_id - 1)
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Ramp,
            1 => Phase::Hold,
            _ => Phase::Writes,
        }
    }

    /// A subscriber's connection attempt is over, either way.
    pub fn settle(&self, connected: bool) {
        if connected {
            self.connected.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.settled.send_modify(|settled| *settled += 1);
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counts {
    pub connected: usize,
    pub failed: usize,
    pub received: u64,
}

pub struct Probe(Arc<Shared>);

impl Probe {
    pub fn counts(&self) -> Counts {
        Counts {
            connected: self.0.connected.load(Ordering::Relaxed),
            failed: self.0.failed.load(Ordering::Relaxed),
            received: self.0.received.load(Ordering::Relaxed),
        }
    }
}

pub struct Fleet {
    plan: FleetPlan,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    /// An aborted run closes its subscribers too.
    _cancel_on_drop: DropGuard,
    ramp: JoinHandle<Vec<JoinHandle<Outcome>>>,
    started: Instant,
    ramp_seconds: f64,
}

impl Fleet {
    /// Starts connecting the subscribers; `ramped` says when all have tried.
    pub fn start(plan: FleetPlan) -> anyhow::Result<Self> {
        anyhow::ensure!(!plan.targets.is_empty(), "no target");
        let shared = Arc::new(Shared {
            dialect: plan.dialect,
            first_id: AtomicU64::new(NOT_YET),
            phase: AtomicU8::new(Phase::Ramp as u8),
            commit_times: CommitTimes::new(),
            latency: histogram::Sharded::new(16)?,
            highest: (0..plan.subscribers).map(|_| AtomicU64::new(0)).collect(),
            received: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            settled: watch::channel(0).0,
        });
        let cancel = CancellationToken::new();
        let ramp = tokio::spawn(ramp(plan.clone(), shared.clone(), cancel.clone()));
        Ok(Self {
            plan,
            shared,
            _cancel_on_drop: cancel.clone().drop_guard(),
            cancel,
            ramp,
            started: Instant::now(),
            ramp_seconds: 0.0,
        })
    }

    /// A handle for reading the counts while the fleet is busy elsewhere.
    pub fn probe(&self) -> Probe {
        Probe(self.shared.clone())
    }

    /// Waits until every subscriber has connected or failed.
    pub async fn ramped(&mut self) {
        let total = self.plan.subscribers;
        let mut settled = self.shared.settled.subscribe();
        // The sender lives in `shared`, which outlives this wait.
        let _ = settled.wait_for(|settled| *settled >= total).await;
        self.ramp_seconds = self.started.elapsed().as_secs_f64();
    }

    /// The run starts after `first_id`: later events count, keep-alives too.
    pub fn begin(&self, first_id: u64) {
        self.shared.first_id.store(first_id, Ordering::Release);
        self.shared
            .phase
            .store(Phase::Hold as u8, Ordering::Relaxed);
    }

    pub fn writing(&self) {
        self.shared
            .phase
            .store(Phase::Writes as u8, Ordering::Relaxed);
    }

    /// Waits until every live subscriber has received `last_id`, at most
    /// `timeout`; false if some had not.
    pub async fn drain(&self, last_id: u64, timeout: Duration) -> bool {
        if self.shared.position(last_id).is_none() {
            return true;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let behind = self
                .shared
                .highest
                .iter()
                .filter(|highest| highest.load(Ordering::Relaxed) < last_id)
                .count();
            if behind == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Closes every subscriber and sums up what they saw of the events
    /// after `first_id` up to `last_id`.
    pub async fn finish(self, first_id: u64, last_id: u64) -> anyhow::Result<ProcessReport> {
        self.cancel.cancel();
        let expected = last_id.saturating_sub(first_id);
        let mut report = ProcessReport {
            subscribers: self.plan.subscribers,
            ramp_seconds: self.ramp_seconds,
            ..ProcessReport::default()
        };
        let mut connect = histogram::new()?;
        for handle in self.ramp.await? {
            match handle.await? {
                Outcome::Failed(message) => {
                    report.failed += 1;
                    report.note_failure(message);
                }
                Outcome::Connected {
                    connect_micros,
                    tally,
                    ended,
                } => {
                    report.connected += 1;
                    connect.saturating_record(connect_micros);
                    if let Some(message) = ended {
                        report.ended_early += 1;
                        report.note_failure(message);
                    }
                    let (within, beyond) = tally.distinct(expected);
                    if within == expected && beyond == 0 {
                        report.orders.insert(tally.order);
                    }
                    report.expected += expected;
                    report.received += tally.received;
                    report.lost += expected - within;
                    report.beyond_last += beyond;
                    report.duplicated += tally.duplicates;
                    report.out_of_order += tally.out_of_order;
                    report.resets += tally.resets;
                    report.unexpected += tally.unexpected;
                    report.malformed += tally.malformed;
                    report.keep_alives += tally.keep_alives;
                    report.with_keep_alive_in_hold += usize::from(tally.keep_alives_in_hold > 0);
                    report.last_receipt_micros =
                        report.last_receipt_micros.max(tally.last_receipt_micros);
                }
            }
        }
        report.connect_micros = Recorded::of(&connect);
        report.latency_micros = Recorded::of(&self.shared.latency.merged()?);
        Ok(report)
    }
}

async fn ramp(
    plan: FleetPlan,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> Vec<JoinHandle<Outcome>> {
    let in_flight = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let interval = Duration::from_secs_f64(1.0 / plan.connect_rate.max(0.001));
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(plan.subscribers);
    for index in 0..plan.subscribers {
        let permit = tokio::select! {
            _ = cancel.cancelled() => None,
            permit = async {
                tokio::time::sleep_until(start + interval.mul_f64(index as f64)).await;
                in_flight.clone().acquire_owned().await.ok()
            } => permit,
        };
        let Some(permit) = permit else {
            // Stopped early: the rest count as failed, so nothing waits for them.
            for _ in index..plan.subscribers {
                shared.settle(false);
            }
            break;
        };
        handles.push(tokio::spawn(subscriber::run(
            plan.spec(index),
            shared.clone(),
            cancel.clone(),
            permit,
        )));
    }
    handles
}

/// One process's part of the result; the coordinator merges them.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ProcessReport {
    pub subscribers: usize,
    pub connected: usize,
    pub failed: usize,
    pub ended_early: usize,
    pub failures: Vec<String>,
    pub ramp_seconds: f64,
    pub connect_micros: Recorded,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// The order digests of the subscribers that received every event.
    pub orders: BTreeSet<u64>,
    pub beyond_last: u64,
    pub resets: u64,
    pub unexpected: u64,
    pub malformed: u64,
    pub keep_alives: u64,
    pub with_keep_alive_in_hold: usize,
    pub last_receipt_micros: Option<i64>,
    pub latency_micros: Recorded,
    pub drained: bool,
    pub cpu_seconds: f64,
}

impl ProcessReport {
    /// Adds another process's figures to these.
    pub fn absorb(&mut self, other: &ProcessReport) {
        self.subscribers += other.subscribers;
        self.connected += other.connected;
        self.failed += other.failed;
        self.ended_early += other.ended_early;
        for failure in &other.failures {
            self.note_failure(failure.clone());
        }
        // Processes ramp side by side: the run's ramp is the longest.
        self.ramp_seconds = self.ramp_seconds.max(other.ramp_seconds);
        self.connect_micros.extend(&other.connect_micros);
        self.expected += other.expected;
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.orders.extend(&other.orders);
        self.beyond_last += other.beyond_last;
        self.resets += other.resets;
        self.unexpected += other.unexpected;
        self.malformed += other.malformed;
        self.keep_alives += other.keep_alives;
        self.with_keep_alive_in_hold += other.with_keep_alive_in_hold;
        self.last_receipt_micros = self.last_receipt_micros.max(other.last_receipt_micros);
        self.latency_micros.extend(&other.latency_micros);
        self.drained &= other.drained;
        self.cpu_seconds += other.cpu_seconds;
    }

    fn note_failure(&mut self, message: String) {
        if self.failures.len() < FAILURE_SAMPLES && !self.failures.contains(&message) {
            self.failures.push(message);
        }
    }
}
