//! One integration-test binary: every test starts the real server on a
//! random loopback port against its own SQLite file and talks HTTP and SSE
//! to it.

mod helpers;

mod behind_nginx;
mod concurrency;
mod errors;
mod events;
mod instances;
mod lifecycle;
mod notifications;
mod openapi;
mod operations;
mod resume;
mod security;
mod slow_subscriber;
mod stream;
mod users;
