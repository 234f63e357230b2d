//! The database layer: connecting, the users table, the event log, and the
//! write transactions that change both at once.

pub mod entities;
pub mod event_log;
pub mod retention;
pub mod user_writes;
pub mod users;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Opens the pool and brings the schema up to date.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // WAL lets streams replay the log while a write is in progress; the
        // busy timeout queues writers behind the one holding the write lock.
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
        });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}
