//! What a `data:` line carries: JSON on one line, with no character that a
//! common reader takes for the end of a line.
//!
//! JSON may carry U+2028, U+2029 and U+0085 raw inside its strings; readers
//! that split lines the way Python's `str.splitlines()` does (httpx's
//! `iter_lines`, `requests` with `decode_unicode`) would cut an event in two
//! at them. Every frame writes them as JSON escapes (`\u2028`), for every
//! event whoever wrote it, so the bytes on the wire never carry them raw;
//! a JSON reader decodes the same string.

/// Hands `json` to `put` piece by piece, with U+2028, U+2029 and U+0085 as
/// `\u2028`, `\u2029`, `\u0085`: outside a string JSON cannot hold them,
/// inside one the escape is the same string. What the `data:` line carries,
/// and what its tag is taken of.
pub fn escaping_separators(json: &str, mut put: impl FnMut(&[u8])) {
    // Their UTF-8 starts with 0xE2 or 0xC2: most payloads have neither byte.
    if !json.bytes().any(|b| b == 0xE2 || b == 0xC2) {
        put(json.as_bytes());
        return;
    }
    let mut rest = json;
    while let Some(at) = rest.find(['\u{2028}', '\u{2029}', '\u{85}']) {
        put(&rest.as_bytes()[..at]);
        let separator = rest[at..].chars().next().unwrap_or_default();
        put(format!("\\u{:04x}", u32::from(separator)).as_bytes());
        rest = &rest[at + separator.len_utf8()..];
    }
    put(rest.as_bytes());
}
