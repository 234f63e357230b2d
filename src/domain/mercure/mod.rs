//! Mercure's vocabulary: topic selectors and updates (see `http::mercure`
//! for the hub).

mod selector;
mod shared_update;
mod update;

pub use selector::Selector;
pub use shared_update::SharedUpdate;
pub use update::{HUB_PATH, MAX_TOPICS, Update, UpdateProblem};
