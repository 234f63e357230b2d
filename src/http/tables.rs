//! `/api/v1/tables/<table>`: snapshots of live tables (see `herald
//! watch`), rows in the same form as their events' `row`, with the newest
//! event they reflect; a token reads exactly the rows whose topics it
//! grants.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::ApiError;
use super::error::{BadRequest, NotFound, ServiceUnavailable, Unauthorized};
use super::page::{self, LAST_EVENT_ID_HEADER};
use crate::db::Reader;
use crate::db::live_tables::snapshot::{PageRequest, Row};
use crate::domain::topic_segment;

/// Read as text and checked by hand, so that a bad value gets an error of
/// its own rather than a generic one.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TableQuery {
    /// Rows per page, 1–200; 50 when absent.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// Where the previous page ended: its `next_cursor`.
    cursor: Option<String>,
    /// Only the rows of this scope: the value of the column the table is
    /// watched `--scope` with, written as in topics (`acme`; `a_2Fb` for
    /// `a/b`; `_null` for none).
    scope: Option<String>,
}

/// One page of a live table's rows, in primary-key order.
#[derive(Serialize, ToSchema)]
struct TablePage {
    /// Each row as its events' `row` has it: its visible columns.
    #[schema(value_type = Vec<Object>)]
    items: Vec<Box<RawValue>>,
    /// Each item's primary key as its events' `key` has it (a string), in
    /// the same order.
    keys: Vec<String>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
    /// The newest event this page reflects: subscribe with
    /// `?last_event_id=` this (and the table's topics) to follow on without
    /// a gap or a repeat.
    last_event_id: i64,
}

fn json(row: Row) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(row.json).map_err(|e| ApiError::Internal(e.into()))
}

#[utoipa::path(
    get,
    path = "/api/v1/tables/{table}",
    operation_id = "list_rows",
    tag = "tables",
    description = "A page of a live table's rows (see `herald watch`), in primary-key order: \
        each as its events' `row` has it. Only the rows whose topics (`<table>/<key>`, or \
        `<table>/<scope>/<key>`) the token's `topics` claim grants; no scope is needed.",
    params(("table" = String, Path, description = "A live table", example = "orders"), TableQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of rows", body = TablePage, headers(
            ("Herald-Last-Event-Id" = i64, description = "The page's `last_event_id`"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    db: web::Data<Reader>,
    table: web::Path<String>,
    query: web::Query<TableQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page::limit(query.limit.as_deref())?;
    let scope = query
        .scope
        .as_deref()
        .map(topic_segment::decode)
        .transpose()
        .map_err(|problem| {
            ApiError::bad_request(
                "invalid_scope",
                format!("scope is written as a topic segment: {problem}"),
            )
        })?;
    let request = PageRequest {
        limit,
        after: query.cursor.clone(),
        scope,
    };
    let page = db.table_page(&table, caller.0.topics(), &request).await?;
    let keys = page.rows.iter().map(|row| row.key.clone()).collect();
    let items = page.rows.into_iter().map(json).collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok()
        .insert_header((LAST_EVENT_ID_HEADER, page.last_event_id.to_string()))
        .json(TablePage {
            items,
            keys,
            next_cursor: page.next_cursor,
            last_event_id: page.last_event_id,
        }))
}

#[utoipa::path(
    get,
    path = "/api/v1/tables/{table}/{key}",
    operation_id = "get_row",
    tag = "tables",
    description = "One row of a live table, by its primary key (as text: `42`, a UUID, a text \
        key), as its events' `row` has it; `404` when there is none, or none the token's \
        `topics` grant.",
    params(
        ("table" = String, Path, description = "A live table", example = "orders"),
        ("key" = String, Path, description = "The row's primary key", example = "1"),
    ),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The row", body = Object, headers(
            ("Herald-Last-Event-Id" = i64, description = "The newest event the row reflects"),
        )),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn get(
    caller: Caller,
    db: web::Data<Reader>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (table, key) = path.into_inner();
    let (row, last_event_id) = db.table_row(&table, &key, caller.0.topics()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((LAST_EVENT_ID_HEADER, last_event_id.to_string()))
        .json(json(row)?))
}
