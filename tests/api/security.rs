//! Tokens, scopes, topic grants, cookies and origins, over real HTTP and
//! real streams against a server that requires tokens.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, SseClient, TEST_SECRET, TestApp, TestResult, assert_error, bearer, herald_binary,
    json_body, on_both_databases, spawn_secured, token,
};
use crate::process::Herald;

const HOUR: Duration = Duration::from_secs(3600);
const EVERY_SCOPE: &str = "users:read users:write events:publish";

on_both_databases!(
    requests_without_a_valid_token_are_401,
    each_endpoint_needs_its_scope,
    a_stream_gets_only_the_topics_its_token_grants,
    a_tokens_topics_imply_nothing,
    an_expired_token_ends_its_stream,
    the_session_cookie_signs_a_browser_in,
    cookie_writes_must_come_from_an_allowed_origin,
    streams_are_capped_per_subject,
    oversized_request_heads_are_refused
);

/// A stream opened with `token`, which must be admitted.
async fn stream_as(app: &TestApp, token: &str, query: &str) -> SseClient {
    let response = app.open_stream(query, &[bearer(token)]).await;
    assert_eq!(response.status(), 200, "opening {query}");
    SseClient::new(response)
}

/// Each stream query asks for a topic `token` does not grant: `403` before
/// the stream starts.
async fn assert_topics_refused(app: &TestApp, token: &str, queries: &[&str]) {
    for query in queries {
        assert_error(
            app.open_stream(query, &[bearer(token)]).await,
            403,
            "topic_not_allowed",
        )
        .await;
    }
}

/// `POST /api/v1/users` for `name`, as the bearer of `token`.
async fn create_as(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.send(
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&json!({"user_name": name, "email": format!("{name}@example.com")})),
    )
    .await
}

async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(response.status(), 401, "{:?}", response.headers());
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    assert_error(response, 401, "unauthorized").await;
}

async fn requests_without_a_valid_token_are_401(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let valid = token("alice", EVERY_SCOPE, &["*"], HOUR);
    let signed_elsewhere = herald::auth::TokenKeys::new(&secrecy::SecretString::from(
        "another-secret-of-at-least-thirty-two-bytes",
    ))
    .issue("alice", EVERY_SCOPE, &[], HOUR)?;
    let expired = {
        // Expired a minute ago: beyond the few seconds of leeway.
        let claims = json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() - 60, "scope": EVERY_SCOPE});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
        )?
    };
    // Past the leeway of at most 5 s, with room for a slow test.
    let just_expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() - 7, "scope": EVERY_SCOPE}),
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )?;
    let no_expiry = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "alice", "scope": EVERY_SCOPE}),
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )?;
    let no_subject = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"exp": chrono::Utc::now().timestamp() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )?;
    let unsigned = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        valid.split('.').nth(1).unwrap_or_default()
    );
    let headers: Vec<Option<String>> = vec![
        None,
        Some("Basic YWxpY2U6c2VjcmV0".into()),
        Some("Bearer not-a-token".into()),
        Some(format!("Bearer {signed_elsewhere}")),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {just_expired}")),
        Some(format!("Bearer {no_expiry}")),
        Some(format!("Bearer {no_subject}")),
        Some(format!("Bearer {unsigned}")),
    ];
    for header in headers {
        for path in ["/api/v1/users", "/api/sse/stream"] {
            let mut request = app.client.get(app.url(path));
            if let Some(header) = &header {
                request = request.header("authorization", header);
            }
            assert_unauthorized(app.send(request).await).await;
        }
        let mut post = app
            .client
            .post(app.url("/api/v1/notifications"))
            .json(&json!({"topic": "news", "data": 1}));
        if let Some(header) = &header {
            post = post.header("authorization", header);
        }
        assert_unauthorized(app.send(post).await).await;
    }
    // Nothing was written; the valid token still works.
    let list = app
        .send(app.client.get(app.url("/api/v1/users")).bearer_auth(&valid))
        .await;
    assert_eq!(json_body(list).await["last_event_id"], 0);
    // The stream also takes the token as a query parameter, and only the
    // stream: a URL is no place for the credential of anything else.
    let response = app
        .open_stream(&format!("?access_token={valid}"), &[])
        .await;
    assert_eq!(response.status(), 200);
    let in_the_url = app
        .get(&format!("/api/v1/users?access_token={valid}"))
        .await;
    assert_unauthorized(in_the_url).await;
    // Two Authorization headers: neither decides, whichever comes first.
    let reader = token("reader", "users:read", &["*"], HOUR);
    for (first, second) in [(&valid, &reader), (&reader, &valid)] {
        let twice = app
            .client
            .post(app.url("/api/v1/users"))
            .header("authorization", format!("Bearer {first}"))
            .header("authorization", format!("Bearer {second}"))
            .json(&json!({"user_name": "twice", "email": "twice@example.com"}));
        assert_error(app.send(twice).await, 400, "invalid_authorization").await;
    }
    let list = app
        .send(app.client.get(app.url("/api/v1/users")).bearer_auth(&valid))
        .await;
    assert_eq!(
        json_body(list).await["last_event_id"],
        0,
        "nothing was written"
    );
    Ok(())
}

async fn each_endpoint_needs_its_scope(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let reader = token("reader", "users:read", &["*"], HOUR);
    let writer = token("writer", "users:write", &["*"], HOUR);
    let publisher = token("publisher", "events:publish", &[], HOUR);
    let user = json!({"user_name": "ada", "email": "ada@example.com"});
    let post_user = |token: &str| {
        app.client
            .post(app.url("/api/v1/users"))
            .bearer_auth(token)
            .json(&user)
    };
    assert_error(
        app.send(post_user(&reader)).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_error(
        app.send(post_user(&publisher)).await,
        403,
        "insufficient_scope",
    )
    .await;
    let created = app.send(post_user(&writer)).await;
    assert_eq!(created.status(), 201);
    let id = json_body(created).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let get = |token: &str| {
        app.client
            .get(app.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(token)
    };
    assert_eq!(app.send(get(&reader)).await.status(), 200);
    assert_error(app.send(get(&writer)).await, 403, "insufficient_scope").await;
    let list = |token: &str| app.client.get(app.url("/api/v1/users")).bearer_auth(token);
    assert_eq!(app.send(list(&reader)).await.status(), 200);
    assert_error(app.send(list(&writer)).await, 403, "insufficient_scope").await;
    let one = app.url(&format!("/api/v1/users/{id}"));
    let changes = [
        app.client.put(&one).json(&user),
        app.client.patch(&one).json(&json!({"display_name": "Ada"})),
        app.client.delete(&one),
    ];
    for change in changes {
        let response = app.send(change.bearer_auth(&reader)).await;
        assert_error(response, 403, "insufficient_scope").await;
    }
    let notification = json!({"topic": "news", "data": 1});
    assert_error(
        app.publish(Some(&writer), &notification, None).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_eq!(
        app.publish(Some(&publisher), &notification, None)
            .await
            .status(),
        202
    );
    Ok(())
}

async fn a_stream_gets_only_the_topics_its_token_grants(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let admin = token("admin", EVERY_SCOPE, &["*"], HOUR);
    let created = create_as(&app, &admin, "alice").await;
    let alice_id = json_body(created).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let alice_topic = format!("users/{alice_id}");
    let alice = token(
        "alice",
        "users:read",
        &[&alice_topic, "inbox/alice", "broadcast"],
        HOUR,
    );

    // Asking for a topic the token does not grant: 403 before the stream.
    assert_topics_refused(
        &app,
        &alice,
        &[
            "?topic=inbox/bob",
            "?topic=users",
            "?topic=*",
            "?topic=inbox/*",
        ],
    )
    .await;
    let mut everything_granted = stream_as(&app, &alice, "").await;
    let mut inbox_only = stream_as(&app, &alice, "?topic=inbox/alice").await;

    let other_user = create_as(&app, &admin, "bob").await;
    assert_eq!(other_user.status(), 201);
    for topic in ["inbox/bob", "secret/plans", "inbox/alice", "broadcast"] {
        let body = json!({"topic": topic, "data": topic});
        assert_eq!(app.publish(Some(&admin), &body, None).await.status(), 202);
    }
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/users/{alice_id}")))
                .bearer_auth(&admin)
                .json(&json!({"display_name": "Alice"})),
        )
        .await;
    assert_eq!(patched.status(), 200);

    let expected = ["inbox/alice", "broadcast", alice_topic.as_str()];
    for want in expected {
        assert_eq!(
            everything_granted.expect_event().await.json()["topic"],
            want
        );
    }
    everything_granted.expect_quiet().await;
    assert_eq!(
        inbox_only.expect_event().await.json()["topic"],
        "inbox/alice"
    );
    inbox_only.expect_quiet().await;

    // Replay from the very beginning: the same events and no others.
    let mut replay = stream_as(&app, &alice, "?last_event_id=0").await;
    let mut replayed = Vec::new();
    for _ in 0..4 {
        replayed.push(replay.expect_event().await.json()["topic"].clone());
    }
    assert_eq!(
        replayed,
        [
            json!(alice_topic),
            json!("inbox/alice"),
            json!("broadcast"),
            json!(alice_topic)
        ]
    );
    replay.expect_quiet().await;
    Ok(())
}

/// A token lists everything it may read: being `alice` grants neither her
/// inbox nor the broadcasts.
async fn a_tokens_topics_imply_nothing(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let admin = token("admin", EVERY_SCOPE, &["*"], HOUR);
    let alice = token("alice", "users:read", &["users/*"], HOUR);
    assert_topics_refused(&app, &alice, &["?topic=inbox/alice", "?topic=broadcast"]).await;
    let mut stream = stream_as(&app, &alice, "").await;
    for topic in ["inbox/alice", "broadcast"] {
        let body = json!({"topic": topic, "data": topic});
        assert_eq!(app.publish(Some(&admin), &body, None).await.status(), 202);
    }
    let created = create_as(&app, &admin, "alice").await;
    assert_eq!(created.status(), 201);
    let event = stream.expect_event().await;
    assert_eq!(event.id_number(), 3, "only the user's event");
    assert_eq!(event.json()["event"], "user_created");
    stream.expect_quiet().await;
    Ok(())
}

async fn an_expired_token_ends_its_stream(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let short = token("alice", "users:read", &["*"], Duration::from_secs(2));
    let mut stream = stream_as(&app, &short, "").await;
    let ended = loop {
        let frame = stream.expect_frame().await;
        if frame.event.is_some() {
            break frame;
        }
    };
    assert_eq!(ended.event.as_deref(), Some("auth_expired"));
    assert!(
        tokio::time::timeout(Duration::from_secs(10), stream.next_frame())
            .await?
            .is_none(),
        "the stream ends after auth_expired"
    );
    // What a browser does next: reconnect with the same token, and stop on 401.
    assert_unauthorized(app.open_stream("", &[bearer(&short)]).await).await;
    Ok(())
}

async fn the_session_cookie_signs_a_browser_in(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let alice = token("alice", "users:read users:write", &["*"], HOUR);
    let signed_in = app
        .send(
            app.client
                .post(app.url("/api/v1/session"))
                .bearer_auth(&alice),
        )
        .await;
    assert_eq!(signed_in.status(), 204);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.starts_with(&format!("herald_session={alice}")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = format!("herald_session={alice}");
    let response = app.open_stream("", &[("cookie", session.clone())]).await;
    assert_eq!(response.status(), 200);
    let list = app
        .send(
            app.client
                .get(app.url("/api/v1/users"))
                .header("cookie", &session),
        )
        .await;
    assert_eq!(list.status(), 200);

    let signed_out = app
        .send(app.client.delete(app.url("/api/v1/session")))
        .await;
    assert_eq!(signed_out.status(), 204);
    let cleared = signed_out
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cleared.starts_with("herald_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // Signing in needs a bearer token, not a cookie.
    let with_cookie = app
        .send(
            app.client
                .post(app.url("/api/v1/session"))
                .header("cookie", &session)
                .header("origin", &app.address),
        )
        .await;
    assert_unauthorized(with_cookie).await;
    Ok(())
}

async fn cookie_writes_must_come_from_an_allowed_origin(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[("CORS_ALLOWED_ORIGINS", "https://app.example")]).await;
    let alice = token("alice", EVERY_SCOPE, &["*"], HOUR);
    let session = format!("herald_session={alice}");
    let own_origin = app.address.clone();
    let create = |origin: Option<&str>, name: &str| {
        let mut request = app
            .client
            .post(app.url("/api/v1/users"))
            .header("cookie", &session)
            .json(&json!({"user_name": name, "email": format!("{name}@example.com")}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request
    };
    // The same host and port over another scheme is another origin: a page
    // served over HTTPS by something else on this host is not Herald's.
    let other_scheme = own_origin.replacen("http://", "https://", 1);
    for foreign in [
        Some("https://evil.example"),
        Some("null"),
        Some(other_scheme.as_str()),
        None,
    ] {
        assert_error(
            app.send(create(foreign, "mallory")).await,
            403,
            "origin_not_allowed",
        )
        .await;
    }
    assert_eq!(
        app.send(create(Some(&own_origin), "alice")).await.status(),
        201
    );
    assert_eq!(
        app.send(create(Some("https://app.example"), "bob"))
            .await
            .status(),
        201
    );
    // A bearer token is not sent by browsers on their own: no origin check.
    let bearer_write = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&alice)
        .header("origin", "https://evil.example")
        .json(&json!({"user_name": "carol", "email": "carol@example.com"}));
    assert_eq!(app.send(bearer_write).await.status(), 201);

    // Credentials are allowed for the listed origin only, never with `*`.
    let preflight = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/users"))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    let allowed = preflight.headers();
    assert_eq!(
        allowed
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://app.example"[..])
    );
    assert_eq!(
        allowed
            .get("access-control-allow-credentials")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let any = spawn_secured(&backend, &[("CORS_ALLOWED_ORIGINS", "*")]).await;
    let response = any
        .send(
            any.client
                .get(any.url("/healthz"))
                .header("origin", "https://anywhere.example"),
        )
        .await;
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    Ok(())
}

async fn streams_are_capped_per_subject(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[("MAX_STREAMS_PER_SUBJECT", "2")]).await;
    let alice = token("alice", "users:read", &["*"], HOUR);
    let bob = token("bob", "users:read", &["*"], HOUR);
    let first = stream_as(&app, &alice, "").await;
    let _second = stream_as(&app, &alice, "").await;
    let refused = app.open_stream("", &[bearer(&alice)]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_error(refused, 429, "too_many_requests").await;
    let _bobs = stream_as(&app, &bob, "").await;
    drop(first);
    app.wait_for_subscribers(2, Duration::from_secs(5)).await;
    let _third = stream_as(&app, &alice, "").await;
    Ok(())
}

async fn oversized_request_heads_are_refused(backend: Backend) -> TestResult {
    let app = spawn_secured(&backend, &[]).await;
    let long_path = format!("/healthz?pad={}", "x".repeat(8 * 1024));
    assert_error(app.get(&long_path).await, 414, "uri_too_long").await;
    let big_headers = (0..20).fold(app.client.get(app.url("/healthz")), |request, i| {
        request.header(format!("x-pad-{i}"), "y".repeat(1000))
    });
    assert_error(app.send(big_headers).await, 431, "headers_too_large").await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    Ok(())
}

#[tokio::test]
async fn open_mode_refuses_a_non_loopback_address() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = std::process::Command::new(herald_binary())
        .current_dir(dir.path())
        .env_remove("JWT_SECRET")
        .env("BIND_ADDR", "0.0.0.0:0")
        .output()?;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr)?;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("BIND_ADDR") && stderr.contains("JWT_SECRET"),
        "{stderr}"
    );
    assert!(!dir.path().join("herald.db").exists(), "nothing started");
    Ok(())
}

#[tokio::test]
async fn tokens_never_reach_the_logs() -> TestResult {
    let herald = Herald::start_with(&[("JWT_SECRET", TEST_SECRET), ("RUST_LOG", "debug")]).await?;
    let issued = std::process::Command::new(herald_binary())
        .args([
            "token",
            "--sub",
            "alice",
            "--scope",
            "users:read users:write",
            "--topics",
            "users/* inbox/alice",
            "--ttl",
            "1h",
        ])
        .env("JWT_SECRET", TEST_SECRET)
        .output()?;
    assert!(issued.status.success());
    let token = String::from_utf8(issued.stdout)?.trim().to_owned();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", herald.address);
    // The command's token is accepted: by header, cookie and query.
    let created = client
        .post(url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"user_name": "ada", "email": "ada@example.com"}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let by_cookie = client
        .get(url("/api/v1/users"))
        .header("cookie", format!("herald_session={token}"))
        .send()
        .await?;
    assert_eq!(by_cookie.status(), 200);
    let mut stream = SseClient::new(
        client
            .get(url(&format!(
                "/api/sse/stream?access_token={token}&last_event_id=0"
            )))
            .send()
            .await?,
    );
    assert_eq!(stream.expect_event().await.id_number(), 1);
    // A refused token is not logged either.
    let refused = client
        .get(url("/api/v1/users"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await?;
    assert_eq!(refused.status(), 401);
    drop(stream);
    // Stop the server so every line it would write is written.
    herald.signal("TERM")?;
    herald
        .log_line("saying it stopped", |line| line["message"] == "stopped")
        .await?;
    let output = herald
        .log_lines()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let (status, _) = herald.wait().await?;
    assert!(status.success());
    assert!(
        output.contains("/api/sse/stream"),
        "the requests were logged"
    );
    let signature = token.rsplit('.').next().unwrap_or_default();
    assert!(!signature.is_empty());
    assert!(
        !output.contains(signature),
        "a token reached the logs:\n{output}"
    );
    Ok(())
}
