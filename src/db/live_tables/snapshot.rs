//! Reading a live table as its events have it: pages of rows in key order
//! and single rows, each row as an event's `row`, together with the id of
//! the newest event they reflect (read in the same database snapshot), and
//! only the rows whose topics a token grants.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, Value,
};

use super::description::{KeyKind, LiveTable};
use super::{postgres, registry, sqlite};
use crate::db::event_log;
use crate::db::statement::begin_snapshot;
use crate::domain::topic_segment;
use crate::domain::{TopicFilter, TopicPattern};

/// One row: its key and its JSON (the event's `row`), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub json: String,
}

/// A page of rows and where the table's events go on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub rows: Vec<Row>,
    /// The key to continue after, when there may be more.
    pub next_cursor: Option<String>,
    pub last_event_id: i64,
}

/// What a read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    NotWatched,
    /// The cursor names no key this table can have.
    BadCursor,
    /// A scope was asked of a table watched without one.
    NotScoped,
    /// No such row, or none the token may read.
    NoRow,
    Found(T),
}

/// Which page of a table to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: u64,
    /// After the row with this key.
    pub after: Option<String>,
    /// Only the rows of this scope (a scoped table's): `Some(None)` for
    /// those whose scope is NULL.
    pub scope: Option<Option<String>>,
}

/// A condition on rows, by the parts of their topics.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Topical {
    /// `Some(None)`: the scope is NULL.
    scope: Option<Option<String>>,
    key: Option<String>,
}

/// The rows of `table` whose topics `filter` grants, as conditions SQL
/// can use: `None` for every row.
fn granted(table: &LiveTable, filter: &TopicFilter) -> Option<Vec<Topical>> {
    let prefix = format!("{}/", table.table);
    let mut rows = Vec::new();
    for pattern in filter.patterns() {
        match pattern {
            TopicPattern::All => return None,
            TopicPattern::Subtree(subtree) if *subtree == prefix => return None,
            TopicPattern::Subtree(subtree) => {
                let scope = subtree
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix('/'))
                    .filter(|segment| table.scope.is_some() && !segment.contains('/'))
                    .and_then(|segment| topic_segment::decode(segment).ok());
                if let Some(scope) = scope {
                    rows.push(Topical {
                        scope: Some(scope),
                        key: None,
                    });
                }
            }
            TopicPattern::Exact(topic) => {
                let Some(rest) = topic.as_str().strip_prefix(&prefix) else {
                    continue;
                };
                let condition = match (&table.scope, rest.split_once('/')) {
                    (Some(_), Some((scope, key))) => topic_segment::decode(scope)
                        .ok()
                        .zip(topic_segment::decode(key).ok().flatten())
                        .map(|(scope, key)| Topical {
                            scope: Some(scope),
                            key: Some(key),
                        }),
                    (None, None) => topic_segment::decode(rest)
                        .ok()
                        .flatten()
                        .map(|key| Topical {
                            scope: None,
                            key: Some(key),
                        }),
                    _ => None,
                };
                rows.extend(condition);
            }
        }
    }
    Some(rows)
}

/// A query under construction, numbering its parameters as its database
/// does.
struct Query {
    backend: DbBackend,
    sql: String,
    values: Vec<Value>,
}

impl Query {
    fn param(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }
}

fn is_postgres(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

/// `SELECT topic, key, row FROM <table> AS t`: what every read starts
/// with, in the same expressions the triggers write events with.
fn select(table: &LiveTable, backend: DbBackend) -> Query {
    let (topic, key, row) = if is_postgres(backend) {
        (
            postgres::topic(table, "t"),
            postgres::key_text(table, "t"),
            postgres::row_json(table, "t"),
        )
    } else {
        (
            sqlite::topic(table, "t"),
            sqlite::key_text(table, "t"),
            sqlite::row_json(table, "t"),
        )
    };
    Query {
        backend,
        sql: format!(
            "SELECT {topic} AS topic, {key} AS key, {row} AS row FROM {} AS t WHERE true",
            table.table.quoted()
        ),
        values: Vec::new(),
    }
}

/// The scope column of `t` as text, as the triggers write it into topics.
fn scope_text(table: &LiveTable, backend: DbBackend) -> Option<String> {
    if is_postgres(backend) {
        postgres::scope_text(table, "t")
    } else {
        sqlite::scope_text(table, "t")
    }
}

fn key_text(table: &LiveTable, backend: DbBackend) -> String {
    if is_postgres(backend) {
        postgres::key_text(table, "t")
    } else {
        sqlite::key_text(table, "t")
    }
}

/// `<scope> = value`, or `<scope> IS NULL`.
fn scope_is(query: &mut Query, scope: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{scope} = {}", query.param(value.to_owned())),
        None => format!("{scope} IS NULL"),
    }
}

/// Restricts `query` to the rows `filter` grants; `false` if it grants
/// none.
fn restrict(query: &mut Query, table: &LiveTable, filter: &TopicFilter) -> bool {
    let Some(rows) = granted(table, filter) else {
        return true;
    };
    if rows.is_empty() {
        return false;
    }
    let mut alternatives = Vec::with_capacity(rows.len());
    for row in rows {
        let mut all = vec!["true".to_owned()];
        if let (Some(scope), Some(value)) = (scope_text(table, query.backend), &row.scope) {
            all.push(scope_is(query, &scope, value.as_deref()));
        }
        if let Some(key) = &row.key {
            let key_text = key_text(table, query.backend);
            all.push(format!("{key_text} = {}", query.param(key.clone())));
        }
        alternatives.push(format!("({})", all.join(" AND ")));
    }
    query
        .sql
        .push_str(&format!(" AND ({})", alternatives.join(" OR ")));
    true
}

/// The key column compared with a key given as text, typed as the column
/// is, so that its index serves; `None` if the text is no such key.
fn key_is(query: &mut Query, table: &LiveTable, key: &str, operator: &str) -> Option<String> {
    let column = format!("t.{}", table.key.quoted());
    let postgres = is_postgres(query.backend);
    Some(match table.key_kind {
        KeyKind::Integer => {
            let key: i64 = key.parse().ok()?;
            format!("{column} {operator} {}", query.param(key))
        }
        KeyKind::Text => format!("{column} {operator} {}", query.param(key.to_owned())),
        KeyKind::Uuid if postgres => {
            let key = uuid::Uuid::parse_str(key).ok()?;
            format!("{column} {operator} {}", query.param(key))
        }
        // Stored as 16 bytes or as text, depending on who wrote it: the
        // text form orders as the bytes do.
        KeyKind::Uuid => {
            let key = uuid::Uuid::parse_str(key).ok()?;
            let text = key_text(table, query.backend);
            format!("{text} {operator} {}", query.param(key.to_string()))
        }
    })
}

fn rows_of(results: Vec<sea_orm::QueryResult>, filter: &TopicFilter) -> Result<Vec<Row>, DbErr> {
    let mut rows = Vec::with_capacity(results.len());
    for result in results {
        let topic: String = result.try_get("", "topic")?;
        // The SQL condition already says so; the topic is the authority.
        if filter.matches(&topic) {
            rows.push(Row {
                key: result.try_get("", "key")?,
                json: result.try_get("", "row")?,
            });
        }
    }
    Ok(rows)
}

/// A page of `table`'s rows in key order, those `filter` grants.
pub async fn page(
    db: &DatabaseConnection,
    table: &str,
    filter: &TopicFilter,
    request: &PageRequest,
) -> Result<Found<Page>, DbErr> {
    let txn = begin_snapshot(db).await?;
    let found = read_page(&txn, table, filter, request).await?;
    txn.commit().await?;
    Ok(found)
}

async fn read_page(
    txn: &DatabaseTransaction,
    table: &str,
    filter: &TopicFilter,
    request: &PageRequest,
) -> Result<Found<Page>, DbErr> {
    let Some(live) = registry::find(txn, table).await? else {
        return Ok(Found::NotWatched);
    };
    let last_event_id = event_log::last_id(txn).await?;
    let mut query = select(&live, txn.get_database_backend());
    if let Some(value) = &request.scope {
        let Some(scope) = scope_text(&live, query.backend) else {
            return Ok(Found::NotScoped);
        };
        let condition = scope_is(&mut query, &scope, value.as_deref());
        query.sql.push_str(&format!(" AND {condition}"));
    }
    if let Some(after) = &request.after {
        match key_is(&mut query, &live, after, ">") {
            Some(condition) => query.sql.push_str(&format!(" AND {condition}")),
            None => return Ok(Found::BadCursor),
        }
    }
    if !restrict(&mut query, &live, filter) {
        return Ok(Found::Found(Page {
            rows: Vec::new(),
            next_cursor: None,
            last_event_id,
        }));
    }
    // One row more tells whether another page follows.
    let limit = query.param(i64::try_from(request.limit.saturating_add(1)).unwrap_or(i64::MAX));
    query
        .sql
        .push_str(&format!(" ORDER BY t.{} LIMIT {limit}", live.key.quoted()));
    let mut results = txn.query_all_raw(query.statement()).await?;
    let more = results.len() as u64 > request.limit;
    results.truncate(usize::try_from(request.limit).unwrap_or(usize::MAX));
    let last_key = results
        .last()
        .map(|row| row.try_get::<String>("", "key"))
        .transpose()?;
    Ok(Found::Found(Page {
        rows: rows_of(results, filter)?,
        next_cursor: last_key.filter(|_| more),
        last_event_id,
    }))
}

/// The row of `table` whose key is `key`, if `filter` grants it, and the
/// newest event id.
pub async fn row(
    db: &DatabaseConnection,
    table: &str,
    key: &str,
    filter: &TopicFilter,
) -> Result<Found<(Row, i64)>, DbErr> {
    let txn = begin_snapshot(db).await?;
    let found = read_row(&txn, table, key, filter).await?;
    txn.commit().await?;
    Ok(found)
}

async fn read_row(
    txn: &DatabaseTransaction,
    table: &str,
    key: &str,
    filter: &TopicFilter,
) -> Result<Found<(Row, i64)>, DbErr> {
    let Some(live) = registry::find(txn, table).await? else {
        return Ok(Found::NotWatched);
    };
    let last_event_id = event_log::last_id(txn).await?;
    let mut query = select(&live, txn.get_database_backend());
    let Some(condition) = key_is(&mut query, &live, key, "=") else {
        return Ok(Found::NoRow);
    };
    query.sql.push_str(&format!(" AND {condition}"));
    let results = txn.query_all_raw(query.statement()).await?;
    Ok(match rows_of(results, filter)?.pop() {
        Some(row) => Found::Found((row, last_event_id)),
        None => Found::NoRow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::live_tables::identifier::Identifier;
    use crate::db::live_tables::shape::Column;

    fn table(scoped: bool) -> LiveTable {
        let name = |n: &str| Identifier::parse(n).unwrap_or_else(|e| panic!("{e}"));
        LiveTable {
            table: name("orders"),
            key: name("id"),
            key_kind: KeyKind::Integer,
            scope: scoped.then(|| name("tenant")),
            columns: vec![Column {
                name: "id".to_owned(),
                sql_type: "bigint".to_owned(),
            }],
            hidden: Vec::new(),
        }
    }

    fn filter(patterns: &[&str]) -> TopicFilter {
        TopicFilter::new(
            patterns
                .iter()
                .map(|p| TopicPattern::parse(p).unwrap_or_else(|e| panic!("{e}"))),
        )
    }

    #[test]
    fn a_grant_of_topics_is_a_condition_on_rows() {
        let scoped = table(true);
        assert_eq!(granted(&scoped, &filter(&["*"])), None);
        assert_eq!(granted(&scoped, &filter(&["orders/*"])), None);
        assert_eq!(
            granted(
                &scoped,
                &filter(&["orders/acme/*", "orders/a_2Fb/7", "news/*"])
            ),
            Some(vec![
                Topical {
                    scope: Some(Some("acme".to_owned())),
                    key: None
                },
                Topical {
                    scope: Some(Some("a/b".to_owned())),
                    key: Some("7".to_owned())
                },
            ])
        );
        assert_eq!(
            granted(&scoped, &filter(&["orders/_null/*"])),
            Some(vec![Topical {
                scope: Some(None),
                key: None
            }])
        );
        let flat = table(false);
        assert_eq!(
            granted(&flat, &filter(&["orders/42", "orders/acme/*", "ordersx/*"])),
            Some(vec![Topical {
                scope: None,
                key: Some("42".to_owned())
            }])
        );
    }
}
