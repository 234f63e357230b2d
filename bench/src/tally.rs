//! What one subscriber received of the run's events.

/// Positions past this are not tracked (64 Mi events per run).
const MAX_POSITION: u64 = 1 << 26;

#[derive(Default)]
pub struct Tally {
    /// One bit per position in the run (event id minus the id before the
    /// first write, minus one): a few bytes per subscriber per thousand events.
    seen: Vec<u64>,
    highest: Option<(u64, u64)>,
    pub received: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub resets: u64,
    /// Frames that are neither keep-alives nor the run's events.
    pub unexpected: u64,
    /// Events whose envelope did not parse or did not match their `id:`.
    pub malformed: u64,
    pub keep_alives: u64,
    pub keep_alives_in_hold: u64,
    pub last_receipt_micros: Option<i64>,
    /// A digest of the order of first arrivals: subscribers that received
    /// the same events in the same order have the same one.
    pub order: u64,
}

impl Tally {
    /// Counts the event `id` at `position`, received at `now`; true on its
    /// first arrival.
    pub fn deliver(&mut self, id: u64, position: u64, now: i64) -> bool {
        if position >= MAX_POSITION {
            self.unexpected += 1;
            return false;
        }
        self.received += 1;
        let (word, bit) = ((position / 64) as usize, position % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return false;
        }
        self.seen[word] |= 1 << bit;
        // FNV-1a over the positions, in arrival order.
        self.order = (self.order ^ position).wrapping_mul(0x0000_0100_0000_01b3);
        match self.highest {
            Some((highest, _)) if position < highest => self.out_of_order += 1,
            _ => self.highest = Some((position, id)),
        }
        self.last_receipt_micros = Some(now);
        true
    }

    /// The highest id received so far.
    pub fn highest_id(&self) -> Option<u64> {
        self.highest.map(|(_, id)| id)
    }

    /// How many of the first `expected` positions arrived, and how many
    /// events came after them.
    pub fn distinct(&self, expected: u64) -> (u64, u64) {
        let mut within = 0;
        let mut beyond = 0;
        for (word, bits) in self.seen.iter().enumerate() {
            let first = word as u64 * 64;
            let inside = expected.saturating_sub(first).min(64);
            let mask = if inside == 64 {
                u64::MAX
            } else {
                (1 << inside) - 1
            };
            within += u64::from((bits & mask).count_ones());
            beyond += u64::from((bits & !mask).count_ones());
        }
        (within, beyond)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_duplicates_reordering_and_losses() {
        let mut tally = Tally::default();
        for position in [0, 1, 3, 2, 3, 70, 200] {
            tally.deliver(position + 11, position, 5);
        }
        assert_eq!(tally.received, 7);
        assert_eq!(tally.duplicates, 1);
        assert_eq!(tally.out_of_order, 1);
        assert_eq!(tally.highest_id(), Some(211));
        assert_eq!(tally.distinct(100), (5, 1));
        assert_eq!(tally.distinct(64), (4, 2));
    }
}
