//! How many streams may be open: per token subject, so that one client
//! cannot hold every connection, and in all, so that streams never take
//! the file descriptors requests and the database need.

use crate::lock::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct StreamAdmission {
    per_subject: usize,
    total: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_subject: HashMap<String, usize>,
}

/// Why a stream was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This subject already holds `limit` streams.
    Subject { limit: usize },
    /// The instance already holds `limit` streams.
    Instance { limit: usize },
}

/// A stream's place, given back when it is dropped.
pub struct Admitted {
    admission: Arc<StreamAdmission>,
    subject: Option<String>,
}

impl StreamAdmission {
    pub fn new(per_subject: usize, total: usize) -> Self {
        Self {
            per_subject,
            total,
            open: Mutex::default(),
        }
    }

    /// A place for one more stream of `subject` (`None`: an open server's
    /// anonymous client, bound by the instance's limit only).
    pub fn admit(self: &Arc<Self>, subject: Option<&str>) -> Result<Admitted, Refusal> {
        let mut open = self.lock();
        if open.total >= self.total {
            return Err(Refusal::Instance { limit: self.total });
        }
        if let Some(subject) = subject {
            let held = open.by_subject.entry(subject.to_owned()).or_default();
            if *held >= self.per_subject {
                return Err(Refusal::Subject {
                    limit: self.per_subject,
                });
            }
            *held += 1;
        }
        open.total += 1;
        Ok(Admitted {
            admission: self.clone(),
            subject: subject.map(str::to_owned),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        lock(&self.open)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.admission.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(subject) = &self.subject
            && let Some(held) = open.by_subject.get_mut(subject)
        {
            *held -= 1;
            if *held == 0 {
                open.by_subject.remove(subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_bounded_per_subject_and_in_all_and_given_back() {
        let admission = Arc::new(StreamAdmission::new(2, 3));
        let a1 = admission.admit(Some("a"));
        let _a2 = admission.admit(Some("a"));
        assert_eq!(
            admission.admit(Some("a")).err(),
            Some(Refusal::Subject { limit: 2 })
        );
        let _anonymous = admission.admit(None);
        assert_eq!(
            admission.admit(Some("b")).err(),
            Some(Refusal::Instance { limit: 3 })
        );
        drop(a1);
        assert!(admission.admit(Some("a")).is_ok());
    }
}
