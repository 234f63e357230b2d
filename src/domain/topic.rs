use super::UserId;

/// What a subscriber can ask for: every user event, or one user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Users,
    User(UserId),
}

impl Topic {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.split_once('/') {
            None if raw == "users" => Ok(Self::Users),
            Some(("users", id)) => UserId::parse(id).map(Self::User),
            _ => Err(format!(
                "unknown topic {raw:?}: use `users` or `users/<uuid>`"
            )),
        }
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Users => f.write_str("users"),
            Self::User(id) => write!(f, "users/{id}"),
        }
    }
}

/// The topics one stream follows; no topics means every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFilter {
    topics: Vec<Topic>,
    /// The single-user topics, formatted once: matching runs for every
    /// event on every stream and must not allocate.
    exact: Vec<String>,
}

impl TopicFilter {
    pub fn new(topics: Vec<Topic>) -> Self {
        let exact = topics
            .iter()
            .filter(|t| matches!(t, Topic::User(_)))
            .map(Topic::to_string)
            .collect();
        Self { topics, exact }
    }

    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    /// Whether an event published on `event_topic` (always one user's
    /// topic) is for this stream.
    pub fn matches(&self, event_topic: &str) -> bool {
        self.topics.is_empty()
            || self.exact.iter().any(|t| t == event_topic)
            || (self.topics.contains(&Topic::Users) && event_topic.starts_with("users/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_topic_forms() -> Result<(), String> {
        assert_eq!(Topic::parse("users")?, Topic::Users);
        let id = UserId::new();
        assert_eq!(Topic::parse(&format!("users/{id}"))?, Topic::User(id));
        for bad in ["", "user", "users/", "users/42", "orders", "users/x/y"] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn a_filter_matches_its_topics_only() {
        let (a, b) = (UserId::new(), UserId::new());
        let only_a = TopicFilter::new(vec![Topic::User(a)]);
        assert!(only_a.matches(&format!("users/{a}")));
        assert!(!only_a.matches(&format!("users/{b}")));
        assert!(TopicFilter::new(vec![Topic::Users]).matches(&format!("users/{b}")));
        assert!(TopicFilter::default().matches(&format!("users/{b}")));
    }
}
