//! Where a client is in the event log, as the SSE `id:` line tells it and
//! `Last-Event-ID` brings it back: `<id>.<tag>`.
//!
//! An id alone cannot say which event it was: a database restored from an
//! older backup, or failed over to a replica that lagged, hands the same
//! ids out again to other events. The tag, taken from the event's content,
//! tells them apart, so that a client resuming after such a rewind is told
//! to start over (`reset`) instead of silently skipping the new events that
//! reused ids it has seen. A bare id is still accepted (the list's
//! `last_event_id`, older clients); it is trusted as it is.

use sha2::{Digest, Sha256};

/// A check of one event's content: the first 32 bits of the SHA-256 of
/// its `data:` line (the envelope, its line separators escaped: see
/// `data_line`), written as 8 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag(u32);

impl Tag {
    pub fn of(payload: &str) -> Self {
        let mut hasher = Sha256::new();
        super::data_line::escaping_separators(payload, |piece| hasher.update(piece));
        let digest = hasher.finalize();
        Self(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A client's place in the log: after the event with this id, which (when
/// the tag is known) had this content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub id: i64,
    pub tag: Option<Tag>,
}

impl Position {
    /// `<id>` or `<id>.<tag>`, as clients send them back; `None` for
    /// anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let (id, tag) = match raw.split_once('.') {
            Some((id, tag)) => (id, Some(tag)),
            None => (raw, None),
        };
        let id = i64::try_from(id.parse::<u64>().ok()?).ok()?;
        let tag = match tag {
            None => None,
            Some(hex) if hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(Tag(u32::from_str_radix(hex, 16).ok()?))
            }
            Some(_) => return None,
        };
        Some(Self { id, tag })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_ids_with_an_optional_tag() {
        let tag = Tag::of("{\"id\":7}");
        let written = format!("7.{tag}");
        assert_eq!(
            Position::parse(&written),
            Some(Position {
                id: 7,
                tag: Some(tag)
            })
        );
        assert_eq!(Position::parse(" 7 "), Some(Position { id: 7, tag: None }));
        for bad in [
            "",
            "-1",
            "7.",
            "7.xyz",
            "7.123",
            "7.0123456789",
            "a.00000000",
            "7.0000000g",
        ] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
        assert_ne!(Tag::of("a"), Tag::of("b"));
    }
}
