//! The database layer: connecting, the users table, the event log, and the
//! write transactions that change both at once.

mod announce;
pub mod commit_watch;
mod connection;
mod disk_space;
mod entities;
mod error;
pub mod event_log;
mod idempotency;
pub mod listener;
pub mod live_tables;
pub mod mercure;
pub mod mercure_presence;
pub mod notification_writes;
mod reader;
pub mod retention;
mod statement;
pub mod user_writes;
mod users;
mod write_health;
pub mod writer;

pub use announce::Announce;
pub use connection::DatabaseConfig;
pub use disk_space::{DiskSpace, LowDiskSpace};
pub use error::Error;
use error::{database_error, sqlite_primary_code};
pub use reader::{PoolUsage, Reader};
pub use write_health::WriteHealth;

use std::path::PathBuf;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

/// Why Herald could not open its database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Database(DbErr),
    #[error("could not take the migration lock")]
    MigrationLock(#[source] sea_orm::sqlx::Error),
    #[error("could not take the migration lock {}", .path.display())]
    MigrationLockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database is read-only, but Herald must write to it (check the permissions of the database file and its directory; on PostgreSQL, default_transaction_read_only)"
    )]
    ReadOnly(#[source] DbErr),
}

impl From<DbErr> for OpenError {
    fn from(error: DbErr) -> Self {
        if is_read_only(&error) {
            Self::ReadOnly(error)
        } else {
            Self::Database(error)
        }
    }
}

/// Opens the pool and brings the schema up to date.
pub async fn connect(config: &DatabaseConfig) -> Result<DatabaseConnection, OpenError> {
    let db = config.open_pool().await?;
    let lock = MigrationLock::take(&db).await?;
    Migrator::up(&db, None).await?;
    check_writable(&db).await?;
    use_incremental_vacuum(&db).await?;
    lock.release().await;
    Ok(db)
}

/// Makes an SQLite file give back the space pruning frees. A new file is
/// created that way (see `connection`); an older one is converted by one
/// `VACUUM`, which rewrites the file and takes time in proportion to it.
async fn use_incremental_vacuum(db: &DatabaseConnection) -> Result<(), DbErr> {
    const INCREMENTAL: i32 = 2;
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let mode: Option<i32> = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA auto_vacuum",
        ))
        .await?
        .map(|row| row.try_get_by_index(0))
        .transpose()?;
    if mode.is_none_or(|mode| mode == INCREMENTAL) {
        return Ok(());
    }
    // Every connection asks for incremental vacuum (see `connection`);
    // VACUUM makes an existing file follow.
    tracing::info!("converting the database file to incremental vacuum (one VACUUM)");
    db.execute_unprepared("VACUUM").await?;
    Ok(())
}

/// Held while migrating: processes started together on one database then
/// migrate one after the other, each finding the others' work done, instead
/// of all creating the same tables at once.
enum MigrationLock {
    /// A session-level advisory lock on a connection outside the pool:
    /// closing the connection releases it, as does the process dying.
    Postgres(PgConnection),
    /// An OS lock on a file beside the database, released when the file is
    /// closed, as it is when the process dies.
    Sqlite(std::fs::File),
    /// A database in memory belongs to this process alone.
    Unshared,
}

/// The advisory lock key of Herald's migrations ("herald" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6865_7261_6c64;

impl MigrationLock {
    async fn take(db: &DatabaseConnection) -> Result<Self, OpenError> {
        match db.get_database_backend() {
            DbBackend::Postgres => {
                // Instances started together wait here while one migrates,
                // however long that takes: not the sessions' lock timeout.
                let options = db
                    .get_postgres_connection_pool()
                    .connect_options()
                    .as_ref()
                    .clone()
                    .options([("lock_timeout", "0")]);
                let mut connection = options.connect().await.map_err(OpenError::MigrationLock)?;
                sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK_KEY)
                    .execute(&mut connection)
                    .await
                    .map_err(OpenError::MigrationLock)?;
                Ok(Self::Postgres(connection))
            }
            _ => {
                let options = db.get_sqlite_connection_pool().connect_options();
                let database = options.get_filename();
                if !database.exists() {
                    return Ok(Self::Unshared);
                }
                let mut path = database.as_os_str().to_owned();
                path.push("-migrations.lock");
                let path = PathBuf::from(path);
                // Waiting for the lock blocks the thread.
                let locked = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || {
                        let file = std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(&path)?;
                        file.lock()?;
                        Ok(file)
                    }
                })
                .await
                .unwrap_or_else(|join| Err(std::io::Error::other(join)));
                locked
                    .map(Self::Sqlite)
                    .map_err(|source| OpenError::MigrationLockFile { path, source })
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Postgres(connection) => {
                // Should closing fail, the server ends the session, and with
                // it the lock, once it notices the connection is gone.
                if let Err(error) = connection.close().await {
                    tracing::warn!(%error, "closing the migration lock's connection failed");
                }
            }
            Self::Sqlite(file) => drop(file),
            Self::Unshared => {}
        }
    }
}

/// Refuses a database that would let Herald start, then fail every write: a
/// read-only SQLite file, a PostgreSQL database whose transactions are
/// read-only. Writing nothing still needs write access.
async fn check_writable(db: &DatabaseConnection) -> Result<(), OpenError> {
    let txn = db.begin().await?;
    let probe = txn
        .execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 1 = 0")
        .await;
    txn.rollback().await?;
    probe?;
    Ok(())
}

const SQLITE_READONLY: i32 = 8;

fn is_read_only(error: &DbErr) -> bool {
    database_error(error).is_some_and(|e| {
        sqlite_primary_code(e) == Some(SQLITE_READONLY)
            // PostgreSQL: read_only_sql_transaction
            || e.code().as_deref() == Some("25006")
    })
}
