//! Mercure's vocabulary: topic selectors and updates (see `http::mercure`
//! for the hub).

mod selector;
mod update;

pub use selector::Selector;
pub use update::{HUB_PATH, MAX_TOPICS, Update, UpdateProblem};
