/// A free-form name to show, up to 100 characters, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if length > 100 {
            Err(format!("must be at most 100 characters long, got {length}"))
        } else if raw.trim().is_empty() {
            Err("must not be blank (send null to clear it)".to_owned())
        } else if raw.chars().any(char::is_control) {
            Err("must not contain control characters".to_owned())
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
    use super::DisplayName;

    #[test]
    fn accepts_up_to_a_hundred_characters() {
        assert!(DisplayName::parse("Ada Lovelace").is_ok());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn rejects_long_blank_and_control_characters() {
        for bad in [&"a".repeat(101), "", "   ", "line\nbreak"] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
