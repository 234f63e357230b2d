//! The HTTP layer's errors, and the one place they become responses: a
//! status, headers, and the JSON body `{"error": {"code", "message",
//! "details"}}`, with the OpenAPI components that document them beside the
//! mapping, so that the two change together.
//!
//! Each layer has its own error, and this is where they meet: the domain's
//! field errors (`Validation`), the database layer's [`db::Error`]
//! (`Store`), the auth layer's refusals, and the HTTP layer's own (bodies,
//! heads, routes, admission). See the crate's map in `lib.rs`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{ToResponse, ToSchema};

use super::limits::{BODY_LIMIT, MAX_HEADERS, MAX_REQUEST_LINE};
use crate::auth;
use crate::db;
use crate::domain::{FieldErrors, MAX_DATA_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body must be sent as Content-Type: {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request line is longer than the limit of {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("the request headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("the request body has invalid fields: {}", .0.fields().collect::<Vec<_>>().join(", "))]
    Validation(FieldErrors),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("no such endpoint")]
    RouteNotFound,
    #[error("this endpoint takes only {allow}")]
    MethodNotAllowed { allow: String },
    #[error("topics under users/ carry data changes only; {0} cannot be published to")]
    ReservedTopic(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u32,
    },
    #[error("{message}")]
    ServerBusy { message: String },
    /// What the database layer answered.
    #[error(transparent)]
    Store(#[from] db::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// Raised outside our handlers, by the framework or a middleware (a CORS
    /// refusal, say), with the status it chose.
    #[error("{message}")]
    Framework {
        status: actix_web::http::StatusCode,
        code: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl From<auth::Forbidden> for ApiError {
    fn from(forbidden: auth::Forbidden) -> Self {
        Self::Forbidden {
            code: forbidden.code,
            message: forbidden.message,
        }
    }
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail<'a> {
    /// What went wrong, for programs: `validation_failed`, `not_found`,
    /// `precondition_failed`, `unauthorized`, `insufficient_scope`, …
    code: &'a str,
    /// What went wrong, for people.
    message: String,
    /// More about some errors; `null` for the others.
    #[schema(required = true)]
    details: Option<ErrorDetails<'a>>,
}

/// What some errors say besides their code.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum ErrorDetails<'a> {
    /// `validation_failed`: the problem with each field.
    Fields { fields: &'a FieldErrors },
    /// `duplicate`: the field another user already has this value of.
    Field { field: &'static str },
    /// `precondition_failed`: the user's version now.
    CurrentVersion { current_version: i64 },
    /// `payload_too_large`, `uri_too_long`, `headers_too_large`.
    Limit { limit_bytes: usize },
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UriTooLong { .. } => "uri_too_long",
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::BodyTimeout => "request_timeout",
            Self::Validation(_) => "validation_failed",
            Self::BadRequest { code, .. } => code,
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::ReservedTopic(_) => "reserved_topic",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { code, .. } => code,
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::ServerBusy { .. } => "server_busy",
            Self::Store(error) => match error {
                db::Error::UserNotFound(_) | db::Error::RowNotFound { .. } => "not_found",
                db::Error::TableNotWatched(_) => "table_not_watched",
                db::Error::InvalidCursor => "invalid_cursor",
                db::Error::NotScoped(_) => "invalid_scope",
                db::Error::RowBusy => "row_busy",
                db::Error::MercureIdTaken(_) => "id_taken",
                db::Error::LiveTableTopic { .. } => "reserved_topic",
                db::Error::Duplicate { .. } => "duplicate",
                db::Error::VersionMismatch { .. } => "precondition_failed",
                db::Error::IdempotencyKeyReused => "idempotency_key_reused",
                db::Error::IdempotencyKeyInProgress => "idempotency_key_in_progress",
                db::Error::Overloaded => "overloaded",
                db::Error::Unavailable(_) => "database_unavailable",
                db::Error::StorageFull(_) => "storage_full",
                db::Error::Internal(_) => "internal",
            },
            Self::Internal(_) => "internal",
            Self::Framework { code, .. } => code,
        }
    }

    fn details(&self) -> Option<ErrorDetails<'_>> {
        Some(match self {
            Self::Validation(fields) => ErrorDetails::Fields { fields },
            Self::Store(db::Error::Duplicate { field }) => ErrorDetails::Field { field },
            Self::Store(db::Error::VersionMismatch { current }) => ErrorDetails::CurrentVersion {
                current_version: *current,
            },
            Self::PayloadTooLarge { limit }
            | Self::UriTooLong { limit }
            | Self::HeadersTooLarge { limit } => ErrorDetails::Limit {
                limit_bytes: *limit,
            },
            _ => return None,
        })
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::ReservedTopic(_) | Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServerBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(error) => match error {
                db::Error::UserNotFound(_)
                | db::Error::RowNotFound { .. }
                | db::Error::TableNotWatched(_) => StatusCode::NOT_FOUND,
                db::Error::InvalidCursor | db::Error::NotScoped(_) => StatusCode::BAD_REQUEST,
                db::Error::LiveTableTopic { .. } => StatusCode::FORBIDDEN,
                db::Error::Duplicate { .. }
                | db::Error::IdempotencyKeyInProgress
                | db::Error::MercureIdTaken(_) => StatusCode::CONFLICT,
                db::Error::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
                db::Error::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
                db::Error::Overloaded
                | db::Error::Unavailable(_)
                | db::Error::StorageFull(_)
                | db::Error::RowBusy => StatusCode::SERVICE_UNAVAILABLE,
                db::Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Framework { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        match self {
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::ServerBusy { .. }
            | Self::Store(db::Error::Overloaded | db::Error::Unavailable(_) | db::Error::RowBusy) =>
            {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            // Space comes back by pruning or an operator's hand, not in a
            // second: retrying sooner only adds load.
            Self::Store(db::Error::StorageFull(_)) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            // The rest of the body may never come: the connection cannot be
            // reused.
            Self::BodyTimeout => {
                response.force_close();
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                details: self.details(),
            },
        })
    }
}

/// Error responses, each `{"error": {"code", "message", "details"}}`, shared
/// by the operations that can give them; the description lists the codes.
macro_rules! error_responses {
    ($($name:ident: $description:expr $(, header $header:literal = $about:literal)?;)+) => {$(
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                    .build();
                let response = ResponseBuilder::new()
                    .description($description)
                    .content("application/json", content)
                    $(.header(
                        $header,
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .description(Some($about))
                            .build(),
                    ))?
                    .build();
                (stringify!($name), response.into())
            }
        }
    )+};
}

error_responses! {
    BadRequest: "The request cannot be read. `code`: `malformed_json` (the body is not JSON), \
        `invalid_id` (the path's id is not a UUID), `invalid_limit`, `invalid_cursor`, \
        `invalid_scope` (a live table's `scope`), \
        `invalid_query` (list parameters), `invalid_topic`, `too_many_topics`, \
        `invalid_last_event_id` (stream parameters), `invalid_idempotency_key`.";
    Unauthorized: "No valid token: missing, malformed, badly signed or expired \
        (`code`: `unauthorized`). Only when Herald runs with `JWT_SECRET`.",
        header "WWW-Authenticate" = "`Bearer`";
    Forbidden: "The token does not allow this. `code`: `insufficient_scope` (the token lacks \
        the scope), `topic_not_allowed` (a stream topic the token does not grant), \
        `reserved_topic` (`users/…` and a live table's topics carry data changes only), `origin_not_allowed` (a write \
        signed in by cookie from a foreign page).";
    NotFound: "No user has this id, or the live table no row with this key that the token \
        may read (`code`: `not_found`); the table is not live (`table_not_watched`).";
    Conflict: "`duplicate`: another user has this `user_name` or `email` (`details.field` \
        says which); `idempotency_key_in_progress`: a request with this `Idempotency-Key` is \
        still running, retry shortly.";
    PreconditionFailed: "`If-Match` does not name the user's current version \
        (`code`: `precondition_failed`, `details.current_version`); nothing changed.";
    PayloadTooLarge: format!("The body is larger than {BODY_LIMIT} bytes, or a notification's \
        `data` is larger than {MAX_DATA_BYTES} bytes as JSON (`code`: `payload_too_large`, \
        `details.limit_bytes`).");
    UriTooLong: format!("The request line is longer than {MAX_REQUEST_LINE} bytes \
        (`code`: `uri_too_long`, `details.limit_bytes`).");
    UnsupportedMediaType: "The body is not sent as `application/json` \
        (`code`: `unsupported_media_type`).";
    UnprocessableEntity: "`validation_failed`: invalid, missing or unknown fields, or a body \
        that is not a JSON object (`details.fields` has a message per field); \
        `idempotency_key_reused`: this `Idempotency-Key` came with a different request.";
    TooManyRequests: "This token already holds as many open streams as it may, or has \
        published as many notifications this minute as it may (`code`: `too_many_requests`).",
        header "Retry-After" = "Seconds to wait before retrying";
    HeadersTooLarge: format!("The request headers are larger than {MAX_HEADERS} bytes in all \
        (`code`: `headers_too_large`, `details.limit_bytes`).");
    ServiceUnavailable: "Retry later. `code`: `database_unavailable` (the database cannot be \
        reached, has no schema, or asked for a retry), `storage_full` (the database's disk is \
        full or below `MIN_FREE_DISK_MB`), `overloaded` (too many writes queued), `row_busy` \
        (another transaction held the user's row for 5 s, a `psql` session say), \
        `server_busy` (the server holds as many streams as it may).",
        header "Retry-After" = "Seconds to wait before retrying";
}
