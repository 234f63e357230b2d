//! A PostgreSQL instance frozen inside a write transaction (a paused VM,
//! `docker pause`, a partition) holds the event counter's lock, which every
//! writer of every instance queues on. Herald's sessions end such a
//! transaction within seconds, a write waiting behind it is answered rather
//! than left hanging, and readiness says writes are stuck meanwhile.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{TestResult, json_body, postgres_or_skip, spawn_app};
use crate::process::Herald;

/// Whether a session of the test database (other than `db`'s) sits idle
/// inside a write transaction that holds the event counter.
async fn idle_in_transaction(db: &sea_orm::DatabaseConnection) -> bool {
    let found = sea_orm::ConnectionTrait::query_one_raw(
        db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            // Idle inside a write transaction that has taken the counter
            // (not merely begun).
            "SELECT count(*) AS n FROM pg_stat_activity AS a JOIN pg_locks AS l ON l.pid = a.pid \
             WHERE a.datname = current_database() AND a.state = 'idle in transaction' \
             AND l.relation = 'event_counter'::regclass AND l.mode = 'RowExclusiveLock' \
             AND a.pid <> pg_backend_pid()",
        ),
    )
    .await
    .ok()
    .flatten()
    .and_then(|row| row.try_get::<i64>("", "n").ok())
    .unwrap_or(0);
    found > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_does_not_hold_every_writer() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let b = spawn_app(&backend).await;
    let database = b.database.clone();
    let a = Herald::start_with(&[("DATABASE_URL", &database.url)]).await?;

    // A client keeps instance A writing, one create after another, on a
    // connection per create: a keep-alive connection that A finds idle past
    // its keep-alive when it wakes is closed, and a request sent on it just
    // then is reset unread (the keep-alive race any HTTP client meets, not
    // an answer of A's).
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let hammer = tokio::spawn({
        let (url, stop) = (format!("{}/api/v1/users", a.address), stop.clone());
        async move {
            let mut answers = Vec::new();
            let mut i = 0;
            while !stop.is_cancelled() {
                let body =
                    json!({"user_name": format!("ant{i}"), "email": format!("ant{i}@example.com")});
                let response = client.post(&url).json(&body).send().await;
                let status = response.as_ref().map_or(0, |r| r.status().as_u16());
                let id = match response {
                    Ok(r) if status == 201 => json_body(r).await["id"].as_str().map(str::to_owned),
                    _ => None,
                };
                answers.push((status, id));
                i += 1;
            }
            answers
        }
    });

    // Freeze A; keep it frozen once it is caught inside a transaction. One
    // connection of its own looks, so that each look is quick: A's session
    // ends 5 s after its last statement, and B must find it still frozen.
    let mut options = sea_orm::ConnectOptions::new(database.url.clone());
    options.sqlx_logging(false).max_connections(1);
    let observer = sea_orm::Database::connect(options).await?;
    let mut frozen = false;
    for _ in 0..200 {
        a.signal("STOP")?;
        if idle_in_transaction(&observer).await {
            frozen = true;
            break;
        }
        a.signal("CONT")?;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert!(frozen, "A was never caught inside a write transaction");

    // B's writes wait behind A's lock, but not for as long as A is frozen.
    let started = Instant::now();
    let first = json!({"user_name": "bee0", "email": "bee0@example.com"});
    let write = b.post_user(&first);
    let watch_readiness = async {
        let mut saw_stuck = None;
        for _ in 0..100 {
            let readyz = b.get("/readyz").await;
            if readyz.status() == 503 {
                saw_stuck = json_body(readyz).await["reason"]
                    .as_str()
                    .map(str::to_owned);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        saw_stuck
    };
    let write = async {
        let response = tokio::time::timeout(Duration::from_secs(20), write).await;
        (response, started.elapsed())
    };
    let ((response, waited), stuck) = tokio::join!(write, watch_readiness);
    let response = response.map_err(|_| "B's write hung behind the frozen instance")?;
    let status = response.status().as_u16();
    assert!(
        status == 201 || status == 503,
        "B's write is answered: {status}"
    );
    if status == 503 {
        assert!(response.headers().contains_key("retry-after"));
    }
    assert!(
        waited < Duration::from_secs(15),
        "B's write waited {waited:?} behind a frozen instance"
    );
    // Readiness says so once a write has waited 3 s: B's did, unless the
    // machine was so slow to freeze A and send the write that A's session
    // ended first (`writes_stuck_behind_a_lock_make_readiness_say_so`
    // checks readiness on its own).
    if waited >= Duration::from_millis(3500) {
        let stuck = stuck.ok_or("readiness never said writes were stuck")?;
        assert!(stuck.contains("writes"), "{stuck}");
    }

    // With A still frozen, its session has ended and writes flow again.
    let after: Vec<u16> = join_all((1..=4).map(|i| {
        let body = json!({"user_name": format!("bee{i}"), "email": format!("bee{i}@example.com")});
        let b = &b;
        async move { b.post_user(&body).await }
    }))
    .await
    .iter()
    .map(|r| r.status().as_u16())
    .collect();
    assert_eq!(after, [201; 4], "writes flow while A is still frozen");

    // A wakes up: the write it was in the middle of did not commit and is
    // not reported as if it had.
    a.signal("CONT")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let answers = hammer.await?;
    assert!(
        answers
            .iter()
            .all(|(status, _)| matches!(status, 201 | 503)),
        "{answers:?}"
    );
    assert_eq!(
        b.get("/readyz").await.status(),
        200,
        "B is ready once its writes go through"
    );

    // Every acknowledged create is there, and the log is gapless with one
    // event per user.
    let users = b.all_users().await;
    for (_, id) in answers.iter().filter(|(status, _)| *status == 201) {
        let id = id.as_deref().ok_or("a 201 without an id")?;
        assert!(
            users.iter().any(|u| u["id"] == id),
            "{id} was acknowledged but is missing"
        );
    }
    let ids: Vec<i64> = b
        .logged_events()
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
    assert_eq!(ids.len(), users.len());
    Ok(())
}

/// A write waiting on the event counter's lock, held by another session,
/// makes readiness say writes are stuck, and is answered `503` with
/// `Retry-After` once it has waited the lock timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_stuck_behind_a_lock_make_readiness_say_so() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let app = spawn_app(&backend).await;
    // A session of its own, without Herald's timeouts.
    let mut options = sea_orm::ConnectOptions::new(app.database.url.clone());
    options.sqlx_logging(false).max_connections(1);
    let holder = sea_orm::Database::connect(options).await?;
    let txn = sea_orm::TransactionTrait::begin(&holder).await?;
    sea_orm::ConnectionTrait::execute_unprepared(
        &txn,
        "SELECT last_id FROM event_counter WHERE id = 1 FOR UPDATE",
    )
    .await?;
    let body = json!({"user_name": "waiting", "email": "waiting@example.com"});
    let write = app.post_user(&body);
    let readiness = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let readyz = app.get("/readyz").await;
            if readyz.status() == 503 {
                return json_body(readyz).await["reason"]
                    .as_str()
                    .map(str::to_owned);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (response, stuck) = tokio::join!(write, readiness);
    let stuck = stuck.ok_or("readiness never said writes were stuck")?;
    assert!(stuck.starts_with("writes have waited"), "{stuck}");
    assert!(response.headers().contains_key("retry-after"));
    crate::helpers::assert_error(response, 503, "database_unavailable").await;
    txn.rollback().await?;
    app.create_user("afterwards").await;
    Ok(())
}
