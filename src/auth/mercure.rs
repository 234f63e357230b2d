//! Mercure's tokens: HS256 JWTs with a `mercure` claim (`publish` and
//! `subscribe`, arrays of topic selectors; `payload`, anything, shown by the
//! subscriptions API), signed with the hub's own keys. As the reference hub
//! takes them: no claim is required (`sub` and `exp` may be missing), an
//! `exp` or `nbf` given is checked without leeway, and the legacy claim
//! `https://mercure.rocks/` stands for `mercure` when present.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::TokenError;
use crate::domain::mercure::Selector;

/// Selectors one claim may hold at most (the reference hub's bound).
pub const MAX_SELECTORS: usize = 1000;

/// What a Mercure token grants.
#[derive(Debug, Clone, Default)]
pub struct MercureGrant {
    pub publish: Vec<Selector>,
    pub subscribe: Vec<Selector>,
    /// The token's `payload`, for the subscriptions API.
    pub payload: Option<Value>,
    /// When the token expires, as a Unix time, if it does.
    pub expires_at: Option<i64>,
}

impl MercureGrant {
    /// Whether these selectors cover every one of `topics`.
    pub fn may_publish(&self, topics: &[String]) -> bool {
        topics
            .iter()
            .all(|topic| self.publish.iter().any(|s| s.matches(topic)))
    }
}

#[derive(Deserialize)]
struct Claim {
    #[serde(default)]
    publish: Option<Vec<String>>,
    #[serde(default)]
    subscribe: Option<Vec<String>>,
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    mercure: Option<Claim>,
    #[serde(default, rename = "https://mercure.rocks/")]
    legacy: Option<Claim>,
    #[serde(default)]
    exp: Option<i64>,
}

/// Which of the hub's keys checks a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher,
    Subscriber,
}

/// The hub's keys.
pub struct MercureKeys {
    publisher: DecodingKey,
    subscriber: DecodingKey,
    validation: Validation,
}

impl MercureKeys {
    /// `subscriber` defaults to `publisher`.
    pub fn new(publisher: &SecretString, subscriber: Option<&SecretString>) -> Self {
        let key =
            |secret: &SecretString| DecodingKey::from_secret(secret.expose_secret().as_bytes());
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        Self {
            publisher: key(publisher),
            subscriber: key(subscriber.unwrap_or(publisher)),
            validation,
        }
    }

    pub fn verify(&self, token: &str, role: Role) -> Result<MercureGrant, TokenError> {
        let key = match role {
            Role::Publisher => &self.publisher,
            Role::Subscriber => &self.subscriber,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)?.claims;
        // RFC 7519 expires a token *at* `exp`; jsonwebtoken only after it, so
        // a stream ended at `exp` could be reopened within that second.
        if claims
            .exp
            .is_some_and(|exp| exp <= chrono::Utc::now().timestamp())
        {
            return Err(TokenError::Expired);
        }
        let claim = claims.legacy.or(claims.mercure);
        let selectors = |list: Option<Vec<String>>| -> Result<Vec<Selector>, TokenError> {
            let list = list.unwrap_or_default();
            if list.len() > MAX_SELECTORS {
                return Err(TokenError::Malformed(format!(
                    "a token lists at most {MAX_SELECTORS} selectors"
                )));
            }
            Ok(list.iter().map(|raw| Selector::parse(raw)).collect())
        };
        let (publish, subscribe, payload) = match claim {
            Some(claim) => (claim.publish, claim.subscribe, claim.payload),
            None => (None, None, None),
        };
        Ok(MercureGrant {
            publish: selectors(publish)?,
            subscribe: selectors(subscribe)?,
            payload,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn sign(claims: &Value, key: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap_or_default()
    }

    #[test]
    fn tokens_grant_what_their_mercure_claim_lists() {
        let (publisher, subscriber) = ("p".repeat(32), "s".repeat(32));
        let keys = MercureKeys::new(
            &SecretString::from(publisher.clone()),
            Some(&SecretString::from(subscriber.clone())),
        );
        // The conformance suite's token: no sub, no exp.
        let token = sign(
            &json!({"mercure": {"publish": ["*"], "subscribe": ["*"]}}),
            &publisher,
        );
        let grant = keys
            .verify(&token, Role::Publisher)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(grant.may_publish(&["https://example.com/books/1".to_owned()]));
        assert!(
            keys.verify(&token, Role::Subscriber).is_err(),
            "the other key"
        );
        let subscriber_token = sign(
            &json!({"mercure": {"subscribe": ["https://example.com/books/{id}"], "payload": {"u": 1}},
                    "https://mercure.rocks/": {"subscribe": ["https://example.com/legacy"]}}),
            &subscriber,
        );
        let grant = keys
            .verify(&subscriber_token, Role::Subscriber)
            .unwrap_or_else(|e| panic!("{e}"));
        let subscribes = |topic: &str| grant.subscribe.iter().any(|s| s.matches(topic));
        assert!(
            subscribes("https://example.com/legacy"),
            "the legacy claim wins"
        );
        assert!(!subscribes("https://example.com/books/1"));
        let expired = sign(&json!({"mercure": {}, "exp": 1}), &publisher);
        assert_eq!(
            keys.verify(&expired, Role::Publisher).err(),
            Some(TokenError::Expired)
        );
        let not_a_list = sign(&json!({"mercure": {"publish": "*"}}), &publisher);
        assert!(keys.verify(&not_a_list, Role::Publisher).is_err());
    }
}
