//! PostgreSQL `LISTEN` for events committed by any instance. A notification
//! is only a wake-up: the relay then reads the event log, so a missed
//! notification or a dropped listener loses nothing.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::event_log::NOTIFY_CHANNEL;

const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// Whether the listener is connected, for readiness.
#[derive(Debug)]
pub struct ListenerState(watch::Sender<bool>);

impl Default for ListenerState {
    fn default() -> Self {
        Self(watch::Sender::new(false))
    }
}

impl ListenerState {
    pub fn is_listening(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the listener is connected.
    pub async fn listening(&self) {
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = self.0.subscribe().wait_for(|listening| *listening).await;
    }

    fn set(&self, listening: bool) {
        self.0.send_replace(listening);
    }
}

/// Calls `wake` on every notification, and once after every (re)connect to
/// cover whatever was committed while the listener was away.
pub async fn run_listener(
    pool: PgPool,
    state: Arc<ListenerState>,
    wake: impl Fn(),
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        match listen(&pool, &state, &wake, &stop).await {
            Ok(()) => break,
            Err(error) => {
                state.set(false);
                tracing::warn!(%error, "event listener lost its database connection; reconnecting");
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
    state.set(false);
}

#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error(transparent)]
    Database(#[from] sea_orm::sqlx::Error),
    #[error("the connection closed")]
    Closed,
}

async fn listen(
    pool: &PgPool,
    state: &ListenerState,
    wake: &impl Fn(),
    stop: &CancellationToken,
) -> Result<(), ListenError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    state.set(true);
    tracing::info!(
        channel = NOTIFY_CHANNEL,
        "listening for events from every instance"
    );
    wake();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            received = listener.try_recv() => match received? {
                Some(_) => wake(),
                // The connection dropped; start over (and catch up).
                None => return Err(ListenError::Closed),
            },
        }
    }
}
