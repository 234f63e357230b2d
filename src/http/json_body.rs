//! The JSON object a write request carries.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, mime, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::limits::BODY_LIMIT;
use crate::domain::FieldErrors;

/// Past this much a refused body is no longer read, and the connection is
/// closed instead: reading it first is what lets a 413 reach the client
/// rather than a connection reset.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

pub struct JsonObject(pub Map<String, Value>);

/// How long a client has to send its request body, and the signal of a
/// shutdown, which stops the waiting at once: a client that stalls cannot
/// hold a connection open, nor a shutdown back.
#[derive(Clone)]
pub struct BodyDeadline {
    pub timeout: Duration,
    pub shutdown: CancellationToken,
}

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(
            req.mime_type(),
            Ok(Some(m)) if m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        );
        let mut payload = payload.take();
        let deadline = req.app_data::<web::Data<BodyDeadline>>().cloned();
        Box::pin(async move {
            let deadline = deadline.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("no BodyDeadline in the app data"))
            })?;
            let body = tokio::select! {
                read = tokio::time::timeout(deadline.timeout, read_body(&mut payload)) => {
                    read.map_err(|_| ApiError::BodyTimeout)?
                }
                () = deadline.shutdown.cancelled() => return Err(ApiError::BodyTimeout),
            };
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let value: Value = serde_json::from_slice(&body?)
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            match value {
                Value::Object(object) => Ok(Self(object)),
                _ => {
                    let mut errors = FieldErrors::default();
                    errors.add("body", "must be a JSON object");
                    Err(ApiError::Validation(errors))
                }
            }
        })
    }
}

/// Reads the whole body, or reports it too large once it has been read (up
/// to `DRAIN_LIMIT`).
async fn read_body(payload: &mut Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::MalformedJson(format!("the body could not be read: {e}")))?;
        seen += chunk.len();
        if seen <= BODY_LIMIT {
            body.extend_from_slice(&chunk);
        } else if seen > DRAIN_LIMIT {
            break;
        }
    }
    if seen > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
    }
    Ok(body)
}
