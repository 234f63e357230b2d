//! How fast one token subject may publish notifications: every notification
//! is kept for the retention period, so an unbounded publisher could fill
//! the disk for everyone.
//!
//! A generic cell rate algorithm per subject: a subject may publish `limit`
//! notifications at once, then one every `60 s / limit`. Each subject costs
//! one instant, kept only while it is in debt: a subject that has been
//! quiet long enough is indistinguishable from one never seen and is
//! forgotten, so memory follows the subjects publishing right now.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::error::ApiError;
use crate::lock::lock;
use std::time::Instant;

/// Subjects remembered before the forgotten ones are swept out, at most
/// once a second (a sweep visits every subject).
const SWEEP_ABOVE: usize = 4096;
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub struct PublishRate {
    /// Time one notification "costs".
    interval: Duration,
    /// How far ahead of now a subject may spend: its burst.
    burst: Duration,
    debts: Mutex<Debts>,
}

struct Debts {
    /// When each subject's spending is paid off.
    paid_off_at: HashMap<String, Instant>,
    swept_at: Option<Instant>,
}

impl PublishRate {
    /// `per_minute` notifications a minute per subject, all at once or
    /// spread out.
    pub fn per_minute(per_minute: u32) -> Self {
        let interval = Duration::from_secs(60) / per_minute.max(1);
        Self {
            interval,
            burst: interval * per_minute.max(1),
            debts: Mutex::new(Debts {
                paid_off_at: HashMap::new(),
                swept_at: None,
            }),
        }
    }

    /// Takes one place for `subject`, or refuses with a `429` saying it has
    /// published as many `what` (notifications, updates) as it may.
    pub fn admit(&self, subject: &str, what: &str) -> Result<(), ApiError> {
        self.admit_at(subject, Instant::now())
            .map_err(|wait| ApiError::TooManyRequests {
                message: format!(
                    "this token has published as many {what} as it may this minute \
                     (MAX_PUBLISH_PER_MINUTE); retry later"
                ),
                retry_after_secs: u32::try_from(wait.as_millis().div_ceil(1000).max(1))
                    .unwrap_or(u32::MAX),
            })
    }

    fn admit_at(&self, subject: &str, now: Instant) -> Result<(), Duration> {
        let mut debts = self.lock();
        let due = debts
            .paid_off_at
            .get(subject)
            .copied()
            .unwrap_or(now)
            .max(now);
        let spent = due + self.interval;
        if spent > now + self.burst {
            return Err(spent - (now + self.burst));
        }
        if debts.paid_off_at.len() >= SWEEP_ABOVE
            && debts.swept_at.is_none_or(|at| now >= at + SWEEP_EVERY)
        {
            debts.paid_off_at.retain(|_, due| *due > now);
            debts.swept_at = Some(now);
        }
        debts.paid_off_at.insert(subject.to_owned(), spent);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Debts> {
        lock(&self.debts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_spends_its_burst_then_one_per_interval() {
        let rate = PublishRate::per_minute(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(rate.admit_at("alice", start), Ok(()));
        }
        assert_eq!(
            rate.admit_at("alice", start).err(),
            Some(Duration::from_secs(20))
        );
        assert_eq!(rate.admit_at("bob", start), Ok(()), "subjects are apart");
        let later = start + Duration::from_secs(20);
        assert_eq!(rate.admit_at("alice", later), Ok(()));
        assert!(rate.admit_at("alice", later).is_err());
    }

    #[test]
    fn quiet_subjects_are_forgotten() {
        let rate = PublishRate::per_minute(60);
        let start = Instant::now();
        for i in 0..SWEEP_ABOVE {
            assert!(rate.admit_at(&format!("s{i}"), start).is_ok());
        }
        let later = start + Duration::from_secs(2);
        assert!(rate.admit_at("newcomer", later).is_ok());
        assert_eq!(
            rate.lock().paid_off_at.len(),
            1,
            "every paid-off subject was swept"
        );
    }
}
