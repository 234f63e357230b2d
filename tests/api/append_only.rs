//! The event log is append-only in the database itself, whoever writes to
//! it (here the `sqlite3` shell and `psql`, as an operator would): an
//! insert must take the counter's next id, rows are never updated, and
//! only a prefix is deleted. And whatever state the log is found in (its
//! rules got round, as a restore or a superuser can), no stream loops:
//! each state costs a stream one `reset` at most.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, SseClient, TestApp, TestResult, on_both_databases, shell, spawn_app,
};

on_both_databases!(
    the_log_refuses_to_be_rewritten,
    an_event_appended_with_the_next_id_is_delivered,
    no_stream_loops_on_an_event_past_the_counter,
    no_stream_loops_on_a_rewritten_event,
);

/// Runs `sql` in the database's shell, which must refuse it with a message
/// containing `why`.
fn refused(app: &TestApp, sql: &str, why: &str) {
    let ran = shell(&app.database, sql);
    assert!(!ran.ok, "{sql} was not refused");
    assert!(ran.error.contains(why), "{sql}: {}", ran.error);
}

fn allowed(app: &TestApp, sql: &str) {
    let ran = shell(&app.database, sql);
    assert!(ran.ok, "{sql}: {}", ran.error);
}

/// Today's time as the database writes it in `created_at`.
fn now(app: &TestApp) -> &'static str {
    if app.database.sqlite_file().is_some() {
        "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')"
    } else {
        "now()"
    }
}

async fn the_log_refuses_to_be_rewritten(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    for i in 0..5 {
        app.create_user(&format!("user{i}")).await;
    }
    let before = app.logged_events().await;
    let now = now(&app);
    let append_only = "append-only";
    refused(
        &app,
        "UPDATE events SET payload = '{}' WHERE id = 3",
        append_only,
    );
    refused(&app, "DELETE FROM events WHERE id = 3", "only the oldest");
    refused(&app, "DELETE FROM events WHERE id >= 4", "only the oldest");
    refused(
        &app,
        &format!(
            "INSERT INTO events (id, topic, payload, created_at) VALUES (9, 'forged', '{{}}', {now})"
        ),
        "next id",
    );
    refused(
        &app,
        "UPDATE event_counter SET last_id = last_id + 1",
        "event_counter moves only",
    );
    refused(
        &app,
        "UPDATE event_counter SET last_id = 2",
        "event_counter moves only",
    );
    refused(&app, "DELETE FROM event_counter", append_only);
    if app.database.sqlite_file().is_none() {
        refused(&app, "TRUNCATE events", append_only);
        refused(&app, "TRUNCATE event_counter", append_only);
    }
    assert_eq!(app.logged_events().await, before, "the log is as it was");

    // Retention's removal of a prefix is allowed.
    allowed(&app, "DELETE FROM events WHERE id <= 2");
    let ids: Vec<i64> = app
        .logged_events()
        .await
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(ids, [3, 4, 5]);
    Ok(())
}

/// The rule is about ids, not writers: an event a script appends with the
/// next id is an event like any other.
async fn an_event_appended_with_the_next_id_is_delivered(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    app.create_user("ada").await;
    let mut stream = app.subscribe("", &[]).await;
    let now = now(&app);
    allowed(
        &app,
        &format!(
            "INSERT INTO events (id, topic, payload, created_at) \
             SELECT last_id + 1, 'ops', '{{\"id\":' || (last_id + 1) || ',\"note\":\"by hand\"}}', {now} \
             FROM event_counter WHERE id = 1"
        ),
    );
    let event = stream.expect_event().await;
    assert_eq!(event.id_number(), 2);
    assert_eq!(event.json(), json!({"id": 2, "note": "by hand"}));
    assert_eq!(app.create_user("grace").await["user_name"], "grace");
    assert_eq!(stream.expect_event().await.id_number(), 3);
    Ok(())
}

/// What a stream receives over `window`: its events and resets, keep-alives
/// left out. The relay reads the log every second whether or not anyone
/// wakes it, so a window of a few seconds sees it pass over the log
/// several times.
async fn received_within(stream: &mut SseClient, window: Duration) -> Vec<Value> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, stream.next_frame()).await {
        if frame.data.is_some() {
            received.push(json!({
                "event": frame.event.clone(),
                "data": frame.json(),
            }));
        }
    }
    received
}

const SEVERAL_SWEEPS: Duration = Duration::from_millis(3500);

/// The forgery that once made every stream loop (the event, `reset`, the
/// event again, four or five times in six seconds): a row past the counter,
/// put in with the log's rules got round. It is not an event until the
/// counter says so: no stream receives it, and none resets.
async fn no_stream_loops_on_an_event_past_the_counter(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    app.create_user("ada").await;
    let mut live = app.subscribe("", &[]).await;
    let mut replaying = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(replaying.expect_ids(1).await, [1]);
    let now = now(&app);
    app.database
        .rewrite_log(&format!(
            "INSERT INTO events (id, topic, payload, created_at) VALUES (2, 'forged', '{{\"id\":2}}', {now})"
        ))
        .await;
    app.notifier.wake_relay();
    for stream in [&mut live, &mut replaying] {
        let received = received_within(stream, SEVERAL_SWEEPS).await;
        assert!(received.is_empty(), "{received:?}");
    }
    let mut late = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(late.expect_ids(1).await, [1]);
    late.expect_quiet().await;
    Ok(())
}

/// An event already delivered, rewritten with the rules got round: the log
/// went back on what streams received, which they are told once.
async fn no_stream_loops_on_a_rewritten_event(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    app.create_user("ada").await;
    assert_eq!(stream.expect_ids(1).await, [1]);
    app.database
        .rewrite_log(r#"UPDATE events SET payload = '{"id":1,"rewritten":true}' WHERE id = 1"#)
        .await;
    app.notifier.wake_relay();
    let received = received_within(&mut stream, SEVERAL_SWEEPS).await;
    assert_eq!(
        received,
        [json!({"event": "reset", "data": {"reason": "rewound", "last_id": 1}})],
        "one reset, and only one"
    );
    app.create_user("grace").await;
    assert_eq!(stream.expect_ids(1).await, [2]);
    Ok(())
}
