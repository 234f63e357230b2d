//! The database as deployments meet it: instances that migrate it together,
//! a file that is read-only, a write lock held by someone else.

use std::time::Duration;

use futures_util::future::join_all;
use herald::startup::Application;
use sea_orm::sqlx::{Connection, Executor, SqliteConnection};
use serde_json::json;

use crate::helpers::{
    Backend, TestDatabase, TestResult, assert_error, on_both_databases, settings_for, start,
};

on_both_databases!(
    instances_started_together_on_a_fresh_database_all_come_up,
    a_read_only_database_stops_start_up
);

const INSTANCES: usize = 4;

async fn instances_started_together_on_a_fresh_database_all_come_up(
    backend: Backend,
) -> TestResult {
    let database = TestDatabase::create(&backend).await;
    // Each builds (and so migrates) at the same moment; `start` fails the
    // test if any of them cannot.
    let apps = join_all((0..INSTANCES).map(|_| start(database.clone(), &[]))).await;
    for (i, app) in apps.iter().enumerate() {
        app.create_user(&format!("user{i}")).await;
    }
    assert_eq!(apps[0].all_users().await.len(), INSTANCES);
    Ok(())
}

async fn a_read_only_database_stops_start_up(backend: Backend) -> TestResult {
    let app = crate::helpers::spawn_app(&backend).await;
    app.create_user("ada").await;
    let database = app.database.clone();
    app.shut_down().await;

    let read_only_url;
    let settings = match &backend {
        // Root (as tests often run) may write to a file whatever its
        // permissions, so the file is opened read-only instead: SQLite then
        // refuses writes just the same.
        Backend::Sqlite => {
            read_only_url = database.url.replace("mode=rwc", "mode=ro");
            settings_for(&database, &[("DATABASE_URL", &read_only_url)])
        }
        Backend::Postgres(_) => {
            let name = database.postgres_name().ok_or("no database name")?;
            database
                .as_admin(&format!(
                    "ALTER DATABASE {name} SET default_transaction_read_only = on"
                ))
                .await;
            settings_for(&database, &[])
        }
    };
    let Err(error) = Application::build(settings).await else {
        return Err("started on a read-only database".into());
    };
    let message = format!("{error:#}");
    assert!(
        message.contains("the database is read-only, but Herald must write to it"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    Ok(())
}

/// Another process's write transaction outlasting the busy timeout makes a
/// write fail as "unavailable, retry", not as an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_write_lock_held_elsewhere_is_503() -> TestResult {
    let database = TestDatabase::create(&Backend::Sqlite).await;
    let app = start(database.clone(), &[("SQLITE_BUSY_TIMEOUT_MS", "200")]).await;
    app.create_user("ada").await;

    let mut other = SqliteConnection::connect(&database.url).await?;
    other.execute("BEGIN IMMEDIATE").await?;
    let response = app
        .post_user(&json!({"user_name": "grace", "email": "grace@example.com"}))
        .await;
    assert_error(response, 503, "database_unavailable").await;
    // Reads go on: WAL readers never wait for the writer.
    assert_eq!(app.get("/api/v1/users").await.status(), 200);
    // Readiness says writes fail, and why…
    let readyz = app.get("/readyz").await;
    assert_eq!(readyz.status(), 503);
    let reason = crate::helpers::json_body(readyz).await["reason"].clone();
    assert!(
        reason
            .as_str()
            .is_some_and(|r| r.starts_with("writes are failing")),
        "{reason}"
    );

    other.execute("ROLLBACK").await?;
    drop(other);
    // …and heals by itself once the lock is gone, before anyone writes.
    crate::helpers::eventually("readiness after the lock is released", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    tokio::time::timeout(Duration::from_secs(5), app.create_user("grace")).await?;
    Ok(())
}
