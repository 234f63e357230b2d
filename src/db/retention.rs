//! Background pruning of events older than the retention period.

use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use super::event_log;

const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub fn spawn_pruner(
    db: DatabaseConnection,
    retention: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            prune_once(&db, retention).await;
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(PRUNE_EVERY) => {}
            }
        }
    })
}

async fn prune_once(db: &DatabaseConnection, retention: Duration) {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return;
    };
    match event_log::prune_before(db, Utc::now() - retention).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned events past retention"),
        Err(error) => tracing::warn!(%error, "could not prune events"),
    }
}
