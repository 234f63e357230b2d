//! Every request's root span (built for `tracing-actix-web`): it carries the
//! request id, so every log line of a request, and of a stream for its whole
//! life, has it. When the response head is ready, the request is logged in
//! one line and counted, so the latency is the time to the response head
//! (for a stream, until it opened, not its lifetime).

use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use bytes::Bytes;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

use crate::metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id that is kept.
const MAX_REQUEST_ID: usize = 64;

pub struct RequestSpan;

/// What the root span builder leaves in the request for the response.
struct Started {
    at: Instant,
    request_id: HeaderValue,
}

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request_id(request.headers());
        let span = tracing::info_span!(
            "request",
            request_id = request_id.to_str().unwrap_or_default(),
            method = %request.method(),
            path = request.path(),
        );
        request.extensions_mut().insert(Started {
            at: Instant::now(),
            request_id,
        });
        span
    }

    /// Called inside the request's span, as the response head is ready.
    fn on_request_end<B: MessageBody>(_span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let response = match outcome {
            Ok(response) => response,
            // Only a middleware fails this way; actix answers it later.
            Err(error) => {
                let status = error.as_response_error().status_code().as_u16();
                tracing::warn!(status, %error, "response");
                return;
            }
        };
        let request = response.request();
        let status = response.status().as_u16();
        let elapsed = request
            .extensions()
            .get::<Started>()
            .map(|started| started.at.elapsed().as_secs_f64())
            .unwrap_or_default();
        tracing::info!(status, latency_ms = %format_args!("{:.3}", elapsed * 1000.0), "response");
        if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
            metrics.observe_request(request.match_pattern(), request.method(), status, elapsed);
        }
    }
}

/// The client's `X-Request-Id` when it is one that can be logged and echoed
/// safely (1 to 64 of `A-Z a-z 0-9 . _ -`), otherwise a new UUID v7.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let valid = |id: &&HeaderValue| {
        let id = id.as_bytes();
        (1..=MAX_REQUEST_ID).contains(&id.len())
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    match headers.get(REQUEST_ID).filter(valid) {
        Some(id) => id.clone(),
        None => HeaderValue::try_from(uuid::Uuid::now_v7().to_string())
            .unwrap_or(HeaderValue::from_static("unknown")),
    }
}

/// Answers with the request id; ends a HEAD response after its head (the
/// body of a streaming GET handler would otherwise be polled for ever, its
/// bytes thrown away); and keeps the body inside the request's span to its
/// end, where a stream writes its last line (`stream closed`).
pub async fn finish_response(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<InSpan>, Error> {
    let head = req.method() == Method::HEAD;
    let request_id = req
        .extensions()
        .get::<Started>()
        .map(|started| started.request_id.clone());
    let mut response = next.call(req).await?;
    if let Some(id) = request_id {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    let span = Span::current();
    Ok(response.map_body(|_, body| InSpan {
        // A sized body stays: actix-http sends its length, not its bytes.
        body: (!head || !matches!(body.size(), BodySize::Stream)).then(|| body.boxed()),
        span,
    }))
}

/// A response body that is polled, and dropped, inside a span.
pub struct InSpan {
    body: Option<BoxBody>,
    span: Span,
}

impl MessageBody for InSpan {
    type Error = Box<dyn StdError>;

    fn size(&self) -> BodySize {
        self.body.as_ref().map_or(BodySize::None, BoxBody::size)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        match this.body.as_mut() {
            Some(body) => Pin::new(body).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for InSpan {
    fn drop(&mut self) {
        let _entered = self.span.enter();
        self.body.take();
    }
}
