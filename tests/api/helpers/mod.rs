//! What the integration tests share, by what it helps with: databases
//! (and their shells), a running app and its HTTP API, event streams,
//! tokens, raw connections, staging faults, and the repository's files.

mod app;
mod auth;
mod database;
mod faults;
mod raw;
mod sse;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use app::*;
pub use auth::*;
pub(crate) use database::on_both_databases;
pub use database::*;
pub use faults::*;
pub use raw::*;
pub use sse::*;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// How long a test waits for something that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// Polls `check` until it holds: for state that announces no event, such as
/// a server's readiness.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {PROMPTLY:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file under `dir`, at any depth, whose extension is `extension`
/// (without the dot), sorted; none where `dir` cannot be read.
pub fn files_under(dir: &Path, extension: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, extension, found);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, extension, &mut found);
    found.sort();
    found
}
