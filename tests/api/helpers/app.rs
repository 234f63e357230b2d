//! A running Herald in the test's process, and its HTTP API.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald::config::Settings;
use herald::db::writer::Writer;
use herald::sse::SseNotifier;
use herald::startup::{Application, StopHandle};
use herald::tasks::Tasks;
use herald::telemetry;
use reqwest::{Client, Response};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::{Backend, PROMPTLY, SseClient, TestDatabase, eventually};

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub db: DatabaseConnection,
    pub notifier: Arc<SseNotifier>,
    /// The write path, to prune on demand.
    pub writer: Writer,
    /// The background tasks, to abort one.
    pub tasks: Tasks,
    stop: StopHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Kept as long as any app (or restart) uses it.
    pub database: Arc<TestDatabase>,
}

/// A server on a fresh database, with a one-second keep-alive.
pub async fn spawn_app(backend: &Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// A server configured by `vars` on top of the test defaults.
pub async fn spawn_app_with(backend: &Backend, vars: &[(&str, &str)]) -> TestApp {
    start(TestDatabase::create(backend).await, vars).await
}

impl TestApp {
    /// Stops this server gracefully and starts another on the same database.
    pub async fn restart(self) -> TestApp {
        self.restart_with(&[]).await
    }

    /// Like [`TestApp::restart`], the new server configured by `vars`.
    pub async fn restart_with(self, vars: &[(&str, &str)]) -> TestApp {
        let database = self.database.clone();
        self.shut_down().await;
        start(database, vars).await
    }

    /// Another instance on the same database, as behind a load balancer.
    pub async fn another_instance(&self) -> TestApp {
        start(self.database.clone(), &[]).await
    }

    pub async fn shut_down(self) {
        // The server's writer ends once every handle to it is gone.
        drop(self.writer);
        self.stop.stop().await;
        match tokio::time::timeout(PROMPTLY, self.server).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("server did not stop cleanly: {other:?}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_user(&self, body: &Value) -> Response {
        self.send(self.client.post(self.url("/api/v1/users")).json(body))
            .await
    }

    /// Creates a user that must succeed; returns its JSON.
    pub async fn create_user(&self, user_name: &str) -> Value {
        let response = self
            .post_user(
                &json!({"user_name": user_name, "email": format!("{user_name}@example.com")}),
            )
            .await;
        assert_eq!(response.status(), 201, "creating {user_name}");
        json_body(response).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn patch_user(&self, id: &str, body: &Value) -> Response {
        self.send(
            self.client
                .patch(self.url(&format!("/api/v1/users/{id}")))
                .json(body),
        )
        .await
    }

    pub async fn put_user(&self, id: &str, body: &Value) -> Response {
        self.send(
            self.client
                .put(self.url(&format!("/api/v1/users/{id}")))
                .json(body),
        )
        .await
    }

    pub async fn delete_user(&self, id: &str) -> Response {
        self.send(self.client.delete(self.url(&format!("/api/v1/users/{id}"))))
            .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"))
    }

    /// Every user, following `next_cursor` to the end.
    pub async fn all_users(&self) -> Vec<Value> {
        let mut users = Vec::new();
        let mut path = "/api/v1/users?limit=200".to_owned();
        loop {
            let page = json_body(self.get(&path).await).await;
            users.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/users?limit=200&cursor={cursor}"),
                None => return users,
            }
        }
    }

    /// Opens `/api/sse/stream` with `query` and optional extra headers.
    pub async fn subscribe(&self, query: &str, headers: &[(&str, &str)]) -> SseClient {
        let mut request = self
            .client
            .get(self.url(&format!("/api/sse/stream{query}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.send(request).await;
        assert_eq!(response.status(), 200, "opening the stream {query}");
        SseClient::new(response)
    }

    /// Waits until at least `n` writes wait in the writer's queue.
    pub async fn wait_for_queued_writes(&self, n: usize) {
        eventually(&format!("{n} queued writes"), || async {
            self.writer.queued() >= n
        })
        .await;
    }

    /// Waits until exactly `n` streams are open on the server.
    pub async fn wait_for_subscribers(&self, n: usize, within: Duration) {
        let mut count = self.notifier.subscriber_count();
        let reached = tokio::time::timeout(within, count.wait_for(|c| *c == n))
            .await
            .is_ok();
        assert!(
            reached,
            "expected {n} subscribers within {within:?}, have {}",
            *count.borrow()
        );
    }

    /// `GET /api/sse/stream{query}` with these headers, whatever the answer.
    pub async fn open_stream(&self, query: &str, headers: &[(&str, String)]) -> Response {
        let mut request = self
            .client
            .get(self.url(&format!("/api/sse/stream{query}")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request).await
    }

    /// `POST /api/v1/notifications` with `body`, as `token`, with an
    /// optional `Idempotency-Key`.
    pub async fn publish(&self, token: Option<&str>, body: &Value, key: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url("/api/v1/notifications"))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }

    /// The newest event id, as the list reports it.
    pub async fn last_event_id(&self) -> i64 {
        json_body(self.get("/api/v1/users?limit=1").await).await["last_event_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no last_event_id"))
    }

    /// Every event the database holds, `(id, payload)` in id order.
    pub async fn logged_events(&self) -> Vec<(i64, String)> {
        use sea_orm::{ConnectionTrait, Statement};
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT id, payload FROM events ORDER BY id",
            ))
            .await
            .unwrap_or_else(|e| panic!("reading the events table: {e}"));
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("", "id").unwrap_or_else(|e| panic!("{e}"));
                let payload: String = row.try_get("", "payload").unwrap_or_else(|e| panic!("{e}"));
                (id, payload)
            })
            .collect()
    }

    /// Runs `sql` on the test database through the app's own pool (as
    /// another connection of the process would).
    pub async fn execute(&self, sql: &str) {
        sea_orm::ConnectionTrait::execute_unprepared(&self.db, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// Starts a server on `database` configured by `vars` on top of the test
/// defaults, and waits until it is ready.
pub async fn start(database: Arc<TestDatabase>, vars: &[(&str, &str)]) -> TestApp {
    let app = Application::build(settings_for(&database, vars))
        .await
        .unwrap_or_else(|e| panic!("building the app: {e:#}"));
    // A test starts talking once the server is ready, as a load balancer
    // would: on PostgreSQL that includes the listener for other instances.
    tokio::time::timeout(PROMPTLY, app.ready())
        .await
        .unwrap_or_else(|_| panic!("the app was not ready within {PROMPTLY:?}"));
    let address = format!("http://127.0.0.1:{}", app.port());
    let (db, notifier, writer, tasks, stop) = (
        app.db().clone(),
        app.notifier(),
        app.writer(),
        app.tasks(),
        app.stop_handle(),
    );
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: Client::new(),
        db,
        notifier,
        writer,
        tasks,
        stop,
        server,
        database,
    }
}

/// The settings of a test server on `database`: `vars` on top of the test
/// defaults.
pub fn settings_for(database: &TestDatabase, vars: &[(&str, &str)]) -> Settings {
    let mut all: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &database.url),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("SSE_KEEP_ALIVE_SECS", "1"),
        ("SSE_RETRY_MS", "500"),
    ];
    all.extend_from_slice(vars);
    let settings = Settings::from_lookup(|name| {
        all.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            // How to log is the person running the tests' choice.
            .or_else(|| {
                ["RUST_LOG", "LOG_FORMAT"]
                    .contains(&name)
                    .then(|| std::env::var(name).ok())
                    .flatten()
            })
    })
    .unwrap_or_else(|e| panic!("test settings: {e}"));
    show_logs_if_asked(&settings);
    settings
}

/// With `TEST_LOG` set, the servers' logs go to the test harness, which
/// shows them with a failing test's output (or always, with `--nocapture`).
fn show_logs_if_asked(settings: &Settings) {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("TEST_LOG").is_some() {
        INSTALLED.call_once(|| {
            if let Err(message) = telemetry::init(
                &settings.log_filter,
                settings.log_format,
                telemetry::Output::TestHarness,
            ) {
                panic!("{message}");
            }
        });
    }
}

pub async fn json_body(response: Response) -> Value {
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("response is not JSON: {e}"))
}

/// Asserts a JSON error response: status, `error.code`, and returns the body.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// The value of one series (name and labels, as written) in a `/metrics`
/// text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Where the `herald` binary built for these tests is.
pub fn herald_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_herald"))
}
