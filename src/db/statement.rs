//! SQL written once for both databases.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

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
