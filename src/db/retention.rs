//! Pruning in the background: events older than the retention period, and
//! idempotency keys older than they are kept for.
//!
//! Pruning only ever removes a prefix of the log: every event before the
//! first one still within retention, never one after it, so the log has no
//! hole for a replay to skip over, whatever the timestamps say (an instance
//! with a slow clock once wrote events that looked older than their
//! predecessors). It runs through the writer a bounded chunk at a time, so
//! writes run between chunks instead of waiting behind one long delete,
//! and on SQLite each chunk gives the space it freed back to the
//! filesystem.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;

use super::writer::{Change, Writer};
use super::{event_log, idempotency, mercure};

const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Events deleted in one transaction at most.
pub const CHUNK: u64 = 5_000;

/// Prunes every minute until `stop`.
pub async fn run_pruner(
    writer: Writer,
    db: DatabaseConnection,
    retention: Duration,
    stop: CancellationToken,
) {
    loop {
        prune_once(&writer, &db, retention).await;
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// Prunes everything past retention now; returns how many events went.
/// `db` is the pool, which checkpoints SQLite's write-ahead log afterwards.
pub async fn prune_once(writer: &Writer, db: &DatabaseConnection, retention: Duration) -> u64 {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return 0;
    };
    let mut pruned = 0;
    loop {
        let chunk = writer
            .maintain(move |txn, slot| {
                Box::pin(async move {
                    let Some(cutoff) = slot.now.checked_sub_signed(retention) else {
                        return Ok(Change::Nothing(0));
                    };
                    let deleted = event_log::prune_prefix(txn, cutoff, CHUNK).await?;
                    if deleted > 0 && txn.get_database_backend() == DbBackend::Sqlite {
                        // Hands the pages the delete freed back to the
                        // filesystem (the file uses incremental vacuum).
                        txn.execute_unprepared("PRAGMA incremental_vacuum").await?;
                    }
                    Ok(Change::Nothing(deleted))
                })
            })
            .await;
        match chunk {
            Ok(deleted) => {
                pruned += deleted;
                if deleted < CHUNK {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not prune events");
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::info!(pruned, "pruned events past retention");
        let forgotten = writer
            .maintain(|txn, _| {
                Box::pin(async move { Ok(Change::Nothing(mercure::forget_pruned(txn).await?)) })
            })
            .await;
        if let Err(error) = forgotten {
            tracing::warn!(%error, "could not forget the ids of pruned Mercure updates");
        }
        checkpoint(db).await;
    }
    let Ok(keep_keys) = chrono::Duration::from_std(idempotency::KEEP_FOR) else {
        return pruned;
    };
    let forgotten = writer
        .maintain(move |txn, slot| {
            Box::pin(async move {
                let forgotten = match slot.now.checked_sub_signed(keep_keys) {
                    Some(cutoff) => idempotency::forget_before(txn, cutoff).await?,
                    None => 0,
                };
                Ok(Change::Nothing(forgotten))
            })
        })
        .await;
    if let Err(error) = forgotten {
        tracing::warn!(%error, "could not forget old idempotency keys");
    }
    pruned
}

/// Copies SQLite's write-ahead log into the database file, which is when
/// the file shrinks by the pages pruning freed, and lets the log start over
/// (at most `journal_size_limit` of it stays on disk). Passive: it waits for
/// no reader and no writer, and what it cannot copy now goes at the next
/// automatic checkpoint.
async fn checkpoint(db: &DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    if let Err(error) = db
        .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
        .await
    {
        tracing::warn!(%error, "could not checkpoint the write-ahead log after pruning");
    }
}
