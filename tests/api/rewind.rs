//! A log that goes back: a database restored from an older backup, or failed
//! over to a replica that lagged, hands ids out again to other events. No
//! stream delivers what the log no longer holds, and no client silently
//! skips the new events that reused ids it has seen.

use std::process::Command;

use serde_json::json;

use crate::helpers::{
    Backend, SseClient, TestApp, TestResult, assert_error, eventually, json_body,
    on_both_databases, postgres_or_skip, skip_fault_test, spawn_app,
};

on_both_databases!(a_log_cut_back_resets_every_stream_and_stale_positions);

async fn expect_reset(stream: &mut SseClient, reason: &str, last_id: i64) {
    let frame = stream.expect_event().await;
    assert_eq!(frame.event.as_deref(), Some("reset"), "{frame:?}");
    assert_eq!(frame.json(), json!({"reason": reason, "last_id": last_id}));
}

/// The `id:` of each of the next `n` events, and the user names they carry.
async fn next_events(stream: &mut SseClient, n: usize) -> Vec<(String, String)> {
    let mut events = Vec::new();
    for _ in 0..n {
        let frame = stream.expect_event().await;
        let name = frame.json()["data"]["user"]["user_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        events.push((frame.id.clone().unwrap_or_default(), name));
    }
    events
}

async fn create_users(app: &TestApp, prefix: &str, n: usize) {
    for i in 0..n {
        app.create_user(&format!("{prefix}{i}")).await;
    }
}

/// After the log went back, a client that resumes with what it saw before
/// is told to start over, whatever the log holds under that id now; one
/// that resumes with what the log holds now goes on.
async fn assert_stale_positions_reset(app: &TestApp, stale: &str, fresh: &str, newest: i64) {
    let mut stale_client = app.subscribe("", &[("Last-Event-ID", stale)]).await;
    expect_reset(&mut stale_client, "rewound", newest).await;
    let in_the_query = app.subscribe(&format!("?last_event_id={stale}"), &[]).await;
    let mut in_the_query = in_the_query;
    expect_reset(&mut in_the_query, "rewound", newest).await;
    let mut fresh_client = app.subscribe("", &[("Last-Event-ID", fresh)]).await;
    let fresh_id: i64 = fresh
        .split('.')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let replayed: Vec<i64> = fresh_client
        .expect_ids(usize::try_from(newest - fresh_id).unwrap_or(0))
        .await;
    assert_eq!(replayed, ((fresh_id + 1)..=newest).collect::<Vec<_>>());
}

async fn a_log_cut_back_resets_every_stream_and_stale_positions(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    create_users(&app, "before", 10).await;
    let before = next_events(&mut stream, 10).await;

    // The log goes back to event 5, with the data: what a restore of a
    // backup taken then leaves.
    // (The users go first: deleting them makes events, which the stream
    // receives, and which the cut then takes away with the rest.)
    for (_, name) in &before[5..] {
        app.execute(&format!("DELETE FROM users WHERE user_name = '{name}'"))
            .await;
    }
    let deleted = next_events(&mut stream, 5).await;
    assert!(
        deleted.iter().all(|(_, name)| name.is_empty()),
        "{deleted:?}"
    );
    app.database
        .rewrite_log("DELETE FROM events WHERE id > 5; UPDATE event_counter SET last_id = 5")
        .await;

    expect_reset(&mut stream, "rewound", 5).await;
    create_users(&app, "after", 5).await;
    let after = next_events(&mut stream, 5).await;
    let names: Vec<&str> = after.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["after0", "after1", "after2", "after3", "after4"]);
    for ((old_id, _), (new_id, _)) in before[5..].iter().zip(&after) {
        assert_eq!(old_id.split('.').next(), new_id.split('.').next());
        assert_ne!(
            old_id, new_id,
            "an id reused for another event has another tag"
        );
    }
    stream.expect_quiet().await;

    assert_stale_positions_reset(&app, &before[7].0, &after[2].0, 10).await;
    // A bare id is trusted as it is.
    let mut bare = app.subscribe("", &[("Last-Event-ID", "8")]).await;
    assert_eq!(bare.expect_ids(2).await, [9, 10]);
    Ok(())
}

/// Runs `program` with `args`, failing the test if it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The database dropped, recreated empty, then restored from a dump taken
/// at event 5, behind a running instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_restored_from_an_older_dump() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    if Command::new("pg_restore")
        .arg("--version")
        .output()
        .is_err()
    {
        return skip_fault_test("pg_dump and pg_restore are not installed");
    }
    let app = spawn_app(&backend).await;
    let name = app.database.postgres_name().ok_or("no name")?.to_owned();
    let mut stream = app.subscribe("", &[]).await;
    create_users(&app, "before", 5).await;
    let dump_dir = tempfile::tempdir()?;
    let dump = dump_dir.path().join("at-5.dump");
    let dump = dump.to_str().ok_or("path")?;
    run("pg_dump", &["-Fc", "-f", dump, &app.database.url])?;
    for i in 5..10 {
        app.create_user(&format!("before{i}")).await;
    }
    let before = next_events(&mut stream, 10).await;

    // Dropped and recreated empty: no schema, so not ready, and requests
    // are "retry later".
    app.database
        .as_admin(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
    app.database
        .as_admin(&format!("CREATE DATABASE {name}"))
        .await;
    eventually("readiness to fail without the schema", || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    let reason = json_body(app.get("/readyz").await).await["reason"].clone();
    assert!(reason.is_string(), "{reason}");
    eventually("a create to be answered 503", || async {
        app.post_user(&json!({"user_name": "during", "email": "during@example.com"}))
            .await
            .status()
            == 503
    })
    .await;
    assert_error(
        app.post_user(&json!({"user_name": "during", "email": "during@example.com"}))
            .await,
        503,
        "database_unavailable",
    )
    .await;

    run("pg_restore", &["--no-owner", "-d", &app.database.url, dump])?;
    eventually("readiness once the schema is back", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    expect_reset(&mut stream, "rewound", 5).await;
    create_users(&app, "after", 3).await;
    let after = next_events(&mut stream, 3).await;
    let names: Vec<&str> = after.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(
        names,
        ["after0", "after1", "after2"],
        "nothing the database lost"
    );
    assert_stale_positions_reset(&app, &before[7].0, &after[0].0, 8).await;
    Ok(())
}
