//! Names that look the same are the same: `user_name` is unique ignoring
//! case and ASCII-only; a `display_name` cannot hide or reorder its text.

use herald::startup::Application;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

use crate::helpers::{
    Backend, TestDatabase, TestResult, assert_error, json_body, on_both_databases, settings_for,
    spawn_app, start,
};

on_both_databases!(
    user_names_are_unique_ignoring_case,
    user_names_that_only_look_alike_are_refused,
    display_names_cannot_reorder_or_hide_their_text,
    existing_users_keep_their_names_and_their_case_is_now_taken,
    existing_names_differing_only_in_case_stop_the_upgrade
);

async fn user_names_are_unique_ignoring_case(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let admin = app.create_user("admin").await;
    let bob = app.create_user("bob").await;
    for (i, taken) in ["Admin", "ADMIN", "aDmIn"].into_iter().enumerate() {
        let response = app
            .post_user(&json!({"user_name": taken, "email": format!("other{i}@example.com")}))
            .await;
        let body = assert_error(response, 409, "duplicate").await;
        assert_eq!(body["error"]["details"]["field"], "user_name", "{taken}");
    }
    let bob_id = bob["id"].as_str().ok_or("id")?;
    let renamed = app.patch_user(bob_id, &json!({"user_name": "ADMIN"})).await;
    assert_error(renamed, 409, "duplicate").await;
    // A user may change the case of their own name.
    let admin_id = admin["id"].as_str().ok_or("id")?;
    let recased = app
        .patch_user(admin_id, &json!({"user_name": "Admin"}))
        .await;
    assert_eq!(recased.status(), 200);
    assert_eq!(json_body(recased).await["user_name"], "Admin");
    assert_eq!(app.all_users().await.len(), 2);
    Ok(())
}

async fn user_names_that_only_look_alike_are_refused(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    app.create_user("admin").await;
    // Cyrillic а, full-width letters, circled digits, a Latin letter with an
    // accent.
    for lookalike in [
        "\u{0430}dmin",
        "\u{ff41}\u{ff44}\u{ff4d}",
        "\u{2460}\u{2461}\u{2462}",
        "Zoë",
    ] {
        let response = app
            .post_user(&json!({"user_name": lookalike, "email": "x@example.com"}))
            .await;
        let body = assert_error(response, 422, "validation_failed").await;
        assert!(
            body["error"]["details"]["fields"]["user_name"].is_string(),
            "{lookalike}: {body}"
        );
    }
    assert_eq!(app.all_users().await.len(), 1);
    Ok(())
}

async fn display_names_cannot_reorder_or_hide_their_text(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    for (i, bad) in [
        "invoice\u{202E}fdp.exe",
        "\u{2067}isolated\u{2069}",
        "marked\u{200E}",
        "\u{200B}\u{200B}\u{200B}",
        "\u{200D}\u{FEFF}\u{2060}",
        "\u{3164}",
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .post_user(&json!({"user_name": format!("user{i}"), "email": format!("u{i}@example.com"), "display_name": bad}))
            .await;
        let body = assert_error(response, 422, "validation_failed").await;
        assert!(
            body["error"]["details"]["fields"]["display_name"].is_string(),
            "{bad:?}: {body}"
        );
    }
    // Joiners inside visible text are what some emoji and scripts are made of.
    let coder = "\u{1F469}\u{200D}\u{1F4BB} Ada";
    let response = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com", "display_name": coder}))
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(json_body(response).await["display_name"], coder);
    Ok(())
}

/// A database at the schema before names were folded, with `names` in it.
async fn database_before_folding(
    backend: &Backend,
    names: &[&str],
) -> Result<std::sync::Arc<TestDatabase>, Box<dyn std::error::Error + Send + Sync>> {
    let database = TestDatabase::create(backend).await;
    let db = Database::connect(&database.url).await?;
    Migrator::up(&db, Some(2)).await?;
    for (i, name) in names.iter().enumerate() {
        let now = chrono::Utc::now();
        let insert = Query::insert()
            .into_table(Alias::new("users"))
            .columns(
                [
                    "id",
                    "user_name",
                    "email",
                    "email_key",
                    "version",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values([
                uuid::Uuid::now_v7().into(),
                (*name).into(),
                format!("u{i}@example.com").into(),
                format!("u{i}@example.com").into(),
                1i64.into(),
                now.into(),
                now.into(),
            ])?
            .to_owned();
        db.execute(&insert).await?;
    }
    db.close().await?;
    Ok(database)
}

async fn existing_users_keep_their_names_and_their_case_is_now_taken(
    backend: Backend,
) -> TestResult {
    let database = database_before_folding(&backend, &["Ada", "grace"]).await?;
    let app = start(database, &[]).await;
    let names: Vec<_> = app
        .all_users()
        .await
        .iter()
        .map(|u| u["user_name"].clone())
        .collect();
    assert_eq!(names, ["Ada", "grace"]);
    let response = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com"}))
        .await;
    assert_error(response, 409, "duplicate").await;
    app.create_user("linus").await;
    Ok(())
}

async fn existing_names_differing_only_in_case_stop_the_upgrade(backend: Backend) -> TestResult {
    let database = database_before_folding(&backend, &["Ada", "ada", "grace"]).await?;
    let Err(error) = Application::build(settings_for(&database, &[])).await else {
        return Err("started with two users named ada".into());
    };
    let message = format!("{error:#}");
    assert!(message.contains("taken more than once: ada;"), "{message}");
    Ok(())
}
