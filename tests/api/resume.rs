use herald::db::retention;
use serde_json::json;

use crate::helpers::{Backend, SseClient, TestApp, TestResult, on_both_databases, spawn_app};

on_both_databases!(
    last_event_id_header_replays_then_continues_live,
    the_query_resumes_a_first_connection_and_the_header_wins,
    a_replay_honours_topics,
    a_resume_point_beyond_the_newest_event_resets,
    an_unreadable_header_resets,
    a_resume_point_older_than_retention_resets,
    after_a_restart_a_client_resumes_where_it_left_off
);

async fn with_users(backend: &Backend, n: usize) -> TestApp {
    let app = spawn_app(backend).await;
    for i in 0..n {
        app.create_user(&format!("user{i}")).await;
    }
    app
}

async fn last_event_id_header_replays_then_continues_live(backend: Backend) -> TestResult {
    let app = with_users(&backend, 5).await;
    let mut stream = app.subscribe("", &[("Last-Event-ID", "2")]).await;
    assert_eq!(stream.expect_ids(3).await, [3, 4, 5]);
    app.create_user("late").await;
    assert_eq!(stream.expect_event().await.id_number(), 6);
    stream.expect_quiet().await;
    Ok(())
}

async fn the_query_resumes_a_first_connection_and_the_header_wins(backend: Backend) -> TestResult {
    let app = with_users(&backend, 4).await;
    let mut by_query = app.subscribe("?last_event_id=1", &[]).await;
    assert_eq!(by_query.expect_ids(3).await, [2, 3, 4]);
    let mut both = app
        .subscribe("?last_event_id=1", &[("Last-Event-ID", "3")])
        .await;
    assert_eq!(both.expect_event().await.id_number(), 4);
    let mut everything = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(everything.expect_ids(4).await, [1, 2, 3, 4]);
    let mut current = app.subscribe("?last_event_id=4", &[]).await;
    app.create_user("late").await;
    for stream in [&mut by_query, &mut both, &mut everything, &mut current] {
        assert_eq!(stream.expect_event().await.id_number(), 5);
    }
    current.expect_quiet().await;
    Ok(())
}

async fn a_replay_honours_topics(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let ada = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    app.create_user("grace").await;
    app.patch_user(&ada, &json!({"display_name": "Ada"})).await;
    let mut stream = app
        .subscribe(&format!("?topic=users/{ada}&last_event_id=0"), &[])
        .await;
    assert_eq!(stream.expect_ids(2).await, [1, 3]);
    Ok(())
}

async fn expect_reset(stream: &mut SseClient, reason: &str, last_id: i64) {
    let frame = stream.expect_event().await;
    assert_eq!(frame.event.as_deref(), Some("reset"), "{frame:?}");
    assert_eq!(frame.id, None);
    assert_eq!(frame.json(), json!({"reason": reason, "last_id": last_id}));
}

async fn a_resume_point_beyond_the_newest_event_resets(backend: Backend) -> TestResult {
    let app = with_users(&backend, 2).await;
    let mut stream = app.subscribe("", &[("Last-Event-ID", "99")]).await;
    expect_reset(&mut stream, "unknown", 2).await;
    app.create_user("late").await;
    assert_eq!(
        stream.expect_event().await.id_number(),
        3,
        "the stream continues live"
    );
    Ok(())
}

async fn an_unreadable_header_resets(backend: Backend) -> TestResult {
    let app = with_users(&backend, 1).await;
    let mut stream = app
        .subscribe("?last_event_id=0", &[("Last-Event-ID", "yesterday")])
        .await;
    expect_reset(&mut stream, "invalid", 1).await;
    app.create_user("late").await;
    assert_eq!(stream.expect_event().await.id_number(), 2);
    Ok(())
}

async fn a_resume_point_older_than_retention_resets(backend: Backend) -> TestResult {
    let app = with_users(&backend, 3).await;
    let pruned = retention::prune_once(&app.writer, &app.db, std::time::Duration::ZERO).await;
    assert_eq!(pruned, 3);
    app.create_user("after").await;
    let mut stream = app.subscribe("", &[("Last-Event-ID", "1")]).await;
    expect_reset(&mut stream, "expired", 4).await;
    app.create_user("later").await;
    assert_eq!(stream.expect_event().await.id_number(), 5);

    // Resuming from just before the oldest retained event still works.
    let mut from_three = app.subscribe("", &[("Last-Event-ID", "3")]).await;
    assert_eq!(from_three.expect_ids(2).await, [4, 5]);
    Ok(())
}

async fn after_a_restart_a_client_resumes_where_it_left_off(backend: Backend) -> TestResult {
    let app = with_users(&backend, 2).await;
    let mut stream = app.subscribe("?last_event_id=0", &[]).await;
    let mut last_seen = 0;
    for _ in 0..2 {
        last_seen = stream.expect_event().await.id_number();
    }
    let restarting = tokio::spawn(app.restart());
    // The old server ends the stream as it shuts down, as a client would see.
    while let Some(frame) =
        tokio::time::timeout(crate::helpers::PROMPTLY, stream.next_frame()).await?
    {
        assert!(
            frame.data.is_none(),
            "no event was written meanwhile: {frame:?}"
        );
    }
    let app = restarting.await?;
    app.create_user("while.away").await;
    let mut resumed = app
        .subscribe("", &[("Last-Event-ID", &last_seen.to_string())])
        .await;
    let replayed = resumed.expect_event().await;
    assert_eq!(
        replayed.id_number(),
        3,
        "ids continue without a gap across the restart"
    );
    assert_eq!(replayed.json()["data"]["user"]["user_name"], "while.away");
    app.create_user("live").await;
    assert_eq!(resumed.expect_event().await.id_number(), 4);
    Ok(())
}
