/// An email address in the common `local@domain.tld` form, at most 254
/// characters. Its lower-cased form is what uniqueness is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address, in characters.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        const INVALID: &str = "must be an email address such as name@example.com";
        if raw.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters long", Self::MAX_LEN));
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(INVALID.to_owned());
        };
        if valid_local_part(local) && valid_domain(domain) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(INVALID.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two addresses are compared in: case is ignored.
    pub fn key_of(address: &str) -> String {
        address.to_lowercase()
    }
}

fn valid_local_part(local: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    (1..=64).contains(&local.len())
        && local.chars().all(allowed)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_label = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    labels.len() >= 2
        && labels.iter().all(valid_label)
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "X_Y@EXAMPLE.COM",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a..b@c.com",
            "a b@c.com",
            "a@-b.com",
            "a@1.2",
            &long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compares_ignoring_case() -> Result<(), String> {
        let (a, b) = (
            Email::parse("Ada@Example.COM")?,
            Email::parse("ada@example.com")?,
        );
        assert_eq!(Email::key_of(a.as_str()), Email::key_of(b.as_str()));
        Ok(())
    }
}
