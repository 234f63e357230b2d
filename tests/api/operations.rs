use crate::helpers::{Backend, TestResult, json_body, metric, on_both_databases, spawn_app};

on_both_databases!(
    health_and_readiness_answer,
    metrics_count_requests_and_events,
    pruning_keeps_events_within_retention
);

async fn health_and_readiness_answer(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(json_body(ready).await["status"], "ready");
    Ok(())
}

async fn metrics_count_requests_and_events(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    app.get(&format!("/api/v1/users/{id}")).await;
    app.get("/api/v1/users/not-a-uuid").await;
    stream.expect_event().await;
    let _reset = app.subscribe("", &[("Last-Event-ID", "99")]).await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("text/plain; version=0.0.4"),
        "a scraper that names no format gets the classic one"
    );
    let text = response.text().await?;
    let requests = "http_requests_total{route=\"/api/v1/users/{id}\",method=\"GET\",status=";
    assert_eq!(
        metric(&text, &format!("{requests}\"200\"}}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, &format!("{requests}\"400\"}}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "http_request_duration_seconds_count{route=\"/api/v1/users\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "sse_subscribers"), Some(2.0), "{text}");
    assert_eq!(metric(&text, "events_committed_total"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "events_delivered_total"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "sse_resets_total"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "sse_catch_ups_total"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "sse_relay_lag_events"), Some(0.0), "{text}");
    assert!(
        metric(&text, "db_pool_connections_in_use").is_some(),
        "{text}"
    );
    Ok(())
}

async fn pruning_keeps_events_within_retention(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    for name in ["ada", "grace", "linus"] {
        app.create_user(name).await;
    }
    // What the background pruner does with a one-hour retention.
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(
        herald::db::retention::prune_once(&app.writer, &app.db, hour).await,
        0
    );
    let mut stream = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(stream.expect_ids(3).await, [1, 2, 3]);
    Ok(())
}
