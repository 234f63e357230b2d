//! The Mercure hub at `/.well-known/mercure`, spoken to as Mercure's
//! publishers and subscribers do: form posts with Mercure tokens, streams
//! by topic selectors (exact topics and URI templates), private updates,
//! resume by the publisher's ids and `earliest`, the subscriptions API, and
//! a log shared with Herald's own events without either leaking into the
//! other's streams.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Response;
use serde_json::{Value, json};

use herald::db::mercure_presence::{LEASE, RENEW_EVERY};

use crate::helpers::{
    Backend, PROMPTLY, RawConnection, SseClient, TestApp, TestResult, eventually,
    on_both_databases, postgres_or_skip, spawn_app_with,
};
use crate::process::Herald;

on_both_databases!(
    updates_reach_the_subscribers_their_selectors_name,
    private_updates_reach_only_the_subscribers_their_tokens_allow,
    publishing_needs_a_token_that_covers_every_topic,
    refused_updates_change_nothing,
    resuming_by_id_by_earliest_and_from_an_unknown_id,
    the_hub_and_herald_streams_keep_apart,
    a_subscriber_token_ends_its_stream_when_it_expires,
    the_subscriptions_api_says_who_follows_what,
    updates_outlive_a_restart,
);

/// The key the tests' hubs are configured with (the conformance suite's).
const KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";
const HUB: &str = "/.well-known/mercure";

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(KEY.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("signing: {e}"))
}

/// A publisher's token for these selectors (no `sub`, no `exp`, as
/// Mercure's own examples have them).
fn publisher(selectors: &[&str]) -> String {
    sign(&json!({"mercure": {"publish": selectors}}))
}

fn subscriber(selectors: &[&str]) -> String {
    sign(&json!({"mercure": {"subscribe": selectors, "payload": {"who": "tester"}}}))
}

async fn hub(backend: &Backend, anonymous: bool, subscriptions: bool) -> TestApp {
    spawn_app_with(backend, &hub_settings(anonymous, subscriptions)).await
}

/// A hub's settings: its key, and whether it lets anonymous subscribers in
/// and serves the subscriptions API.
fn hub_settings(anonymous: bool, subscriptions: bool) -> [(&'static str, &'static str); 3] {
    let flag = |on: bool| if on { "1" } else { "0" };
    [
        ("MERCURE_PUBLISHER_JWT_KEY", KEY),
        ("MERCURE_ANONYMOUS", flag(anonymous)),
        ("MERCURE_SUBSCRIPTIONS", flag(subscriptions)),
    ]
}

/// Publishes a form as `token`; the response, whatever it is.
async fn post(app: &TestApp, token: Option<&str>, form: &[(&str, &str)]) -> Response {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = app
        .client
        .post(app.url(HUB))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    app.send(request).await
}

/// Publishes with a token for every topic; returns the update's id.
async fn publish(app: &TestApp, form: &[(&str, &str)]) -> String {
    let response = post(app, Some(&publisher(&["*"])), form).await;
    assert_eq!(response.status(), 200, "publishing {form:?}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain"))
    );
    response.text().await.unwrap_or_default()
}

/// `GET /.well-known/mercure` with these `topic` selectors (and other
/// query parameters), as `token`, with these headers; the response.
async fn open(
    app: &TestApp,
    selectors: &[&str],
    token: Option<&str>,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for selector in selectors {
        query.append_pair("topic", selector);
    }
    query.extend_pairs(extra);
    let mut request = app
        .client
        .get(app.url(&format!("{HUB}?{}", query.finish())));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request).await
}

async fn stream(app: &TestApp, selectors: &[&str], token: Option<&str>) -> SseClient {
    let response = open(app, selectors, token, &[], &[]).await;
    assert_eq!(response.status(), 200, "subscribing to {selectors:?}");
    SseClient::new(response)
}

/// The ids of the next `n` updates a stream receives.
async fn next_ids(stream: &mut SseClient, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(stream.expect_event().await.id.unwrap_or_default());
    }
    ids
}

async fn updates_reach_the_subscribers_their_selectors_name(backend: Backend) -> TestResult {
    let app = hub(&backend, true, false).await;
    let mut exact = stream(&app, &["plain-string"], None).await;
    let mut by_uri = stream(&app, &["https://example.com/books/1"], None).await;
    let mut by_template = stream(&app, &["https://example.com/books/{id}"], None).await;
    let mut two = stream(
        &app,
        &["https://example.com/authors/{name}", "plain-string"],
        None,
    )
    .await;

    let first = publish(&app, &[("topic", "plain-string"), ("data", "one")]).await;
    assert!(first.starts_with("urn:uuid:"), "an id made for it: {first}");
    let book = publish(
        &app,
        &[
            ("topic", "https://example.com/books/1"),
            ("topic", "https://example.com/authors/ada"),
            ("data", "line one\r\nline two\rline three\n\nline five"),
            ("id", "book-1"),
            ("type", "book.updated"),
            ("retry", "4000"),
        ],
    )
    .await;
    assert_eq!(book, "book-1", "the publisher's id, as it gave it");
    publish(
        &app,
        &[
            ("topic", "https://example.com/books/2/reviews"),
            ("data", "no one"),
        ],
    )
    .await;
    let last = publish(
        &app,
        &[("topic", "https://example.com/books/2"), ("data", "two")],
    )
    .await;

    assert_eq!(next_ids(&mut exact, 1).await, std::slice::from_ref(&first));
    let frame = by_uri.expect_event().await;
    assert_eq!(frame.id.as_deref(), Some("book-1"));
    assert_eq!(frame.event.as_deref(), Some("book.updated"));
    assert_eq!(frame.retry, Some(4000));
    assert_eq!(
        frame.data.as_deref(),
        Some("line one\nline two\nline three\n\nline five"),
        "one data: line per line, whatever ended it"
    );
    assert_eq!(
        next_ids(&mut by_template, 2).await,
        ["book-1".to_owned(), last]
    );
    assert_eq!(
        next_ids(&mut two, 2).await,
        [first, "book-1".to_owned()],
        "through its alternate topic, and once"
    );
    for subscriber in [&mut exact, &mut by_uri, &mut two] {
        subscriber.expect_quiet().await;
    }
    Ok(())
}

async fn private_updates_reach_only_the_subscribers_their_tokens_allow(
    backend: Backend,
) -> TestResult {
    let app = hub(&backend, true, false).await;
    let topic = "https://example.com/books/7";
    let alternate = "https://example.com/users/alice/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F7";
    let mut anonymous = stream(&app, &[topic], None).await;
    let mut alice = stream(
        &app,
        &[topic],
        Some(&subscriber(&["https://example.com/users/alice/{?topic}"])),
    )
    .await;
    let mut bob = stream(
        &app,
        &[topic],
        Some(&subscriber(&["https://example.com/users/bob/{?topic}"])),
    )
    .await;
    let mut everyone = stream(&app, &["*"], Some(&subscriber(&["*"]))).await;

    let secret = publish(
        &app,
        &[
            ("topic", topic),
            ("topic", alternate),
            ("data", "for alice"),
            ("private", ""),
        ],
    )
    .await;
    let public = publish(&app, &[("topic", topic), ("data", "for all")]).await;

    assert_eq!(
        next_ids(&mut anonymous, 1).await,
        std::slice::from_ref(&public),
        "public updates only"
    );
    assert_eq!(
        next_ids(&mut alice, 2).await,
        [secret.clone(), public.clone()]
    );
    assert_eq!(next_ids(&mut bob, 1).await, std::slice::from_ref(&public));
    assert_eq!(next_ids(&mut everyone, 2).await, [secret, public]);
    for subscriber in [&mut anonymous, &mut bob] {
        subscriber.expect_quiet().await;
    }

    // Without anonymous subscribers, a stream needs a token.
    let closed = hub(&backend, false, false).await;
    let refused = open(&closed, &[topic], None, &[], &[]).await;
    crate::helpers::assert_error(refused, 401, "unauthorized").await;
    let bad = open(&closed, &[topic], Some("not.a.token"), &[], &[]).await;
    assert_eq!(bad.status(), 401);
    assert_eq!(
        open(&closed, &[topic], Some(&subscriber(&[])), &[], &[])
            .await
            .status(),
        200
    );
    Ok(())
}

async fn publishing_needs_a_token_that_covers_every_topic(backend: Backend) -> TestResult {
    let app = hub(&backend, true, false).await;
    let form = [
        ("topic", "https://example.com/books/1"),
        ("topic", "https://example.com/x"),
    ];
    assert_eq!(post(&app, None, &form).await.status(), 401);
    let other_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"mercure": {"publish": ["*"]}}),
        &EncodingKey::from_secret(b"another key, long enough for HS256 anyway"),
    )?;
    assert_eq!(post(&app, Some(&other_key), &form).await.status(), 401);
    assert_eq!(
        post(&app, Some(&subscriber(&["*"])), &form).await.status(),
        403
    );
    let one_of_two = publisher(&["https://example.com/books/{id}"]);
    crate::helpers::assert_error(
        post(&app, Some(&one_of_two), &form).await,
        403,
        "topic_not_allowed",
    )
    .await;
    let both = publisher(&["https://example.com/books/{id}", "https://example.com/x"]);
    assert_eq!(post(&app, Some(&both), &form).await.status(), 200);
    // The legacy claim name still counts.
    let legacy = sign(&json!({"https://mercure.rocks/": {"publish": ["*"]}}));
    assert_eq!(post(&app, Some(&legacy), &form).await.status(), 200);

    // The `mercureAuthorization` cookie publishes only from a trusted
    // origin: any page can post a form, and the browser adds the cookie.
    let by_cookie = |origin: &str| {
        app.client
            .post(app.url(HUB))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "cookie",
                format!("mercureAuthorization={}", publisher(&["*"])),
            )
            .header("origin", origin)
            .body("topic=by-cookie")
    };
    crate::helpers::assert_error(
        app.send(by_cookie("https://elsewhere.example")).await,
        403,
        "origin_not_allowed",
    )
    .await;
    assert_eq!(app.send(by_cookie(&app.address)).await.status(), 200);
    Ok(())
}

async fn refused_updates_change_nothing(backend: Backend) -> TestResult {
    let app = hub(&backend, true, false).await;
    let mut watching = stream(&app, &["*"], Some(&subscriber(&["*"]))).await;
    let token = publisher(&["*"]);
    for (form, status, code) in [
        (vec![("data", "no topic")], 400, "invalid_update"),
        (vec![("topic", "t"), ("id", "#mine")], 400, "invalid_update"),
        (vec![("topic", "t"), ("id", "a\nb")], 400, "invalid_update"),
        (
            vec![("topic", "t"), ("type", "a\rb")],
            400,
            "invalid_update",
        ),
        (
            vec![("topic", "t"), ("retry", "soon")],
            400,
            "invalid_update",
        ),
        (
            vec![("topic", "/.well-known/mercure/subscriptions/x/y")],
            403,
            "reserved_topic",
        ),
    ] {
        crate::helpers::assert_error(post(&app, Some(&token), &form).await, status, code).await;
    }
    let json = app
        .send(
            app.client
                .post(app.url(HUB))
                .bearer_auth(&token)
                .json(&json!({"topic": "t"})),
        )
        .await;
    crate::helpers::assert_error(json, 415, "unsupported_media_type").await;
    let huge = "x".repeat(70 * 1024);
    crate::helpers::assert_error(
        post(&app, Some(&token), &[("topic", "t"), ("data", &huge)]).await,
        413,
        "payload_too_large",
    )
    .await;
    assert!(app.logged_events().await.is_empty(), "nothing in the log");

    // An id is one update's: a retry of the same update is answered with it
    // again (and appended once); another update with it is refused.
    let form = [("topic", "t"), ("id", "only-once"), ("data", "x")];
    assert_eq!(publish(&app, &form).await, "only-once");
    assert_eq!(publish(&app, &form).await, "only-once");
    let reused = post(
        &app,
        Some(&token),
        &[("topic", "t"), ("id", "only-once"), ("data", "y")],
    )
    .await;
    crate::helpers::assert_error(reused, 409, "id_taken").await;
    assert_eq!(next_ids(&mut watching, 1).await, ["only-once"]);
    watching.expect_quiet().await;
    assert_eq!(app.logged_events().await.len(), 1);
    Ok(())
}

async fn resuming_by_id_by_earliest_and_from_an_unknown_id(backend: Backend) -> TestResult {
    let app = hub(&backend, true, false).await;
    let selector = ["https://example.com/books/{id}"];
    let mut ids = Vec::new();
    for n in 1..=4 {
        let topic = format!("https://example.com/books/{n}");
        ids.push(publish(&app, &[("topic", &topic), ("id", &format!("update-{n}"))]).await);
    }
    publish(
        &app,
        &[("topic", "https://example.com/other"), ("id", "elsewhere")],
    )
    .await;
    let secret = publish(
        &app,
        &[
            ("topic", "https://example.com/books/9"),
            ("private", "on"),
            ("id", "secret"),
        ],
    )
    .await;
    assert_eq!(secret, "secret");

    // After a known id: the rest, and the header says so.
    let response = open(&app, &selector, None, &[], &[("Last-Event-ID", "update-2")]).await;
    assert_eq!(response.headers()["last-event-id"], "update-2");
    let mut resumed = SseClient::new(response);
    assert_eq!(next_ids(&mut resumed, 2).await, ["update-3", "update-4"]);
    resumed.expect_quiet().await;
    // The header wins over the query parameter.
    let response = open(
        &app,
        &selector,
        None,
        &[("lastEventID", "update-1")],
        &[("Last-Event-ID", "update-3")],
    )
    .await;
    assert_eq!(response.headers()["last-event-id"], "update-3");
    assert_eq!(
        next_ids(&mut SseClient::new(response), 1).await,
        ["update-4"]
    );
    let by_query = open(&app, &selector, None, &[("lastEventID", "update-3")], &[]).await;
    assert_eq!(by_query.headers()["last-event-id"], "update-3");

    // earliest: everything retained that this subscriber may see.
    let response = open(&app, &selector, None, &[("lastEventID", "earliest")], &[]).await;
    assert_eq!(response.headers()["last-event-id"], "earliest");
    assert_eq!(next_ids(&mut SseClient::new(response), 4).await, ids);

    // An id the log does not hold: not silent. The header names the newest
    // update this subscriber would have had (never one it may not see),
    // and the stream goes on from now.
    let response = open(
        &app,
        &selector,
        None,
        &[],
        &[("Last-Event-ID", "never-was")],
    )
    .await;
    assert_eq!(response.headers()["last-event-id"], "update-4");
    let mut live = SseClient::new(response);
    publish(
        &app,
        &[("topic", "https://example.com/books/5"), ("id", "update-5")],
    )
    .await;
    assert_eq!(next_ids(&mut live, 1).await, ["update-5"]);
    let nothing = open(
        &app,
        &["no-such-topic"],
        None,
        &[],
        &[("Last-Event-ID", "never-was")],
    )
    .await;
    assert_eq!(nothing.headers()["last-event-id"], "earliest");
    // No resume point, no header.
    let plain = open(&app, &selector, None, &[], &[]).await;
    assert!(plain.headers().get("last-event-id").is_none());
    Ok(())
}

async fn the_hub_and_herald_streams_keep_apart(backend: Backend) -> TestResult {
    let app = hub(&backend, true, false).await;
    let mut herald = app.subscribe("?topic=*", &[]).await;
    let mut mercure = stream(&app, &["*"], Some(&subscriber(&["*"]))).await;
    app.create_user("ada").await;
    publish(&app, &[("topic", "broadcast"), ("id", "m1")]).await;
    let published = app
        .publish(None, &json!({"topic": "broadcast", "data": {"n": 1}}), None)
        .await;
    assert_eq!(published.status(), 202);
    assert_eq!(herald.expect_ids(2).await, [1, 3], "Herald's events only");
    assert_eq!(
        next_ids(&mut mercure, 1).await,
        ["m1"],
        "Mercure's updates only"
    );
    mercure.expect_quiet().await;
    herald.expect_quiet().await;
    // A Herald stream resuming across Mercure's rows neither misses an
    // event nor resets.
    let mut resumed = app.subscribe("?last_event_id=1", &[]).await;
    assert_eq!(resumed.expect_ids(1).await, [3]);
    resumed.expect_quiet().await;
    // API responses name the hub for discovery.
    let users = app.get("/api/v1/users").await;
    let link = users.headers()["link"].to_str()?;
    assert_eq!(link, "</.well-known/mercure>; rel=\"mercure\"");
    Ok(())
}

async fn a_subscriber_token_ends_its_stream_when_it_expires(backend: Backend) -> TestResult {
    let app = hub(&backend, false, false).await;
    let exp = chrono::Utc::now().timestamp() + 2;
    let token = sign(&json!({"mercure": {"subscribe": ["*"]}, "exp": exp}));
    let mut expiring = stream(&app, &["t"], Some(&token)).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while expiring.next_frame().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token");
    assert_eq!(
        open(&app, &["t"], Some(&token), &[], &[]).await.status(),
        401
    );
    Ok(())
}

async fn the_subscriptions_api_says_who_follows_what(backend: Backend) -> TestResult {
    let off = hub(&backend, true, false).await;
    let watcher = subscriber(&["/.well-known/mercure/subscriptions{/topic}{/subscriber}"]);
    let not_found = off
        .send(
            off.client
                .get(off.url("/.well-known/mercure/subscriptions"))
                .bearer_auth(&watcher),
        )
        .await;
    assert_eq!(
        not_found.status(),
        404,
        "off unless MERCURE_SUBSCRIPTIONS=1"
    );

    let app = hub(&backend, true, true).await;
    let get = |path: &str, token: Option<&str>| {
        let mut request = app.client.get(app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let mut presence = stream(
        &app,
        &["/.well-known/mercure/subscriptions{/topic}{/subscriber}"],
        Some(&watcher),
    )
    .await;
    let books = "https://example.com/books/{id}";
    let reader = stream(&app, &[books], Some(&subscriber(&[books]))).await;
    let arrival: Value = serde_json::from_str(
        presence
            .expect_event()
            .await
            .data
            .as_deref()
            .unwrap_or("{}"),
    )?;
    assert_eq!(arrival["active"], true);
    assert_eq!(arrival["topic"], books);
    assert_eq!(arrival["payload"], json!({"who": "tester"}));
    assert_eq!(arrival["@context"], "https://mercure.rocks/");
    let subscriber_id = arrival["subscriber"]
        .as_str()
        .ok_or("subscriber")?
        .to_owned();

    let listing: Value = get("/.well-known/mercure/subscriptions", Some(&watcher))
        .await?
        .json()
        .await?;
    assert_eq!(listing["type"], "Subscriptions");
    let topics: Vec<&str> = listing["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["topic"].as_str())
        .collect();
    assert!(topics.contains(&books), "{listing}");
    let id = arrival["id"].as_str().ok_or("id")?;
    let one = get(id, Some(&watcher)).await?;
    assert_eq!(one.status(), 200);
    let etag = one.headers()["etag"].to_str()?.to_owned();
    let one: Value = one.json().await?;
    assert_eq!(one["subscriber"], subscriber_id.as_str());
    assert_eq!(one["lastEventID"], listing["lastEventID"]);
    let unchanged = app
        .client
        .get(app.url(id))
        .bearer_auth(&watcher)
        .header("if-none-match", etag)
        .send()
        .await?;
    assert_eq!(unchanged.status(), 304);
    assert_eq!(
        get("/.well-known/mercure/subscriptions", None)
            .await?
            .status(),
        401
    );
    assert_eq!(
        get(
            "/.well-known/mercure/subscriptions",
            Some(&subscriber(&["elsewhere"]))
        )
        .await?
        .status(),
        403
    );

    drop(reader);
    let departure: Value = serde_json::from_str(
        presence
            .expect_event()
            .await
            .data
            .as_deref()
            .unwrap_or("{}"),
    )?;
    assert_eq!(departure["active"], false);
    assert_eq!(departure["subscriber"], subscriber_id.as_str());
    eventually("the listing without the departed subscriber", || async {
        let listing: Value = match get("/.well-known/mercure/subscriptions", Some(&watcher)).await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => return false,
        };
        !listing.to_string().contains(&subscriber_id)
    })
    .await;
    Ok(())
}

async fn updates_outlive_a_restart(backend: Backend) -> TestResult {
    let app = hub(&backend, true, false).await;
    publish(&app, &[("topic", "t"), ("id", "before-1")]).await;
    publish(&app, &[("topic", "t"), ("id", "before-2")]).await;
    let app = app.restart_with(&hub_settings(true, false)).await;
    let response = open(&app, &["t"], None, &[], &[("Last-Event-ID", "before-1")]).await;
    assert_eq!(
        next_ids(&mut SseClient::new(response), 1).await,
        ["before-2"]
    );
    let reused = post(
        &app,
        Some(&publisher(&["*"])),
        &[("topic", "t"), ("id", "before-1"), ("data", "z")],
    )
    .await;
    assert_eq!(reused.status(), 409, "ids outlive a restart too");
    Ok(())
}

/// Several instances on one PostgreSQL are one hub: an update published on
/// one reaches subscribers of the other, an id used on one is taken on the
/// other, a resume on one finds an id published on the other, and each
/// lists the other's subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_are_one_hub() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let a = hub(&backend, true, true).await;
    let b = crate::helpers::start(a.database.clone(), &hub_settings(true, true)).await;
    let mut on_b = stream(&b, &["https://example.com/books/{id}"], None).await;
    publish(
        &a,
        &[("topic", "https://example.com/books/1"), ("id", "from-a")],
    )
    .await;
    assert_eq!(next_ids(&mut on_b, 1).await, ["from-a"]);
    let taken = post(
        &b,
        Some(&publisher(&["*"])),
        &[("topic", "x"), ("id", "from-a")],
    )
    .await;
    assert_eq!(taken.status(), 409);
    publish(
        &a,
        &[("topic", "https://example.com/books/2"), ("id", "second")],
    )
    .await;
    let response = open(
        &b,
        &["https://example.com/books/{id}"],
        None,
        &[],
        &[("Last-Event-ID", "from-a")],
    )
    .await;
    assert_eq!(next_ids(&mut SseClient::new(response), 1).await, ["second"]);

    let watcher = subscriber(&["/.well-known/mercure/subscriptions{/topic}{/subscriber}"]);
    let _on_a = stream(&a, &["only-on-a"], Some(&subscriber(&["*"]))).await;
    eventually("b listing a's subscriber", || async {
        let listing: Value = match b
            .client
            .get(b.url("/.well-known/mercure/subscriptions/only-on-a"))
            .bearer_auth(&watcher)
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => return false,
        };
        listing["subscriptions"]
            .as_array()
            .is_some_and(|s| s.len() == 1)
    })
    .await;
    Ok(())
}

/// An instance that dies without a word (SIGKILL) leaves the listing, with
/// an `active: false` event for each of its subscriptions, once its lease
/// has run out: presence never shows a subscriber nobody serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_subscribers_leave() -> TestResult {
    let Some(backend) = postgres_or_skip() else {
        return Ok(());
    };
    let a = hub(&backend, true, true).await;
    let mut settings = vec![("DATABASE_URL", a.database.url.as_str())];
    settings.extend(hub_settings(true, true));
    let doomed = Herald::start_with(&settings).await?;

    let watcher = subscriber(&["/.well-known/mercure/subscriptions{/topic}{/subscriber}"]);
    let mut presence = stream(
        &a,
        &["/.well-known/mercure/subscriptions{/topic}{/subscriber}"],
        Some(&watcher),
    )
    .await;
    let on_doomed = reqwest::get(format!("{}{HUB}?topic=on-doomed", doomed.address)).await?;
    assert_eq!(on_doomed.status(), 200);
    let joined = presence.expect_event().await.json();
    assert_eq!(
        (joined["topic"].as_str(), joined["active"].as_bool()),
        (Some("on-doomed"), Some(true))
    );

    doomed.signal("KILL")?;
    let within = LEASE + RENEW_EVERY + PROMPTLY;
    let left = presence.expect_event_within(within).await.json();
    assert_eq!(left["subscriber"], joined["subscriber"]);
    assert_eq!(left["active"], false);
    let listing: Value = a
        .client
        .get(a.url("/.well-known/mercure/subscriptions/on-doomed"))
        .bearer_auth(&watcher)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listing["subscriptions"], json!([]));
    drop(on_doomed);
    Ok(())
}

/// A publisher that stops sending its form is answered `408` within
/// `REQUEST_BODY_TIMEOUT_SECS`, as every body is, and publishes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_publish_is_408() -> TestResult {
    let mut settings = hub_settings(true, false).to_vec();
    settings.push(("REQUEST_BODY_TIMEOUT_SECS", "1"));
    let app = spawn_app_with(&Backend::Sqlite, &settings).await;
    let mut connection = RawConnection::open(&app).await?;
    let head = format!(
        "POST {HUB} HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntopic=",
        publisher(&["*"])
    );
    connection.send(head.as_bytes()).await?;
    let response = tokio::time::timeout(PROMPTLY, connection.read_to_close()).await??;
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(app.logged_events().await.is_empty());
    Ok(())
}
