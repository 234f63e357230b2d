//! `/api/v1/users`: handlers parse the request and hand it, with the
//! notifier, to the write path, which commits and then announces.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Authorized, ReadUsers, WriteUsers};
use super::error::ApiError;
use super::error::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, PreconditionFailed,
    ServiceUnavailable, Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};
use super::json_body::JsonObject;
use super::page::{self, LAST_EVENT_ID_HEADER};
use crate::db::writer::Writer;
use crate::db::{self, Reader, user_writes};
use crate::domain::{IfMatch, NewUser, User, UserId, UserPatch};
use crate::sse::SseNotifier;

/// Read as text and checked by hand, so that a bad value gets an error of
/// its own rather than a generic one.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Users per page, 1–200; 50 when absent.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// Where the previous page ended: its `next_cursor`.
    #[param(value_type = Option<uuid::Uuid>)]
    cursor: Option<String>,
}

/// One page of users, in id (creation) order.
#[derive(Serialize, ToSchema)]
struct UserPage {
    items: Vec<User>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
    /// The newest event this page reflects: subscribe with
    /// `?last_event_id=` this to follow on without a gap.
    last_event_id: i64,
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "list_users",
    tag = "users",
    params(ListQuery),
    security(("bearer" = ["users:read"]), ("session_cookie" = ["users:read"])),
    responses(
        (status = 200, description = "A page of users", body = UserPage, headers(
            ("Herald-Last-Event-Id" = i64, description = "The page's `last_event_id`"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn list(
    _caller: Authorized<ReadUsers>,
    db: web::Data<Reader>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page::limit(query.limit.as_deref())?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(raw) => Some(UserId::parse(raw).map_err(|_| {
            ApiError::bad_request(
                "invalid_cursor",
                "cursor must be a next_cursor value from an earlier page",
            )
        })?),
    };
    // One extra row tells whether another page follows.
    let (mut items, last_event_id) = db.users(after, limit + 1).await?;
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

#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "create_user",
    tag = "users",
    request_body = NewUser,
    security(("bearer" = ["users:write"]), ("session_cookie" = ["users:write"])),
    responses(
        (status = 201, description = "Created; a `user_created` event is committed with it", body = User,
            headers(
                ("Location" = String, description = "`/api/v1/users/<id>`"),
                ("ETag" = String, description = "The version, quoted: `\"1\"`"),
            ),
            links(
                ("GetUser" = (operation_id = "get_user", parameters(("id" = "$response.body#/id")))),
                ("PatchUser" = (operation_id = "patch_user", parameters(
                    ("id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag"),
                ))),
                ("ReplaceUser" = (operation_id = "replace_user", parameters(
                    ("id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag"),
                ))),
                ("DeleteUser" = (operation_id = "delete_user", parameters(
                    ("id" = "$response.body#/id"), ("If-Match" = "$response.header.ETag"),
                ))),
            ),
        ),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn create(
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let new_user = NewUser::parse(&body.0).map_err(ApiError::Validation)?;
    let user = user_writes::create(&writer, notifier.into_inner(), new_user).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, user.location()))
        .insert_header((header::ETAG, user.etag()))
        .json(user))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    operation_id = "get_user",
    tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    security(("bearer" = ["users:read"]), ("session_cookie" = ["users:read"])),
    responses(
        (status = 200, description = "The user", body = User, headers(
            ("ETag" = String, description = "The version, quoted: `\"3\"`"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn get(
    _caller: Authorized<ReadUsers>,
    db: web::Data<Reader>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let user = db.user(id).await?.ok_or(db::Error::UserNotFound(id))?;
    Ok(user_response(user))
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "patch_user",
    tag = "users",
    params(
        ("id" = uuid::Uuid, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Proceed only if the user's version \
            is one of these entity tags (`\"3\"`, `\"3\", \"4\"`) or the user exists (`*`)"),
    ),
    request_body = UserPatch,
    security(("bearer" = ["users:write"]), ("session_cookie" = ["users:write"])),
    responses(
        (status = 200, description = "The user after the change; a `user_updated` event is \
            committed with it when anything changed", body = User, headers(
            ("ETag" = String, description = "The version, quoted: `\"3\"`"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn patch(
    req: HttpRequest,
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let patch = UserPatch::parse(&body.0).map_err(ApiError::Validation)?;
    apply(&req, &writer, notifier, id, patch).await
}

#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    operation_id = "replace_user",
    tag = "users",
    params(
        ("id" = uuid::Uuid, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Proceed only if the user's version \
            is one of these entity tags (`\"3\"`, `\"3\", \"4\"`) or the user exists (`*`)"),
    ),
    request_body = NewUser,
    security(("bearer" = ["users:write"]), ("session_cookie" = ["users:write"])),
    responses(
        (status = 200, description = "The user after the replacement; a `user_updated` event \
            is committed with it when anything changed", body = User, headers(
            ("ETag" = String, description = "The version, quoted: `\"3\"`"),
        )),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 412, response = PreconditionFailed),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn replace(
    req: HttpRequest,
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    id: web::Path<String>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let replacement = NewUser::parse(&body.0).map_err(ApiError::Validation)?;
    apply(
        &req,
        &writer,
        notifier,
        id,
        UserPatch::replacing_with(replacement),
    )
    .await
}

/// Applies `patch` to the user `id` through the write path, under the
/// request's `If-Match`, and answers with the user after it.
async fn apply(
    req: &HttpRequest,
    writer: &Writer,
    notifier: web::Data<SseNotifier>,
    id: UserId,
    patch: UserPatch,
) -> Result<HttpResponse, ApiError> {
    let if_match = if_match(req.headers());
    let user = user_writes::update(writer, notifier.into_inner(), id, patch, if_match).await?;
    Ok(user_response(user))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    operation_id = "delete_user",
    tag = "users",
    params(
        ("id" = uuid::Uuid, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Proceed only if the user's version \
            is one of these entity tags (`\"3\"`, `\"3\", \"4\"`) or the user exists (`*`)"),
    ),
    security(("bearer" = ["users:write"]), ("session_cookie" = ["users:write"])),
    responses(
        (status = 204, description = "Deleted; a `user_deleted` event is committed with it"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 412, response = PreconditionFailed),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = %id))]
pub async fn delete(
    req: HttpRequest,
    _caller: Authorized<WriteUsers>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    user_writes::delete(&writer, notifier.into_inner(), id, if_match(req.headers())).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn user_response(user: User) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, user.etag()))
        .json(user)
}

fn parse_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw)
        .map_err(|problem| ApiError::bad_request("invalid_id", format!("user id {problem}")))
}

fn if_match(headers: &HeaderMap) -> IfMatch {
    match headers.get(header::IF_MATCH) {
        None => IfMatch::Absent,
        // A header that is not text cannot name our version: it never matches.
        Some(value) => IfMatch::parse(Some(value.to_str().unwrap_or("\u{0}"))),
    }
}
