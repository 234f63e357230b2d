use serde_json::json;

use crate::helpers::{Backend, TestResult, json_body, on_both_databases, spawn_app};

on_both_databases!(
    create_returns_the_user_with_its_location,
    paging_yields_every_user_exactly_once,
    the_list_tells_the_newest_event_of_its_snapshot,
    patch_changes_only_what_it_names,
    put_replaces_the_whole_user,
    if_match_guards_against_lost_updates,
    delete_removes_the_user
);

async fn create_returns_the_user_with_its_location(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let response = app
        .post_user(&json!({"user_name": "ada", "email": "Ada@Example.com", "display_name": "Ada Lovelace"}))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str()?.to_owned();
    let user = json_body(response).await;
    let id = user["id"].as_str().ok_or("no id")?;
    assert_eq!(location, format!("/api/v1/users/{id}"));
    assert_eq!(user["user_name"], "ada");
    assert_eq!(user["email"], "Ada@Example.com");
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["version"], 1);
    assert_eq!(user["created_at"], user["updated_at"]);
    chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().ok_or("no created_at")?)?;

    let fetched = app.get(&location).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(json_body(fetched).await, user);
    Ok(())
}

async fn paging_yields_every_user_exactly_once(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_user(&format!("user{i}")).await["id"]
                .as_str()
                .ok_or("id")?
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = json_body(app.get(&path).await).await;
        pages += 1;
        let items = page["items"].as_array().ok_or("items")?;
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|u| u["id"].as_str().unwrap_or_default().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/users?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = created.clone();
    expected.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(seen.len(), 7, "no user twice");

    let default_page = json_body(app.get("/api/v1/users").await).await;
    assert_eq!(default_page["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(default_page["next_cursor"], serde_json::Value::Null);
    Ok(())
}

async fn the_list_tells_the_newest_event_of_its_snapshot(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let empty = app.get("/api/v1/users").await;
    assert_eq!(empty.headers()["herald-last-event-id"], "0");
    app.create_user("ada").await;
    app.create_user("grace").await;
    let listed = app.get("/api/v1/users").await;
    assert_eq!(listed.headers()["herald-last-event-id"], "2");
    assert_eq!(json_body(listed).await["last_event_id"], 2);
    Ok(())
}

async fn patch_changes_only_what_it_names(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let user = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com", "display_name": "Ada"}))
        .await;
    let user = json_body(user).await;
    let id = user["id"].as_str().ok_or("id")?;

    let patched = app
        .patch_user(id, &json!({"email": "countess@example.com"}))
        .await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.headers()["etag"], "\"2\"");
    let patched = json_body(patched).await;
    assert_eq!(patched["email"], "countess@example.com");
    assert_eq!(patched["display_name"], "Ada");
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["created_at"], user["created_at"]);
    assert_ne!(patched["updated_at"], user["updated_at"]);

    let cleared = json_body(app.patch_user(id, &json!({"display_name": null})).await).await;
    assert_eq!(cleared["display_name"], serde_json::Value::Null);
    assert_eq!(cleared["version"], 3);

    let unchanged = json_body(
        app.patch_user(id, &json!({"email": "countess@example.com"}))
            .await,
    )
    .await;
    assert_eq!(
        unchanged["version"], 3,
        "a patch that changes nothing keeps the version"
    );
    assert_eq!(unchanged, cleared);
    Ok(())
}

async fn put_replaces_the_whole_user(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let user = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com", "display_name": "Ada"}))
        .await;
    let user = json_body(user).await;
    let id = user["id"].as_str().ok_or("id")?;

    // Sending back a fetched user, read-only fields and all, works.
    let mut replacement = user.clone();
    replacement["user_name"] = json!("ada.l");
    let replaced = json_body(app.put_user(id, &replacement).await).await;
    assert_eq!(replaced["user_name"], "ada.l");
    assert_eq!(replaced["display_name"], "Ada");
    assert_eq!(replaced["version"], 2);

    let without_display_name = app
        .put_user(
            id,
            &json!({"user_name": "ada.l", "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(without_display_name.status(), 200);
    let replaced = json_body(without_display_name).await;
    assert_eq!(
        replaced["display_name"],
        serde_json::Value::Null,
        "absent display_name becomes null"
    );
    assert_eq!(replaced["version"], 3);
    Ok(())
}

async fn if_match_guards_against_lost_updates(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let url = app.url(&format!("/api/v1/users/{id}"));

    let ok = app
        .send(
            app.client
                .patch(&url)
                .header("If-Match", "\"1\"")
                .json(&json!({"display_name": "A"})),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let stale = app
        .send(
            app.client
                .put(&url)
                .header("If-Match", "\"1\"")
                .json(&json!({"user_name": "bob", "email": "b@example.com"})),
        )
        .await;
    let body = crate::helpers::assert_error(stale, 412, "precondition_failed").await;
    assert_eq!(body["error"]["details"]["current_version"], 2);
    let stale_delete = app
        .send(app.client.delete(&url).header("If-Match", "\"1\""))
        .await;
    assert_eq!(stale_delete.status(), 412);

    let current = json_body(app.get(&format!("/api/v1/users/{id}")).await).await;
    assert_eq!(
        current["user_name"], "ada",
        "a failed precondition changes nothing"
    );
    assert_eq!(current["version"], 2);
    let any = app
        .send(app.client.delete(&url).header("If-Match", "*"))
        .await;
    assert_eq!(any.status(), 204);
    Ok(())
}

async fn delete_removes_the_user(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let id = app.create_user("ada").await["id"]
        .as_str()
        .ok_or("id")?
        .to_owned();
    let deleted = app.delete_user(&id).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(deleted.bytes().await?.len(), 0);
    assert_eq!(app.get(&format!("/api/v1/users/{id}")).await.status(), 404);
    assert_eq!(app.delete_user(&id).await.status(), 404);
    assert!(app.all_users().await.is_empty());
    Ok(())
}
