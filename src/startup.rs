//! Builds the running service from `Settings`: database, writer, notifier,
//! background tasks and HTTP server; and owns its shutdown: one token,
//! made here, that the server's stop cancels and every part that must stop
//! (the feed and with it every stream, the relay, the pruner, the commit
//! watch, the listener, request bodies still arriving) is handed.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::auth::TokenKeys;
use crate::auth::mercure::MercureKeys;
use crate::config::{CorsOrigins, Settings};
use crate::db::listener::{self, ListenerState};
use crate::db::mercure_presence::Presence;
use crate::db::writer::Writer;
use crate::db::{self, DatabaseConfig, DiskSpace, Reader, commit_watch, live_tables, retention};
use crate::http::mercure::MercureHub;
use crate::http::{Auth, BodyDeadline, OpenApiDocument, PublishRate, Readiness, StreamSettings};
use crate::metrics::Metrics;
use crate::sse::{FeedSettings, SseNotifier, StreamAdmission, run_relay};
use crate::tasks::Tasks;

/// Events the shared live feed holds; a stream further behind than this
/// catches up from the event log instead.
const LIVE_FEED_CAPACITY: usize = 1024;

/// How much an HTTP/1 connection buffers before it writes to its socket.
const WRITE_BUFFER_BYTES: usize = 8 * 1024;

pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    notifier: Arc<SseNotifier>,
    writer: Writer,
    tasks: Tasks,
    shutdown: CancellationToken,
    listener: Option<Arc<ListenerState>>,
    /// Ends once the server, and with it every handle to the writer, is
    /// gone, after the writes already queued.
    writer_task: tokio::task::JoinHandle<()>,
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
        let database = DatabaseConfig::of(&settings);
        let db = db::connect(&database)
            .await
            .with_context(|| format!("could not open the database at {}", settings.database_url))?;
        let metrics = Arc::new(Metrics::new());
        let reader = Reader::new(db.clone());
        let notifier = Arc::new(SseNotifier::new(
            reader.last_event_id().await?,
            reader.clone(),
            FeedSettings {
                capacity: LIVE_FEED_CAPACITY,
                window: settings.sse_coalesce,
            },
            metrics.fanout().clone(),
        ));
        let listener = TcpListener::bind(settings.bind_addr)
            .with_context(|| format!("could not listen on {}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        let shutdown = CancellationToken::new();
        let tasks = Tasks::new(shutdown.clone(), metrics.task_restarts().clone());
        let disk = DiskSpace::of(&db, settings.min_free_disk_mb);
        let (writer, writer_task) = Writer::spawn(database, disk.clone());
        let listener_state = start_background_tasks(&tasks, &settings, &db, &notifier, &writer);
        let presence = settings
            .mercure
            .as_ref()
            .filter(|hub| hub.subscriptions)
            .map(|_| Presence::new(writer.clone(), notifier.clone()));
        if let Some(presence) = &presence {
            let (presence, pool) = (presence.clone(), db.clone());
            tasks.supervise("mercure presence", move |stop| {
                presence.clone().run(pool.clone(), stop)
            });
        }
        let open_files = crate::open_files::raise_open_files_limit();
        let max_streams = settings
            .max_streams
            .unwrap_or_else(|| crate::open_files::streams_within(open_files));
        tracing::info!(open_files, max_streams, "open-file limit");
        log_authentication_mode(&settings);
        let readiness = Readiness {
            listener: listener_state.clone(),
            tasks: tasks.health(),
            writes: writer.health(),
            disk,
        };
        let server = serve(
            listener,
            &settings,
            Shared {
                reader,
                writer: writer.clone(),
                notifier: notifier.clone(),
                readiness,
                admission: StreamAdmission::new(settings.max_streams_per_subject, max_streams),
                auth: Auth {
                    keys: settings.jwt_secret.as_ref().map(TokenKeys::new),
                    origins: settings.cors_allowed_origins.clone(),
                },
                metrics,
                shutdown: shutdown.clone(),
                presence,
            },
            tls,
        )?;
        tracing::info!(address = %listener_address(&settings, port), "herald is listening");
        Ok(Self {
            port,
            server,
            db,
            notifier,
            writer,
            tasks,
            shutdown,
            listener: listener_state,
            writer_task,
        })
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

    /// The write path, for maintenance such as pruning on demand.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// The supervised background tasks, for their health and to abort one
    /// (see [`Tasks::abort`]).
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
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

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            shutdown: self.shutdown.clone(),
        }
    }

    /// Serves until stopped, then waits for the background tasks and the
    /// writes still queued.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        drop(self.writer);
        let served = self.server.await;
        // However the server ended, everything else stops with it.
        self.shutdown.cancel();
        self.tasks.stopped().await;
        if let Err(error) = self.writer_task.await {
            tracing::error!(%error, "the writer ended abnormally");
        }
        served
    }
}

/// Stops a running application gracefully.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    shutdown: CancellationToken,
}

impl StopHandle {
    /// Stops accepting connections, ends the open streams (their clients
    /// reconnect elsewhere or later with `Last-Event-ID`), stops the
    /// background tasks and waits for in-flight requests.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        self.server.stop(true).await;
    }
}

/// Starts the feed, the relay, the pruner and, on PostgreSQL, the listener
/// for other instances' events (whose state readiness reports).
fn start_background_tasks(
    tasks: &Tasks,
    settings: &Settings,
    db: &DatabaseConnection,
    notifier: &Arc<SseNotifier>,
    writer: &Writer,
) -> Option<Arc<ListenerState>> {
    let (keep_alive, feed) = (settings.sse_keep_alive, notifier.clone());
    tasks.supervise("feed", move |stop| feed.clone().run_feed(keep_alive, stop));
    // The feed's run ends the streams when it sees the stop; a feed down
    // between restarts then would leave them open for the whole grace.
    let streams = notifier.clone();
    tasks.on_stop(move || streams.close_streams());
    let relay = notifier.clone();
    tasks.supervise("relay", move |stop| run_relay(relay.clone(), stop));
    let (pruner, pool, retention) = (writer.clone(), db.clone(), settings.event_retention);
    tasks.supervise("pruner", move |stop| {
        retention::run_pruner(pruner.clone(), pool.clone(), retention, stop)
    });
    let (keeper, pool) = (writer.clone(), db.clone());
    tasks.supervise("live tables", move |stop| {
        live_tables::keeper::keep(keeper.clone(), pool.clone(), stop)
    });
    if db.get_database_backend() != DbBackend::Postgres {
        let (watched, waker) = (db.clone(), notifier.clone());
        tasks.supervise("commit watch", move |stop| {
            let waker = waker.clone();
            commit_watch::watch_commits(watched.clone(), move || waker.wake_relay(), stop)
        });
        return None;
    }
    let state = Arc::new(ListenerState::default());
    let (pool, listening) = (db.get_postgres_connection_pool().clone(), state.clone());
    let waker = notifier.clone();
    tasks.supervise("listener", move |stop| {
        let waker = waker.clone();
        listener::run_listener(
            pool.clone(),
            listening.clone(),
            move || waker.wake_relay(),
            stop,
        )
    });
    Some(state)
}

/// Says at every start whether requests need tokens: an operator must never
/// have to guess that an instance runs open.
fn log_authentication_mode(settings: &Settings) {
    if settings.jwt_secret.is_some() {
        tracing::info!(
            authentication = "tokens",
            "authentication: every request needs an HS256 token signed with JWT_SECRET"
        );
    } else {
        tracing::warn!(
            authentication = "open",
            "authentication: open (JWT_SECRET is unset): every request may do everything; \
             serving on loopback only"
        );
    }
}

fn listener_address(settings: &Settings, port: u16) -> String {
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}:{port}", settings.bind_addr.ip())
}

/// What every request handler may be given.
struct Shared {
    reader: Reader,
    writer: Writer,
    notifier: Arc<SseNotifier>,
    readiness: Readiness,
    admission: StreamAdmission,
    auth: Auth,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// The Mercure hub's presence, when its subscriptions API is on.
    presence: Option<Presence>,
}

fn serve(
    listener: TcpListener,
    settings: &Settings,
    shared: Shared,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Server> {
    let stream_settings = web::Data::new(StreamSettings {
        retry: settings.sse_retry,
    });
    let cors_origins = settings.cors_allowed_origins.clone();
    let reader = web::Data::new(shared.reader);
    let writer = web::Data::new(shared.writer);
    let notifier = web::Data::from(shared.notifier);
    let readiness = web::Data::new(shared.readiness);
    let admission = web::Data::new(shared.admission);
    let publish_rate = web::Data::new(PublishRate::per_minute(settings.max_publish_per_minute));
    let auth = web::Data::new(shared.auth);
    let body_deadline = web::Data::new(BodyDeadline {
        timeout: settings.request_body_timeout,
        shutdown: shared.shutdown,
    });
    let metrics = web::Data::from(shared.metrics);
    let mercure = settings.mercure.as_ref().map(|hub| {
        web::Data::new(MercureHub {
            keys: MercureKeys::new(&hub.publisher_key, hub.subscriber_key.as_ref()),
            anonymous: hub.anonymous,
            presence: shared.presence.clone(),
        })
    });
    let hub_on = mercure.is_some();
    let openapi = web::Data::new(
        OpenApiDocument::build().context("could not serialize the OpenAPI document")?,
    );
    let server = HttpServer::new(move || {
        let mut app = App::new();
        if let Some(mercure) = &mercure {
            app = app.app_data(mercure.clone());
        }
        app.wrap(Condition::new(
            cors_origins != CorsOrigins::None,
            cors(&cors_origins),
        ))
        .wrap(Condition::new(
            hub_on,
            from_fn(crate::http::mercure::discovery),
        ))
        .wrap(from_fn(crate::http::refuse_oversized_heads))
        .wrap(from_fn(crate::http::json_errors))
        .wrap(from_fn(crate::http::finish_response))
        .wrap(TracingLogger::<crate::http::RequestSpan>::new())
        .app_data(reader.clone())
        .app_data(writer.clone())
        .app_data(notifier.clone())
        .app_data(stream_settings.clone())
        .app_data(readiness.clone())
        .app_data(admission.clone())
        .app_data(publish_rate.clone())
        .app_data(auth.clone())
        .app_data(body_deadline.clone())
        .app_data(metrics.clone())
        .app_data(openapi.clone())
        .configure(crate::http::configure)
    })
    // Without this a client that closed its stream is only noticed when a
    // write to it fails, one or two keep-alives later.
    .h1_allow_half_closed(false)
    // A connection keeps its write buffer at the largest size it reached
    // (up to 128 KiB); streams of slow clients would otherwise each keep
    // 32 KiB or more after a burst. Smaller writes cost nothing measurable.
    .h1_write_buffer_size(WRITE_BUFFER_BYTES)
    // An idle stream then holds neither of its connection's 8 KiB buffers
    // (patches/actix-http: docs/operations.md, Patched dependencies).
    .h1_release_idle_buffers(true)
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
        .allowed_headers([
            "authorization",
            "cache-control",
            "content-type",
            "idempotency-key",
            "if-match",
            "last-event-id",
        ])
        .expose_headers([
            "etag",
            "location",
            "herald-last-event-id",
            "last-event-id",
            "link",
            "retry-after",
            "www-authenticate",
        ])
        // Browsers enforce CORS; refusing here would also break same-origin
        // requests, which carry an Origin header too.
        .block_on_origin_mismatch(false)
        .max_age(3600);
    match origins {
        // Any origin, but never with credentials: a page anywhere could
        // otherwise act with a visitor's cookie.
        CorsOrigins::Any => cors.allow_any_origin(),
        CorsOrigins::List(list) => list
            .iter()
            .fold(cors.supports_credentials(), |cors, origin| {
                cors.allowed_origin(origin)
            }),
        CorsOrigins::None => cors,
    }
}
