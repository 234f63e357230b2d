/// One permission a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    UsersRead,
    UsersWrite,
    EventsPublish,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Self::UsersRead, Self::UsersWrite, Self::EventsPublish];

    pub fn name(self) -> &'static str {
        match self {
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::EventsPublish => "events:publish",
        }
    }

    /// The scope called `name`, if Herald has one.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The scopes of a token: its space-separated `scope` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self(Scope::ALL.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Reads a `scope` claim; names Herald does not know are ignored, so
    /// that one token can carry scopes for several services.
    pub fn parse(claim: &str) -> Self {
        Self(
            claim
                .split_ascii_whitespace()
                .filter_map(Scope::named)
                .fold(0, |bits, s| bits | s.bit()),
        )
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_claim_grants_the_names_it_lists() {
        let scopes = Scopes::parse("users:read  events:publish other:thing");
        assert!(scopes.contains(Scope::UsersRead));
        assert!(scopes.contains(Scope::EventsPublish));
        assert!(!scopes.contains(Scope::UsersWrite));
        assert!(Scope::ALL.iter().all(|s| Scopes::all().contains(*s)));
        assert_eq!(Scopes::parse(""), Scopes::default());
    }
}
