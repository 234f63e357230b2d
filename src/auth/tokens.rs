use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Principal, Scopes};
use crate::domain::{TopicFilter, TopicPattern};

/// A shorter HS256 secret can be guessed offline from any token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Seconds a token is still accepted after its `exp`: clocks drift a little.
const LEEWAY_SECS: u64 = 5;

/// The longest `sub`, in characters: the subject is stored (it scopes
/// idempotency keys), and a write must be valid before it joins a batch
/// of other clients' writes, which a value the database refuses would
/// otherwise fail with it.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// Why `sub` cannot name a caller, if it cannot: empty, too long, or with
/// control characters (PostgreSQL text cannot even hold a NUL).
fn subject_problem(sub: &str) -> Option<String> {
    let length = sub.chars().count();
    if !(1..=MAX_SUBJECT_CHARS).contains(&length) {
        return Some(format!(
            "`sub` must be 1 to {MAX_SUBJECT_CHARS} characters long, got {length}"
        ));
    }
    sub.chars()
        .any(char::is_control)
        .then(|| "`sub` must not contain control characters".to_owned())
}

/// The claims Herald reads and writes.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    topics: Vec<String>,
}

/// Signs and checks tokens with the configured secret.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// Why a token was refused; every one of them is a `401`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token is malformed: {0}")]
    Malformed(String),
}

/// Why jsonwebtoken refused a token, for Herald's tokens and Mercure's.
impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.kind() {
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::InvalidSignature => Self::BadSignature,
            _ => Self::Malformed(error.to_string()),
        }
    }
}

impl TokenKeys {
    pub fn new(secret: &SecretString) -> Self {
        let secret = secret.expose_secret().as_bytes();
        // HS256 only: a token that names another algorithm, `none`
        // included, is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Herald is the only audience of tokens signed with its secret; an
        // issuer that adds `aud` for its own bookkeeping is not refused.
        validation.validate_aud = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `subject` with these scopes and topic patterns, valid for
    /// `ttl`.
    pub fn issue(
        &self,
        subject: &str,
        scope: &str,
        topics: &[String],
        ttl: Duration,
    ) -> Result<String, TokenError> {
        if let Some(problem) = subject_problem(subject) {
            return Err(TokenError::Malformed(problem));
        }
        let exp = Utc::now().timestamp().max(0).unsigned_abs() + ttl.as_secs();
        let claims = Claims {
            sub: subject.to_owned(),
            exp,
            scope: (!scope.is_empty()).then(|| scope.to_owned()),
            topics: topics.to_vec(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Malformed(e.to_string()))
    }

    /// The principal a token stands for.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        let claims = data.claims;
        if let Some(problem) = subject_problem(&claims.sub) {
            return Err(TokenError::Malformed(problem));
        }
        let topics = claims
            .topics
            .iter()
            .map(|raw| {
                TopicPattern::parse(raw)
                    .map_err(|problem| TokenError::Malformed(format!("in `topics`: {problem}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The moment the token stops being accepted: streams end then, so
        // that the client's reconnect is refused rather than admitted for
        // the last seconds of leeway.
        let expires_at = i64::try_from(claims.exp.saturating_add(LEEWAY_SECS + 1))
            .ok()
            .and_then(|exp| Utc.timestamp_opt(exp, 0).single())
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(Principal::bearer(
            claims.sub,
            Scopes::parse(claims.scope.as_deref().unwrap_or_default()),
            TopicFilter::new(topics),
            expires_at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&SecretString::from(secret.to_owned()))
    }

    const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";

    #[test]
    fn an_issued_token_verifies_to_its_claims() -> Result<(), TokenError> {
        let keys = keys(SECRET);
        let token = keys.issue(
            "alice",
            "users:read events:publish",
            &["inbox/alice".to_owned(), "news/*".to_owned()],
            Duration::from_secs(60),
        )?;
        let principal = keys.verify(&token)?;
        assert_eq!(principal.subject(), "alice");
        assert!(principal.scopes().contains(Scope::UsersRead));
        assert!(!principal.scopes().contains(Scope::UsersWrite));
        assert!(principal.topics().matches("news/today"));
        assert!(!principal.topics().matches("inbox/bob"));
        Ok(())
    }

    #[test]
    fn a_subject_must_be_storable() -> Result<(), TokenError> {
        let signed = |sub: &str| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &Claims {
                    sub: sub.to_owned(),
                    exp: u64::MAX / 2,
                    scope: None,
                    topics: vec![],
                },
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .map_err(|e| TokenError::Malformed(e.to_string()))
        };
        for bad in ["", &"x".repeat(256), "nul\u{0}byte", "new\nline"] {
            assert!(
                matches!(
                    keys(SECRET).verify(&signed(bad)?),
                    Err(TokenError::Malformed(_))
                ),
                "{bad:?}"
            );
            assert!(
                keys(SECRET)
                    .issue(bad, "", &[], Duration::from_secs(60))
                    .is_err()
            );
        }
        let longest = "é".repeat(MAX_SUBJECT_CHARS);
        assert!(keys(SECRET).verify(&signed(&longest)?).is_ok());
        Ok(())
    }

    #[test]
    fn bad_tokens_are_refused() -> Result<(), TokenError> {
        let token = keys(SECRET).issue("alice", "", &[], Duration::from_secs(60))?;
        assert_eq!(
            keys("another-secret-that-is-long-enough-01234567")
                .verify(&token)
                .err(),
            Some(TokenError::BadSignature)
        );
        assert!(matches!(
            keys(SECRET).verify("not.a.token"),
            Err(TokenError::Malformed(_))
        ));
        // Expired well beyond the leeway.
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "alice".into(),
                exp: 1_000_000,
                scope: None,
                topics: vec![],
            },
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .map_err(|e| TokenError::Malformed(e.to_string()))?;
        assert_eq!(
            keys(SECRET).verify(&expired).err(),
            Some(TokenError::Expired)
        );
        // No `sub`: malformed.
        let no_subject = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({ "exp": 4_000_000_000u64 }),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .map_err(|e| TokenError::Malformed(e.to_string()))?;
        assert!(matches!(
            keys(SECRET).verify(&no_subject),
            Err(TokenError::Malformed(_))
        ));
        Ok(())
    }
}
