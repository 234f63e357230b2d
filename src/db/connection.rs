//! How Herald connects to its database: the pool that requests, streams
//! and the relay read through, and the one connection the writer commits
//! on, both with the session settings the write path relies on.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteAutoVacuum, SqliteJournalMode};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Connections the pool may open: one more than requests use, because on
/// PostgreSQL the event listener keeps one for good.
const POOL_CONNECTIONS: u32 = 11;

/// PostgreSQL ends a session that sits inside a transaction this long: a
/// Herald instance that froze mid-write (a paused VM, a partition) then
/// gives back the event counter's lock, which every writer of every
/// instance queues on, instead of holding it for as long as it is frozen.
/// Herald's own transactions run statement after statement, never idle.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a PostgreSQL statement waits for a lock before it fails: a
/// write queued behind a stalled transaction is answered `503` with
/// `Retry-After` instead of hanging.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// TCP keepalives on the server's side of each PostgreSQL session: a peer
/// that vanished (a partition, a host that died) is noticed within about
/// half a minute instead of the operating system's two hours, and its
/// session and locks end.
const KEEPALIVE_IDLE_SECS: u32 = 10;
const KEEPALIVE_INTERVAL_SECS: u32 = 5;
const KEEPALIVE_COUNT: u32 = 3;

/// The largest the SQLite write-ahead log stays once checkpointed: a large
/// delete grows it, and without a limit it keeps that size on disk.
const SQLITE_JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// Where the database is and how sessions are set up.
#[derive(Clone)]
pub struct DatabaseConfig {
    url: String,
    sqlite_busy_timeout: Duration,
}

impl DatabaseConfig {
    pub fn new(url: &str, sqlite_busy_timeout: Duration) -> Self {
        Self {
            url: url.to_owned(),
            sqlite_busy_timeout,
        }
    }

    /// The database `settings` name.
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self::new(settings.database_url.expose(), settings.sqlite_busy_timeout)
    }

    /// The pool for everything but commits.
    pub async fn open_pool(&self) -> Result<DatabaseConnection, DbErr> {
        Database::connect(self.options(POOL_CONNECTIONS)).await
    }

    /// A connection of its own for the writer, which commits one batch at
    /// a time, so that it can throw the connection away when a commit or
    /// rollback fails: its state is then unknown, and reusing it could
    /// report a write committed that never was.
    pub async fn open_writer(&self) -> Result<DatabaseConnection, DbErr> {
        Database::connect(self.options(1)).await
    }

    fn options(&self, max_connections: u32) -> ConnectOptions {
        let busy_timeout = self.sqlite_busy_timeout;
        let mut options = ConnectOptions::new(&self.url);
        options
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .sqlx_logging(false)
            // WAL lets streams replay the log while a write is in progress;
            // the busy timeout queues writers behind the one holding the
            // write lock. Incremental vacuum lets pruning give the file's
            // space back (it applies to a new file; see `sqlite_space`).
            .map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(busy_timeout)
                    .auto_vacuum(SqliteAutoVacuum::Incremental)
                    .pragma("journal_size_limit", SQLITE_JOURNAL_SIZE_LIMIT.to_string())
            })
            // Set for every session, so that a database's own defaults
            // (`ALTER DATABASE … SET default_transaction_isolation =
            // 'serializable'`, say) cannot change what the write path
            // relies on: the counter's row lock orders writers, and read
            // committed is what lets the next one see the counter moved.
            .map_sqlx_postgres_opts(|o| {
                o.options([
                    ("default_transaction_isolation", "read committed".to_owned()),
                    (
                        "idle_in_transaction_session_timeout",
                        millis(IDLE_IN_TRANSACTION_TIMEOUT),
                    ),
                    ("lock_timeout", millis(LOCK_TIMEOUT)),
                    ("tcp_keepalives_idle", KEEPALIVE_IDLE_SECS.to_string()),
                    (
                        "tcp_keepalives_interval",
                        KEEPALIVE_INTERVAL_SECS.to_string(),
                    ),
                    ("tcp_keepalives_count", KEEPALIVE_COUNT.to_string()),
                ])
            });
        options
    }
}

fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}
