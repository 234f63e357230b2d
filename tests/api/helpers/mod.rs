//! What the integration tests share, by what it helps with: databases
//! (and their shells), a running app and its HTTP API, event streams,
//! tokens, raw connections, and staging faults.

mod app;
mod auth;
mod database;
mod faults;
mod raw;
mod sse;

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
