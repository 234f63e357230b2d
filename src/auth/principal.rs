use chrono::{DateTime, Utc};

use super::{Scope, Scopes};
use crate::domain::TopicFilter;

/// What a principal may not do: the HTTP layer answers it `403` with this
/// code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Forbidden {
    pub code: &'static str,
    pub message: String,
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Nothing: Herald runs open (no `JWT_SECRET`).
    None,
    /// `Authorization: Bearer …`
    Bearer,
    /// The `herald_session` cookie, as a browser's `EventSource` sends it.
    Cookie,
    /// `?access_token=` on the stream, for cross-origin `EventSource`.
    Query,
}

/// Who a request acts as, and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's `sub`; `None` when Herald runs open.
    subject: Option<String>,
    scopes: Scopes,
    topics: TopicFilter,
    expires_at: Option<DateTime<Utc>>,
    credential: Credential,
}

impl Principal {
    /// Anyone, when Herald runs open: every scope, every topic, forever.
    pub fn open() -> Self {
        Self {
            subject: None,
            scopes: Scopes::all(),
            topics: TopicFilter::all(),
            expires_at: None,
            credential: Credential::None,
        }
    }

    /// A verified token's bearer.
    pub fn bearer(
        subject: String,
        scopes: Scopes,
        topics: TopicFilter,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            subject: Some(subject),
            scopes,
            topics,
            expires_at: Some(expires_at),
            credential: Credential::Bearer,
        }
    }

    /// The same principal, as proved by `credential`.
    pub fn via(mut self, credential: Credential) -> Self {
        self.credential = credential;
        self
    }

    /// The token's subject, or `""` when Herald runs open.
    pub fn subject(&self) -> &str {
        self.subject.as_deref().unwrap_or_default()
    }

    pub fn is_authenticated(&self) -> bool {
        self.subject.is_some()
    }

    pub fn scopes(&self) -> Scopes {
        self.scopes
    }

    /// Every topic this principal may read.
    pub fn topics(&self) -> &TopicFilter {
        &self.topics
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    pub fn credential(&self) -> Credential {
        self.credential
    }

    /// Refused unless the token grants `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Forbidden> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(Forbidden {
                code: "insufficient_scope",
                message: format!("this token does not grant the scope {}", scope.name()),
            })
        }
    }

    /// The topics a stream receives: those it asked for, all of which this
    /// principal must be allowed to read, or without a request every topic
    /// it may read.
    pub fn stream_topics(&self, requested: Option<TopicFilter>) -> Result<TopicFilter, Forbidden> {
        let Some(requested) = requested else {
            return Ok(self.topics.clone());
        };
        match requested.first_outside(&self.topics) {
            None => Ok(requested),
            Some(pattern) => Err(Forbidden {
                code: "topic_not_allowed",
                message: format!("this token may not subscribe to {pattern}"),
            }),
        }
    }
}
