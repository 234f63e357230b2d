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

    /// Whether an event published on `event_topic` (always a single user's
    /// topic) falls under this topic.
    pub fn covers(&self, event_topic: &str) -> bool {
        match self {
            Self::Users => event_topic.starts_with("users/"),
            Self::User(id) => event_topic
                .strip_prefix("users/")
                .is_some_and(|rest| rest == id.to_string()),
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
pub struct TopicFilter(Vec<Topic>);

impl TopicFilter {
    pub fn new(topics: Vec<Topic>) -> Self {
        Self(topics)
    }

    pub fn topics(&self) -> &[Topic] {
        &self.0
    }

    pub fn matches(&self, event_topic: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|t| t.covers(event_topic))
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
