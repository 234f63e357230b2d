//! Fan-out of committed events to Server-Sent Events subscribers: the
//! notifier and its live feed, shared reads of the event log, the relay that
//! fills gaps from the log, and one subscription per open stream. Nothing
//! here knows about HTTP.

mod admission;
mod data_line;
mod event_frame;
mod feed;
pub mod frame;
mod log_reader;
mod notifier;
mod position;
mod relay;
mod reset;
mod stream_filter;
mod subscription;
mod worker_wakers;

pub use admission::{Admitted, Refusal, StreamAdmission};
pub use event_frame::EventFrame;
pub use notifier::{FeedSettings, SseNotifier};
pub use position::{Position, Tag};
pub use relay::run_relay;
pub use reset::ResetReason;
pub use stream_filter::{MercureFilter, StreamFilter};
pub use subscription::{Opening, Start, Subscription};
pub use worker_wakers::LocalWakers;
