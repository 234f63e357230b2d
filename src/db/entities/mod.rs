pub mod event;
pub mod idempotency_key;
pub mod user;
