//! SQL written once for both databases.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel,
    Statement, TransactionTrait, Value,
};

/// `sql`, written with PostgreSQL's `$n` placeholders, for the database
/// `conn` is on: SQLite reads the same numbers as `?n`. (So `sql` holds no
/// other `$`.)
pub fn statement(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    let backend = conn.get_database_backend();
    let sql = if backend == DbBackend::Sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// A transaction whose reads all see one snapshot: what a page and the
/// newest event id it reflects are read in. SQLite reads one snapshot per
/// transaction anyway; PostgreSQL's default takes one per statement.
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let isolation = (db.get_database_backend() == DbBackend::Postgres)
        .then_some(IsolationLevel::RepeatableRead);
    db.begin_with_config(isolation, None).await
}
