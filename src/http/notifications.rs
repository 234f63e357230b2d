//! `POST /api/v1/notifications`: a server pushes a message of its own
//! through the log, to an inbox, to everyone, or to any topic.

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::{Authorized, Publish};
use super::error::ApiError;
use super::error::{
    BadRequest, Conflict, Forbidden, PayloadTooLarge, ServiceUnavailable, TooManyRequests,
    Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};
use super::json_body::JsonObject;
use super::limits::MAX_IDEMPOTENCY_KEY;
use super::publish_rate::PublishRate;
use crate::db::notification_writes::{self, IdempotencyKey, Published};
use crate::db::writer::Writer;
use crate::domain::{MAX_DATA_BYTES, NewNotification, NotificationProblem};
use crate::sse::SseNotifier;

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[utoipa::path(
    post,
    path = "/api/v1/notifications",
    operation_id = "publish_notification",
    tag = "notifications",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 128,
            pattern = "^[ -~]+$", description = "1–128 printable ASCII characters. The same \
            key with the same request (per token subject) publishes once and answers every \
            retry with what the first published"),
    ),
    request_body = NewNotification,
    security(("bearer" = ["events:publish"]), ("session_cookie" = ["events:publish"])),
    responses(
        (status = 202, description = "Committed to the event log; streams following the \
            topic receive it", body = Published),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
        (status = 503, response = ServiceUnavailable),
    ),
)]
#[tracing::instrument(skip_all)]
pub async fn publish(
    req: HttpRequest,
    caller: Authorized<Publish>,
    writer: web::Data<Writer>,
    notifier: web::Data<SseNotifier>,
    rate: web::Data<PublishRate>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(req.headers())?.map(|key| IdempotencyKey {
        subject: caller.0.subject().to_owned(),
        key,
    });
    let notification = NewNotification::parse(body.0).map_err(|problem| match problem {
        NotificationProblem::Invalid(fields) => ApiError::Validation(fields),
        NotificationProblem::ReservedTopic(topic) => ApiError::ReservedTopic(topic),
        NotificationProblem::DataTooLarge => ApiError::PayloadTooLarge {
            limit: MAX_DATA_BYTES,
        },
    })?;
    // Counted once the request is known to be valid: a refused request
    // costs its sender nothing.
    rate.admit(caller.0.subject(), "notifications")?;
    let published =
        notification_writes::publish(&writer, notifier.into_inner(), notification, key).await?;
    Ok(HttpResponse::Accepted().json(published))
}

/// The `Idempotency-Key` header: 1–128 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|key| {
            (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len())
                && key.chars().all(|c| c == ' ' || c.is_ascii_graphic())
        })
        .map(|key| Some(key.to_owned()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"),
            )
        })
}
