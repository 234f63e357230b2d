//! One integration-test binary: every test starts the real server on a
//! random loopback port against its own SQLite file and talks HTTP and SSE
//! to it.

mod helpers;
mod logs;
mod process;

mod append_only;
mod batch_isolation;
mod behind_nginx;
mod capacity;
mod client_module;
mod concurrency;
mod database;
mod database_defaults;
mod disk_full;
mod docs_links;
mod errors;
mod events;
mod frozen_peer;
mod instances;
mod layers;
mod lifecycle;
mod line_separators;
mod live_tables;
mod mercure;
mod metrics;
mod names;
mod notifications;
mod openapi;
mod operations;
mod outside_handlers;
mod request_ids;
mod resume;
mod retention;
mod rewind;
mod security;
mod slow_clients;
mod slow_subscriber;
mod sql_writes;
mod start_up;
mod stream;
mod tasks;
mod users;
mod writer;
