//! Herald: users CRUD whose every committed write streams live over
//! Server-Sent Events, replayable with `Last-Event-ID`.
//!
//! # Map
//!
//! Layers, lowest first; a module uses only those on the lines above its
//! own in this list, never one on its line or below (`tests/api/layers.rs`
//! holds the code to it).
//!
//! - [`lock`], [`open_files`], [`telemetry`]: small utilities, and logging.
//! - [`domain`]: the values Herald deals in, each parsed from what clients
//!   send (`UserName`, `Email`, `Topic`, the event envelope, …), and a
//!   Mercure `Update` and its topic `Selector`s. No I/O.
//! - [`auth`]: tokens, scopes and the principal a request acts as; the
//!   Mercure hub's own tokens (`auth::mercure`).
//! - [`config`]: the settings, each named once in `config/settings_table.rs`.
//! - [`db`]: the database. Connecting and migrating, the event log, reads
//!   (`db::Reader`), and **the one write path** (`db::writer`): a write runs
//!   in a batch transaction with the event it makes, commits, and is then
//!   announced through [`db::Announce`]. A user's event is appended by the
//!   database's triggers on `users` (SQL in `migrations/sql/`), a live
//!   table's by the triggers `db::live_tables` generates (`herald watch`),
//!   for Herald's writes and anyone else's alike; the writer reads back what
//!   its batch appended. The database keeps the log append-only. Other
//!   processes' commits are noticed by `db::commit_watch` (SQLite) and
//!   `db::listener` (PostgreSQL). Mercure updates go through the same
//!   writer into the same log (`db::mercure`); `db::mercure_presence` keeps
//!   who is subscribed, across instances. Nothing here knows of HTTP or
//!   streams.
//! - [`metrics`]: the registry `/metrics` reads.
//! - [`tasks`]: the supervisor of background tasks.
//! - [`sse`]: fan-out. `SseNotifier` implements `db::Announce`: the live feed
//!   every stream reads, shared reads of the log for replays, the relay that
//!   delivers other instances' events and notices a log that went back, and
//!   one `Subscription` per open stream, in Herald's dialect or Mercure's
//!   (`sse::stream_filter`). Nothing here knows of HTTP.
//! - [`http`]: routes, handlers, extractors, the OpenAPI document, and the
//!   one mapping from errors to responses (`http::error`); the Mercure hub
//!   at `/.well-known/mercure` (`http::mercure`).
//! - [`tls`], [`cli`]: serving HTTPS, and the command line (`serve`,
//!   `token`, `watch`, `unwatch`).
//! - [`startup`]: builds the application from `Settings` and owns its
//!   shutdown (`StopHandle`: one token every part that stops is handed).
//! - `main.rs`: reads the settings, starts, waits for a signal.
//!
//! # Data flow
//!
//! A write: handler → `db::writer` (transaction: row, its event by trigger, commit) →
//! `SseNotifier` as `db::Announce` → the live feed → every `Subscription`
//! whose topics match → its connection. Handlers never format SSE frames;
//! the notifier never touches HTTP; the database layer never touches
//! either. A stream that falls behind, resumes, or lives on another
//! instance reads the same events from the log.
//!
//! # Errors
//!
//! Each layer answers with its own: `domain` with field errors
//! (`FieldErrors`, `NotificationProblem`, `UpdateProblem`), `db` with [`db::Error`]
//! (unavailable, full, duplicate, stale version, …), `auth` with
//! `TokenError` and `Forbidden`, `config` with `ConfigError`. The HTTP
//! layer's [`http::ApiError`] wraps them, and `http::error` turns each into
//! one status and one JSON body, beside the OpenAPI components that
//! document them.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod lock;
pub mod metrics;
pub mod open_files;
pub mod sse;
pub mod startup;
pub mod tasks;
pub mod telemetry;
pub mod tls;
