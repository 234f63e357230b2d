/// A client's `If-Match` condition on the version it last saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No header: the write goes ahead whatever the version.
    Absent,
    /// `*`: any existing user.
    Any,
    /// One or more entity tags; a tag that is not one of ours never matches.
    Tags(Vec<String>),
}

impl IfMatch {
    pub fn parse(header: Option<&str>) -> Self {
        match header.map(str::trim) {
            None => Self::Absent,
            Some("*") => Self::Any,
            Some(tags) => Self::Tags(tags.split(',').map(|t| t.trim().to_owned()).collect()),
        }
    }

    /// Strong comparison (RFC 9110 §13.1.1): weak tags never match.
    pub fn allows(&self, version: i64) -> bool {
        match self {
            Self::Absent | Self::Any => true,
            Self::Tags(tags) => {
                let current = format!("\"{version}\"");
                tags.contains(&current)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IfMatch;

    #[test]
    fn matches_the_current_version_only() {
        assert!(IfMatch::parse(None).allows(3));
        assert!(IfMatch::parse(Some("*")).allows(3));
        assert!(IfMatch::parse(Some("\"2\", \"3\"")).allows(3));
        assert!(!IfMatch::parse(Some("\"2\"")).allows(3));
        assert!(!IfMatch::parse(Some("W/\"3\"")).allows(3));
        assert!(!IfMatch::parse(Some("3")).allows(3));
    }
}
