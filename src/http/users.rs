//! `/api/v1/users`: handlers parse the request and hand it, with the
//! notifier, to the write path, which commits and then announces.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use super::auth::{Authorized, ReadUsers, WriteUsers};
use super::json_body::JsonObject;
use crate::db::user_writes;
use crate::db::users;
use crate::db::writer::Writer;
use crate::domain::{IfMatch, NewUser, User, UserId, UserPatch};
use crate::error::Error;
use crate::sse::SseNotifier;

const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 200;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct UserPage {
    items: Vec<User>,
    next_cursor: Option<String>,
    /// The newest event this page reflects: subscribe with
    /// `?last_event_id=` this to follow on without a gap.
    last_event_id: i64,
}

/// Response header twin of `last_event_id`.
const LAST_EVENT_ID_HEADER: &str = "Herald-Last-Event-Id";

#[tracing::instrument(skip_all)]
pub async fn list(
    _caller: Authorized<ReadUsers>,
    db: web::Data<DatabaseConnection>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Error> {
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after = match query.cursor.as_deref() {
        None => None,
        Some(raw) => Some(UserId::parse(raw).map_err(|_| {
            Error::bad_request(
                "invalid_cursor",
                "cursor must be a next_cursor value from an earlier page",
            )
        })?),
    };
    // One extra row tells whether another page follows.
    let (mut items, last_event_id) =
        users::page_as_of_event(db.get_ref(), after, limit + 1).await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|u| u.id.to_string())
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .insert_header((LAST_EVENT_ID_HEADER, last_event_id.to_string()))
        .json(UserPage {
            items,
            next_cursor,
            last_event_id,
        }))
}

#[tracing::instrument(skip_all)]
pub async fn create(
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    body: JsonObject,
) -> Result<HttpResponse, Error> {
    let new_user = NewUser::parse(&body.0).map_err(Error::Validation)?;
    let user = user_writes::create(&writer, &notifier, new_user).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, user.location()))
        .insert_header((header::ETAG, user.etag()))
        .json(user))
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn get(
    _caller: Authorized<ReadUsers>,
    db: web::Data<DatabaseConnection>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = parse_id(&id)?;
    let user = users::find(db.get_ref(), id)
        .await?
        .ok_or(Error::UserNotFound(id))?;
    Ok(user_response(user))
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn patch(
    req: HttpRequest,
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, Error> {
    let id = parse_id(&id)?;
    let patch = UserPatch::parse(&body.0).map_err(Error::Validation)?;
    let user = user_writes::update(&writer, &notifier, id, patch, if_match(req.headers())).await?;
    Ok(user_response(user))
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn replace(
    req: HttpRequest,
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, Error> {
    let id = parse_id(&id)?;
    let replacement = NewUser::parse(&body.0).map_err(Error::Validation)?;
    let patch = UserPatch::replacing_with(replacement);
    let user = user_writes::update(&writer, &notifier, id, patch, if_match(req.headers())).await?;
    Ok(user_response(user))
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn delete(
    req: HttpRequest,
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = parse_id(&id)?;
    user_writes::delete(&writer, &notifier, id, if_match(req.headers())).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn user_response(user: User) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, user.etag()))
        .json(user)
}

fn parse_id(raw: &str) -> Result<UserId, Error> {
    UserId::parse(raw)
        .map_err(|problem| Error::bad_request("invalid_id", format!("user id {problem}")))
}

fn if_match(headers: &HeaderMap) -> IfMatch {
    match headers.get(header::IF_MATCH) {
        None => IfMatch::Absent,
        // A header that is not text cannot name our version: it never matches.
        Some(value) => IfMatch::parse(Some(value.to_str().unwrap_or("\u{0}"))),
    }
}
