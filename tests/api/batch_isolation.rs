//! One client's write never fails another's, though writes that arrive
//! together commit in one transaction: what a write stores is checked
//! before it joins a batch, and a write whose statement fails anyway is
//! answered alone while the rest of its batch commits.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use herald::db::writer::Change;
use sea_orm::ConnectionTrait;
use serde_json::json;
use tokio::sync::Notify;

use crate::helpers::{
    Backend, TestApp, TestResult, bearer, json_body, on_both_databases, spawn_app, spawn_secured,
    token,
};

on_both_databases!(
    a_subject_the_database_cannot_store_fails_no_one_else,
    a_failing_statement_fails_only_its_own_write
);

const CREATORS: usize = 16;

async fn create_all(app: &TestApp, prefix: &str, token: Option<&str>) -> Vec<u16> {
    join_all((0..CREATORS).map(|i| {
        let mut request = app
            .client
            .post(app.url("/api/v1/users"))
            .json(&json!({"user_name": format!("{prefix}{i}"), "email": format!("{prefix}{i}@example.com")}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { app.send(request).await.status().as_u16() }
    }))
    .await
}

async fn a_subject_the_database_cannot_store_fails_no_one_else(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let hour = Duration::from_secs(3600);
    let writer = token("writer", "users:read users:write", &["*"], hour);
    // Signed with the server's secret, so they pass the signature check:
    // only what they would store is wrong.
    let signed = |sub: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({"sub": sub, "exp": chrono::Utc::now().timestamp() + 600, "scope": "events:publish"}),
            &jsonwebtoken::EncodingKey::from_secret(crate::helpers::TEST_SECRET.as_bytes()),
        )
    };
    let hostile = [signed(&"s".repeat(300))?, signed("nul\u{0}inside")?];
    for (round, bad) in hostile.iter().enumerate() {
        let publishing = async {
            let mut statuses = Vec::new();
            for i in 0..8 {
                let response = app
                    .send(
                        app.client
                            .post(app.url("/api/v1/notifications"))
                            .header(bearer(bad).0, bearer(bad).1)
                            .header("idempotency-key", format!("key-{i}"))
                            .json(&json!({"topic": "news", "data": i})),
                    )
                    .await;
                statuses.push(response.status().as_u16());
            }
            statuses
        };
        let prefix = format!("r{round}u");
        let (published, created) =
            tokio::join!(publishing, create_all(&app, &prefix, Some(&writer)));
        assert!(
            published.iter().all(|s| (400..500).contains(s)),
            "the hostile writes get a 4xx: {published:?}"
        );
        assert_eq!(
            created,
            vec![201; CREATORS],
            "everyone else's writes commit"
        );
    }
    let list = app
        .send(
            app.client
                .get(app.url("/api/v1/users?limit=200"))
                .bearer_auth(&writer),
        )
        .await;
    let list = json_body(list).await;
    assert_eq!(
        list["last_event_id"],
        2 * CREATORS,
        "one event per user, none other"
    );
    Ok(())
}

async fn a_failing_statement_fails_only_its_own_write(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    // Hold the writer inside a batch, so that what is queued meanwhile
    // commits together in the next one.
    let (open, gate) = tokio::sync::watch::channel(false);
    let entered = Arc::new(Notify::new());
    let held = {
        let (writer, gate, entered) = (app.writer.clone(), gate.clone(), entered.clone());
        tokio::spawn(async move {
            writer
                .maintain(move |_, _| {
                    let (mut gate, entered) = (gate.clone(), entered.clone());
                    Box::pin(async move {
                        entered.notify_one();
                        let _ = gate.wait_for(|open| *open).await;
                        Ok(Change::Nothing(()))
                    })
                })
                .await
        })
    };
    entered.notified().await;
    let creates = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/api/v1/users"));
        async move {
            join_all((0..CREATORS).map(|i| {
                client
                    .post(&url)
                    .json(&json!({"user_name": format!("user{i}"), "email": format!("user{i}@example.com")}))
                    .send()
            }))
            .await
        }
    });
    // A write whose statement the database refuses: the counter's row
    // exists already. On PostgreSQL that aborts the whole transaction.
    let failing = {
        let (writer, notifier) = (app.writer.clone(), app.notifier.clone());
        tokio::spawn(async move {
            writer
                .write(notifier, |txn, _| {
                    Box::pin(async move {
                        txn.execute_unprepared(
                            "INSERT INTO event_counter (id, last_id) VALUES (1, 0)",
                        )
                        .await?;
                        Ok(Change::Nothing(()))
                    })
                })
                .await
        })
    };
    app.wait_for_queued_writes(CREATORS + 1).await;
    open.send_replace(true);
    held.await??;
    assert!(
        failing.await?.is_err(),
        "the failing write is told it failed"
    );
    for response in creates.await? {
        assert_eq!(response?.status(), 201, "its batch-mates commit");
    }
    let ids: Vec<i64> = app
        .logged_events()
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        ids,
        (1..=CREATORS as i64).collect::<Vec<_>>(),
        "one event each, no gap"
    );
    Ok(())
}
