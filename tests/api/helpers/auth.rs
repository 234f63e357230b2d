//! Tokens and servers that require them.

use std::time::Duration;

use super::{Backend, TestApp, spawn_app_with};

/// The `JWT_SECRET` of secured test servers.
pub const TEST_SECRET: &str = "herald-test-secret-0123456789abcdef-0123456789";

/// A server that requires tokens signed with [`TEST_SECRET`].
pub async fn spawn_secured(backend: &Backend, vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("JWT_SECRET", TEST_SECRET)];
    all.extend_from_slice(vars);
    spawn_app_with(backend, &all).await
}

/// A token for `subject` with these scopes and topic patterns.
pub fn token(subject: &str, scope: &str, topics: &[&str], ttl: Duration) -> String {
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    herald::auth::TokenKeys::new(&secrecy::SecretString::from(TEST_SECRET))
        .issue(subject, scope, &topics, ttl)
        .unwrap_or_else(|e| panic!("issuing a token: {e}"))
}

/// `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}
