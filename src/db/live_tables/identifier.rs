//! A table or column name Herald writes into SQL it generates: only names
//! it can quote without a doubt, in both databases.

/// The longest name: PostgreSQL cuts identifiers at 63 bytes, and the
/// generated names add a prefix to the table's.
pub const MAX_LEN: usize = 48;

/// A name of letters, digits and `_`, not starting with a digit, at most
/// [`MAX_LEN`] long.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let plain = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && raw.bytes().next().is_some_and(|b| !b.is_ascii_digit());
        if !plain || raw.len() > MAX_LEN {
            return Err(format!(
                "{raw:?} is not a name herald watch can handle safely: use 1 to {MAX_LEN} ASCII letters, digits and _, not starting with a digit"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted for SQL (both databases quote with `"`); the name
    /// holds no `"` to escape.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl std::fmt::Display for Identifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` as an SQL string literal, in both databases: for the names and
/// messages the generated SQL carries.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_pass() {
        for ok in ["orders", "Order_Items", "_x", "t2"] {
            assert!(Identifier::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2t",
            "a-b",
            "a b",
            "a\"b",
            "é",
            "a;drop",
            &"x".repeat(MAX_LEN + 1),
        ] {
            assert!(Identifier::parse(bad).is_err(), "{bad}");
        }
    }
}
