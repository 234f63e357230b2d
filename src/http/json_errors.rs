//! Errors raised outside Herald's handlers (by the framework or another
//! middleware: a CORS refusal, say) answered in the same JSON shape as
//! Herald's own.

use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;

use super::error::ApiError;

impl ApiError {
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
        .filter(|error| error.as_error::<ApiError>().is_none())
        .map(|error| ApiError::from_framework(error, response.status()));
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
