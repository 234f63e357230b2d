use serde_json::json;

use crate::helpers::{
    Backend, TestApp, TestResult, assert_error, json_body, on_both_databases, spawn_app,
};

on_both_databases!(
    bad_requests_change_nothing_and_emit_nothing,
    a_body_at_the_limit_is_accepted
);

/// Every bad request gets a JSON error with the right status; afterwards
/// nothing has changed, no event was emitted, and the server still serves.
async fn bad_requests_change_nothing_and_emit_nothing(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let ada = app
        .post_user(&json!({"user_name": "ada", "email": "ada@example.com"}))
        .await;
    let ada = json_body(ada).await;
    let id = ada["id"].as_str().ok_or("id")?.to_owned();
    assert_eq!(stream.expect_event().await.id_number(), 1);

    send_every_kind_of_bad_request(&app, &id).await?;

    let users = app.all_users().await;
    assert_eq!(users, vec![ada], "nothing changed");
    // Ids are gapless: had any failed request emitted (or even reserved) an
    // event, the next write would not be event 2.
    let grace = app.create_user("grace").await;
    let next = stream.expect_event().await;
    assert_eq!(next.id_number(), 2);
    assert_eq!(next.json()["data"]["user_id"], grace["id"]);
    Ok(())
}

async fn send_every_kind_of_bad_request(app: &TestApp, id: &str) -> TestResult {
    let users_url = app.url("/api/v1/users");
    let user_url = app.url(&format!("/api/v1/users/{id}"));
    let post_raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.client.post(&users_url).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        app.send(request)
    };

    assert_error(
        post_raw("{\"user_name\": ", Some("application/json")).await,
        400,
        "malformed_json",
    )
    .await;
    assert_error(
        post_raw(
            "{\"user_name\":\"bob\",\"email\":\"b@example.com\"}",
            Some("text/plain"),
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        post_raw("{\"user_name\":\"bob\",\"email\":\"b@example.com\"}", None).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        post_raw("[1, 2]", Some("application/json")).await,
        422,
        "validation_failed",
    )
    .await;

    let invalid = app
        .post_user(
            &json!({"user_name": "x", "email": "not-an-address", "display_name": "a".repeat(101)}),
        )
        .await;
    let body = assert_error(invalid, 422, "validation_failed").await;
    let fields = &body["error"]["details"]["fields"];
    for field in ["user_name", "email", "display_name"] {
        assert!(fields[field].is_string(), "{field} not named in {body}");
    }
    let missing = assert_error(app.post_user(&json!({})).await, 422, "validation_failed").await;
    assert!(missing["error"]["details"]["fields"]["email"].is_string());
    let wrong_type = assert_error(
        app.post_user(&json!({"user_name": 5, "email": "b@example.com"}))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        wrong_type["error"]["details"]["fields"]["user_name"],
        "must be a string"
    );
    let typo = app
        .post_user(&json!({"user_name": "bob", "email": "b@example.com", "dispaly_name": "Bob"}))
        .await;
    let typo = assert_error(typo, 422, "validation_failed").await;
    assert_eq!(
        typo["error"]["details"]["fields"]["dispaly_name"],
        "unknown field"
    );
    assert_error(
        app.patch_user(id, &json!({"user_name": null})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_error(
        app.patch_user(id, &json!({"admin": true})).await,
        422,
        "validation_failed",
    )
    .await;

    let duplicate_name = app
        .post_user(&json!({"user_name": "ada", "email": "other@example.com"}))
        .await;
    let body = assert_error(duplicate_name, 409, "duplicate").await;
    assert_eq!(body["error"]["details"]["field"], "user_name");
    let duplicate_email = app
        .post_user(&json!({"user_name": "bob", "email": "ADA@example.COM"}))
        .await;
    let body = assert_error(duplicate_email, 409, "duplicate").await;
    assert_eq!(body["error"]["details"]["field"], "email");

    let unknown = uuid::Uuid::now_v7();
    assert_error(
        app.get(&format!("/api/v1/users/{unknown}")).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.patch_user(&unknown.to_string(), &json!({"display_name": "x"}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.put_user(
            &unknown.to_string(),
            &json!({"user_name": "bob", "email": "b@example.com"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.delete_user(&unknown.to_string()).await,
        404,
        "not_found",
    )
    .await;
    assert_error(app.get("/api/v1/users/42").await, 400, "invalid_id").await;
    assert_error(app.delete_user("not-a-uuid").await, 400, "invalid_id").await;

    let stale = app
        .send(
            app.client
                .patch(&user_url)
                .header("If-Match", "\"7\"")
                .json(&json!({"display_name": "x"})),
        )
        .await;
    assert_error(stale, 412, "precondition_failed").await;

    for limit in ["0", "201", "ten", "-1"] {
        assert_error(
            app.get(&format!("/api/v1/users?limit={limit}")).await,
            400,
            "invalid_limit",
        )
        .await;
    }
    assert_error(
        app.get("/api/v1/users?cursor=bogus").await,
        400,
        "invalid_cursor",
    )
    .await;
    assert_error(
        app.get("/api/v1/nothing-here").await,
        404,
        "route_not_found",
    )
    .await;
    assert_error(
        app.send(app.client.put(&users_url)).await,
        405,
        "method_not_allowed",
    )
    .await;

    for size in [64 * 1024 + 1, 1024 * 1024] {
        let oversized = format!(
            "{{\"user_name\":\"bob\",\"email\":\"b@example.com\",\"display_name\":\"{}\"}}",
            "x".repeat(size)
        );
        let response = app
            .send(
                app.client
                    .post(&users_url)
                    .header("content-type", "application/json")
                    .body(oversized),
            )
            .await;
        assert_error(response, 413, "payload_too_large").await;
    }
    Ok(())
}

async fn a_body_at_the_limit_is_accepted(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let body =
        json!({"user_name": "bob", "email": "b@example.com", "display_name": "Bob"}).to_string();
    let padded = format!("{body}{}", " ".repeat(64 * 1024 - body.len()));
    let response = app
        .send(
            app.client
                .post(app.url("/api/v1/users"))
                .header("content-type", "application/json")
                .body(padded),
        )
        .await;
    assert_eq!(response.status(), 201);
    Ok(())
}
