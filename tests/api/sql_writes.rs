//! The users table as a public interface: SQL written straight to it, by
//! another process (the `sqlite3` shell, `psql`), becomes events as the API's
//! writes do, in the same transaction and with the same gapless ids, and
//! the database refuses what the API would.

use std::collections::BTreeSet;
use std::process::Command;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Ran, SseClient, TestApp, TestDatabase, TestResult, json_body, on_both_databases,
    shell as shell_on, spawn_app, start,
};

on_both_databases!(
    each_statement_becomes_its_events,
    the_database_refuses_what_the_api_would,
    api_and_sql_writers_share_one_gapless_log,
    large_statements_and_savepoints_keep_the_log_gapless,
    a_sql_write_while_herald_is_stopped_is_delivered_on_resume,
    an_existing_database_is_upgraded_with_its_rows_untouched
);

fn shell(app: &TestApp, sql: &str) -> Ran {
    shell_on(&app.database, sql)
}

/// Like [`shell`], which must succeed.
fn sql(app: &TestApp, statements: &str) {
    let ran = shell(app, statements);
    assert!(ran.ok, "{statements}: {}", ran.error);
}

/// A transaction around `statements` that is rolled back.
fn rolled_back(app: &TestApp, statements: &str) {
    sql(app, &format!("BEGIN; {statements}; ROLLBACK;"));
}

/// The next `n` events, as their envelopes.
async fn envelopes(stream: &mut SseClient, n: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(stream.expect_event().await.json());
    }
    events
}

async fn each_statement_becomes_its_events(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;

    sql(
        &app,
        "INSERT INTO users (user_name, email) VALUES ('ada', 'Ada@Example.com')",
    );
    sql(
        &app,
        "INSERT INTO users (user_name, email, display_name) VALUES ('grace', 'grace@example.com', 'Grace Hopper')",
    );
    let created = envelopes(&mut stream, 2).await;
    assert_eq!(
        created.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        [json!(1), json!(2)]
    );
    for event in &created {
        assert_eq!(event["event"], "user_created");
        let user = &event["data"]["user"];
        let id = user["id"].as_str().ok_or("no id")?;
        assert_eq!(event["topic"], format!("users/{id}"));
        assert_eq!(event["data"]["user_id"], id);
        assert_eq!(user["version"], 1);
        assert_eq!(user["created_at"], user["updated_at"]);
        assert_eq!(event["at"], user["updated_at"]);
        assert_eq!(uuid::Uuid::parse_str(id)?.get_version_num(), 7);
        // The API shows the user at once, with its version as ETag.
        let response = app.get(&format!("/api/v1/users/{id}")).await;
        assert_eq!(response.headers()["etag"], "\"1\"");
        assert_eq!(json_body(response).await, *user);
    }
    assert_eq!(
        created[0]["data"]["updated_fields"],
        json!({"user_name": "ada", "email": "Ada@Example.com"})
    );
    assert_eq!(
        created[1]["data"]["updated_fields"],
        json!({"user_name": "grace", "email": "grace@example.com", "display_name": "Grace Hopper"})
    );
    // The derived keys are kept right: the name is taken ignoring case.
    let taken = app
        .post_user(&json!({"user_name": "ADA", "email": "other@example.com"}))
        .await;
    assert_eq!(taken.status(), 409);

    // A given id is kept.
    let given = uuid::Uuid::now_v7();
    let literal = match backend {
        Backend::Sqlite => format!("x'{}'", given.simple()),
        Backend::Postgres(_) => format!("'{given}'"),
    };
    sql(
        &app,
        &format!(
            "INSERT INTO users (id, user_name, email) VALUES ({literal}, 'linus', 'linus@example.com')"
        ),
    );
    let [given_event] = envelopes(&mut stream, 1)
        .await
        .try_into()
        .map_err(|_| "one event")?;
    assert_eq!(given_event["data"]["user_id"], given.to_string());

    // Updates: only the fields whose value changed, the version bumped.
    sql(
        &app,
        "UPDATE users SET display_name = 'Countess' WHERE user_name = 'ada'",
    );
    sql(
        &app,
        "UPDATE users SET user_name = 'ada.l', email = 'ada@example.org' WHERE user_name = 'ada'",
    );
    let updated = envelopes(&mut stream, 2).await;
    assert_eq!(updated[0]["event"], "user_updated");
    assert_eq!(
        updated[0]["data"]["updated_fields"],
        json!({"display_name": "Countess"})
    );
    assert_eq!(updated[0]["data"]["user"]["version"], 2);
    assert_eq!(
        updated[1]["data"]["updated_fields"],
        json!({"user_name": "ada.l", "email": "ada@example.org"})
    );
    assert_eq!(updated[1]["data"]["user"]["version"], 3);
    assert_eq!(updated[1]["at"], updated[1]["data"]["user"]["updated_at"]);
    let ada_id = updated[1]["data"]["user_id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let ada = json_body(app.get(&format!("/api/v1/users/{ada_id}")).await).await;
    assert_eq!(
        ada, updated[1]["data"]["user"],
        "the API and the event agree"
    );

    // An update that changes nothing makes nothing, and keeps the version.
    sql(
        &app,
        "UPDATE users SET display_name = 'Countess' WHERE user_name = 'ada.l'",
    );
    // A transaction that rolls back leaves nothing.
    rolled_back(&app, "DELETE FROM users");
    // A statement that changes several rows makes one event each, in order.
    sql(&app, "UPDATE users SET display_name = 'Everyone'");
    let everyone = envelopes(&mut stream, 3).await;
    assert_eq!(
        everyone.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        [json!(6), json!(7), json!(8)],
        "nothing for the no-op update or the rolled-back delete"
    );
    assert!(
        everyone
            .iter()
            .all(|e| e["data"]["updated_fields"] == json!({"display_name": "Everyone"}))
    );
    sql(&app, "DELETE FROM users WHERE user_name <> 'linus'");
    let deleted = envelopes(&mut stream, 2).await;
    for event in &deleted {
        assert_eq!(event["event"], "user_deleted");
        assert_eq!(event["data"]["updated_fields"], json!({}));
        assert_eq!(event["data"]["user"], Value::Null);
    }
    stream.expect_quiet().await;
    assert_eq!(app.all_users().await.len(), 1);
    assert_eq!(app.last_event_id().await, 10);
    Ok(())
}

async fn the_database_refuses_what_the_api_would(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    app.create_user("ada").await;
    let insert = |name: &str, email: &str, display: &str| {
        format!(
            "INSERT INTO users (user_name, email, display_name) VALUES ('{name}', '{email}', {display})"
        )
    };
    let refused = [
        (insert("ab", "ab@example.com", "NULL"), "user_name"),
        (insert("has space", "s@example.com", "NULL"), "user_name"),
        (insert("zoë", "z@example.com", "NULL"), "user_name"),
        (insert("ADA", "new@example.com", "NULL"), "user_name"),
        (insert("bob", "ADA@EXAMPLE.COM", "NULL"), "email"),
        (insert("bob", "not-an-email", "NULL"), "email"),
        (
            insert("bob", "bob@example.com", &format!("'{}'", "x".repeat(101))),
            "display_name",
        ),
        (insert("bob", "bob@example.com", "'   '"), "display_name"),
        (
            insert("bob", "bob@example.com", "'evil\u{202E}txt'"),
            "display_name",
        ),
        (
            "UPDATE users SET user_name = 'x' WHERE user_name = 'ada'".to_owned(),
            "user_name",
        ),
        ("UPDATE users SET version = 9".to_owned(), "version"),
    ];
    for (statement, rule) in refused {
        let ran = shell(&app, &statement);
        assert!(!ran.ok, "{statement} was accepted");
        assert!(
            ran.error.contains(rule),
            "{statement}: the error names no rule: {}",
            ran.error
        );
    }
    // What would remove a user without its user_deleted event.
    let (statement, says) = match backend {
        Backend::Sqlite => (
            "INSERT OR REPLACE INTO users (user_name, email) VALUES ('Ada', 'new@example.com')",
            "REPLACE",
        ),
        Backend::Postgres(_) => ("TRUNCATE users", "use DELETE"),
    };
    let ran = shell(&app, statement);
    assert!(
        !ran.ok && ran.error.contains(says),
        "{statement}: {}",
        ran.error
    );
    // Nothing of it changed anything or made an event.
    assert_eq!(app.last_event_id().await, 1);
    assert_eq!(app.all_users().await.len(), 1);
    stream.expect_event().await;
    stream.expect_quiet().await;
    Ok(())
}

async fn api_and_sql_writers_share_one_gapless_log(backend: Backend) -> TestResult {
    const EACH: usize = 10;
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let shells: Vec<_> = (0..4)
        .map(|w| {
            let database = app.database.clone();
            tokio::task::spawn_blocking(move || {
                for i in 0..EACH {
                    let statement = format!(
                        "INSERT INTO users (user_name, email) VALUES ('sql{w}x{i}', 'sql{w}.{i}@example.com')"
                    );
                    let ran = shell_on(&database, &statement);
                    assert!(ran.ok, "{}", ran.error);
                }
            })
        })
        .collect();
    let app = &app;
    join_all((0..8).map(|w| async move {
        for i in 0..EACH {
            let body = json!({"user_name": format!("api{w}x{i}"), "email": format!("api{w}.{i}@example.com")});
            assert_eq!(app.post_user(&body).await.status(), 201);
        }
    }))
    .await;
    for shell in shells {
        shell.await?;
    }
    let total = 12 * EACH;
    let events = envelopes(&mut stream, total).await;
    let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert_eq!(
        ids,
        (1..=total as i64).collect::<Vec<_>>(),
        "gapless, in order"
    );
    let names: BTreeSet<String> = events
        .iter()
        .filter_map(|e| e["data"]["user"]["user_name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), total, "every change exactly once");
    stream.expect_quiet().await;
    Ok(())
}

/// A statement of thousands of rows, and a transaction with a savepoint
/// rolled back, each take exactly their ids from the counter (on
/// PostgreSQL a statement advances the counter once, after its rows).
async fn large_statements_and_savepoints_keep_the_log_gapless(backend: Backend) -> TestResult {
    const ROWS: i64 = 2000;
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let numbers = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) \
             SELECT i FROM n"
        ),
        Backend::Postgres(_) => format!("SELECT i FROM generate_series(1, {ROWS}) AS i"),
    };
    sql(
        &app,
        &format!(
            "INSERT INTO users (user_name, email) SELECT 'bulk' || i, 'bulk' || i || '@example.com' FROM ({numbers}) AS n"
        ),
    );
    sql(
        &app,
        "BEGIN; \
         INSERT INTO users (user_name, email) VALUES ('kept1', 'kept1@example.com'); \
         SAVEPOINT s; \
         UPDATE users SET display_name = 'gone' WHERE user_name LIKE 'bulk%'; \
         INSERT INTO users (user_name, email) VALUES ('gone', 'gone@example.com'); \
         ROLLBACK TO SAVEPOINT s; \
         INSERT INTO users (user_name, email) VALUES ('kept2', 'kept2@example.com'); \
         COMMIT;",
    );
    app.create_user("api").await;
    let total = usize::try_from(ROWS)? + 3;
    let events = envelopes(&mut stream, total).await;
    let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert_eq!(ids, (1..=ROWS + 3).collect::<Vec<_>>(), "gapless, in order");
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| e["data"]["user"]["user_name"].as_str())
        .collect();
    let mut expected: Vec<String> = (1..=ROWS).map(|i| format!("bulk{i}")).collect();
    expected.extend(["kept1", "kept2", "api"].map(str::to_owned));
    assert_eq!(
        names, expected,
        "each row once, in the order it was written"
    );
    assert!(
        events
            .iter()
            .all(|e| e["data"]["user"]["display_name"].is_null())
    );
    stream.expect_quiet().await;
    assert_eq!(app.last_event_id().await, ROWS + 3);
    Ok(())
}

async fn a_sql_write_while_herald_is_stopped_is_delivered_on_resume(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(&backend).await;
    app.create_user("before").await;
    let database = app.database.clone();
    app.shut_down().await;
    // Nobody listens: an operator fixes a name in the shell.
    let ran = shell_on(
        &database,
        "UPDATE users SET display_name = 'Fixed by hand' WHERE user_name = 'before'",
    );
    assert!(ran.ok, "{}", ran.error);
    let app = start(database, &[]).await;
    let mut resumed = app.subscribe("", &[("Last-Event-ID", "1")]).await;
    let event = resumed.expect_event().await;
    assert_eq!(event.id_number(), 2);
    let envelope = event.json();
    assert_eq!(envelope["event"], "user_updated");
    assert_eq!(
        envelope["data"]["updated_fields"],
        json!({"display_name": "Fixed by hand"})
    );
    Ok(())
}

/// A database made by the Herald before this change, with users in it
/// (one of them older than today's rules, one with a time of three
/// fractional digits): the upgrade keeps every row as it was, and the next
/// writes, by API and by SQL, work.
async fn an_existing_database_is_upgraded_with_its_rows_untouched(backend: Backend) -> TestResult {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;

    let database = TestDatabase::create(&backend).await;
    let mut options = sea_orm::ConnectOptions::new(database.url.clone());
    options.sqlx_logging(false).max_connections(1);
    let old = sea_orm::Database::connect(options).await?;
    // The migrations from before users wrote their own events.
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261202_000001_users_write_their_events")
        .ok_or("no such migration")?;
    Migrator::up(&old, Some(u32::try_from(before)?)).await?;
    let (id, legacy) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (id_value, legacy_value) = match backend {
        Backend::Sqlite => (
            format!("x'{}'", id.simple()),
            format!("x'{}'", legacy.simple()),
        ),
        Backend::Postgres(_) => (format!("'{id}'"), format!("'{legacy}'")),
    };
    old.execute_unprepared(&format!(
        "INSERT INTO users (id, user_name, user_name_key, email, email_key, display_name, version, created_at, updated_at) VALUES \
         ({id_value}, 'Ada', 'ada', 'Ada@Example.com', 'ada@example.com', 'Ada', 3, '2026-11-22T03:58:16.081864+00:00', '2026-11-23T03:58:16.081+00:00'), \
         ({legacy_value}, 'x', 'x', 'x@example.com', 'x@example.com', NULL, 1, '2026-11-22T03:58:16+00:00', '2026-11-22T03:58:16+00:00')"
    ))
    .await?;
    old.execute_unprepared("UPDATE event_counter SET last_id = 7")
        .await?;
    let _ = old.close().await;

    let app = start(database, &[]).await;
    let ada = json_body(app.get(&format!("/api/v1/users/{id}")).await).await;
    assert_eq!(
        ada,
        json!({"id": id.to_string(), "user_name": "Ada", "email": "Ada@Example.com",
               "display_name": "Ada", "version": 3,
               "created_at": "2026-11-22T03:58:16.081864Z", "updated_at": "2026-11-23T03:58:16.081000Z"})
    );
    let legacy_user = json_body(app.get(&format!("/api/v1/users/{legacy}")).await).await;
    assert_eq!(
        legacy_user["user_name"], "x",
        "a name from before the rules stays"
    );
    assert_eq!(app.last_event_id().await, 7);

    let mut stream = app.subscribe("", &[]).await;
    let response = app
        .patch_user(&id.to_string(), &json!({"display_name": "Countess"}))
        .await;
    assert_eq!(response.status(), 200);
    let patched = json_body(response).await;
    assert_eq!(patched["version"], 4);
    let event = stream.expect_event().await;
    assert_eq!(event.id_number(), 8);
    assert_eq!(event.json()["data"]["user"], patched);
    // The old name can still have its other fields changed, by SQL too.
    sql(
        &app,
        "UPDATE users SET display_name = 'Legacy' WHERE user_name = 'x'",
    );
    let event = stream.expect_event().await;
    assert_eq!(event.id_number(), 9);
    assert_eq!(
        event.json()["data"]["updated_fields"],
        json!({"display_name": "Legacy"})
    );
    assert_eq!(app.create_user("grace").await["version"], 1);
    Ok(())
}

/// The SQLite migrations with a template are generated: what is checked in
/// is what `migrations/sql/make_sqlite.py` makes of each template today.
#[test]
fn the_sqlite_migrations_are_generated_from_their_templates() -> TestResult {
    let sql = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sql");
    let made = tempfile::tempdir()?;
    let ran = Command::new("python3")
        .arg(sql.join("make_sqlite.py"))
        .arg(made.path())
        .output()?;
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let mut templates = 0;
    for entry in std::fs::read_dir(&sql)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(generated) = name.strip_suffix(".in") else {
            continue;
        };
        templates += 1;
        let checked_in = std::fs::read_to_string(sql.join(generated))?;
        let made = std::fs::read_to_string(made.path().join(generated))?;
        assert!(
            checked_in == made,
            "migrations/sql/{generated} is not what make_sqlite.py makes of {name}: run python3 migrations/sql/make_sqlite.py"
        );
    }
    assert!(templates > 0, "no template found");
    Ok(())
}
