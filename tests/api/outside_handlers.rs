//! Answers that no handler writes: unrouted methods, `HEAD`, CORS
//! refusals, and what actix-http refuses before Herald sees a request.

use reqwest::{Method, Response};

use crate::helpers::{Backend, RawConnection, TestApp, TestResult, assert_error, spawn_app_with};

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn counted(app: &TestApp, series: &str) -> Result<bool, reqwest::Error> {
    let metrics = app.get("/metrics").await.text().await?;
    Ok(metrics.lines().any(|line| line == series))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrouted_method_is_a_json_405_with_allow() -> TestResult {
    let app = spawn_app_with(&Backend::Sqlite, &[]).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let invented = Method::from_bytes(b"FROBNICATE")?;
    for (method, path, allow) in [
        (Method::PUT, "/healthz".to_owned(), "GET, HEAD"),
        (Method::POST, "/metrics".to_owned(), "GET, HEAD"),
        (
            Method::DELETE,
            "/api/v1/users".to_owned(),
            "GET, HEAD, POST",
        ),
        (
            Method::POST,
            format!("/api/v1/users/{id}"),
            "GET, HEAD, PATCH, PUT, DELETE",
        ),
        (Method::POST, "/api/sse/stream".to_owned(), "GET, HEAD"),
        (invented, "/events".to_owned(), "GET, HEAD"),
    ] {
        let response = app
            .send(app.client.request(method.clone(), app.url(&path)))
            .await;
        assert_eq!(header(&response, "allow"), Some(allow), "{method} {path}");
        assert!(header(&response, "x-request-id").is_some());
        assert_error(response, 405, "method_not_allowed").await;
    }
    assert!(
        counted(
            &app,
            "http_requests_total{route=\"/healthz\",method=\"PUT\",status=\"405\"} 1"
        )
        .await?
    );
    // `/events` is another name of the stream's route.
    assert!(
        counted(
            &app,
            "http_requests_total{route=\"/api/sse/stream\",method=\"other\",status=\"405\"} 1"
        )
        .await?
    );
    assert_error(app.get("/nowhere").await, 404, "route_not_found").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_wherever_get_is() -> TestResult {
    let app = spawn_app_with(&Backend::Sqlite, &[]).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    for path in [
        "/",
        "/assets/app.js",
        "/assets/app.css",
        "/healthz",
        "/readyz",
        &format!("/api/v1/users/{id}"),
    ] {
        let get = app.get(path).await;
        let (status, content_type) = (
            get.status(),
            header(&get, "content-type").map(str::to_owned),
        );
        let length = get.bytes().await?.len();
        let head = app.send(app.client.head(app.url(path))).await;
        assert_eq!(head.status(), status, "HEAD {path}");
        assert_eq!(
            header(&head, "content-type").map(str::to_owned),
            content_type,
            "HEAD {path}"
        );
        assert_eq!(
            header(&head, "content-length").and_then(|l| l.parse().ok()),
            Some(length),
            "HEAD {path}"
        );
        assert!(head.bytes().await?.is_empty(), "HEAD {path} sent a body");
    }
    for path in ["/api/v1/users", "/metrics"] {
        let head = app.send(app.client.head(app.url(path))).await;
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert!(head.bytes().await?.is_empty(), "HEAD {path} sent a body");
    }
    // A stream's head, and then the response ends: nothing stays open.
    for path in ["/api/sse/stream", "/events"] {
        let head = app.send(app.client.head(app.url(path))).await;
        assert_eq!(head.status(), 200);
        assert_eq!(header(&head, "content-type"), Some("text/event-stream"));
        assert!(head.bytes().await?.is_empty());
    }
    app.wait_for_subscribers(0, crate::helpers::PROMPTLY).await;
    assert!(
        counted(
            &app,
            "http_requests_total{route=\"/healthz\",method=\"HEAD\",status=\"200\"} 1"
        )
        .await?
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cors_refusal_is_json_and_allowed_origins_are_normalised() -> TestResult {
    let app = spawn_app_with(
        &Backend::Sqlite,
        &[("CORS_ALLOWED_ORIGINS", "HTTPS://App.Example:443/")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/users"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
    };
    let allowed = app.send(preflight("https://app.example")).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let refused = app.send(preflight("https://evil.example")).await;
    assert!(header(&refused, "x-request-id").is_some());
    let body = assert_error(refused, 400, "cors_refused").await;
    assert!(body["error"]["details"].is_null(), "{body}");
    assert!(
        counted(
            &app,
            "http_requests_total{route=\"/api/v1/users\",method=\"OPTIONS\",status=\"400\"} 1"
        )
        .await?
    );
    Ok(())
}

/// actix-http answers these itself, before any of Herald's code runs: with
/// the right status, an empty body, and the connection closed (see the
/// errors in `docs/reference.md`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_that_do_not_parse_are_refused_by_the_framework() -> TestResult {
    let app = spawn_app_with(&Backend::Sqlite, &[]).await;
    let many_headers: String = (0..100).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    for (request, status) in [
        (b"NONSENSE\r\n\r\n".to_vec(), "400"),
        (
            b"GET /healthz HTTP/1.1\r\nHost herald\r\n\r\n".to_vec(),
            "400",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: herald\r\n{many_headers}\r\n").into_bytes(),
            "431",
        ),
    ] {
        let mut connection = RawConnection::open(&app).await?;
        connection.send(&request).await?;
        let response = connection.read_to_close().await?;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{response}"
        );
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
    Ok(())
}
