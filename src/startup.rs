//! Builds the running service from `Settings`: database, notifier, relay,
//! pruner and HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use sea_orm::{DatabaseConnection, DbBackend};
use tracing_actix_web::TracingLogger;

use crate::config::{CorsOrigins, Settings};
use crate::db::notifications::{self, ListenerState};
use crate::db::{self, event_log, retention};
use crate::http::{BodyDeadline, Readiness};
use crate::metrics::Metrics;
use crate::sse::{SseNotifier, StreamSettings, spawn_relay};

/// Events the shared live feed holds; a stream further behind than this
/// catches up from the event log instead.
const LIVE_FEED_CAPACITY: usize = 1024;

pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    notifier: Arc<SseNotifier>,
    listener: Option<Arc<ListenerState>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Certificates are read first: a bad path must stop start-up before
        // anything else happens.
        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()?;
        let db = db::connect(settings.database_url.expose(), settings.sqlite_busy_timeout)
            .await
            .with_context(|| format!("could not open the database at {}", settings.database_url))?;
        let metrics = Arc::new(Metrics::new());
        let notifier = Arc::new(SseNotifier::new(
            event_log::last_id(&db).await?,
            LIVE_FEED_CAPACITY,
            metrics.fanout().clone(),
        ));
        let listener = TcpListener::bind(settings.bind_addr)
            .with_context(|| format!("could not listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        spawn_relay(notifier.clone(), db.clone());
        let listener_state = listen_to_other_instances(&db, &notifier);
        let readiness = Readiness {
            listener: listener_state.clone(),
        };
        retention::spawn_pruner(db.clone(), settings.event_retention, notifier.closing());
        let server = serve(
            listener,
            &settings,
            db.clone(),
            notifier.clone(),
            readiness,
            metrics,
            tls,
        )?;
        tracing::info!(address = %listener_address(&settings, port), "herald is listening");
        Ok(Self {
            port,
            server,
            db,
            notifier,
            listener: listener_state,
        })
    }

    /// Resolves once everything `/readyz` waits for at start-up is up: on
    /// PostgreSQL, the listener for other instances' events.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + 'static {
        let listener = self.listener.clone();
        async move {
            if let Some(listener) = listener {
                listener.listening().await;
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn notifier(&self) -> Arc<SseNotifier> {
        self.notifier.clone()
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            notifier: self.notifier.clone(),
        }
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Stops a running application gracefully.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    notifier: Arc<SseNotifier>,
}

impl StopHandle {
    /// Stops accepting connections, ends the open streams (their clients
    /// reconnect elsewhere or later with `Last-Event-ID`) and waits for
    /// in-flight requests.
    pub async fn stop(&self) {
        self.notifier.close();
        self.server.stop(true).await;
    }
}

/// On PostgreSQL, wakes the relay whenever any instance commits an event.
fn listen_to_other_instances(
    db: &DatabaseConnection,
    notifier: &Arc<SseNotifier>,
) -> Option<Arc<ListenerState>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    let state = Arc::new(ListenerState::default());
    let waker = notifier.clone();
    notifications::spawn_listener(
        db.get_postgres_connection_pool().clone(),
        state.clone(),
        move || waker.wake_relay(),
        notifier.closing(),
    );
    Some(state)
}

fn listener_address(settings: &Settings, port: u16) -> String {
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}:{port}", settings.bind_addr.ip())
}

fn serve(
    listener: TcpListener,
    settings: &Settings,
    db: DatabaseConnection,
    notifier: Arc<SseNotifier>,
    readiness: Readiness,
    metrics: Arc<Metrics>,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Server> {
    let stream_settings = StreamSettings {
        keep_alive: settings.sse_keep_alive,
        retry: settings.sse_retry,
    };
    let cors_origins = settings.cors_allowed_origins.clone();
    let db = web::Data::new(db);
    let notifier = web::Data::from(notifier);
    let stream_settings = web::Data::new(stream_settings);
    let readiness = web::Data::new(readiness);
    let body_deadline = web::Data::new(BodyDeadline {
        timeout: settings.request_body_timeout,
        shutdown: notifier.closing(),
    });
    let metrics = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Condition::new(
                cors_origins != CorsOrigins::None,
                cors(&cors_origins),
            ))
            .wrap(from_fn(crate::http::json_errors))
            .wrap(from_fn(crate::http::finish_response))
            .wrap(TracingLogger::<crate::http::RequestSpan>::new())
            .app_data(db.clone())
            .app_data(notifier.clone())
            .app_data(stream_settings.clone())
            .app_data(readiness.clone())
            .app_data(body_deadline.clone())
            .app_data(metrics.clone())
            .configure(crate::http::configure)
    })
    // Without this a client that closed its stream is only noticed when a
    // write to it fails, one or two keep-alives later.
    .h1_allow_half_closed(false)
    .client_request_timeout(settings.request_head_timeout)
    .disable_signals()
    .shutdown_timeout(settings.shutdown_grace.as_secs());
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

fn cors(origins: &CorsOrigins) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(["content-type", "if-match", "last-event-id"])
        .expose_headers(["etag", "location", "herald-last-event-id"])
        // Browsers enforce CORS; refusing here would also break same-origin
        // requests, which carry an Origin header too.
        .block_on_origin_mismatch(false)
        .max_age(3600);
    match origins {
        CorsOrigins::Any => cors.allow_any_origin(),
        CorsOrigins::List(list) => list
            .iter()
            .fold(cors, |cors, origin| cors.allowed_origin(origin)),
        CorsOrigins::None => cors,
    }
}
