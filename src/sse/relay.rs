//! Delivers from the event log whatever the live path could not: events
//! published out of order, committed by another instance, or never
//! published (a writer cancelled between its commit and its publish).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};

use super::SseNotifier;
use crate::db::event_log;
use crate::domain::TopicFilter;

const PAGE: u64 = 500;

/// How often the relay looks at the log even when nobody reported a gap.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub fn spawn_relay(
    notifier: Arc<SseNotifier>,
    db: DatabaseConnection,
) -> tokio::task::JoinHandle<()> {
    let closing = notifier.closing();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                () = closing.cancelled() => break,
                () = notifier.relay_woken() => {}
                _ = sweep.tick() => {}
            }
            if let Err(error) = catch_up(&notifier, &db).await {
                tracing::warn!(%error, "relay could not read the event log; retrying");
            }
        }
    })
}

async fn catch_up(notifier: &SseNotifier, db: &DatabaseConnection) -> Result<(), DbErr> {
    loop {
        let after = notifier.last_delivered_id();
        let events = event_log::read_after(db, after, &TopicFilter::default(), PAGE).await?;
        notifier.deliver_from_log(&events);
        if (events.len() as u64) < PAGE {
            return Ok(());
        }
    }
}
