//! PostgreSQL databases whose defaults differ from the server's: Herald
//! sets what its write path relies on for its own sessions, and a
//! statement the database cancels is "retry later", not an internal error.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{TestResult, assert_error, postgres_or_skip, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_default_isolation_fails_no_write() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    for isolation in ["serializable", "repeatable read"] {
        let app = spawn_app(&backend).await;
        let name = app.database.postgres_name().ok_or("no name")?.to_owned();
        app.database
            .as_admin(&format!(
                "ALTER DATABASE {name} SET default_transaction_isolation = '{isolation}'"
            ))
            .await;
        // Sessions opened from now on get the database's default; two
        // instances write at once, each in transactions of its own.
        let app = app.restart().await;
        let other = app.another_instance().await;
        let statuses: Vec<u16> = join_all((0..32).map(|i| {
            let body =
                json!({"user_name": format!("user{i}"), "email": format!("user{i}@example.com")});
            let instance = if i % 2 == 0 { &app } else { &other };
            async move { instance.post_user(&body).await }
        }))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
        assert_eq!(statuses, vec![201; 32], "with {isolation}");
        assert_eq!(app.last_event_id().await, 32);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_cancelled_by_a_timeout_is_503() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let app = spawn_app(&backend).await;
    let name = app.database.postgres_name().ok_or("no name")?.to_owned();
    app.database
        .as_admin(&format!(
            "ALTER DATABASE {name} SET statement_timeout = '200ms'"
        ))
        .await;
    let app = app.restart().await;
    app.create_user("ada").await;
    // Another session holds the users table, so the next create waits past
    // the statement timeout.
    let mut options = sea_orm::ConnectOptions::new(app.database.url.clone());
    options.sqlx_logging(false).max_connections(1);
    let other = sea_orm::Database::connect(options).await?;
    let txn = sea_orm::TransactionTrait::begin(&other).await?;
    sea_orm::ConnectionTrait::execute_unprepared(&txn, "SET LOCAL statement_timeout = 0").await?;
    sea_orm::ConnectionTrait::execute_unprepared(&txn, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await?;
    let response = app
        .post_user(&json!({"user_name": "grace", "email": "grace@example.com"}))
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 503, "database_unavailable").await;
    txn.rollback().await?;
    let _ = other.close().await;
    app.create_user("grace").await;
    assert_eq!(
        app.last_event_id().await,
        2,
        "the cancelled write left nothing"
    );
    Ok(())
}
