//! A Mercure update, as a publisher posts it (`application/x-www-form-urlencoded`:
//! `topic` one or more, `data`, `private`, `id`, `type`, `retry`) and as the
//! event log keeps it.

use serde::{Deserialize, Serialize};

use super::selector;

/// Topics one update may name at most.
pub const MAX_TOPICS: usize = 256;

/// The longest id or type, in bytes.
pub const MAX_ID_LEN: usize = 1024;

/// The path of the hub. No update may be published on a topic holding it:
/// the subscription events there must be the hub's own.
pub const HUB_PATH: &str = "/.well-known/mercure";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// As published, or `urn:uuid:<v7>` when the publisher gave none.
    pub id: String,
    /// The canonical topic first, then the alternates.
    pub topics: Vec<String>,
    pub data: String,
    pub private: bool,
    /// The SSE `event:` (Mercure's `type`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
}

/// Why a publish request is not an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateProblem {
    #[error("missing \"topic\" parameter")]
    NoTopic,
    #[error("an update names at most {MAX_TOPICS} topics")]
    TooManyTopics,
    #[error("a topic is at most {} bytes", selector::MAX_LEN)]
    TopicTooLong,
    #[error("{0} is the hub's own: updates cannot be published there")]
    HubTopic(String),
    #[error("the id must not start with # (the spec keeps those for the hub)")]
    HashId,
    #[error("the {0} must be at most {MAX_ID_LEN} bytes without line breaks or NUL")]
    BadText(&'static str),
    #[error("retry must be a whole number of milliseconds")]
    BadRetry,
}

/// A field that may not break an SSE line.
fn one_line(field: &'static str, value: &str) -> Result<(), UpdateProblem> {
    if value.len() > MAX_ID_LEN || value.contains(['\r', '\n', '\0']) {
        return Err(UpdateProblem::BadText(field));
    }
    Ok(())
}

impl Update {
    /// The update a publish form holds. `topic` may repeat; of `data`,
    /// `id`, `type` and `retry` the first counts; `private` present with any
    /// value (an empty one too) makes it private.
    pub fn parse(fields: &[(String, String)]) -> Result<Self, UpdateProblem> {
        let first = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let topics: Vec<String> = fields
            .iter()
            .filter(|(n, _)| n == "topic")
            .map(|(_, v)| v.clone())
            .collect();
        if topics.is_empty() {
            return Err(UpdateProblem::NoTopic);
        }
        if topics.len() > MAX_TOPICS {
            return Err(UpdateProblem::TooManyTopics);
        }
        for topic in &topics {
            if topic.len() > selector::MAX_LEN {
                return Err(UpdateProblem::TopicTooLong);
            }
            if topic.contains(HUB_PATH) {
                return Err(UpdateProblem::HubTopic(topic.clone()));
            }
        }
        let id = match first("id").filter(|id| !id.is_empty()) {
            Some(id) if id.starts_with('#') => return Err(UpdateProblem::HashId),
            Some(id) => {
                one_line("id", id)?;
                id.to_owned()
            }
            None => format!("urn:uuid:{}", uuid::Uuid::now_v7()),
        };
        let kind = first("type").filter(|t| !t.is_empty()).map(str::to_owned);
        if let Some(kind) = &kind {
            one_line("type", kind)?;
        }
        let retry = match first("retry").filter(|r| !r.is_empty()) {
            None => None,
            Some(raw) => Some(raw.parse::<u64>().map_err(|_| UpdateProblem::BadRetry)?),
        };
        Ok(Self {
            id,
            topics,
            data: first("data").unwrap_or_default().to_owned(),
            private: first("private").is_some(),
            kind,
            retry,
        })
    }

    /// What tells a publisher's retry of this very update from another
    /// update that would reuse its id.
    pub fn fingerprint(&self) -> String {
        serde_json::to_string(&(
            &self.topics,
            &self.data,
            self.private,
            &self.kind,
            self.retry,
        ))
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_form_becomes_an_update() {
        let update = Update::parse(&form(&[
            ("topic", "https://example.com/books/1"),
            ("topic", "https://example.com/users/alice"),
            ("data", "first"),
            ("data", "second"),
            ("private", ""),
            ("id", "book-1"),
            ("type", "book"),
            ("retry", "3000"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(update.topics.len(), 2);
        assert_eq!(update.data, "first");
        assert!(update.private);
        assert_eq!(update.id, "book-1");
        assert_eq!(update.kind.as_deref(), Some("book"));
        assert_eq!(update.retry, Some(3000));
        let generated = Update::parse(&form(&[("topic", "t")])).unwrap_or_else(|e| panic!("{e}"));
        assert!(generated.id.starts_with("urn:uuid:"));
        assert!(!generated.private);
        for (bad, problem) in [
            (form(&[("data", "x")]), UpdateProblem::NoTopic),
            (form(&[("topic", "t"), ("id", "#x")]), UpdateProblem::HashId),
            (
                form(&[("topic", "t"), ("id", "a\nb")]),
                UpdateProblem::BadText("id"),
            ),
            (
                form(&[("topic", "t"), ("type", "a\rb")]),
                UpdateProblem::BadText("type"),
            ),
            (
                form(&[("topic", "t"), ("retry", "-1")]),
                UpdateProblem::BadRetry,
            ),
            (
                form(&[("topic", "/.well-known/mercure/subscriptions/x")]),
                UpdateProblem::HubTopic("/.well-known/mercure/subscriptions/x".to_owned()),
            ),
        ] {
            assert_eq!(Update::parse(&bad), Err(problem));
        }
    }
}
