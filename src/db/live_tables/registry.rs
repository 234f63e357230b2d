//! `herald_watched_tables`: which tables are live and how, written by
//! `herald watch` in the transaction that makes their triggers, and read by
//! every instance.

use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::description::{KeyKind, LiveTable};
use super::identifier::Identifier;
use super::shape::Column;
use crate::db::statement::statement;

const COLUMNS: &str =
    "table_name, key_column, key_type, scope_column, hidden_columns, columns, schema_version";

fn broken(what: &str, problem: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!(
        "herald_watched_tables holds {what} Herald cannot read: {problem}"
    ))
}

fn live_table(row: &QueryResult) -> Result<LiveTable, DbErr> {
    let name = |column: &str| -> Result<Identifier, DbErr> {
        let raw: String = row.try_get("", column)?;
        Identifier::parse(&raw).map_err(|problem| broken(column, problem))
    };
    let key_type: String = row.try_get("", "key_type")?;
    let scope: Option<String> = row.try_get("", "scope_column")?;
    let hidden: Vec<String> = serde_json::from_str(&row.try_get::<String>("", "hidden_columns")?)
        .map_err(|e| broken("hidden_columns", e))?;
    let columns: Vec<(String, String)> =
        serde_json::from_str(&row.try_get::<String>("", "columns")?)
            .map_err(|e| broken("columns", e))?;
    let table = LiveTable {
        table: name("table_name")?,
        key: name("key_column")?,
        key_kind: KeyKind::parse(&key_type).ok_or_else(|| broken("key_type", &key_type))?,
        scope: scope
            .map(|scope| Identifier::parse(&scope).map_err(|e| broken("scope_column", e)))
            .transpose()?,
        columns: columns
            .into_iter()
            .map(|(name, sql_type)| Column { name, sql_type })
            .collect(),
        hidden: hidden
            .iter()
            .map(|hidden| Identifier::parse(hidden).map_err(|e| broken("hidden_columns", e)))
            .collect::<Result<_, _>>()?,
    };
    for column in &table.columns {
        Identifier::parse(&column.name).map_err(|e| broken("columns", e))?;
    }
    Ok(table)
}

/// Every watched table, by name.
pub async fn all(conn: &impl ConnectionTrait) -> Result<Vec<LiveTable>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM herald_watched_tables ORDER BY table_name");
    conn.query_all_raw(statement(conn, &sql, vec![]))
        .await?
        .iter()
        .map(live_table)
        .collect()
}

/// The watched table `name`, if it is one.
pub async fn find(conn: &impl ConnectionTrait, name: &str) -> Result<Option<LiveTable>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM herald_watched_tables WHERE table_name = $1");
    conn.query_one_raw(statement(conn, &sql, vec![name.into()]))
        .await?
        .map(|row| live_table(&row))
        .transpose()
}

/// Whether `name` is watched, without reading how.
pub async fn is_watched(conn: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let sql = "SELECT 1 AS watched FROM herald_watched_tables WHERE table_name = $1";
    Ok(conn
        .query_one_raw(statement(conn, sql, vec![name.into()]))
        .await?
        .is_some())
}

/// Records `table` as watched, as its triggers now are.
pub async fn save(
    conn: &impl ConnectionTrait,
    table: &LiveTable,
    schema_version: Option<i64>,
) -> Result<(), DbErr> {
    let columns: Vec<(&str, &str)> = table
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.sql_type.as_str()))
        .collect();
    let hidden: Vec<&str> = table.hidden.iter().map(Identifier::as_str).collect();
    let sql = format!(
        "INSERT INTO herald_watched_tables ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (table_name) DO UPDATE SET key_column = excluded.key_column, \
         key_type = excluded.key_type, scope_column = excluded.scope_column, \
         hidden_columns = excluded.hidden_columns, columns = excluded.columns, \
         schema_version = excluded.schema_version"
    );
    conn.execute_raw(statement(
        conn,
        &sql,
        vec![
            table.table.as_str().into(),
            table.key.as_str().into(),
            table.key_kind.as_str().into(),
            table.scope.as_ref().map(|s| s.as_str().to_owned()).into(),
            json(&hidden).into(),
            json(&columns).into(),
            schema_version.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Forgets `name`; returns whether it was watched.
pub async fn forget(conn: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(statement(
            conn,
            "DELETE FROM herald_watched_tables WHERE table_name = $1",
            vec![name.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Records that the columns of `name` were found as the triggers know
/// them at SQLite's `schema_version`.
pub async fn confirm_schema_version(
    conn: &impl ConnectionTrait,
    name: &str,
    schema_version: i64,
) -> Result<(), DbErr> {
    conn.execute_raw(statement(
        conn,
        "UPDATE herald_watched_tables SET schema_version = $1 \
         WHERE table_name = $2 AND schema_version IS NOT $1",
        vec![schema_version.into(), name.into()],
    ))
    .await?;
    Ok(())
}

/// A list of names, or of pairs of them, as JSON: it cannot fail to
/// serialize.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
