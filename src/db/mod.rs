//! The database layer: connecting, the users table, the event log, and the
//! write transactions that change both at once.

pub mod entities;
pub mod event_log;
pub mod notifications;
pub mod retention;
pub mod user_writes;
pub mod users;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};

/// Opens the pool and brings the schema up to date.
pub async fn connect(
    url: &str,
    sqlite_busy_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        // One more than requests use: on PostgreSQL the event listener keeps
        // one connection for good.
        .max_connections(11)
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // WAL lets streams replay the log while a write is in progress; the
        // busy timeout queues writers behind the one holding the write lock.
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(sqlite_busy_timeout)
        });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// Connections the pool holds open, and how many of them are lent out.
pub struct PoolUsage {
    pub open: u32,
    pub in_use: u32,
}

pub fn pool_usage(db: &DatabaseConnection) -> PoolUsage {
    // Each backend has its own pool type; asking for the other one panics.
    let (open, idle) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    PoolUsage {
        open,
        in_use: open.saturating_sub(u32::try_from(idle).unwrap_or(open)),
    }
}
