//! Delivers from the event log whatever the live path could not: events
//! committed by another instance, or never published (a writer that stopped
//! between its commit and its announcement).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;

use super::SseNotifier;
use crate::db::event_log;

const PAGE: i64 = 500;

/// How often the relay looks at the log even when nobody reported a gap.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub async fn run_relay(notifier: Arc<SseNotifier>) {
    let closing = notifier.closing();
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = closing.cancelled() => break,
            () = notifier.relay_woken() => {}
            _ = sweep.tick() => {}
        }
        if let Err(error) = catch_up(&notifier).await {
            tracing::warn!(%error, "relay could not read the event log; retrying");
        }
    }
}

async fn catch_up(notifier: &SseNotifier) -> Result<(), DbErr> {
    loop {
        let after = notifier.last_delivered_id();
        // The relay reads on its own connection rather than the streams'
        // share: live delivery must not wait behind replays.
        let events = event_log::read_range(notifier.log().db(), after, after + PAGE).await?;
        notifier.deliver_from_log(&events);
        if (events.len() as i64) < PAGE {
            return Ok(());
        }
    }
}
