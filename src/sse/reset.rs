//! `event: reset`: what a stream says when it cannot go on from where it
//! is, and why. The client starts over from `last_id` (herald.js refetches
//! its snapshot), instead of silently missing or repeating events.

use bytes::Bytes;

use super::frame;

/// Why a stream resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// The client resumed after an id the log has not reached.
    Unknown,
    /// Events after the client's position are no longer retained, or the
    /// log lost them (a hole).
    Expired,
    /// The log went back on what was delivered (a restore, a failover), or
    /// the event at the client's position is another event now.
    Rewound,
    /// The client's resume point is not an event's position.
    Invalid,
}

impl ResetReason {
    pub const ALL: [Self; 4] = [Self::Unknown, Self::Expired, Self::Rewound, Self::Invalid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Rewound => "rewound",
            Self::Invalid => "invalid",
        }
    }

    /// The frame: `event: reset` with `{"reason", "last_id"}`, the newest
    /// event the stream goes on after.
    pub fn frame(self, last_id: i64) -> Bytes {
        frame::named(
            "reset",
            &format!(r#"{{"reason":"{}","last_id":{last_id}}}"#, self.as_str()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_names_its_reason_and_where_the_stream_goes_on() {
        assert_eq!(
            ResetReason::Rewound.frame(7),
            Bytes::from_static(b"event: reset\ndata: {\"reason\":\"rewound\",\"last_id\":7}\n\n")
        );
    }
}
