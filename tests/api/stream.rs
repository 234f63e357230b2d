use crate::helpers::{Backend, TestResult, assert_error, on_both_databases, spawn_app};

on_both_databases!(
    the_stream_starts_with_retry_and_keeps_alive,
    events_is_the_same_stream,
    topics_select_events,
    a_bad_topic_or_resume_point_is_a_400
);

async fn the_stream_starts_with_retry_and_keeps_alive(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    assert_eq!(stream.headers["cache-control"], "no-cache");
    assert_eq!(stream.headers["x-accel-buffering"], "no");
    let first = stream.expect_frame().await;
    assert_eq!(
        first.retry,
        Some(500),
        "the first frame is retry: SSE_RETRY_MS"
    );
    assert!(first.data.is_none());
    // SSE_KEEP_ALIVE_SECS is 1 in tests.
    let started = std::time::Instant::now();
    let keep_alive = stream.expect_frame().await;
    assert_eq!(keep_alive.comments, ["keep-alive"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    Ok(())
}

async fn events_is_the_same_stream(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let response = app.get("/events").await;
    assert_eq!(response.status(), 200);
    let mut stream = crate::helpers::SseClient::new(response);
    app.create_user("ada").await;
    assert_eq!(stream.expect_event().await.id_number(), 1);
    Ok(())
}

async fn topics_select_events(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let ada = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let grace = app.create_user("grace").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let linus = app.create_user("linus").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();

    let mut all = app.subscribe("?topic=users", &[]).await;
    let mut only_ada = app.subscribe(&format!("?topic=users/{ada}"), &[]).await;
    let mut ada_and_linus = app
        .subscribe(&format!("?topic=users/{ada}&topic=users/{linus}"), &[])
        .await;

    for (n, id) in [&grace, &ada, &linus, &grace].into_iter().enumerate() {
        app.patch_user(
            id,
            &serde_json::json!({"display_name": format!("name {n}")}),
        )
        .await;
    }
    app.delete_user(&ada).await;

    assert_eq!(all.expect_ids(5).await, [4, 5, 6, 7, 8]);
    assert_eq!(only_ada.expect_ids(2).await, [5, 8]);
    assert_eq!(ada_and_linus.expect_ids(3).await, [5, 6, 8]);
    only_ada.expect_quiet().await;
    Ok(())
}

async fn a_bad_topic_or_resume_point_is_a_400(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    for bad in ["orders!", "a%20b", "news/**", "a//b", ""] {
        assert_error(
            app.get(&format!("/api/sse/stream?topic={bad}")).await,
            400,
            "invalid_topic",
        )
        .await;
    }
    assert_error(
        app.get("/api/sse/stream?topic=users/42").await,
        400,
        "invalid_topic",
    )
    .await;
    assert_error(
        app.get("/api/sse/stream?last_event_id=abc").await,
        400,
        "invalid_last_event_id",
    )
    .await;
    assert_error(
        app.get("/api/sse/stream?last_event_id=-1").await,
        400,
        "invalid_last_event_id",
    )
    .await;
    Ok(())
}
