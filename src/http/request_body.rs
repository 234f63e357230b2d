//! A request's body, read within its deadline and its bound: how every
//! handler that takes a body gets it, whatever its type.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::limits::BODY_LIMIT;

/// Past this much a refused body is no longer read, and the connection is
/// closed instead: reading it first is what lets a 413 reach the client
/// rather than a connection reset.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

/// How long a client has to send its request body, and the signal of a
/// shutdown, which stops the waiting at once: a client that stalls cannot
/// hold a connection open, nor a shutdown back.
#[derive(Clone)]
pub struct BodyDeadline {
    pub timeout: Duration,
    pub shutdown: CancellationToken,
}

/// The whole body, at most [`BODY_LIMIT`] bytes (`413` beyond), sent
/// within the [`BodyDeadline`] (`408` past it).
pub struct RequestBody(pub Vec<u8>);

impl FromRequest for RequestBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut payload = payload.take();
        let deadline = req.app_data::<web::Data<BodyDeadline>>().cloned();
        Box::pin(async move {
            let deadline = deadline.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("no BodyDeadline in the app data"))
            })?;
            tokio::select! {
                read = tokio::time::timeout(deadline.timeout, read_body(&mut payload)) => {
                    read.map_err(|_| ApiError::BodyTimeout)?.map(Self)
                }
                () = deadline.shutdown.cancelled() => Err(ApiError::BodyTimeout),
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
