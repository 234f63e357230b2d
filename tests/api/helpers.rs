use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use herald::config::Settings;
use herald::db::writer::Writer;
use herald::sse::SseNotifier;
use herald::startup::{Application, StopHandle};
use herald::tasks::Tasks;
use herald::telemetry;
use reqwest::header::HeaderMap;
use reqwest::{Client, Response};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tempfile::TempDir;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// How long a test waits for something that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// Runs each named `async fn(Backend) -> TestResult` twice: on a SQLite
/// file, and on PostgreSQL when `TEST_DATABASE_URL` is set. Tests listed
/// after `current_thread:` run on a current-thread runtime, which polls
/// every task on the test's own thread (see `logs::capture_on_this_thread`).
macro_rules! on_both_databases {
    (current_thread: $($test:ident),+ $(,)?) => {
        on_both_databases!(@runtime (flavor = "current_thread") $($test),+);
    };
    (@runtime $runtime:tt $($test:ident),+) => {$(
        mod $test {
            #[tokio::test $runtime]
            async fn sqlite() -> crate::helpers::TestResult {
                super::$test(crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test $runtime]
            async fn postgres() -> crate::helpers::TestResult {
                match crate::helpers::Backend::postgres() {
                    Some(backend) => super::$test(backend).await,
                    None => {
                        eprintln!("skipped: TEST_DATABASE_URL is not set, so the PostgreSQL variant does not run");
                        Ok(())
                    }
                }
            }
        }
    )+};
    ($($test:ident),+ $(,)?) => {
        on_both_databases!(@runtime (flavor = "multi_thread", worker_threads = 2) $($test),+);
    };
}
pub(crate) use on_both_databases;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// An admin URL: each test creates (and drops) a database of its own.
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Self> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(Self::Postgres)
    }
}

/// A fresh database for one test, removed when the last app using it goes.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> Arc<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("herald.db").display()
                );
                Arc::new(Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres(admin_url) => {
                let name = format!("herald_test_{}", uuid::Uuid::now_v7().simple());
                admin_statement(admin_url, &format!("CREATE DATABASE {name}")).await;
                Arc::new(Self {
                    url: with_database(admin_url, &name),
                    _dir: None,
                    postgres: Some((admin_url.clone(), name)),
                })
            }
        }
    }
}

impl TestDatabase {
    /// The SQLite file, or `None` on PostgreSQL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.url.strip_prefix("sqlite://")?;
        Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    }

    /// A SQLite file in `dir`, which the caller keeps (and removes).
    pub fn sqlite_in(dir: &std::path::Path) -> Arc<Self> {
        Arc::new(Self {
            url: format!("sqlite://{}?mode=rwc", dir.join("herald.db").display()),
            _dir: None,
            postgres: None,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop cannot await: use a runtime of its own on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(admin_statement(
                    &admin_url,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ));
            }
        });
        let _ = dropped.join();
    }
}

async fn admin_statement(admin_url: &str, sql: &str) {
    let mut options = sea_orm::ConnectOptions::new(admin_url);
    options.sqlx_logging(false).max_connections(1);
    let admin = sea_orm::Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL: {e}"));
    sea_orm::ConnectionTrait::execute_unprepared(&admin, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

/// `admin_url` with its database name replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

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

/// One block of an event stream, as an EventSource would parse it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
}

impl Frame {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("null"))
            .unwrap_or_else(|e| panic!("data is not JSON: {e}"))
    }

    /// The event id of the frame's `id:` (`<id>.<tag>`).
    pub fn id_number(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|i| i.split_once('.'))
            .filter(|(_, tag)| tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or_else(|| panic!("frame has no `<id>.<tag>` id: {self:?}"))
    }
}

/// A Server-Sent Events client over a real HTTP response.
pub struct SseClient {
    pub headers: HeaderMap,
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl SseClient {
    pub fn new(response: Response) -> Self {
        Self {
            headers: response.headers().clone(),
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The next block, or `None` when the server ended the stream.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(&String::from_utf8_lossy(&block)));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => panic!("stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// The next frame, failing the test if none comes promptly.
    pub async fn expect_frame(&mut self) -> Frame {
        match tokio::time::timeout(PROMPTLY, self.next_frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("the stream ended"),
            Err(_) => panic!("no frame within {PROMPTLY:?}"),
        }
    }

    /// The next frame that carries data, skipping keep-alives and `retry:`;
    /// failing the test if none comes promptly, however many keep-alives do.
    pub async fn expect_event(&mut self) -> Frame {
        let event = async {
            loop {
                let frame = self.expect_frame().await;
                if frame.data.is_some() {
                    return frame;
                }
            }
        };
        tokio::time::timeout(PROMPTLY, event)
            .await
            .unwrap_or_else(|_| panic!("no event within {PROMPTLY:?}"))
    }

    /// The ids of the next `n` data events.
    pub async fn expect_ids(&mut self, n: usize) -> Vec<i64> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(self.expect_event().await.id_number());
        }
        ids
    }

    /// Asserts that no data event arrives before the next keep-alive, which
    /// the server sends after everything already queued for this stream.
    pub async fn expect_quiet(&mut self) {
        loop {
            let frame = self.expect_frame().await;
            assert!(frame.data.is_none(), "unexpected event {frame:?}");
            if frame.comments.iter().any(|c| c == "keep-alive") {
                return;
            }
        }
    }
}

fn parse_block(block: &str) -> Frame {
    let mut frame = Frame::default();
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comments.push(comment.trim_start().to_owned());
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "id" => frame.id = Some(value.to_owned()),
            "event" => frame.event = Some(value.to_owned()),
            "retry" => frame.retry = value.parse().ok(),
            "data" => {
                frame.data = Some(match frame.data.take() {
                    Some(previous) => format!("{previous}\n{value}"),
                    None => value.to_owned(),
                })
            }
            _ => {}
        }
    }
    frame
}

/// Where the `herald` binary built for these tests is.
pub fn herald_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_herald"))
}

/// The PostgreSQL backend, or `None` after printing why the test is skipped.
pub fn postgres_or_skip() -> Option<Backend> {
    let backend = Backend::postgres();
    if backend.is_none() {
        eprintln!(
            "skipped: TEST_DATABASE_URL is not set, so this PostgreSQL-only test does not run"
        );
    }
    backend
}

impl TestDatabase {
    /// The PostgreSQL database's name, for fault injection.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(_, name)| name.as_str())
    }

    /// Runs `sql` as the PostgreSQL admin, for fault injection.
    pub async fn as_admin(&self, sql: &str) {
        if let Some((admin_url, _)) = &self.postgres {
            admin_statement(admin_url, sql).await;
        }
    }
}

/// The value of one series (name and labels, as written) in a `/metrics`
/// text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Polls `check` until it holds: for state that announces no event, such as
/// a server's readiness.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen within {PROMPTLY:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `JWT_SECRET` of secured test servers.
pub const TEST_SECRET: &str = "herald-test-secret-0123456789abcdef-0123456789";

/// A server that requires tokens signed with [`TEST_SECRET`].
pub async fn spawn_secured(backend: &Backend, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("JWT_SECRET", TEST_SECRET)];
    all.extend_from_slice(vars);
    spawn_app_with(backend, &all).await
}

/// A token for `subject` with these scopes and topic patterns.
pub fn token(subject: &str, scope: &str, topics: &[&str], ttl: Duration) -> String {
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    herald::auth::TokenKeys::new(&secrecy::SecretString::from(TEST_SECRET))
        .issue(subject, scope, &topics, ttl)
        .unwrap_or_else(|e| panic!("issuing a token: {e}"))
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

impl TestApp {
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
}

/// A connection that speaks raw bytes, for requests no HTTP client sends:
/// stalled bodies, broken heads.
pub struct RawConnection(tokio::net::TcpStream);

impl RawConnection {
    pub async fn open(app: &TestApp) -> std::io::Result<Self> {
        let address = app.address.trim_start_matches("http://");
        Ok(Self(tokio::net::TcpStream::connect(address).await?))
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(&mut self.0, bytes).await
    }

    /// Reads until `marker` has arrived, and returns what did.
    pub async fn read_until(
        &mut self,
        marker: &str,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        tokio::time::timeout(PROMPTLY, async {
            while !String::from_utf8_lossy(&received).contains(marker) {
                let n = tokio::io::AsyncReadExt::read(&mut self.0, &mut buffer).await?;
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buffer[..n]);
            }
            Ok::<_, std::io::Error>(())
        })
        .await
        .map_err(|_| format!("{marker:?} did not arrive within {PROMPTLY:?}"))??;
        Ok(String::from_utf8_lossy(&received).into_owned())
    }

    /// Everything the server sends until it closes the connection.
    pub async fn read_to_close(
        mut self,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        let mut received = Vec::new();
        tokio::time::timeout(
            PROMPTLY,
            tokio::io::AsyncReadExt::read_to_end(&mut self.0, &mut received),
        )
        .await
        .map_err(|_| format!("the server kept the connection open past {PROMPTLY:?}"))??;
        Ok(String::from_utf8_lossy(&received).into_owned())
    }
}

/// Whether tests that stage faults with the machine's tools (mounting a
/// tmpfs, `faketime`, signals to a process) must run rather than skip
/// where the machine refuses: CI sets `HERALD_REQUIRE_FAULT_TOOLS`.
pub fn fault_tools_required() -> bool {
    std::env::var_os("HERALD_REQUIRE_FAULT_TOOLS").is_some()
}

/// Skips a fault test for `reason`, with a line saying so, unless CI
/// requires it to run: then it fails.
pub fn skip_fault_test(reason: &str) -> TestResult {
    if fault_tools_required() {
        return Err(format!(
            "cannot stage the fault, and HERALD_REQUIRE_FAULT_TOOLS is set: {reason}"
        )
        .into());
    }
    eprintln!("skipped: {reason}");
    Ok(())
}

impl TestApp {
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
