//! Herald: users CRUD whose every committed write streams live over
//! Server-Sent Events, replayable with `Last-Event-ID`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod sse;
pub mod startup;
pub mod tasks;
pub mod telemetry;
pub mod tls;
