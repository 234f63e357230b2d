//! Background pruning of events older than the retention period.

use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use super::{event_log, idempotency};

const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Prunes events older than `retention`, and idempotency keys older than
/// they are kept for, every minute until `stop`.
pub async fn run_pruner(db: DatabaseConnection, retention: Duration, stop: CancellationToken) {
    loop {
        prune_once(&db, retention).await;
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

async fn prune_once(db: &DatabaseConnection, retention: Duration) {
    let cutoff = |age: Duration| {
        chrono::Duration::from_std(age)
            .ok()
            .and_then(|age| Utc::now().checked_sub_signed(age))
    };
    if let Some(cutoff) = cutoff(retention) {
        match event_log::prune_before(db, cutoff).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned events past retention"),
            Err(error) => tracing::warn!(%error, "could not prune events"),
        }
    }
    if let Some(cutoff) = cutoff(idempotency::KEEP_FOR)
        && let Err(error) = idempotency::forget_before(db, cutoff).await
    {
        tracing::warn!(%error, "could not forget old idempotency keys");
    }
}
