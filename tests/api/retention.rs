//! Pruning past retention: it removes only a prefix of the log, by one
//! clock (the database's), a bounded chunk at a time with writes in
//! between, and gives the space back; a replay that meets a hole resets.

use std::time::Duration;

use herald::db::retention;
use serde_json::json;

use crate::helpers::{
    Backend, SseClient, TestApp, TestResult, json_body, on_both_databases, postgres_or_skip,
    skip_fault_test, spawn_app,
};
use crate::process::Herald;

on_both_databases!(pruning_removes_only_a_prefix_and_replays_reset_at_holes);

const HOUR: Duration = Duration::from_secs(3600);

/// Dates the events with ids in `ids` two hours back, as an instance whose
/// clock was two hours slow would have (the log refuses an UPDATE: this
/// goes past its rules).
async fn age(app: &TestApp, ids: std::ops::RangeInclusive<i64>) {
    let (first, last) = (ids.start(), ids.end());
    let sql = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!(
            "UPDATE events SET created_at = now() - interval '2 hours' WHERE id BETWEEN {first} AND {last}"
        ),
        _ => format!(
            "UPDATE events SET created_at = strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now', '-2 hours') \
             WHERE id BETWEEN {first} AND {last}"
        ),
    };
    app.database.rewrite_log(&sql).await;
}

async fn expect_reset(stream: &mut SseClient, reason: &str, last_id: i64) {
    let frame = stream.expect_event().await;
    assert_eq!(frame.event.as_deref(), Some("reset"), "{frame:?}");
    assert_eq!(frame.json(), json!({"reason": reason, "last_id": last_id}));
}

async fn pruning_removes_only_a_prefix_and_replays_reset_at_holes(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    for i in 0..15 {
        app.create_user(&format!("user{i}")).await;
    }
    // Events 6–10 look old, 1–5 and 11–15 do not: nothing may go, or the
    // log would have a hole.
    age(&app, 6..=10).await;
    assert_eq!(retention::prune_once(&app.writer, &app.db, HOUR).await, 0);
    let mut everything = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(
        everything.expect_ids(15).await,
        (1..=15).collect::<Vec<_>>()
    );

    // Once 1–5 are old too, the prefix 1–10 goes, and only it.
    age(&app, 1..=5).await;
    assert_eq!(retention::prune_once(&app.writer, &app.db, HOUR).await, 10);
    let ids: Vec<i64> = app
        .logged_events()
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, (11..=15).collect::<Vec<_>>());
    let mut late = app.subscribe("", &[("Last-Event-ID", "3")]).await;
    expect_reset(&mut late, "expired", 15).await;

    // A hole made by hand: a replay crossing it says so instead of
    // skipping the missing event.
    app.database
        .rewrite_log("DELETE FROM events WHERE id = 13")
        .await;
    let mut crossing = app.subscribe("", &[("Last-Event-ID", "11")]).await;
    assert_eq!(crossing.expect_event().await.id_number(), 12);
    expect_reset(&mut crossing, "expired", 15).await;
    app.create_user("after").await;
    assert_eq!(crossing.expect_event().await.id_number(), 16);
    Ok(())
}

/// Times come from the database's clock: an instance whose own clock is
/// two hours slow still writes the time every other instance would, and its
/// users sort after those created before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_clock_writes_the_databases_time() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    if std::process::Command::new("faketime")
        .arg("-h")
        .output()
        .is_err()
    {
        return skip_fault_test("faketime is not installed (apt-get install faketime)");
    }
    let b = spawn_app(&backend).await;
    let first = b.create_user("first").await;
    let slow = Herald::start_faked(&[("DATABASE_URL", &b.database.url)], "-2h").await?;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/users", slow.address))
        .json(&json!({"user_name": "second", "email": "second@example.com"}))
        .send()
        .await?;
    assert_eq!(response.status(), 201);
    let second = json_body(response).await;
    let (first_at, second_at) = (
        chrono::DateTime::parse_from_rfc3339(first["created_at"].as_str().ok_or("time")?)?,
        chrono::DateTime::parse_from_rfc3339(second["created_at"].as_str().ok_or("time")?)?,
    );
    assert!(
        second_at >= first_at,
        "created {second_at} by a slow clock, after {first_at}"
    );
    let users = b.all_users().await;
    let names: Vec<&str> = users
        .iter()
        .filter_map(|u| u["user_name"].as_str())
        .collect();
    assert_eq!(names, ["first", "second"], "the list keeps creation order");
    // Its events are not pruned as if they were two hours old.
    assert_eq!(retention::prune_once(&b.writer, &b.db, HOUR).await, 0);
    Ok(())
}

/// A large backlog past retention goes a chunk at a time: a write is
/// answered while the pruning is still under way, and the file shrinks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_is_pruned_in_chunks_with_writes_in_between() -> TestResult {
    const BACKLOG: u64 = 60_000;
    let app = spawn_app(&Backend::Sqlite).await;
    let file = app.database.sqlite_file().ok_or("no file")?;
    app.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BACKLOG}) \
         INSERT INTO events (id, topic, payload, created_at) \
         SELECT i, 'bulk', '{{\"id\":' || i || ',\"pad\":\"' || hex(randomblob(150)) || '\"}}', \
                strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now', '-1 day') FROM n"
    ))
    .await;
    let app = app.restart().await;
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let before = size(&file);

    let pruning = tokio::spawn({
        let (writer, db) = (app.writer.clone(), app.db.clone());
        async move { retention::prune_once(&writer, &db, HOUR).await }
    });
    // Once the first chunk is gone, a write comes in.
    let deadline = tokio::time::Instant::now() + crate::helpers::PROMPTLY;
    while app.logged_events().await.len() as u64 == BACKLOG {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pruning never began"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let created = app.create_user("during").await;
    assert!(
        !pruning.is_finished(),
        "the write was answered only after the whole backlog was pruned"
    );
    assert_eq!(pruning.await?, BACKLOG);
    let ids: Vec<i64> = app
        .logged_events()
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [BACKLOG as i64 + 1]);
    assert!(created["id"].is_string());
    let after = size(&file);
    assert!(
        after < before / 2,
        "the file gave its space back: {before} bytes before, {after} after"
    );
    Ok(())
}
