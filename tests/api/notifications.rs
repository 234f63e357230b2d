use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestResult, assert_error, json_body, on_both_databases, spawn_app, spawn_secured,
    token,
};

on_both_databases!(
    notifications_reach_their_topic_as_named_events,
    a_paragraph_streams_in_order,
    bad_notifications_change_nothing,
    a_retried_request_publishes_once,
    concurrent_retries_publish_once,
    subtree_topics_and_their_bounds,
    hundreds_of_topic_parameters_replay_exactly_their_events,
    one_subject_publishes_at_most_its_rate
);

async fn notifications_reach_their_topic_as_named_events(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut alice = app.subscribe("?topic=inbox/alice", &[]).await;
    let mut everyone = app.subscribe("?topic=broadcast", &[]).await;

    let response = app
        .publish(
            None,
            &json!({"topic": "inbox/alice", "event": "psh", "data": {"text": "hi"}}),
            None,
        )
        .await;
    assert_eq!(response.status(), 202);
    let accepted = json_body(response).await;
    assert_eq!(accepted, json!({"id": 1, "topic": "inbox/alice"}));
    let response = app
        .publish(None, &json!({"topic": "broadcast", "data": "to all"}), None)
        .await;
    assert_eq!(json_body(response).await["id"], 2);

    let named = alice.expect_event().await;
    assert_eq!(named.event.as_deref(), Some("psh"));
    assert_eq!(named.id_number(), 1);
    let envelope = named.json();
    assert_eq!(envelope["id"], 1);
    assert_eq!(envelope["event"], "psh");
    assert_eq!(envelope["topic"], "inbox/alice");
    assert_eq!(envelope["data"], json!({"text": "hi"}));
    assert!(envelope["at"].as_str().is_some_and(|at| at.ends_with('Z')));

    let plain = everyone.expect_event().await;
    assert_eq!(plain.event, None, "a default message has no event: line");
    assert_eq!(plain.json()["event"], "notification");
    assert_eq!(plain.json()["data"], "to all");
    alice.expect_quiet().await;

    // Replayable like any event.
    let mut replay = app.subscribe("?last_event_id=0", &[]).await;
    assert_eq!(replay.expect_ids(2).await, [1, 2]);
    Ok(())
}

async fn a_paragraph_streams_in_order(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut page = app.subscribe("?topic=chat/answer-7", &[]).await;
    let words: Vec<String> = (0..10).map(|i| format!("word{i} ")).collect();
    for word in &words {
        let body = json!({"topic": "chat/answer-7", "event": "delta", "data": {"text": word}});
        assert_eq!(app.publish(None, &body, None).await.status(), 202);
    }
    let mut previous = 0;
    let mut text = String::new();
    for _ in &words {
        let frame = page.expect_event().await;
        assert_eq!(frame.event.as_deref(), Some("delta"));
        assert!(frame.id_number() > previous, "ids increase");
        previous = frame.id_number();
        text.push_str(frame.json()["data"]["text"].as_str().unwrap_or_default());
    }
    assert_eq!(text, words.concat());
    Ok(())
}

async fn bad_notifications_change_nothing(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let user_topic = format!("users/{}", uuid::Uuid::now_v7());
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"topic": "has space", "data": 1}),
            422,
            "validation_failed",
        ),
        (json!({"topic": "", "data": 1}), 422, "validation_failed"),
        (
            json!({"topic": "x".repeat(201), "data": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"topic": "news", "event": "message", "data": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"topic": "news", "event": "user_updated", "data": 1}),
            422,
            "validation_failed",
        ),
        // EventSource fires these itself: a broadcast named `error` would
        // make every page's healthy stream look broken.
        (
            json!({"topic": "news", "event": "error", "data": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"topic": "news", "event": "open", "data": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"topic": "news", "event": "a b", "data": 1}),
            422,
            "validation_failed",
        ),
        (
            json!({"topic": "news", "event": "x".repeat(65), "data": 1}),
            422,
            "validation_failed",
        ),
        (json!({"topic": "news"}), 422, "validation_failed"),
        (
            json!({"topic": "news", "data": 1, "extra": true}),
            422,
            "validation_failed",
        ),
        (
            json!({"topic": user_topic, "data": 1}),
            403,
            "reserved_topic",
        ),
        (json!({"topic": "users", "data": 1}), 403, "reserved_topic"),
        // Under `users/`, even a name that is no user's topic is reserved.
        (
            json!({"topic": "users/not-a-uuid", "data": 1}),
            403,
            "reserved_topic",
        ),
        (
            json!({"topic": "news", "data": "x".repeat(16 * 1024)}),
            413,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        assert_error(app.publish(None, &body, None).await, status, code).await;
    }
    assert_error(
        app.publish(
            None,
            &json!({"topic": "news", "data": 1}),
            Some(&"k".repeat(129)),
        )
        .await,
        400,
        "invalid_idempotency_key",
    )
    .await;
    // 16 KiB of data exactly is fine: the limit is inclusive.
    let at_limit = json!({"topic": "news", "data": "x".repeat(16 * 1024 - 2)});
    assert_eq!(app.publish(None, &at_limit, None).await.status(), 202);
    assert_eq!(
        stream.expect_event().await.id_number(),
        1,
        "only the valid one"
    );
    stream.expect_quiet().await;
    assert_eq!(app.last_event_id().await, 1);
    Ok(())
}

async fn a_retried_request_publishes_once(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut stream = app.subscribe("", &[]).await;
    let body = json!({"topic": "orders/42", "event": "shipped", "data": {"n": 1, "m": [1, 2]}});
    let first = json_body(app.publish(None, &body, Some("order 42: shipped")).await).await;
    // The same request again, keys in another order: the first answer.
    let again = json!({"data": {"m": [1, 2], "n": 1}, "event": "shipped", "topic": "orders/42"});
    let retry = app.publish(None, &again, Some("order 42: shipped")).await;
    assert_eq!(retry.status(), 202);
    assert_eq!(json_body(retry).await, first);
    assert_error(
        app.publish(
            None,
            &json!({"topic": "orders/42", "data": 2}),
            Some("order 42: shipped"),
        )
        .await,
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(stream.expect_event().await.id_number(), 1);
    stream.expect_quiet().await;
    assert_eq!(app.last_event_id().await, 1);
    Ok(())
}

async fn concurrent_retries_publish_once(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    // Retries may land on any instance behind a load balancer.
    let other = app.another_instance().await;
    let body = json!({"topic": "payments/7", "data": "captured"});
    let posts = (0..8).map(|n| {
        let instance = if n % 2 == 0 { &app } else { &other };
        instance.publish(None, &body, Some("capture-7"))
    });
    let responses = futures_util::future::join_all(posts).await;
    let mut ids = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            202 => ids.push(json_body(response).await["id"].clone()),
            409 => {
                assert_error(response, 409, "idempotency_key_in_progress").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(app.last_event_id().await, 1, "exactly one event");
    Ok(())
}

async fn subtree_topics_and_their_bounds(backend: Backend) -> TestResult {
    let app = spawn_app(&backend).await;
    let mut news = app.subscribe("?topic=news/*", &[]).await;
    for topic in ["news/sports", "newsroom/x", "news", "news/tech/ai", "ns"] {
        let body = json!({"topic": topic, "data": topic});
        assert_eq!(app.publish(None, &body, None).await.status(), 202);
    }
    let seen: Vec<Value> = vec![
        news.expect_event().await.json()["topic"].clone(),
        news.expect_event().await.json()["topic"].clone(),
    ];
    assert_eq!(seen, [json!("news/sports"), json!("news/tech/ai")]);
    news.expect_quiet().await;

    let many: String = (0..33).map(|i| format!("&topic=t{i}")).collect();
    assert_error(
        app.get(&format!("/api/sse/stream?last_event_id=0{many}"))
            .await,
        400,
        "too_many_topics",
    )
    .await;
    // Repeats are merged: 800 copies of one topic are one topic.
    let repeated: String = (0..800).map(|_| "&topic=ns").collect();
    let mut merged = app
        .subscribe(&format!("?last_event_id=0{repeated}"), &[])
        .await;
    assert_eq!(merged.expect_event().await.json()["topic"], "ns");
    tokio::time::timeout(Duration::from_secs(10), merged.expect_quiet()).await?;
    Ok(())
}

/// Topic parameters in one stream request: as many as fit in a request line
/// (8 KiB) when each topic is one character long.
const TOPIC_PARAMETERS: usize = 998;

async fn hundreds_of_topic_parameters_replay_exactly_their_events(backend: Backend) -> TestResult {
    let app = &spawn_app(&backend).await;
    // 32 one-character topics the stream asks for, 8 it does not.
    let topics: Vec<String> = ('0'..='9')
        .chain('a'..='z')
        .chain('A'..='D')
        .map(String::from)
        .collect();
    let (asked, others) = topics.split_at(32);
    // More than a page (256) of the log, on every topic in turn.
    let mut published: Vec<(i64, String)> = stream::iter(0..300)
        .map(|i| {
            let topic = topics[i % topics.len()].clone();
            async move {
                let response = app
                    .publish(None, &json!({"topic": topic, "data": i}), None)
                    .await;
                assert_eq!(response.status(), 202);
                (
                    json_body(response).await["id"].as_i64().unwrap_or_default(),
                    topic,
                )
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    published.sort();
    let expected: Vec<(i64, String)> = published
        .into_iter()
        .filter(|(_, topic)| asked.contains(topic))
        .collect();

    let repeated: String = (0..TOPIC_PARAMETERS)
        .map(|i| format!("&topic={}", asked[i % asked.len()]))
        .collect();
    let query = format!("?last_event_id=0{repeated}");
    let mut stream = app.subscribe(&query, &[]).await;
    let mut replayed = Vec::new();
    for _ in &expected {
        let envelope = stream.expect_event().await.json();
        let topic = envelope["topic"].as_str().unwrap_or_default().to_owned();
        replayed.push((envelope["id"].as_i64().unwrap_or_default(), topic));
    }
    assert_eq!(replayed, expected);
    stream.expect_quiet().await;
    // Live, likewise.
    for topic in [&others[0], &asked[31]] {
        let body = json!({"topic": topic, "data": "live"});
        assert_eq!(app.publish(None, &body, None).await.status(), 202);
    }
    assert_eq!(stream.expect_event().await.json()["topic"], asked[31]);
    stream.expect_quiet().await;

    // One more distinct topic is one too many, however the rest repeat.
    assert_error(
        app.get(&format!("/api/sse/stream{query}&topic={}", others[0]))
            .await,
        400,
        "too_many_topics",
    )
    .await;
    Ok(())
}

async fn one_subject_publishes_at_most_its_rate(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[("MAX_PUBLISH_PER_MINUTE", "3")]).await;
    let alice = token("alice", "events:publish", &[], Duration::from_secs(3600));
    let bob = token("bob", "events:publish", &[], Duration::from_secs(3600));
    let note = json!({"topic": "news", "data": 1});
    for _ in 0..3 {
        assert_eq!(app.publish(Some(&alice), &note, None).await.status(), 202);
    }
    let refused = app.publish(Some(&alice), &note, None).await;
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or("a 429 without Retry-After")?;
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_error(refused, 429, "too_many_requests").await;
    // An invalid request costs nothing, and another subject is not held up.
    assert_error(
        app.publish(Some(&bob), &json!({"topic": ""}), None).await,
        422,
        "validation_failed",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(app.publish(Some(&bob), &note, None).await.status(), 202);
    }
    let reader = token("reader", "users:read", &["*"], Duration::from_secs(3600));
    let list = app
        .send(
            app.client
                .get(app.url("/api/v1/users"))
                .bearer_auth(&reader),
        )
        .await;
    assert_eq!(
        json_body(list).await["last_event_id"],
        6,
        "the refused one was not written"
    );
    Ok(())
}
