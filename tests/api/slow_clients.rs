//! Clients that start a request and never finish it: they get a `408` and
//! lose the connection, and they cannot hold a shutdown back.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, RawConnection, TestResult, spawn_app_with};

const STALLED_POST: &[u8] = b"POST /api/v1/users HTTP/1.1\r\nHost: herald\r\n\
    Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{";

/// The JSON body of a raw response.
fn body_of(response: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(response.split_once("\r\n\r\n").map_or("", |(_, body)| body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_a_json_408_and_ends_the_connection() -> TestResult {
    let app = spawn_app_with(&Backend::Sqlite, &[("REQUEST_BODY_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let mut connection = RawConnection::open(&app).await?;
    connection.send(STALLED_POST).await?;
    let response = connection.read_to_close().await?;
    let took = started.elapsed();

    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    // actix-http dates its deadlines by a clock it updates every 500 ms, so
    // the answer may come up to that much before the timeout: not at once,
    // and not late.
    assert!(
        (Duration::from_millis(500)..Duration::from_secs(5)).contains(&took),
        "answered after {took:?}"
    );
    let head = response.to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close\r\n"), "{response}");
    assert!(head.contains("\r\nx-request-id: "), "{response}");
    assert_eq!(body_of(&response)?["error"]["code"], "request_timeout");

    assert!(app.all_users().await.is_empty());
    let metrics = app.get("/metrics").await.text().await?;
    assert!(
        metrics.contains(
            "http_requests_total{route=\"/api/v1/users\",method=\"POST\",status=\"408\"} 1"
        ),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_do_not_hold_a_shutdown() -> TestResult {
    let app = spawn_app_with(
        &Backend::Sqlite,
        &[
            ("REQUEST_BODY_TIMEOUT_SECS", "60"),
            ("SHUTDOWN_GRACE_SECS", "60"),
        ],
    )
    .await;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut connection = RawConnection::open(&app).await?;
        // `100 Continue` says the server has the head and is about to
        // read the body.
        let (head, body) = STALLED_POST.split_at(STALLED_POST.len() - 1);
        connection
            .send(&[&head[..head.len() - 2], b"Expect: 100-continue\r\n\r\n"].concat())
            .await?;
        connection.read_until("100 Continue\r\n\r\n").await?;
        connection.send(body).await?;
        stalled.push(connection);
    }

    let started = Instant::now();
    app.shut_down().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the shutdown took {took:?}");
    for connection in stalled {
        let response = connection.read_to_close().await?;
        let status = response
            .lines()
            .find(|l| !l.contains("100 Continue") && !l.is_empty());
        assert!(
            status.is_some_and(|l| l.starts_with("HTTP/1.1 408 ")),
            "{response}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_stalls_is_408() -> TestResult {
    let app = spawn_app_with(&Backend::Sqlite, &[("REQUEST_HEAD_TIMEOUT_SECS", "1")]).await;
    let started = Instant::now();
    let mut connection = RawConnection::open(&app).await?;
    connection
        .send(b"GET /healthz HTTP/1.1\r\nHost: herald\r\n")
        .await?;
    let response = connection.read_to_close().await?;
    let took = started.elapsed();
    // actix-http answers this itself, before any of Herald's code runs: an
    // empty body (see the errors in `docs/reference.md`).
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    // actix-http dates its deadlines by a clock it updates every 500 ms, so
    // the answer may come up to that much before the timeout: not at once,
    // and not late.
    assert!(
        (Duration::from_millis(500)..Duration::from_secs(5)).contains(&took),
        "answered after {took:?}"
    );
    Ok(())
}
