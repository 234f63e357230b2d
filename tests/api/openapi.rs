//! `GET /openapi.json`: an OpenAPI 3.1 document in step with the router.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Backend, TestResult, json_body, spawn_app, spawn_app_with};

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The document's paths, each with the methods it documents.
fn documented(document: &Value) -> BTreeMap<String, BTreeSet<Method>> {
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    paths
        .into_iter()
        .map(|(path, item)| {
            let methods = METHODS
                .into_iter()
                .filter(|m| item.get(m.as_str().to_lowercase()).is_some())
                .collect();
            (path, methods)
        })
        .collect()
}

/// Every path the router is configured with: the string literals of
/// `routes.rs` that start with `/`. A route added there without an
/// annotation makes this test fail.
fn routed() -> Result<BTreeSet<String>, std::io::Error> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/routes.rs"))?;
    Ok(source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with('/'))
        .map(str::to_owned)
        .collect())
}

// The document does not depend on the database: one backend is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_covers_every_route() -> TestResult {
    // With the Mercure hub and its subscriptions API on, every documented
    // route is served.
    let app = spawn_app_with(
        &Backend::Sqlite,
        &[
            (
                "MERCURE_PUBLISHER_JWT_KEY",
                "a-mercure-hub-key-of-at-least-32-bytes",
            ),
            ("MERCURE_SUBSCRIPTIONS", "1"),
        ],
    )
    .await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document = json_body(response).await;
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        document["openapi"]
    );

    let documented = documented(&document);
    assert_eq!(
        documented.keys().cloned().collect::<BTreeSet<_>>(),
        routed()?,
        "the documented paths are not the routed ones"
    );

    // Each path answers exactly the methods documented for it.
    for (path, methods) in &documented {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::now_v7().to_string()));
        for method in METHODS {
            let response = app.send(app.client.request(method.clone(), &url)).await;
            let status = response.status().as_u16();
            // Only refusals are read: a stream that opened never ends.
            let code = if matches!(status, 404 | 405) {
                json_body(response).await["error"]["code"].clone()
            } else {
                Value::Null
            };
            if methods.contains(&method) {
                assert!(
                    code != "route_not_found" && code != "method_not_allowed",
                    "{method} {path} is documented but answers {status} {code}"
                );
            } else {
                assert_eq!(
                    (status, code.as_str()),
                    (405, Some("method_not_allowed")),
                    "{method} {path} is not documented"
                );
            }
        }
    }

    // Every security requirement names a scheme the document defines.
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for name in ["bearer", "session_cookie", "access_token"] {
        assert!(schemes.contains_key(name), "no security scheme {name}");
    }
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for name in requirement
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(n, _)| n)
                {
                    assert!(
                        schemes.contains_key(name),
                        "{method} {path} names the unknown security scheme {name}"
                    );
                }
            }
        }
    }
    Ok(())
}

/// The stream's description names every reason a stream resets for, as
/// `herald::sse::ResetReason` has them, and no other.
#[tokio::test]
async fn the_stream_documents_every_reset_reason() -> TestResult {
    let app = spawn_app(&Backend::Sqlite).await;
    let document = json_body(app.get("/openapi.json").await).await;
    let description = document["paths"]["/api/sse/stream"]["get"]["description"]
        .as_str()
        .ok_or("no description")?;
    let documented: BTreeSet<&str> = description
        .split("\"reason\": ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
        .split('|')
        .filter_map(|reason| reason.split('"').nth(1))
        .collect();
    let reasons: BTreeSet<&str> = herald::sse::ResetReason::ALL
        .iter()
        .map(|reason| reason.as_str())
        .collect();
    assert_eq!(documented, reasons, "{description}");
    Ok(())
}
