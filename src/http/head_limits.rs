//! Request heads past a sane size are refused before any handler sees them:
//! a request line over 8 KiB is `414`, headers over 16 KiB in all are `431`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::error::ApiError;
use super::limits::{MAX_HEADERS, MAX_REQUEST_LINE};

pub async fn refuse_oversized_heads(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // "GET " + target + " HTTP/1.1", as the client sent it.
    let line = req.method().as_str().len() + 1 + req.uri().to_string().len() + 9;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    let refusal = if line > MAX_REQUEST_LINE {
        Some(ApiError::UriTooLong {
            limit: MAX_REQUEST_LINE,
        })
    } else if headers > MAX_HEADERS {
        Some(ApiError::HeadersTooLarge { limit: MAX_HEADERS })
    } else {
        None
    };
    match refusal {
        Some(error) => Ok(req.error_response(error).map_into_right_body()),
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}
