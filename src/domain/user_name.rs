/// A login-style handle: 3–32 ASCII letters, digits, `_`, `.` or `-`.
/// Names that differ only in case are the same name: uniqueness is checked
/// on [`UserName::key_of`]. Letters outside ASCII are refused, so that no
/// two names look alike (`admin` and Cyrillic `аdmin`, full-width `ａｄｍ`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// The shortest and longest names, in characters.
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&length) {
            Err(format!(
                "must be {} to {} characters long, got {length}",
                Self::MIN_LEN,
                Self::MAX_LEN
            ))
        } else if !raw.chars().all(allowed) {
            Err("may contain only ASCII letters, digits, '_', '.' and '-'".to_owned())
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two names are compared in: case is ignored.
    pub fn key_of(name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::UserName;

    #[test]
    fn accepts_handles_within_the_rules() {
        for ok in ["ada", "grace.hopper", "x_y-z", "Ada99", &"a".repeat(32)] {
            assert!(UserName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_short_long_and_odd_characters() {
        for bad in [
            "",
            "ab",
            &"a".repeat(33),
            "has space",
            "semi;colon",
            "emoji🙂x",
            "tab\tx",
            "Zoë",
            "\u{0430}dmin",
            "\u{ff41}\u{ff44}\u{ff4d}",
            "\u{2460}\u{2461}\u{2462}",
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn case_does_not_make_another_name() {
        assert_eq!(UserName::key_of("ADMIN"), UserName::key_of("admin"));
        assert_eq!(UserName::key_of("Ad.Min-1"), "ad.min-1");
    }
}
