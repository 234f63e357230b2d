//! Locking a mutex whatever happened to its last holder.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// `mutex`, locked, even if a thread panicked while holding it. Every value
/// Herald keeps behind a mutex is whole between two statements (a counter, a
/// list, a map), so a panic elsewhere must not take the rest of the instance
/// down with it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
