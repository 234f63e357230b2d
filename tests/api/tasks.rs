//! Supervision of the background tasks: a task that stops is logged,
//! reported by `/readyz`, counted and restarted, and what was committed
//! meanwhile is still delivered.

use std::time::{Duration, Instant};

use crate::helpers::{
    Backend, PROMPTLY, TestResult, json_body, metric, on_both_databases, spawn_app, spawn_app_with,
};
use crate::logs;

// On the test's thread, whose log lines the test captures.
on_both_databases!(current_thread: a_stopped_relay_is_reported_and_restarted);

/// How long a stopped task stays down here: long enough to be seen down
/// over HTTP however loaded the machine, short enough to wait for.
const DOWN_FOR: Duration = Duration::from_secs(2);

async fn a_stopped_relay_is_reported_and_restarted(backend: Backend) -> TestResult {
    // Installed before the server starts, so that its tasks log here.
    let (_capturing, logs) = logs::capture_on_this_thread();
    let app = spawn_app(&backend).await;
    // Another instance's writes reach `app`'s streams only through `app`'s
    // relay.
    let other = app.another_instance().await;
    let mut stream = app.subscribe("", &[]).await;
    app.tasks.set_first_backoff(DOWN_FOR);
    let mut down = app.tasks.health().watch();

    assert!(app.tasks.abort("relay"), "the relay was not running");
    tokio::time::timeout(PROMPTLY, down.wait_for(|d| d.contains_key("relay"))).await??;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready = json_body(ready).await;
    assert_eq!(ready["status"], "unavailable");
    assert!(
        ready["reason"]
            .as_str()
            .is_some_and(|r| r.contains("relay")),
        "{ready}"
    );
    let logged = logs
        .line("about the relay at error", |l| {
            l["level"] == "ERROR" && l["task"] == "relay"
        })
        .await?;
    assert_eq!(logged["reason"], "it was aborted", "{logged}");
    let metrics = app.get("/metrics").await.text().await?;
    assert_eq!(
        metric(&metrics, "background_task_restarts_total"),
        Some(1.0),
        "{metrics}"
    );
    // Committed while the relay is down.
    other.create_user("ada").await;

    tokio::time::timeout(PROMPTLY, down.wait_for(|d| d.is_empty())).await??;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let ada = stream.expect_event().await;
    assert_eq!(ada.id_number(), 1);
    assert_eq!(ada.json()["data"]["user"]["user_name"], "ada");
    other.create_user("grace").await;
    assert_eq!(stream.expect_ids(1).await, [2]);
    assert!(!app.tasks.abort("no-such-task"));
    Ok(())
}

/// Open streams end at shutdown even while the feed, whose run ends them
/// when it sees the stop, is down waiting to restart: they would otherwise
/// hold the shutdown for its whole grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_at_shutdown_while_the_feed_is_down() -> TestResult {
    let app = spawn_app_with(&Backend::Sqlite, &[("SHUTDOWN_GRACE_SECS", "60")]).await;
    let mut stream = app.subscribe("", &[]).await;
    app.tasks.set_first_backoff(Duration::from_secs(600));
    let mut down = app.tasks.health().watch();
    assert!(app.tasks.abort("feed"), "the feed was not running");
    tokio::time::timeout(PROMPTLY, down.wait_for(|d| d.contains_key("feed"))).await??;

    let started = Instant::now();
    let stopping = tokio::spawn(app.shut_down());
    let ended = tokio::time::timeout(PROMPTLY, async {
        while stream.next_frame().await.is_some() {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream was still open after {PROMPTLY:?}"
    );
    stopping.await?;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "the shutdown took {took:?}");
    Ok(())
}
