//! What the paged lists (users, live tables) share: the page size a client
//! asks for, and the header that repeats a page's `last_event_id`.

use super::error::ApiError;
use super::limits::{DEFAULT_PAGE, MAX_PAGE};

/// Response header twin of a page's `last_event_id`.
pub const LAST_EVENT_ID_HEADER: &str = "Herald-Last-Event-Id";

/// The `limit` query parameter, read as text so that a bad value gets an
/// error of its own rather than a generic one.
pub fn limit(raw: Option<&str>) -> Result<u64, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            }),
    }
}
