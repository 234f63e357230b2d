/// A login-style handle: 3–32 letters, digits, `_`, `.` or `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
        if !(3..=32).contains(&length) {
            Err(format!("must be 3 to 32 characters long, got {length}"))
        } else if !raw.chars().all(allowed) {
            Err("may contain only letters, digits, '_', '.' and '-'".to_owned())
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::UserName;

    #[test]
    fn accepts_handles_within_the_rules() {
        for ok in ["ada", "grace.hopper", "x_y-z", "Zoë", &"a".repeat(32)] {
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
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad}");
        }
    }
}
