//! Herald's vocabulary: values parsed from untrusted input into types that
//! cannot hold an invalid value, and the events that writes produce.

mod display_name;
mod email;
mod event;
mod event_name;
mod field_errors;
pub mod mercure;
mod notification;
mod precondition;
mod time;
mod topic;
pub mod topic_segment;
mod user;
mod user_input;
mod user_name;

pub use display_name::DisplayName;
pub use email::Email;
pub use event::EventDraft;
pub use event_name::EventName;
pub use field_errors::FieldErrors;
pub use notification::{MAX_DATA_BYTES, NewNotification, NotificationProblem};
pub use precondition::IfMatch;
pub use topic::{Topic, TopicFilter, TopicPattern};
pub use user::{User, UserId};
pub use user_input::{NewUser, UserPatch};
pub use user_name::UserName;
