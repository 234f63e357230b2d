//! Fan-out of committed events to Server-Sent Events subscribers: the
//! notifier and its live feed, the relay that fills gaps from the event log,
//! and one subscription per open stream. Nothing here knows about HTTP.

pub mod frame;
mod notifier;
mod relay;
mod subscription;

pub use notifier::{EventFrame, SseNotifier};
pub use relay::spawn_relay;
pub use subscription::{Start, StreamSettings, Subscription};
