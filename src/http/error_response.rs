//! How every `Error` reaches a client: one status code and one JSON shape,
//! `{"error": {"code", "message", "details"}}`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldErrors;
use crate::error::Error;

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

impl Error {
    fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UriTooLong { .. } => "uri_too_long",
            Self::HeadersTooLarge { .. } => "headers_too_large",
            Self::BodyTimeout => "request_timeout",
            Self::Validation(_) => "validation_failed",
            Self::BadRequest { code, .. } => code,
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UserNotFound(_) => "not_found",
            Self::Duplicate { .. } => "duplicate",
            Self::VersionMismatch { .. } => "precondition_failed",
            Self::ReservedTopic(_) => "reserved_topic",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInProgress => "idempotency_key_in_progress",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { code, .. } => code,
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Overloaded => "overloaded",
            Self::ServerBusy { .. } => "server_busy",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::StorageFull(_) => "storage_full",
            Self::Internal(_) => "internal",
            Self::Framework { code, .. } => code,
        }
    }

    fn details(&self) -> Option<ErrorDetails<'_>> {
        Some(match self {
            Self::Validation(fields) => ErrorDetails::Fields { fields },
            Self::Duplicate { field } => ErrorDetails::Field { field },
            Self::VersionMismatch { current } => ErrorDetails::CurrentVersion {
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

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UserNotFound(_) | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Duplicate { .. } | Self::IdempotencyKeyInProgress => StatusCode::CONFLICT,
            Self::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            Self::ReservedTopic(_) | Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded
            | Self::ServerBusy { .. }
            | Self::DatabaseUnavailable(_)
            | Self::StorageFull(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::Overloaded | Self::ServerBusy { .. } | Self::DatabaseUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            // Space comes back by pruning or an operator's hand, not in a
            // second: retrying sooner only adds load.
            Self::StorageFull(_) => {
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

impl Error {
    /// `error`, raised outside our handlers, in our shape and with the
    /// status it chose.
    fn from_framework(error: &actix_web::Error, status: StatusCode) -> Self {
        let (code, message) = if error.as_error::<actix_cors::CorsError>().is_some() {
            ("cors_refused", error.to_string())
        } else if status.is_server_error() {
            ("internal", "internal error".to_owned())
        } else {
            ("request_refused", error.to_string())
        };
        Self::Framework {
            status,
            code,
            message,
        }
    }
}

/// Middleware: answers the errors of the framework and of other middleware
/// (CORS refusals, for one) in our JSON shape, keeping their status and
/// their headers other than the body's. (An error a service returns instead
/// of a response is not seen here; none of ours does.)
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?.map_into_boxed_body();
    let foreign = response
        .response()
        .error()
        .filter(|error| error.as_error::<Error>().is_none())
        .map(|error| Error::from_framework(error, response.status()));
    let Some(error) = foreign else {
        return Ok(response);
    };
    let mut shaped = error.error_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name.clone(), value.clone());
        }
    }
    Ok(response.into_response(shaped))
}
