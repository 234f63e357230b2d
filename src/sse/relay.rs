//! Delivers from the event log whatever the live path could not: events
//! committed by another instance, or never published (a writer that stopped
//! between its commit and its announcement). It is also where an instance
//! finds out that the log went back on what it delivered.
//!
//! Each pass reads the log from the newest delivered event on, that event
//! included, and checks it: a log whose newest id is below it, or whose
//! event of that id has another content (its tag), was rewound (restored
//! from an older backup, failed over to a replica that lagged); a log whose
//! next event is missing lost it (pruned before it was delivered here, or
//! deleted by hand). Either way the feed starts over (see
//! [`Feed::start_over`](super::feed::Feed::start_over)) and every stream
//! resets, instead of delivering what the log no longer holds or waiting
//! forever for what it never will.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::SseNotifier;
use super::position::Tag;
use super::reset::ResetReason;
use crate::db::{self, event_log::LoggedEvent};

/// Events one pass reads at most, before it delivers them and reads on.
const READ_AT_ONCE: i64 = 500;

/// How often the relay looks at the log even when nobody reported a gap.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Relays until `shutdown`.
pub async fn run_relay(notifier: Arc<SseNotifier>, shutdown: CancellationToken) {
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    let mut seen = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = notifier.relay_woken() => {}
            _ = sweep.tick() => {}
        }
        if let Err(error) = catch_up(&notifier, &mut seen).await {
            tracing::warn!(%error, "relay could not read the event log; retrying");
        }
    }
}

/// `seen` is the newest delivered event as the relay last read it from the
/// log, for when the feed no longer holds it (after a restart, say).
async fn catch_up(notifier: &SseNotifier, seen: &mut Option<(i64, Tag)>) -> Result<(), db::Error> {
    loop {
        let after = notifier.last_delivered_id();
        // The relay reads on its own connection rather than the streams'
        // share: live delivery must not wait behind replays.
        let db = notifier.log().db();
        let newest = db.last_event_id().await?;
        let events = db.events(after - 1, after + READ_AT_ONCE).await?;
        let (delivered, next) = match events.split_first() {
            Some((first, rest)) if first.id == after => (Some(first), rest),
            _ => (None, &events[..]),
        };
        if let Some(reason) = went_back(notifier, seen, after, newest, delivered, next) {
            if notifier.start_over(after, newest, reason) {
                *seen = None;
                return Ok(());
            }
            // This instance delivered more while the log was read, which
            // may be all that was missing: read it again.
            continue;
        }
        notifier.deliver_from_log(next);
        if (next.len() as i64) < READ_AT_ONCE {
            return Ok(());
        }
    }
}

/// Why the log no longer holds what was delivered up to `after`, or what
/// comes next, if it does not: `newest` is its newest id, read before
/// `delivered` (its event `after`, if retained) and `next` (those after).
fn went_back(
    notifier: &SseNotifier,
    seen: &mut Option<(i64, Tag)>,
    after: i64,
    newest: i64,
    delivered: Option<&LoggedEvent>,
    next: &[LoggedEvent],
) -> Option<ResetReason> {
    if newest < after {
        return Some(ResetReason::Rewound);
    }
    if let Some(delivered) = delivered {
        let tag = Tag::of(&delivered.payload);
        let known = notifier
            .feed()
            .tag_of(after)
            .or_else(|| seen.filter(|(id, _)| *id == after).map(|(_, tag)| tag));
        match known {
            Some(known) if known != tag => return Some(ResetReason::Rewound),
            Some(_) => {}
            None => *seen = Some((after, tag)),
        }
    }
    // Everything up to `newest` was committed before the read began.
    let lost = match next.first() {
        Some(first) => first.id != after + 1,
        None => newest > after,
    };
    lost.then_some(ResetReason::Expired)
}
