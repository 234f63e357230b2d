//! Each event's commit time (`at`), parsed once per process and shared by
//! every subscriber: the load generator runs on the same two cores as the
//! server, so it must not parse the same JSON ten thousand times.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

const CHUNK: usize = 4096;
/// 64 Mi events per run; later ones are parsed by each subscriber.
const CHUNKS: usize = 16 * 1024;

/// Microseconds since the Unix epoch, indexed by the event's position in the
/// run (its id minus the id before the first write, minus one). Zero means
/// "not parsed yet". Lock-free: chunks are allocated on first use.
pub struct CommitTimes {
    chunks: Box<[OnceLock<Box<[AtomicI64]>>]>,
}

impl CommitTimes {
    pub fn new() -> Self {
        Self {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }

    pub fn get(&self, position: u64) -> Option<i64> {
        let (chunk, slot) = split(position)?;
        let micros = self.chunks[chunk].get()?[slot].load(Ordering::Relaxed);
        (micros != 0).then_some(micros)
    }

    pub fn insert(&self, position: u64, micros: i64) {
        if let Some((chunk, slot)) = split(position) {
            self.chunks[chunk].get_or_init(|| (0..CHUNK).map(|_| AtomicI64::new(0)).collect())
                [slot]
                .store(micros, Ordering::Relaxed);
        }
    }
}

fn split(position: u64) -> Option<(usize, usize)> {
    let position = usize::try_from(position).ok()?;
    let chunk = position / CHUNK;
    (chunk < CHUNKS).then_some((chunk, position % CHUNK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_what_was_inserted_and_nothing_else() {
        let times = CommitTimes::new();
        assert_eq!(times.get(5000), None);
        times.insert(5000, 42);
        assert_eq!(times.get(5000), Some(42));
        assert_eq!(times.get(5001), None);
        times.insert(u64::MAX, 1);
        assert_eq!(times.get(u64::MAX), None);
    }
}
