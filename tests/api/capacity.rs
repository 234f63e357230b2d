//! An instance at its limits: as many streams as its open files allow, and
//! hundreds of streams replaying the log at once, while health checks,
//! readiness and writes still answer promptly.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Response;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::helpers::{
    Backend, PROMPTLY, TestApp, TestResult, assert_error, metric, on_both_databases, spawn_app,
    spawn_app_with,
};
use crate::process::Herald;

on_both_databases!(
    streams_past_max_streams_are_told_to_retry,
    replaying_streams_leave_room_for_writes_and_readiness
);

/// The longest a health check, a readiness check or a write may take while
/// the streams are at their limit: what a load balancer or a client would
/// still call prompt (they answer in milliseconds).
const PROMPT: Duration = Duration::from_secs(2);

/// Asserts a `503 server_busy` with a `Retry-After` in seconds.
async fn assert_busy(response: Response) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|secs| secs >= 1),
        "{:?}",
        response.headers()
    );
    assert_error(response, 503, "server_busy").await;
}

/// Asserts that `request` answers `status` within `within`.
async fn answers_within(
    app: &TestApp,
    request: reqwest::RequestBuilder,
    status: u16,
    within: Duration,
) {
    let started = Instant::now();
    let response = app.send(request).await;
    let took = started.elapsed();
    assert_eq!(response.status(), status, "{:?}", response.text().await);
    assert!(took < within, "took {took:?}");
}

async fn streams_past_max_streams_are_told_to_retry(backend: Backend) -> TestResult {
    let app = spawn_app_with(&backend, &[("MAX_STREAMS", "2")]).await;
    let first = app.subscribe("", &[]).await;
    let _second = app.subscribe("", &[]).await;
    assert_busy(app.open_stream("", &[]).await).await;
    // Only streams are bounded.
    answers_within(&app, app.client.get(app.url("/healthz")), 200, PROMPT).await;
    app.create_user("ada").await;
    // A place given back is taken again.
    drop(first);
    app.wait_for_subscribers(1, PROMPTLY).await;
    let mut third = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(third.expect_ids(1).await, [1]);
    assert_busy(app.open_stream("", &[]).await).await;
    Ok(())
}

/// Streams asked of a server whose open files are limited to 1,024: more
/// than it has descriptors for.
const STREAMS_ASKED: usize = 1100;

/// Run as services often are, with soft and hard limits of 1,024 open
/// files, the binary admits streams up to `MAX_STREAMS`'s default and
/// refuses the rest, keeping descriptors for health checks and writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_limited_to_1024_files_refuses_streams_it_has_no_room_for() -> TestResult {
    let herald = Herald::start_with_open_files(1024, 1024, &[]).await?;
    let limit = herald
        .log_line("about the open-file limit", |l| l["max_streams"].is_u64())
        .await?;
    assert_eq!(limit["open_files"], 1024, "{limit}");
    let max_streams = usize::try_from(limit["max_streams"].as_u64().ok_or("max_streams")?)?;
    assert!(max_streams < 1024 && max_streams > 512, "{limit}");

    // A server out of descriptors accepts no connection: a request to it
    // fails after this rather than waiting for ever.
    let client = reqwest::Client::builder().timeout(PROMPTLY).build()?;
    let url = |path: &str| format!("{}{path}", herald.address);
    // A refusal's body is read at once, so that its connection is reused
    // rather than held beside the streams.
    let answers: Vec<Result<Response, Value>> = stream::iter(0..STREAMS_ASKED)
        .map(|_| async {
            let response = client.get(url("/api/sse/stream")).send().await?;
            if response.status() == 200 {
                return Ok(Ok(response));
            }
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await?;
            Ok::<_, reqwest::Error>(Err(json!({
                "status": status,
                "retry_after": retry_after.and_then(|v| v.to_str().ok().map(str::to_owned)),
                "code": body["error"]["code"],
            })))
        })
        .buffer_unordered(64)
        .try_collect()
        .await?;
    let (open, refused): (Vec<_>, Vec<_>) = answers.into_iter().partition(Result::is_ok);
    assert_eq!(open.len(), max_streams);
    assert_eq!(refused.len(), STREAMS_ASKED - max_streams);
    for refusal in refused.into_iter().filter_map(Result::err) {
        assert_eq!(
            refusal,
            json!({"status": 503, "retry_after": "1", "code": "server_busy"})
        );
    }

    // With every stream held, requests still get descriptors and answers.
    let started = Instant::now();
    assert_eq!(client.get(url("/healthz")).send().await?.status(), 200);
    let created = client
        .post(url("/api/v1/users"))
        .json(&json!({"user_name": "ada", "email": "ada@example.com"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    assert_eq!(client.get(url("/readyz")).send().await?.status(), 200);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    let exhausted: Vec<Value> = herald
        .log_lines()
        .into_iter()
        .filter(|l| l.to_string().contains("Too many open files"))
        .collect();
    assert!(exhausted.is_empty(), "{exhausted:?}");
    drop(open);
    Ok(())
}

/// Services often start with a soft limit of 1,024 and a far higher hard
/// one: the server raises its soft limit to the hard one, and sizes
/// `MAX_STREAMS` from that.
#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_one() -> TestResult {
    let herald = Herald::start_with_open_files(1024, 4096, &[]).await?;
    let limit = herald
        .log_line("about the open-file limit", |l| l["max_streams"].is_u64())
        .await?;
    assert_eq!(limit["open_files"], 4096, "{limit}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", herald.pid()))?;
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no open-file limit")?
        .split_whitespace()
        .collect();
    assert_eq!(open_files[3..5], ["4096", "4096"], "{limits}");
    Ok(())
}

/// Streams resuming from the very start of the log at once.
const REPLAYING: usize = 200;
/// The events they replay: a few of the log reader's pages (256 ids each),
/// the newest one still filling.
const LOGGED: usize = 600;
/// The longest a write or a readiness check may take while the streams
/// replay. A write starved of connections waits the pool's 5 s and is
/// refused (`503`), a readiness check 2 s (`503`); here they only wait for
/// the CPU that the replays and their parsing take, a few hundred
/// milliseconds on two shared cores in a debug build.
const UNDER_REPLAYS: Duration = Duration::from_secs(5);
/// Connections in the database pool (the number `docs/scaling.md` gives).
const POOL: f64 = 11.0;
/// Far longer than the replays take: past this the test fails rather than
/// wait for a server that stopped answering.
const REPLAYS_WITHIN: Duration = Duration::from_secs(30);

/// Counts one stream as done replaying when dropped, whether it replayed
/// the log or failed to, so that the probes stop either way.
struct Replayed(watch::Sender<usize>);

impl Drop for Replayed {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Opens a stream resuming from the start of the log and reads it in a task
/// of its own: the log, then as many writes as `writes` comes to say.
async fn replay(
    app: &TestApp,
    replayed: Replayed,
    mut writes: watch::Receiver<Option<usize>>,
) -> JoinHandle<Result<Vec<i64>, watch::error::RecvError>> {
    let mut stream = app.subscribe("?last_event_id=0", &[]).await;
    tokio::spawn(async move {
        let mut ids = stream.expect_ids(LOGGED).await;
        drop(replayed);
        let more = *writes.wait_for(Option::is_some).await?;
        ids.extend(stream.expect_ids(more.unwrap_or_default()).await);
        Ok(ids)
    })
}

async fn replaying_streams_leave_room_for_writes_and_readiness(backend: Backend) -> TestResult {
    let app = &spawn_app(&backend).await;
    stream::iter(0..LOGGED)
        .map(|i| async move {
            app.publish(None, &json!({"topic": "log", "data": i}), None)
                .await
        })
        .buffer_unordered(16)
        .for_each(async |response| assert_eq!(response.status(), 202))
        .await;

    // How many streams have replayed the log; then how many writes they are
    // to receive after it.
    let (replayed, replayed_count) = watch::channel(0_usize);
    let (writes_made, writes) = watch::channel(None::<usize>);
    let replays = stream::iter(0..REPLAYING)
        .map(|_| replay(app, Replayed(replayed.clone()), writes.clone()))
        .buffer_unordered(32)
        .collect::<Vec<_>>();
    let replaying = || *replayed_count.borrow() < REPLAYING;
    // Writes and readiness checks, one after the other, for as long as the
    // replays last.
    let probes = async {
        let mut made = 0;
        while replaying() {
            let user = format!("user{made}");
            let body = json!({"user_name": user, "email": format!("{user}@example.com")});
            let request = app.client.post(app.url("/api/v1/users")).json(&body);
            answers_within(app, request, 201, UNDER_REPLAYS).await;
            let readiness = app.client.get(app.url("/readyz"));
            answers_within(app, readiness, 200, UNDER_REPLAYS).await;
            made += 1;
        }
        writes_made.send_replace(Some(made));
        made
    };
    // The pool as `/metrics` sees it, as often as it answers.
    let pool = async {
        let mut most: f64 = 0.0;
        while replaying() {
            let text = app.get("/metrics").await.text().await?;
            most = most.max(metric(&text, "db_pool_connections_in_use").ok_or("no pool")?);
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(most)
    };
    let (readers, made, most_in_use) = tokio::time::timeout(REPLAYS_WITHIN, async {
        tokio::join!(replays, probes, pool)
    })
    .await
    .map_err(|_| format!("the server stopped answering within {REPLAYS_WITHIN:?}"))?;
    let most_in_use = most_in_use?;
    let expected: Vec<i64> = (1..=i64::try_from(LOGGED + made)?).collect();
    for reader in readers {
        assert_eq!(reader.await??, expected);
    }
    assert!(made > 0, "no write was made while the streams replayed");
    assert!(
        most_in_use < POOL,
        "{most_in_use} of {POOL} pool connections were in use"
    );
    Ok(())
}
