//! A table as the database describes it: its columns, their types, its
//! primary key. Read from the catalog when a table is watched, and again
//! to see whether it changed since.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// One column: its name and its type as the database writes it
/// (`format_type` on PostgreSQL, the declared type on SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// No table of that name.
    Missing,
    /// A view, or on PostgreSQL a partitioned or foreign table, say.
    NotATable(String),
    Table {
        /// In the table's order.
        columns: Vec<Column>,
        primary_key: Vec<String>,
    },
}

pub async fn read(conn: &impl ConnectionTrait, table: &str) -> Result<Shape, DbErr> {
    match conn.get_database_backend() {
        DbBackend::Postgres => read_postgres(conn, table).await,
        _ => read_sqlite(conn, table).await,
    }
}

async fn read_postgres(conn: &impl ConnectionTrait, table: &str) -> Result<Shape, DbErr> {
    let kind = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.relkind::text AS kind FROM pg_class AS c \
             WHERE c.oid = to_regclass(quote_ident($1))",
            [table.into()],
        ))
        .await?;
    let Some(kind) = kind else {
        return Ok(Shape::Missing);
    };
    let kind: String = kind.try_get("", "kind")?;
    if kind != "r" {
        let what = match kind.as_str() {
            "v" | "m" => "a view",
            "p" => "a partitioned table",
            "f" => "a foreign table",
            _ => "not a table",
        };
        return Ok(Shape::NotATable(what.to_owned()));
    }
    let columns = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT attname::text AS name, format_type(atttypid, atttypmod) AS sql_type \
             FROM pg_attribute WHERE attrelid = to_regclass(quote_ident($1)) \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [table.into()],
        ))
        .await?
        .iter()
        .map(|row| {
            Ok(Column {
                name: row.try_get("", "name")?,
                sql_type: row.try_get("", "sql_type")?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    let primary_key = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT a.attname::text AS name FROM pg_index AS i \
             JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
             WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary",
            [table.into()],
        ))
        .await?
        .iter()
        .map(|row| row.try_get("", "name"))
        .collect::<Result<Vec<String>, DbErr>>()?;
    Ok(Shape::Table {
        columns,
        primary_key,
    })
}

async fn read_sqlite(conn: &impl ConnectionTrait, table: &str) -> Result<Shape, DbErr> {
    let kind = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT type FROM sqlite_schema WHERE name = ? AND type IN ('table', 'view')",
            [table.into()],
        ))
        .await?;
    let Some(kind) = kind else {
        return Ok(Shape::Missing);
    };
    if kind.try_get::<String>("", "type")? != "table" {
        return Ok(Shape::NotATable("a view".to_owned()));
    }
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid",
            [table.into()],
        ))
        .await?;
    let mut columns = Vec::with_capacity(rows.len());
    let mut primary_key = Vec::new();
    for row in &rows {
        let name: String = row.try_get("", "name")?;
        if row.try_get::<i64>("", "pk")? > 0 {
            primary_key.push(name.clone());
        }
        columns.push(Column {
            name,
            sql_type: row.try_get("", "type")?,
        });
    }
    Ok(Shape::Table {
        columns,
        primary_key,
    })
}
