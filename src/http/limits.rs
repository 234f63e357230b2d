//! How much of a request Herald reads: one home for each limit, which the
//! parsers enforce and the OpenAPI document and error messages state.

/// The largest request body, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The longest request line, in bytes (`414` beyond).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// The most request header bytes in all (`431` beyond).
pub const MAX_HEADERS: usize = 16 * 1024;

/// Users per page of the list, at most; and when a client names none.
pub const MAX_PAGE: u64 = 200;
pub const DEFAULT_PAGE: u64 = 50;

/// Distinct topics one stream may ask for.
pub const MAX_TOPICS: usize = 32;

/// The longest `Idempotency-Key`, in characters.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
