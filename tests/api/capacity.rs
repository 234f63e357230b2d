//! An instance at its limits: as many streams as its open files allow,
//! while health checks, readiness and writes still answer promptly.

use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PROMPTLY, TestApp, TestResult, assert_error, on_both_databases, spawn_app_with,
};
use crate::process::Herald;

on_both_databases!(streams_past_max_streams_are_told_to_retry);

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
