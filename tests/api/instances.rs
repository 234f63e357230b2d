//! Several instances on one PostgreSQL database: one ordered event stream,
//! whichever instance a client talks to.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{
    PROMPTLY, TestApp, TestResult, assert_error, eventually, json_body, postgres_or_skip, spawn_app,
};

const WRITERS: usize = 32;

/// Two instances on one fresh PostgreSQL database, or `None` (said why)
/// without TEST_DATABASE_URL.
async fn two_instances() -> Option<(TestApp, TestApp)> {
    let a = spawn_app(&postgres_or_skip()?).await;
    let b = a.another_instance().await;
    Some((a, b))
}

/// Cuts the test database's server connections that match `condition`.
async fn terminate_connections(app: &TestApp, condition: &str) {
    let database = app.database.postgres_name().unwrap_or_default();
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' {condition}"
    );
    app.database.as_admin(&sql).await;
}
const WRITES_EACH: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_two_instances_make_one_gapless_order() -> TestResult {
    let Some((a, b)) = two_instances().await else {
        return Ok(());
    };
    let mut subscribers = vec![
        a.subscribe("", &[]).await,
        b.subscribe("", &[]).await,
        b.subscribe("?topic=users", &[]).await,
    ];

    let writers = (0..WRITERS).map(|w| {
        let url = if w % 2 == 0 { a.url("/api/v1/users") } else { b.url("/api/v1/users") };
        let client = a.client.clone();
        async move {
            for i in 0..WRITES_EACH {
                let body = json!({"user_name": format!("w{w}-{i}"), "email": format!("w{w}.{i}@example.com")});
                let response = client.post(&url).json(&body).send().await?;
                assert_eq!(response.status(), 201);
            }
            Ok::<_, reqwest::Error>(())
        }
    });
    for written in join_all(writers).await {
        written?;
    }

    let total = (WRITERS * WRITES_EACH) as i64;
    let mut orders = Vec::new();
    for subscriber in &mut subscribers {
        let mut seen = Vec::new();
        for expected in 1..=total {
            let frame = subscriber.expect_event().await;
            assert_eq!(frame.id_number(), expected, "no gap, no duplicate");
            seen.push(frame.json()["data"]["user_id"].clone());
        }
        subscriber.expect_quiet().await;
        orders.push(seen);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "both instances deliver the same order"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_works_on_any_instance() -> TestResult {
    let Some((a, b)) = two_instances().await else {
        return Ok(());
    };
    let mut on_a = a.subscribe("", &[]).await;
    for name in ["ada", "grace", "linus"] {
        b.create_user(name).await;
    }
    assert_eq!(
        on_a.expect_ids(3).await,
        [1, 2, 3],
        "writes on b reach streams on a"
    );
    let seen_on_a = on_a.expect_event_after_write(&b, "edsger").await;
    drop(on_a);
    a.create_user("barbara").await;
    let mut on_b = b
        .subscribe("", &[("Last-Event-ID", &seen_on_a.to_string())])
        .await;
    assert_eq!(
        on_b.expect_event().await.json()["data"]["user"]["user_name"],
        "barbara"
    );
    Ok(())
}

impl crate::helpers::SseClient {
    /// Writes a user on `app` and returns the id this stream receives for it.
    async fn expect_event_after_write(&mut self, app: &crate::helpers::TestApp, name: &str) -> i64 {
        app.create_user(name).await;
        self.expect_event().await.id_number()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listener_loses_nothing() -> TestResult {
    let Some((a, b)) = two_instances().await else {
        return Ok(());
    };
    let mut on_b = b.subscribe("", &[]).await;
    a.create_user("before").await;
    assert_eq!(on_b.expect_event().await.id_number(), 1);

    terminate_connections(&a, "AND query LIKE 'LISTEN%'").await;
    for name in ["during", "after"] {
        a.create_user(name).await;
    }
    assert_eq!(on_b.expect_ids(2).await, [2, 3]);
    eventually("b ready again", || async {
        b.get("/readyz").await.status() == 200
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_fails_writes_and_keeps_streams() -> TestResult {
    let Some((a, b)) = two_instances().await else {
        return Ok(());
    };
    let mut on_b = b.subscribe("", &[]).await;
    assert_eq!(on_b.expect_frame().await.retry, Some(500));
    let database = a
        .database
        .postgres_name()
        .ok_or("not on PostgreSQL")?
        .to_owned();

    a.database
        .as_admin(&format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
        ))
        .await;
    terminate_connections(&a, "").await;

    let refused = a
        .post_user(&json!({"user_name": "lost", "email": "lost@example.com"}))
        .await;
    assert_error(refused, 503, "database_unavailable").await;
    let ready = b.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert!(
        json_body(ready).await["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    for _ in 0..2 {
        let frame = on_b.expect_frame().await;
        assert_eq!(
            frame.comments,
            ["keep-alive"],
            "the stream stays open while the database is away: {frame:?}"
        );
    }

    a.database
        .as_admin(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .await;
    eventually("a ready again", || async {
        a.get("/readyz").await.status() == 200
    })
    .await;
    a.create_user("back").await;
    let frame = tokio::time::timeout(PROMPTLY, on_b.expect_event()).await?;
    assert_eq!(frame.id_number(), 1, "the refused write left no event");
    assert_eq!(frame.json()["data"]["user"]["user_name"], "back");
    Ok(())
}
