//! What operators poll: liveness, readiness and metrics.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{DiskSpace, Reader, WriteHealth, listener::ListenerState};
use crate::metrics::{self, Gauges, Metrics};
use crate::sse::SseNotifier;
use crate::tasks::TaskHealth;

const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness depends on besides the database answering.
pub struct Readiness {
    /// The PostgreSQL listener that relays other instances' events; `None`
    /// on SQLite, where there are no other instances.
    pub listener: Option<Arc<ListenerState>>,
    /// Background tasks, some of which may be down and restarting.
    pub tasks: Arc<TaskHealth>,
    /// Whether commits succeed, and none is stuck.
    pub writes: Arc<WriteHealth>,
    /// The free-space watermark of an embedded database's disk.
    pub disk: Option<DiskSpace>,
}

/// What `/healthz` and `/readyz` answer.
#[derive(Serialize, ToSchema)]
struct Probe {
    /// `ok` (`/healthz`); `ready` or `unavailable` (`/readyz`).
    status: &'static str,
    /// Why the server is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses(
    (status = 200, description = "The process runs", body = Probe,
        example = json!({"status": "ok"})),
))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Probe {
        status: "ok",
        reason: None,
    })
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve: the database answers with its schema in \
        place, writes commit (none failing, none waiting on the database for 3 s or more), an \
        embedded database's disk is above its watermark, no background task is down and, on \
        PostgreSQL, the relay of other instances' events listens", body = Probe,
        example = json!({"status": "ready"})),
    (status = 503, description = "Not ready", body = Probe,
        example = json!({"status": "unavailable", "reason": "the database did not answer within 2 s"})),
))]
pub async fn readyz(db: web::Data<Reader>, readiness: web::Data<Readiness>) -> HttpResponse {
    let unready = |reason: String| {
        HttpResponse::ServiceUnavailable().json(Probe {
            status: "unavailable",
            reason: Some(reason),
        })
    };
    // Reading the event counter proves more than a ping: the schema is
    // there (a database being restored may have none yet).
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, db.last_event_id()).await {
        Err(_) => return unready("the database did not answer within 2 s".to_owned()),
        Ok(Err(error)) => {
            return unready(format!(
                "the database does not answer, or has no Herald schema: {error}"
            ));
        }
        Ok(Ok(_)) => {}
    }
    if let Some(low) = readiness.disk.as_ref().and_then(|disk| disk.check().err()) {
        return unready(low.to_string());
    }
    if let Some(problem) = readiness.writes.problem() {
        return unready(problem);
    }
    if readiness
        .listener
        .as_ref()
        .is_some_and(|l| !l.is_listening())
    {
        return unready("the event relay is not listening for other instances' events".to_owned());
    }
    if let Some((task, why)) = readiness.tasks.first_down() {
        return unready(format!(
            "the background task {task} stopped ({why}) and is restarting"
        ));
    }
    HttpResponse::Ok().json(Probe {
        status: "ready",
        reason: None,
    })
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "OpenMetrics when `Accept` names \
        `application/openmetrics-text` (as Prometheus does), otherwise the classic Prometheus \
        text format 0.0.4", content(
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
            (String = "text/plain; version=0.0.4; charset=utf-8"),
        )),
))]
pub async fn metrics(
    req: HttpRequest,
    db: web::Data<Reader>,
    notifier: web::Data<SseNotifier>,
    metrics: web::Data<Metrics>,
) -> HttpResponse {
    let pool = db.pool_usage();
    // Read in a statement of its own: a borrow of the count is a read lock,
    // and held across the query below it would block every stream that
    // opens or closes meanwhile, and with them the worker thread this
    // handler needs to finish.
    let subscribers = *notifier.subscriber_count().borrow();
    let relay_lag = db
        .last_event_id()
        .await
        .ok()
        .map(|newest| newest - notifier.last_delivered_id());
    let gauges = Gauges {
        subscribers,
        relay_lag,
        pool_open: pool.open,
        pool_in_use: pool.in_use,
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    let format = metrics::Format::negotiate(accept);
    HttpResponse::Ok()
        .content_type(format.content_type())
        .body(metrics.encode(gauges, format))
}
