const RESERVED: [&str; 9] = [
    "message",
    "error",
    "open",
    "notification",
    "reset",
    "auth_expired",
    "user_created",
    "user_updated",
    "user_deleted",
];

/// The name of a published event, sent as its SSE `event:` line so that a
/// page can `addEventListener(name, …)`: 1–64 letters, digits, `_ - .`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventName(String);

impl EventName {
    /// The longest name, in characters.
    pub const MAX_LEN: usize = 64;

    /// Names Herald gives its own events, and those `EventSource` fires for
    /// its own reasons (`error` would make a healthy stream look broken,
    /// `open` a new connection); a publisher may not borrow them, so a page
    /// can tell Herald's events from an application's.
    pub const RESERVED: [&str; 9] = RESERVED;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if !(1..=Self::MAX_LEN).contains(&length) {
            return Err(format!(
                "must be 1 to {} characters long, got {length}",
                Self::MAX_LEN
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err("may contain only letters, digits, '_', '-' and '.'".to_owned());
        }
        if RESERVED.contains(&raw) {
            return Err(format!("{raw:?} is a name Herald uses for its own events"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::EventName;

    #[test]
    fn names_are_short_plain_and_not_herald_s_own() {
        for ok in ["psh", "chat.delta", "a-b_c", &"x".repeat(64)] {
            assert!(EventName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            &"x".repeat(65),
            "has space",
            "new\nline",
            "a:b",
            "message",
            "error",
            "open",
            "reset",
            "auth_expired",
            "user_updated",
        ] {
            assert!(EventName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
