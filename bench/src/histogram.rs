//! Latency histograms (HDR, microseconds) and how they travel between processes.

use std::sync::{Mutex, PoisonError};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One hour: anything slower is recorded as one hour.
const HIGHEST_MICROS: u64 = 3_600_000_000;

pub fn new() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)?)
}

/// A histogram shared by many tasks. Tasks pick a shard by their own index,
/// so the two runtime threads rarely wait for each other.
pub struct Sharded {
    shards: Box<[Mutex<Histogram<u64>>]>,
}

impl Sharded {
    pub fn new(shards: usize) -> anyhow::Result<Self> {
        Ok(Self {
            shards: (0..shards.max(1))
                .map(|_| new().map(Mutex::new))
                .collect::<anyhow::Result<_>>()?,
        })
    }

    pub fn record(&self, key: usize, micros: u64) {
        self.shards[key % self.shards.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(micros);
    }

    pub fn merged(&self) -> anyhow::Result<Histogram<u64>> {
        let mut all = new()?;
        for shard in &self.shards {
            all.add(&*shard.lock().unwrap_or_else(PoisonError::into_inner))?;
        }
        Ok(all)
    }
}

/// A histogram as its recorded (value, count) pairs: recording them again
/// rebuilds it exactly, so reports from several processes merge without
/// losing precision.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Recorded(Vec<(u64, u64)>);

impl Recorded {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self(
            histogram
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// Adds another histogram's pairs (recorded together, they merge).
    pub fn extend(&mut self, other: &Recorded) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn histogram(&self) -> anyhow::Result<Histogram<u64>> {
        let mut histogram = new()?;
        for &(value, count) in &self.0 {
            histogram.record_n(value.min(HIGHEST_MICROS), count)?;
        }
        Ok(histogram)
    }
}

/// Percentiles in milliseconds, as reports show them.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}
