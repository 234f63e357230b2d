use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use herald::config::Settings;
use herald::sse::SseNotifier;
use herald::startup::{Application, StopHandle};
use reqwest::header::HeaderMap;
use reqwest::{Client, Response};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tempfile::TempDir;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// How long a test waits for something that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub db: DatabaseConnection,
    pub notifier: Arc<SseNotifier>,
    stop: StopHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub database_url: String,
    /// Keeps the database file alive as long as the app (and its restarts).
    pub dir: Arc<TempDir>,
}

/// A server on a fresh SQLite file, with a one-second keep-alive.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A server configured by `vars` on top of the test defaults.
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}")));
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("herald.db").display());
    start(dir, url, vars).await
}

impl TestApp {
    /// Stops this server gracefully and starts another on the same database.
    pub async fn restart(self) -> TestApp {
        let (dir, url) = (self.dir.clone(), self.database_url.clone());
        self.shut_down().await;
        start(dir, url, &[]).await
    }

    pub async fn shut_down(self) {
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
        self.send(self.client.post(self.url("/api/v1/users")).json(body)).await
    }

    /// Creates a user that must succeed; returns its JSON.
    pub async fn create_user(&self, user_name: &str) -> Value {
        let response = self
            .post_user(&json!({"user_name": user_name, "email": format!("{user_name}@example.com")}))
            .await;
        assert_eq!(response.status(), 201, "creating {user_name}");
        json_body(response).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn patch_user(&self, id: &str, body: &Value) -> Response {
        self.send(self.client.patch(self.url(&format!("/api/v1/users/{id}"))).json(body)).await
    }

    pub async fn put_user(&self, id: &str, body: &Value) -> Response {
        self.send(self.client.put(self.url(&format!("/api/v1/users/{id}"))).json(body)).await
    }

    pub async fn delete_user(&self, id: &str) -> Response {
        self.send(self.client.delete(self.url(&format!("/api/v1/users/{id}")))).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"))
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
        let mut request = self.client.get(self.url(&format!("/api/sse/stream{query}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.send(request).await;
        assert_eq!(response.status(), 200, "opening the stream {query}");
        SseClient::new(response)
    }

    /// Waits until exactly `n` streams are open on the server.
    pub async fn wait_for_subscribers(&self, n: usize, within: Duration) {
        let mut count = self.notifier.subscriber_count();
        let reached = tokio::time::timeout(within, count.wait_for(|c| *c == n)).await.is_ok();
        assert!(reached, "expected {n} subscribers within {within:?}, have {}", *count.borrow());
    }
}

async fn start(dir: Arc<TempDir>, database_url: String, vars: &[(&str, &str)]) -> TestApp {
    let mut all: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &database_url),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("SSE_KEEP_ALIVE_SECS", "1"),
        ("SSE_RETRY_MS", "500"),
    ];
    all.extend_from_slice(vars);
    let settings = Settings::from_lookup(|name| all.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
        .unwrap_or_else(|e| panic!("test settings: {e}"));
    let app = Application::build(settings).await.unwrap_or_else(|e| panic!("building the app: {e:#}"));
    let address = format!("http://127.0.0.1:{}", app.port());
    let (db, notifier, stop) = (app.db().clone(), app.notifier(), app.stop_handle());
    let server = tokio::spawn(app.run_until_stopped());
    TestApp { address, client: Client::new(), db, notifier, stop, server, database_url, dir }
}

pub async fn json_body(response: Response) -> Value {
    response.json().await.unwrap_or_else(|e| panic!("response is not JSON: {e}"))
}

/// Asserts a JSON error response: status, `error.code`, and returns the body.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body = json_body(response).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
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
        serde_json::from_str(self.data.as_deref().unwrap_or("null")).unwrap_or_else(|e| panic!("data is not JSON: {e}"))
    }

    pub fn id_number(&self) -> i64 {
        self.id.as_deref().and_then(|i| i.parse().ok()).unwrap_or_else(|| panic!("frame has no numeric id: {self:?}"))
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
        Self { headers: response.headers().clone(), body: Box::pin(response.bytes_stream()), buffer: Vec::new() }
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

    /// The next frame that carries data, skipping keep-alives and `retry:`.
    pub async fn expect_event(&mut self) -> Frame {
        loop {
            let frame = self.expect_frame().await;
            if frame.data.is_some() {
                return frame;
            }
        }
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
        let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
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
