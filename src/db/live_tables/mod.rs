//! Live tables: any table of the database made to stream as `users` does.
//! `herald watch <table>` installs triggers (generated from one
//! [`LiveTable`] description, for either database) so that every committed
//! `INSERT`, `UPDATE` and `DELETE` on the table, from any writer, appends
//! its `row_created` / `row_updated` / `row_deleted` event in the same
//! transaction, with the next id of the one counter; and records the table
//! in `herald_watched_tables`, which every instance reads. Snapshots read
//! rows in the same form as events carry them.
//!
//! - [`description`]: the one description, and what can be watched.
//! - [`identifier`], [`shape`]: names Herald writes into SQL; a table as
//!   the catalog describes it.
//! - [`postgres`], [`sqlite`]: the SQL each database runs.
//! - [`registry`]: the watched tables.
//! - [`snapshot`]: pages of rows and single rows, as a token may read them.
//! - [`keeper`]: each instance's eye on how its live tables stand.
//!
//! No mechanism here names one table: `users` keeps its own triggers (its
//! envelope and rules are a public interface of their own) and shares the
//! log, the counter and the staging of events with every live table.

mod description;
pub mod identifier;
pub mod keeper;
mod postgres;
mod registry;
mod shape;
pub mod snapshot;
mod sqlite;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

pub use description::{HERALD_TABLES, KeyKind, LiveTable, Options, Refusal, is_herald_table};
pub use identifier::Identifier;
pub use shape::Column;

/// How a watch changes one of a table's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Change<T> {
    /// As it was (nothing, for a table not watched yet).
    #[default]
    Keep,
    Set(T),
    Clear,
}

impl<T: Clone> Change<T> {
    /// The change a command line asks for: a value given sets it (the
    /// command line lets no value be given with its clearing flag),
    /// `clear` clears it, neither keeps it.
    pub fn asked(value: Option<T>, clear: bool) -> Self {
        match (value, clear) {
            (Some(value), _) => Self::Set(value),
            (None, true) => Self::Clear,
            (None, false) => Self::Keep,
        }
    }

    fn applied_to(&self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Set(value) => Some(value.clone()),
            Self::Clear => None,
        }
    }
}

/// What `herald watch <table>` asks to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    pub scope: Change<String>,
    pub hide: Change<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the database: {0}")]
    Database(#[from] DbErr),
}

/// Makes `table` live as `watch` asks (or again, with its columns as they
/// are now), in one transaction; returns it as installed.
pub async fn watch(
    db: &DatabaseConnection,
    table: &str,
    watch: &Watch,
) -> Result<LiveTable, WatchError> {
    let name = Identifier::parse(table).map_err(Refusal::Name)?;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    let current = registry::find(&txn, name.as_str()).await?;
    let options = Options {
        scope: watch.scope.applied_to(
            current
                .as_ref()
                .and_then(|t| t.scope.as_ref().map(Identifier::to_string)),
        ),
        hide: watch
            .hide
            .applied_to(
                current
                    .as_ref()
                    .map(|t| t.hidden.iter().map(Identifier::to_string).collect()),
            )
            .unwrap_or_default(),
    };
    let backend = txn.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    let live = LiveTable::describe(&name, shape::read(&txn, table).await?, &options, postgres)?;
    let statements = if postgres {
        postgres::install(&live)
    } else {
        sqlite::install(&live)
    };
    for statement in statements {
        txn.execute_unprepared(&statement).await?;
    }
    let schema_version = schema_version(&txn).await?;
    registry::save(&txn, &live, schema_version).await?;
    txn.commit().await?;
    Ok(live)
}

/// Stops `table` being live; its events stay in the log.
pub async fn unwatch(db: &DatabaseConnection, table: &str) -> Result<(), WatchError> {
    let name = Identifier::parse(table).map_err(Refusal::Name)?;
    let txn = db.begin().await?;
    if !registry::forget(&txn, name.as_str()).await? {
        return Err(Refusal::NotWatched(name.to_string()).into());
    }
    let statements = if txn.get_database_backend() == DbBackend::Postgres {
        postgres::uninstall(&name)
    } else {
        sqlite::uninstall(&name)
    };
    for statement in statements {
        txn.execute_unprepared(&statement).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// SQLite's `PRAGMA schema_version`; `None` on PostgreSQL.
async fn schema_version(conn: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        return Ok(None);
    }
    conn.query_one_raw(Statement::from_string(
        DbBackend::Sqlite,
        "SELECT schema_version FROM pragma_schema_version",
    ))
    .await?
    .map(|row| row.try_get("", "schema_version"))
    .transpose()
}

/// How a watched table stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Live,
    /// The table was dropped (its triggers with it).
    Gone,
    /// Its columns or name changed: writes to it are refused.
    Changed,
    /// The table is there, its triggers are not (rebuilt, or dropped by
    /// hand): its writes make no events.
    TriggersMissing,
}

impl Health {
    /// What an operator should do about it, if anything.
    pub fn advice(self, table: &str) -> Option<String> {
        match self {
            Self::Live => None,
            Self::Gone => Some(format!(
                "{table} is gone: `herald unwatch {table}` forgets it (its events stay in the log)"
            )),
            Self::Changed => Some(format!(
                "{table} changed (its columns or name) and refuses writes: run `herald watch {table}` again"
            )),
            Self::TriggersMissing => Some(format!(
                "{table} has lost its triggers, and its writes make no events: run `herald watch {table}` again"
            )),
        }
    }
}

/// Every watched table and how it stands.
pub async fn survey(conn: &impl ConnectionTrait) -> Result<Vec<(LiveTable, Health)>, DbErr> {
    let backend = conn.get_database_backend();
    let mut surveyed = Vec::new();
    for table in registry::all(conn).await? {
        let name = table.table.as_str();
        let shape = shape::read(conn, name).await?;
        let health = if !matches!(shape, shape::Shape::Table { .. }) {
            Health::Gone
        } else if !table.matches(&shape) {
            Health::Changed
        } else {
            let installed = conn
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    if backend == DbBackend::Postgres {
                        postgres::installed_query()
                    } else {
                        sqlite::installed_query()
                    },
                    [name.into()],
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "installed"))
                .transpose()?
                .unwrap_or(0);
            if installed == 0 {
                Health::TriggersMissing
            } else {
                Health::Live
            }
        };
        surveyed.push((table, health));
    }
    Ok(surveyed)
}

/// On SQLite, records that the live tables among `surveyed` have the
/// columns their triggers know at today's `schema_version`, so that their
/// triggers stop reading the catalog after a schema change elsewhere (an
/// index made, another table watched). Nothing to do on PostgreSQL.
pub async fn confirm_columns(
    conn: &impl ConnectionTrait,
    surveyed: &[(LiveTable, Health)],
) -> Result<(), DbErr> {
    let Some(version) = schema_version(conn).await? else {
        return Ok(());
    };
    for (table, health) in surveyed {
        if *health == Health::Live {
            registry::confirm_schema_version(conn, table.table.as_str(), version).await?;
        }
    }
    Ok(())
}

/// Whether the table `name` is watched.
pub async fn is_watched(conn: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    registry::is_watched(conn, name).await
}
