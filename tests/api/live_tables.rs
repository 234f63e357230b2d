//! Any table made live with `herald watch`: every committed INSERT, UPDATE
//! and DELETE, written by another process (the `sqlite3` shell, `psql`),
//! becomes its event in the same transaction and the same gapless log as
//! users and notifications; snapshots read the rows as the events have
//! them; hidden columns never leave the database; tokens read exactly the
//! rows whose topics they grant.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    Backend, SseClient, TestDatabase, TestResult, bearer, herald_binary, json_body,
    on_both_databases, postgres_or_skip, shell, spawn_app, spawn_secured, start, token,
};
use crate::process::Herald;

on_both_databases!(
    watch_refuses_what_it_cannot_stream_with_one_line,
    each_statement_becomes_its_events,
    snapshots_read_rows_as_their_events_have_them,
    hidden_columns_never_leave_the_database,
    a_column_added_later_is_never_silently_missing,
    a_token_reads_exactly_the_rows_its_topics_grant,
    sql_and_api_writers_share_one_gapless_log,
    topics_are_written_alike_by_herald_and_the_database,
    text_and_uuid_keys,
    notifications_cannot_use_a_live_tables_topics,
);

/// `herald <args>` on `database`, as an operator runs it.
fn herald(database: &TestDatabase, args: &[&str]) -> Output {
    Command::new(herald_binary())
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env_remove("JWT_SECRET")
        .output()
        .unwrap_or_else(|e| panic!("running herald {args:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `herald watch <args>`, which must succeed.
fn watch(database: &TestDatabase, args: &[&str]) -> String {
    let mut all = vec!["watch"];
    all.extend_from_slice(args);
    let output = herald(database, &all);
    assert!(
        output.status.success(),
        "herald {all:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// SQL that must succeed in the database's shell.
fn sql(database: &TestDatabase, statements: &str) {
    let ran = shell(database, statements);
    assert!(ran.ok, "{statements}: {}", ran.error);
}

/// The orders table, for one database: a key, a tenant (the scope), a
/// secret, and a few columns of other types.
fn create_orders(database: &TestDatabase) {
    sql(
        database,
        "CREATE TABLE orders (id bigint PRIMARY KEY, tenant text, customer text NOT NULL, \
         total numeric, secret text, note text)",
    );
}

/// The next `n` data events, as their envelopes.
async fn envelopes(stream: &mut SseClient, n: usize) -> Vec<Value> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(stream.expect_event().await.json());
    }
    events
}

/// `(event, topic, data)` of each envelope, the parts the tests compare.
fn parts(envelopes: &[Value]) -> Vec<(String, String, Value)> {
    envelopes
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["topic"].as_str().unwrap_or_default().to_owned(),
                e["data"].clone(),
            )
        })
        .collect()
}

async fn watch_refuses_what_it_cannot_stream_with_one_line(backend: Backend) -> TestResult {
    // A database Herald has never started on: watch makes Herald's tables.
    let database = TestDatabase::create(&backend).await;
    let empty = herald(&database, &["watch"]);
    assert!(empty.status.success(), "{}", text(&empty.stderr));
    assert_eq!(text(&empty.stdout), "no table is watched\n");
    create_orders(&database);
    sql(
        &database,
        "CREATE TABLE keyless (a integer); CREATE TABLE pair (a integer, b integer, PRIMARY KEY (a, b)); \
         CREATE TABLE floats (k real PRIMARY KEY); CREATE VIEW totals AS SELECT 1 AS one",
    );
    for (args, says) in [
        (vec!["watch", "nope"], "there is no table nope"),
        (vec!["watch", "keyless"], "keyless has no primary key"),
        (vec!["watch", "pair"], "several columns (a, b)"),
        (
            vec!["watch", "floats"],
            "integer, text and UUID keys are supported",
        ),
        (vec!["watch", "totals"], "totals is a view"),
        (vec!["watch", "users"], "users is Herald's own table"),
        (vec!["watch", "events"], "events is Herald's own table"),
        (
            vec!["watch", "orders", "--scope", "nope"],
            "orders has no column nope",
        ),
        (
            vec!["watch", "orders", "--hide", "secret,nope"],
            "orders has no column nope",
        ),
        (
            vec!["watch", "orders", "--hide", "id"],
            "id cannot be hidden",
        ),
        (
            vec!["watch", "orders", "--scope", "tenant", "--hide", "tenant"],
            "tenant cannot be hidden",
        ),
        (
            vec!["watch", "or\"ders"],
            "not a name herald watch can handle safely",
        ),
        (vec!["unwatch", "orders"], "orders is not watched"),
    ] {
        let output = herald(&database, &args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let usage = herald(&database, &["watch", "orders", "--bogus"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "a command line clap cannot read"
    );

    assert_eq!(
        watch(
            &database,
            &["orders", "--scope", "tenant", "--hide", "secret"]
        ),
        "watching orders: key id (integer), scope tenant, hidden secret\n"
    );
    // Idempotent; options given replace, options left out stay.
    watch(
        &database,
        &["orders", "--scope", "tenant", "--hide", "secret"],
    );
    assert_eq!(
        watch(&database, &["orders", "--hide", "secret,note"]),
        "watching orders: key id (integer), scope tenant, hidden secret, note\n"
    );
    assert_eq!(
        watch(&database, &["orders", "--no-scope", "--no-hide"]),
        "watching orders: key id (integer)\n"
    );
    assert_eq!(watch(&database, &[]), "orders: key id (integer)\n");
    let unwatched = herald(&database, &["unwatch", "orders"]);
    assert!(unwatched.status.success(), "{}", text(&unwatched.stderr));
    assert_eq!(watch(&database, &[]), "no table is watched\n");
    for help in [vec!["--help"], vec!["watch", "--help"], vec!["--version"]] {
        let output = herald(&database, &help);
        assert!(output.status.success(), "{help:?}");
        assert!(!output.stdout.is_empty(), "{help:?}");
    }
    Ok(())
}

async fn each_statement_becomes_its_events(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(
        &app.database,
        &["orders", "--scope", "tenant", "--hide", "secret"],
    );
    let mut stream = app.subscribe("?topic=orders/*", &[]).await;
    let db = &app.database;

    sql(
        db,
        "INSERT INTO orders (id, tenant, customer, total, secret) VALUES (1, 'acme', 'ada', 12.5, 's1')",
    );
    sql(
        db,
        "INSERT INTO orders (id, tenant, customer, secret) VALUES (2, 'acme', 'bob', 's2'), (3, 'globex', 'cy', 's3')",
    );
    let created = envelopes(&mut stream, 3).await;
    let ids: Vec<i64> = created.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert_eq!(ids, [1, 2, 3], "one gapless log, one event per row");
    assert_eq!(
        parts(&created)[0],
        (
            "row_created".to_owned(),
            "orders/acme/1".to_owned(),
            json!({
                "table": "orders",
                "key": "1",
                "updated_fields": {"id": 1, "tenant": "acme", "customer": "ada", "total": 12.5},
                "row": {"id": 1, "tenant": "acme", "customer": "ada", "total": 12.5, "note": null},
            })
        )
    );
    assert_eq!(created[1]["topic"], "orders/acme/2");
    assert_eq!(created[2]["topic"], "orders/globex/3");

    // A no-op update and one of a hidden column make no event; a statement
    // that changes two rows makes two, in the order it changed them.
    sql(db, "UPDATE orders SET customer = customer WHERE id = 1");
    sql(db, "UPDATE orders SET secret = 'changed' WHERE id = 1");
    sql(db, "UPDATE orders SET total = 20 WHERE tenant = 'acme'");
    let updated = envelopes(&mut stream, 2).await;
    let mut keys: Vec<&str> = updated
        .iter()
        .map(|e| e["data"]["key"].as_str().unwrap_or_default())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["1", "2"]);
    let first = updated
        .iter()
        .find(|e| e["data"]["key"] == "1")
        .ok_or("no event for 1")?;
    assert_eq!(first["event"], "row_updated");
    assert_eq!(first["data"]["updated_fields"], json!({"total": 20}));
    assert_eq!(first["data"]["row"]["total"], 20);
    assert_eq!(first["data"]["row"]["customer"], "ada");

    // A row whose scope changes leaves its old topic, then comes to its new.
    sql(db, "UPDATE orders SET tenant = 'globex' WHERE id = 2");
    let moved = parts(&envelopes(&mut stream, 2).await);
    assert_eq!(moved[0].0, "row_deleted");
    assert_eq!(moved[0].1, "orders/acme/2");
    assert_eq!(moved[0].2["row"], Value::Null);
    assert_eq!(moved[0].2["updated_fields"], json!({}));
    assert_eq!(moved[1].0, "row_created");
    assert_eq!(moved[1].1, "orders/globex/2");
    assert_eq!(moved[1].2["row"]["tenant"], "globex");

    // A transaction that rolls back leaves none; a delete leaves one.
    sql(
        db,
        "BEGIN; INSERT INTO orders (id, tenant, customer) VALUES (9, 'acme', 'gone'); ROLLBACK;",
    );
    sql(db, "DELETE FROM orders WHERE id = 3");
    let deleted = parts(&envelopes(&mut stream, 1).await);
    assert_eq!(
        deleted[0],
        (
            "row_deleted".to_owned(),
            "orders/globex/3".to_owned(),
            json!({"table": "orders", "key": "3", "updated_fields": {}, "row": null})
        )
    );
    stream.expect_quiet().await;
    let ids: Vec<i64> = app
        .logged_events()
        .await
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(ids, (1..=8).collect::<Vec<_>>(), "nothing else in the log");
    if app.database.sqlite_file().is_none() {
        let truncate = shell(db, "TRUNCATE orders");
        assert!(!truncate.ok && truncate.error.contains("DELETE FROM orders"));
    }
    Ok(())
}

async fn snapshots_read_rows_as_their_events_have_them(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(
        &app.database,
        &["orders", "--scope", "tenant", "--hide", "secret"],
    );
    let mut stream = app.subscribe("?topic=orders/*", &[]).await;
    let rows: Vec<String> = (1..=5)
        .map(|i| {
            format!(
                "({i}, '{}', 'c{i}', {i}.5, 'secret{i}')",
                if i % 2 == 0 { "even" } else { "odd" }
            )
        })
        .collect();
    sql(
        &app.database,
        &format!(
            "INSERT INTO orders (id, tenant, customer, total, secret) VALUES {}",
            rows.join(", ")
        ),
    );
    let events = envelopes(&mut stream, 5).await;

    // Pages in key order, each row as its event's `row`.
    let first = json_body(app.get("/api/v1/tables/orders?limit=2").await).await;
    assert_eq!(
        first["items"],
        json!([events[0]["data"]["row"], events[1]["data"]["row"]])
    );
    assert_eq!(first["last_event_id"], 5);
    let cursor = first["next_cursor"].as_str().ok_or("a next page")?;
    let rest = json_body(
        app.get(&format!("/api/v1/tables/orders?limit=10&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(rest["next_cursor"], Value::Null);
    let scoped = json_body(app.get("/api/v1/tables/orders?scope=even").await).await;
    let keys: Vec<i64> = scoped["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["id"].as_i64())
        .collect();
    assert_eq!(keys, [2, 4]);
    let one = app.get("/api/v1/tables/orders/3").await;
    assert_eq!(one.status(), 200);
    assert_eq!(one.headers()["herald-last-event-id"], "5");
    assert_eq!(json_body(one).await, events[2]["data"]["row"]);

    // What a client follows on with: the snapshot, then the stream from its
    // `last_event_id`, misses nothing and repeats nothing.
    sql(&app.database, "UPDATE orders SET total = 0 WHERE id = 1");
    let snapshot = json_body(app.get("/api/v1/tables/orders").await).await;
    assert_eq!(snapshot["last_event_id"], 6);
    assert_eq!(snapshot["items"][0]["total"], 0);
    sql(&app.database, "DELETE FROM orders WHERE id = 1");
    let mut after = app.subscribe("?topic=orders/*&last_event_id=6", &[]).await;
    assert_eq!(after.expect_ids(1).await, [7]);

    for (path, status, code) in [
        ("/api/v1/tables/nope", 404, "table_not_watched"),
        ("/api/v1/tables/users", 404, "table_not_watched"),
        ("/api/v1/tables/orders/1", 404, "not_found"),
        ("/api/v1/tables/orders/abc", 404, "not_found"),
        ("/api/v1/tables/orders?limit=0", 400, "invalid_limit"),
        ("/api/v1/tables/orders?cursor=abc", 400, "invalid_cursor"),
    ] {
        crate::helpers::assert_error(app.get(path).await, status, code).await;
    }
    Ok(())
}

async fn hidden_columns_never_leave_the_database(backend: Backend) -> TestResult {
    let database = TestDatabase::create(&backend).await;
    create_orders(&database);
    watch(
        &database,
        &["orders", "--scope", "tenant", "--hide", "secret"],
    );
    let server = Herald::start_with(&[("DATABASE_URL", &database.url)]).await?;
    let client = reqwest::Client::new();
    let mut stream = SseClient::new(
        client
            .get(format!("{}/api/sse/stream?last_event_id=0", server.address))
            .send()
            .await?,
    );
    let secret = "hush-4b7d2c";
    sql(
        &database,
        &format!(
            "INSERT INTO orders (id, tenant, customer, secret) VALUES (1, 'acme', 'ada', '{secret}')"
        ),
    );
    sql(
        &database,
        &format!("UPDATE orders SET secret = '{secret}2', note = 'n' WHERE id = 1"),
    );
    sql(
        &database,
        "UPDATE orders SET tenant = 'globex' WHERE id = 1",
    );
    sql(&database, "DELETE FROM orders");
    let mut seen = String::new();
    for _ in 0..5 {
        seen.push_str(
            stream
                .expect_event()
                .await
                .data
                .as_deref()
                .unwrap_or_default(),
        );
    }
    sql(
        &database,
        &format!(
            "INSERT INTO orders (id, tenant, customer, secret) VALUES (2, 'acme', 'bob', '{secret}')"
        ),
    );
    seen.push_str(
        stream
            .expect_event()
            .await
            .data
            .as_deref()
            .unwrap_or_default(),
    );
    for path in [
        "/api/v1/tables/orders",
        "/api/v1/tables/orders/2",
        "/metrics",
    ] {
        seen.push_str(
            &client
                .get(format!("{}{path}", server.address))
                .send()
                .await?
                .text()
                .await?,
        );
    }
    let logs = serde_json::to_string(&server.log_lines())?;
    assert!(seen.contains("bob") && !seen.contains("hush"), "{seen}");
    assert!(!logs.contains("hush"), "a log line holds the secret");
    Ok(())
}

async fn a_column_added_later_is_never_silently_missing(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(&app.database, &["orders"]);
    let mut stream = app.subscribe("?topic=orders/*", &[]).await;
    sql(
        &app.database,
        "INSERT INTO orders (id, customer) VALUES (1, 'ada')",
    );
    assert_eq!(stream.expect_ids(1).await, [1]);

    sql(&app.database, "ALTER TABLE orders ADD COLUMN status text");
    for write in [
        "INSERT INTO orders (id, customer, status) VALUES (2, 'bob', 'new')",
        "UPDATE orders SET status = 'paid' WHERE id = 1",
        "DELETE FROM orders WHERE id = 1",
    ] {
        let refused = shell(&app.database, write);
        assert!(!refused.ok, "{write} was not refused");
        assert!(
            refused.error.contains("run `herald watch orders` again"),
            "{write}: {}",
            refused.error
        );
    }
    assert!(watch(&app.database, &[]).contains("run `herald watch orders` again"));
    watch(&app.database, &["orders"]);
    sql(
        &app.database,
        "INSERT INTO orders (id, customer, status) VALUES (2, 'bob', 'new')",
    );
    let event = stream.expect_event().await.json();
    assert_eq!(event["id"], 2, "gapless: the refused writes made nothing");
    assert_eq!(event["data"]["row"]["status"], "new");
    let row = json_body(app.get("/api/v1/tables/orders/2").await).await;
    assert_eq!(row["status"], "new");
    // An index, or another table watched, changes nothing.
    sql(
        &app.database,
        "CREATE INDEX orders_customer ON orders (customer)",
    );
    sql(
        &app.database,
        "UPDATE orders SET status = 'paid' WHERE id = 2",
    );
    assert_eq!(
        stream.expect_event().await.json()["data"]["updated_fields"],
        json!({"status": "paid"})
    );
    Ok(())
}

async fn a_token_reads_exactly_the_rows_its_topics_grant(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    create_orders(&app.database);
    watch(
        &app.database,
        &["orders", "--scope", "tenant", "--hide", "secret"],
    );
    let acme = token("acme-app", "", &["orders/acme/*"], Duration::from_secs(600));
    let (name, value) = bearer(&acme);
    sql(
        &app.database,
        "INSERT INTO orders (id, tenant, customer) VALUES (1, 'acme', 'ada'), (2, 'globex', 'bob'), (3, 'acme', 'cy')",
    );
    let get = |path: &str| {
        app.client
            .get(app.url(path))
            .header(name, value.clone())
            .send()
    };
    let list = json_body(get("/api/v1/tables/orders").await?).await;
    let keys: Vec<i64> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["id"].as_i64())
        .collect();
    assert_eq!(keys, [1, 3], "only acme's rows");
    assert_eq!(get("/api/v1/tables/orders/1").await?.status(), 200);
    assert_eq!(
        get("/api/v1/tables/orders/2").await?.status(),
        404,
        "no existence leak"
    );
    let anonymous = app.get("/api/v1/tables/orders").await;
    assert_eq!(anonymous.status(), 401);

    // Replayed and live: acme's events only.
    let mut stream = app
        .subscribe("?last_event_id=0", &[(name, value.as_str())])
        .await;
    assert_eq!(stream.expect_ids(2).await, [1, 3]);
    sql(&app.database, "UPDATE orders SET total = 1");
    let live = envelopes(&mut stream, 2).await;
    let topics: Vec<&str> = live.iter().filter_map(|e| e["topic"].as_str()).collect();
    assert_eq!(topics, ["orders/acme/1", "orders/acme/3"]);
    let refused = app
        .open_stream("?topic=orders/*", &[(name, value.clone())])
        .await;
    assert_eq!(refused.status(), 403);
    Ok(())
}

async fn sql_and_api_writers_share_one_gapless_log(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(&app.database, &["orders"]);
    let mut stream = app.subscribe("", &[]).await;
    let database = app.database.clone();
    let shells = tokio::task::spawn_blocking(move || {
        for batch in 0..10 {
            let values: Vec<String> = (0..4)
                .map(|i| format!("({}, 'c')", batch * 4 + i))
                .collect();
            sql(
                &database,
                &format!(
                    "INSERT INTO orders (id, customer) VALUES {}",
                    values.join(", ")
                ),
            );
        }
    });
    for i in 0..20 {
        app.create_user(&format!("user{i:02}")).await;
    }
    shells.await?;
    let ids = stream.expect_ids(60).await;
    assert_eq!(ids, (1..=60).collect::<Vec<_>>());
    Ok(())
}

async fn topics_are_written_alike_by_herald_and_the_database(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(&app.database, &["orders", "--scope", "tenant"]);
    let mut stream = app.subscribe("?topic=orders/*", &[]).await;
    let tenants = [
        "acme",
        "a/b",
        "snake_case",
        "café",
        "with space",
        "",
        "_null",
        "%2F",
        "a.b:c-d",
        "日本",
    ];
    for (i, tenant) in tenants.iter().enumerate() {
        sql(
            &app.database,
            &format!(
                "INSERT INTO orders (id, tenant, customer) VALUES ({i}, '{}', 'c')",
                tenant.replace('\'', "''")
            ),
        );
    }
    sql(
        &app.database,
        "INSERT INTO orders (id, tenant, customer) VALUES (100, NULL, 'c')",
    );
    for (i, tenant) in tenants.iter().enumerate() {
        let event = stream.expect_event().await.json();
        let segment = herald::domain::topic_segment::encode(Some(tenant));
        assert_eq!(
            event["topic"],
            format!("orders/{segment}/{i}"),
            "{tenant:?}"
        );
        assert_eq!(
            herald::domain::topic_segment::decode(&segment),
            Ok(Some((*tenant).to_owned()))
        );
    }
    assert_eq!(
        stream.expect_event().await.json()["topic"],
        "orders/_null/100"
    );
    Ok(())
}

async fn text_and_uuid_keys(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let postgres = app.database.sqlite_file().is_none();
    sql(
        &app.database,
        "CREATE TABLE tickets (code varchar(40) PRIMARY KEY, title text); \
         CREATE TABLE invoices (id uuid PRIMARY KEY, amount integer)",
    );
    watch(&app.database, &["tickets"]);
    watch(&app.database, &["invoices"]);
    let mut stream = app.subscribe("", &[]).await;
    let id = uuid::Uuid::now_v7();
    let literal = if postgres {
        format!("'{id}'")
    } else {
        format!("x'{}'", id.simple())
    };
    sql(
        &app.database,
        &format!(
            "INSERT INTO tickets VALUES ('T 1/x', 'first'); INSERT INTO invoices VALUES ({literal}, 5)"
        ),
    );
    let events = envelopes(&mut stream, 2).await;
    assert_eq!(events[0]["topic"], "tickets/T_201_2Fx");
    assert_eq!(events[0]["data"]["key"], "T 1/x");
    assert_eq!(events[1]["topic"], format!("invoices/{id}"));
    assert_eq!(events[1]["data"]["key"], id.to_string());
    let ticket = app.get("/api/v1/tables/tickets/T%201%2Fx").await;
    assert_eq!(ticket.status(), 200);
    assert_eq!(json_body(ticket).await["title"], "first");
    let invoice = json_body(app.get(&format!("/api/v1/tables/invoices/{id}")).await).await;
    assert_eq!(invoice["amount"], 5);
    Ok(())
}

async fn notifications_cannot_use_a_live_tables_topics(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(&app.database, &["orders", "--scope", "tenant"]);
    for topic in ["orders", "orders/acme/1", "orders/acme"] {
        let response = app
            .publish(
                None,
                &json!({"topic": topic, "data": {"forged": true}}),
                None,
            )
            .await;
        crate::helpers::assert_error(response, 403, "reserved_topic").await;
    }
    let open = app
        .publish(None, &json!({"topic": "ordersx/1", "data": {}}), None)
        .await;
    assert_eq!(open.status(), 202);
    Ok(())
}

/// PostgreSQL takes the event counter at commit: a transaction left open
/// at a `psql` prompt, on a live table or on users, holds up no other
/// writer; only writers of the same rows wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_psql_transaction_holds_up_no_other_writer() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let app = spawn_app(&backend).await;
    create_orders(&app.database);
    watch(&app.database, &["orders"]);
    let ada = app.create_user("ada").await;
    let ada_id = ada["id"].as_str().ok_or("id")?.to_owned();
    let mut stream = app.subscribe("", &[]).await;
    // A session that changed a row of each and sits there for 3 s.
    let url = app.database.url.clone();
    let sitting = Instant::now();
    let holder = std::thread::spawn(move || {
        Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-c"])
            .arg(format!(
                "BEGIN; INSERT INTO orders (id, customer) VALUES (1, 'open'); \
                 UPDATE users SET display_name = 'Held' WHERE id = '{ada_id}'; \
                 SELECT pg_sleep(3); COMMIT;"
            ))
            .output()
    });
    crate::helpers::eventually("the session holding its rows", || async {
        let ran = shell(
            &app.database,
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' \
             AND state = 'active' AND pid <> pg_backend_pid()) THEN RAISE EXCEPTION 'not yet'; END IF; END $$",
        );
        ran.ok
    })
    .await;

    // Other writers go on: the API's, and another session's.
    for i in 0..5 {
        let started = Instant::now();
        app.create_user(&format!("other{i}")).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a create waited {:?} behind the open transaction",
            started.elapsed()
        );
    }
    sql(
        &app.database,
        "INSERT INTO orders (id, customer) VALUES (2, 'free')",
    );
    assert_eq!(stream.expect_ids(6).await, (2..=7).collect::<Vec<_>>());
    // A writer of the same row waits for it, then goes through.
    let patched = app
        .patch_user(
            ada["id"].as_str().ok_or("id")?,
            &json!({"display_name": "Ada"}),
        )
        .await;
    assert_eq!(patched.status(), 200, "{}", patched.text().await?);
    assert!(
        sitting.elapsed() >= Duration::from_secs(3),
        "it waited for the session"
    );
    let held = holder
        .join()
        .map_err(|_| "the session's thread panicked")??;
    assert!(held.status.success(), "{}", text(&held.stderr));
    // The session's events come with its commit, after the others'.
    let last: Vec<Value> = envelopes(&mut stream, 3).await;
    let kinds: Vec<&str> = last.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["row_created", "user_updated", "user_updated"]);
    assert_eq!(last[0]["id"], 8);
    assert_eq!(last[2]["data"]["user"]["display_name"], "Ada");
    Ok(())
}

/// A database made by the previous release, with users and events, takes
/// the new schema: its rows and log untouched, the next writes gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_is_upgraded() -> TestResult {
    use migrations::MigratorTrait;
    for backend in [Some(Backend::Sqlite), postgres_or_skip()]
        .into_iter()
        .flatten()
    {
        let database = TestDatabase::create(&backend).await;
        let db = sea_orm::Database::connect(database.url.as_str()).await?;
        // The six migrations the previous release shipped.
        migrations::Migrator::up(&db, Some(6)).await?;
        db.close().await?;
        sql(
            &database,
            "INSERT INTO users (user_name, email) VALUES ('ada', 'ada@example.com'), ('bob', 'bob@example.com'); \
             UPDATE users SET display_name = 'Ada' WHERE user_name = 'ada';",
        );
        let app = start(database.clone(), &[]).await;
        let before = app.logged_events().await;
        assert_eq!(before.len(), 3);
        assert_eq!(app.all_users().await.len(), 2);
        create_orders(&app.database);
        watch(&app.database, &["orders"]);
        sql(
            &app.database,
            "INSERT INTO orders (id, customer) VALUES (1, 'c')",
        );
        app.create_user("cyd").await;
        let ids: Vec<i64> = app
            .logged_events()
            .await
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(ids, [1, 2, 3, 4, 5], "{backend:?}");
        assert_eq!(app.logged_events().await[..3], before[..]);
        app.shut_down().await;
    }
    Ok(())
}
