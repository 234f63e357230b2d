use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use crate::metrics::Metrics;

/// One log line and one metrics sample per request: method, path, status
/// and the time to the response head (for a stream, the time until it
/// opened, not its lifetime).
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let response = next.call(req).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    tracing::info!(%method, %path, status, latency_ms = %format_args!("{:.3}", elapsed * 1000.0), "request");
    if let Some(metrics) = metrics {
        metrics.observe_request(response.request().match_pattern(), &method, status, elapsed);
    }
    Ok(response)
}
