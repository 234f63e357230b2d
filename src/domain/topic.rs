use std::collections::HashSet;

use super::UserId;

/// Topics under this prefix carry data changes; only committed writes are
/// published there, so a client can trust a `users/…` event.
const USERS_PREFIX: &str = "users/";

/// The topic an event is published on: 1–200 letters, digits and
/// `/ _ - . :`, such as `users/<uuid>`, `broadcast`, `inbox/alice` or
/// `news/sports`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic(String);

impl Topic {
    /// The longest topic name, in characters.
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if !(1..=Self::MAX_LEN).contains(&length) {
            return Err(format!(
                "a topic is 1 to {} characters long, got {length}",
                Self::MAX_LEN
            ));
        }
        if let Some(bad) = raw.chars().find(|c| !is_topic_char(*c)) {
            return Err(format!(
                "a topic may contain only letters, digits and / _ - . : (found {bad:?})"
            ));
        }
        if raw.starts_with('/') || raw.ends_with('/') || raw.contains("//") {
            return Err(format!("{raw:?} has an empty segment between slashes"));
        }
        if let Some(id) = raw.strip_prefix(USERS_PREFIX) {
            UserId::parse(id).map_err(|problem| format!("in {raw:?}, the user id {problem}"))?;
        }
        Ok(Self(raw.to_owned()))
    }

    /// The topic of one user's data changes.
    pub fn user(id: UserId) -> Self {
        Self(format!("{USERS_PREFIX}{id}"))
    }

    /// Where the log keeps Mercure updates: the hub's path, which no
    /// client-named topic can be (they never start with `/`), so that
    /// Herald's streams and the hub's keep apart.
    pub fn mercure_hub() -> Self {
        Self(super::mercure::HUB_PATH.to_owned())
    }

    /// Whether only data changes may be published on a topic named `raw`,
    /// valid or not: a client must be able to trust anything under `users`.
    pub fn is_reserved(raw: &str) -> bool {
        raw == "users" || raw.starts_with(USERS_PREFIX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.' | ':')
}

/// A set of topics, as a stream asks for them or a token grants them:
/// `*` (every topic), `news/*` (every topic under `news/`), or one topic.
/// `users` is kept as the name of every user's data changes (`users/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    All,
    /// Every topic that starts with this prefix, which ends with `/`.
    Subtree(String),
    Exact(Topic),
}

impl TopicPattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "*" => Ok(Self::All),
            "users" => Ok(Self::Subtree(USERS_PREFIX.to_owned())),
            _ => match raw.strip_suffix("/*") {
                // The prefix itself must be a valid topic, so `news/*` is
                // well formed and `/*` or `a//*` are not.
                Some(prefix) => Topic::parse(prefix).map(|t| Self::Subtree(format!("{t}/"))),
                None => Topic::parse(raw).map(Self::Exact),
            },
        }
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::All => true,
            Self::Subtree(prefix) => topic.starts_with(prefix.as_str()),
            Self::Exact(exact) => exact.as_str() == topic,
        }
    }
}

impl std::fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Subtree(prefix) => write!(f, "{prefix}*"),
            Self::Exact(topic) => f.write_str(topic.as_str()),
        }
    }
}

/// The topics one stream receives, or one token grants: a union of
/// patterns, with duplicates and patterns covered by others merged away.
///
/// Building one and asking whether it covers a topic or pattern cost time
/// in proportion to the length of the topic, however many patterns there
/// are (a token may grant thousands): exact topics and subtree prefixes sit
/// in hash sets, and a topic is covered by a subtree exactly when one of its
/// own `…/` prefixes is that subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFilter {
    /// The merged patterns, in the order they were first given.
    patterns: Vec<TopicPattern>,
    all: bool,
    exact: HashSet<String>,
    /// Subtree prefixes, each ending with `/`.
    subtrees: HashSet<String>,
}

/// Up to this many patterns, matching compares them one by one: cheaper
/// than hashing for the one or two topics a stream usually follows.
const SCANNED_PATTERNS: usize = 4;

impl TopicFilter {
    /// Every topic.
    pub fn all() -> Self {
        Self::new([TopicPattern::All])
    }

    pub fn new(patterns: impl IntoIterator<Item = TopicPattern>) -> Self {
        let patterns: Vec<TopicPattern> = patterns.into_iter().collect();
        if patterns.contains(&TopicPattern::All) {
            return Self {
                patterns: vec![TopicPattern::All],
                all: true,
                exact: HashSet::new(),
                subtrees: HashSet::new(),
            };
        }
        let subtrees: HashSet<String> = patterns
            .iter()
            .filter_map(|p| match p {
                TopicPattern::Subtree(prefix) => Some(prefix.clone()),
                _ => None,
            })
            .collect();
        let mut filter = Self {
            patterns: Vec::new(),
            all: false,
            exact: HashSet::new(),
            subtrees,
        };
        let mut kept_subtrees = HashSet::new();
        for pattern in patterns {
            match pattern {
                TopicPattern::Subtree(prefix) => {
                    let parent = &prefix[..prefix.len() - 1];
                    if !filter.under_subtree(parent) && kept_subtrees.insert(prefix.clone()) {
                        filter.patterns.push(TopicPattern::Subtree(prefix));
                    }
                }
                TopicPattern::Exact(topic) => {
                    if !filter.under_subtree(topic.as_str())
                        && filter.exact.insert(topic.as_str().to_owned())
                    {
                        filter.patterns.push(TopicPattern::Exact(topic));
                    }
                }
                TopicPattern::All => {}
            }
        }
        filter
    }

    pub fn patterns(&self) -> &[TopicPattern] {
        &self.patterns
    }

    /// Whether an event published on `topic` is for this stream.
    pub fn matches(&self, topic: &str) -> bool {
        if self.patterns.len() <= SCANNED_PATTERNS {
            return self.patterns.iter().any(|p| p.matches(topic));
        }
        self.exact.contains(topic) || self.under_subtree(topic)
    }

    /// Whether this filter matches every topic.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether every topic `pattern` matches is matched here too.
    pub fn covers(&self, pattern: &TopicPattern) -> bool {
        match pattern {
            _ if self.all => true,
            TopicPattern::All => false,
            TopicPattern::Subtree(prefix) => {
                self.subtrees.contains(prefix) || self.under_subtree(&prefix[..prefix.len() - 1])
            }
            TopicPattern::Exact(topic) => self.matches(topic.as_str()),
        }
    }

    /// The first of these patterns that `grant` does not cover.
    pub fn first_outside(&self, grant: &TopicFilter) -> Option<&TopicPattern> {
        self.patterns.iter().find(|p| !grant.covers(p))
    }

    /// Whether one of the subtrees holds `name`: one of its `…/` prefixes
    /// is a subtree.
    fn under_subtree(&self, name: &str) -> bool {
        !self.subtrees.is_empty()
            && name
                .match_indices('/')
                .any(|(slash, _)| self.subtrees.contains(&name[..=slash]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(raw: &str) -> TopicPattern {
        TopicPattern::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn topics_follow_the_character_rules() {
        let id = UserId::new();
        for ok in [
            "broadcast",
            "inbox/alice",
            "news/sports.v2",
            "a:b_c-d",
            &format!("users/{id}"),
            &"x".repeat(200),
        ] {
            assert!(Topic::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "émoji",
            "a//b",
            "/lead",
            "trail/",
            "users/42",
            &"x".repeat(201),
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_topics_are_reserved() {
        assert!(Topic::is_reserved(Topic::user(UserId::new()).as_str()));
        for reserved in ["users", "users/42", "users/a b", "users/"] {
            assert!(Topic::is_reserved(reserved), "{reserved}");
        }
        for open in ["usersx", "inbox/users", "broadcast"] {
            assert!(!Topic::is_reserved(open), "{open}");
        }
    }

    #[test]
    fn patterns_match_exactly_a_subtree_or_everything() {
        let id = UserId::new();
        let user_topic = format!("users/{id}");
        assert!(pattern("users").matches(&user_topic));
        assert!(pattern("users/*").matches(&user_topic));
        assert!(!pattern("users").matches("broadcast"));
        assert!(pattern(&user_topic).matches(&user_topic));
        assert!(!pattern(&user_topic).matches(&format!("users/{}", UserId::new())));
        assert!(pattern("news/*").matches("news/sports"));
        assert!(pattern("news/*").matches("news/sports/today"));
        assert!(!pattern("news/*").matches("news"));
        assert!(!pattern("news/*").matches("newsroom/x"));
        assert!(pattern("*").matches("anything"));
        for bad in ["/*", "a//*", "news/**", "orders!", "users/42"] {
            assert!(TopicPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coverage_is_set_inclusion() {
        let filter = |raw: &str| TopicFilter::new([pattern(raw)]);
        assert!(filter("*").covers(&pattern("news/*")));
        assert!(filter("news/*").covers(&pattern("news/sports/*")));
        assert!(filter("news/*").covers(&pattern("news/sports")));
        assert!(!filter("news/sports/*").covers(&pattern("news/*")));
        assert!(!filter("news/sports").covers(&pattern("news/sports/*")));
        assert!(!filter("news/*").covers(&pattern("*")));
        assert!(!filter("inbox/alice").covers(&pattern("inbox/bob")));
    }

    #[test]
    fn a_large_filter_matches_as_a_small_one_does() {
        let mut raw: Vec<String> = (0..1000).map(|i| format!("inbox/u{i}")).collect();
        raw.extend(["news/*".to_owned(), "a/b/*".to_owned(), "news/x".to_owned()]);
        let filter = TopicFilter::new(raw.iter().map(|r| pattern(r)));
        assert_eq!(filter.patterns().len(), 1002, "news/x is under news/*");
        for (topic, expected) in [
            ("inbox/u999", true),
            ("inbox/u1000", false),
            ("news/x/y", true),
            ("news", false),
            ("a/b/c", true),
            ("a/b", false),
            ("a/bc/d", false),
        ] {
            assert_eq!(filter.matches(topic), expected, "{topic}");
        }
        assert!(filter.covers(&pattern("news/deep/*")));
        assert!(!filter.covers(&pattern("a/*")));
        assert!(!filter.covers(&pattern("*")));
    }

    #[test]
    fn a_filter_merges_duplicates_and_covered_patterns() {
        let filter = TopicFilter::new(
            [
                "news/a",
                "news/*",
                "news/a",
                "broadcast",
                "news/b/*",
                "broadcast",
            ]
            .map(pattern),
        );
        assert_eq!(filter.patterns(), [pattern("news/*"), pattern("broadcast")]);
        assert!(TopicFilter::new(["x", "*", "y"].map(pattern)).is_all());
        let grant = TopicFilter::new(["inbox/alice", "users/*"].map(pattern));
        assert_eq!(
            TopicFilter::new(["users"].map(pattern)).first_outside(&grant),
            None
        );
        assert!(
            TopicFilter::new(["inbox/bob"].map(pattern))
                .first_outside(&grant)
                .is_some()
        );
        assert_eq!(
            TopicFilter::new(["inbox/alice", "inbox/bob"].map(pattern)).first_outside(&grant),
            Some(&pattern("inbox/bob"))
        );
    }
}
