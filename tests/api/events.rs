use serde_json::{Value, json};
use sha2::Digest as _;

use crate::helpers::{Backend, TestResult, json_body, on_both_databases, spawn_app};

on_both_databases!(
    each_kind_of_write_emits_its_exact_envelope,
    every_subscriber_gets_the_same_bytes
);

async fn each_kind_of_write_emits_its_exact_envelope(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;

    let created = json_body(
        app.post_user(
            &json!({"user_name": "ada", "email": "ada@example.com", "display_name": "Ada"}),
        )
        .await,
    )
    .await;
    let id = created["id"].as_str().ok_or("id")?.to_owned();
    let frame = stream.expect_event().await;
    // `<id>.<tag>`: the tag is the first 8 hex digits of the SHA-256 of the
    // envelope, the `data:` line.
    let data = frame.data.clone().ok_or("no data")?;
    let digest = sha2::Sha256::digest(data.as_bytes());
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(frame.id.as_deref(), Some(format!("1.{tag}").as_str()));
    assert_eq!(
        frame.event, None,
        "data events are default `message` events"
    );
    assert_eq!(
        frame.json(),
        json!({
            "id": 1,
            "event": "user_created",
            "topic": format!("users/{id}"),
            "at": created["created_at"],
            "data": {
                "user_id": id,
                "updated_fields": {"user_name": "ada", "email": "ada@example.com", "display_name": "Ada"},
                "user": created,
            }
        })
    );

    let updated = json_body(
        app.patch_user(
            &id,
            &json!({"display_name": null, "email": "ada@example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        stream.expect_event().await.json(),
        json!({
            "id": 2,
            "event": "user_updated",
            "topic": format!("users/{id}"),
            "at": updated["updated_at"],
            "data": {"user_id": id, "updated_fields": {"display_name": null}, "user": updated}
        }),
        "only the changed field is reported"
    );

    let replaced = json_body(
        app.put_user(
            &id,
            &json!({"user_name": "ada.l", "email": "ada@example.com", "display_name": "A"}),
        )
        .await,
    )
    .await;
    let frame = stream.expect_event().await.json();
    assert_eq!(frame["id"], 3);
    assert_eq!(
        frame["data"]["updated_fields"],
        json!({"user_name": "ada.l", "display_name": "A"})
    );
    assert_eq!(frame["data"]["user"], replaced);

    // Writes that change nothing emit nothing: the delete below is event 4.
    app.patch_user(&id, &json!({"display_name": "A"})).await;
    app.put_user(
        &id,
        &json!({"user_name": "ada.l", "email": "ada@example.com", "display_name": "A"}),
    )
    .await;

    assert_eq!(app.delete_user(&id).await.status(), 204);
    let deleted = stream.expect_event().await.json();
    assert_eq!(deleted["id"], 4);
    assert_eq!(deleted["event"], "user_deleted");
    assert_eq!(deleted["topic"], format!("users/{id}"));
    assert_eq!(
        deleted["data"],
        json!({"user_id": id, "updated_fields": {}, "user": null})
    );
    chrono::DateTime::parse_from_rfc3339(deleted["at"].as_str().ok_or("at")?)?;
    assert_eq!(
        deleted.as_object().map(|o| o.len()),
        Some(5),
        "no extra envelope fields: {deleted}"
    );
    stream.expect_quiet().await;
    Ok(())
}

async fn every_subscriber_gets_the_same_bytes(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut first = app.subscribe("", &[]).await;
    let mut second = app.subscribe("?topic=users", &[]).await;
    app.create_user("ada").await;
    let (a, b) = (first.expect_event().await, second.expect_event().await);
    assert_eq!(a, b);
    let envelope: Value = a.json();
    assert_eq!(envelope["event"], "user_created");
    Ok(())
}
