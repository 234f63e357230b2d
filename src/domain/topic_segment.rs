//! One segment of a live table's topic (`orders/<scope>/<key>`): any value
//! of a key or scope column, written with the characters a topic allows,
//! one way and reversibly.
//!
//! - Letters, digits, `-`, `.` and `:` stand for themselves.
//! - Every other byte of the value's UTF-8 is `_` and two upper-case hex
//!   digits (`/` is `_2F`, `_` itself `_5F`, `é` is `_C3_A9`).
//! - The empty string is `_`; SQL's NULL (a scope column without a value)
//!   is `_null`. Neither can be the encoding of any other value: a `_` is
//!   always followed by two hex digits there.
//!
//! The database's triggers write the same encoding (`db::live_tables`);
//! a test holds the two to each other.

use std::fmt::Write as _;

/// What a NULL scope is written as.
pub const NULL_SEGMENT: &str = "_null";

fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b':')
}

/// The segment of `value`, `None` standing for SQL's NULL.
pub fn encode(value: Option<&str>) -> String {
    let Some(value) = value else {
        return NULL_SEGMENT.to_owned();
    };
    if value.is_empty() {
        return "_".to_owned();
    }
    let mut segment = String::with_capacity(value.len());
    for byte in value.bytes() {
        if is_plain(byte) {
            segment.push(char::from(byte));
        } else {
            let _ = write!(segment, "_{byte:02X}");
        }
    }
    segment
}

/// The value a segment stands for (`None` for NULL), or why it is not a
/// segment [`encode`] writes.
pub fn decode(segment: &str) -> Result<Option<String>, String> {
    match segment {
        NULL_SEGMENT => return Ok(None),
        "_" => return Ok(Some(String::new())),
        "" => return Err("an empty topic segment".to_owned()),
        _ => {}
    }
    let bytes = segment.as_bytes();
    let mut value = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'_' {
            let hex = segment
                .get(at + 1..at + 3)
                .filter(|hex| {
                    hex.bytes()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
                })
                .ok_or_else(|| {
                    format!("{segment:?}: `_` must be followed by two upper-case hex digits")
                })?;
            let decoded = u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            if is_plain(decoded) {
                return Err(format!(
                    "{segment:?}: {:?} is written as itself",
                    char::from(decoded)
                ));
            }
            value.push(decoded);
            at += 3;
        } else if is_plain(byte) {
            value.push(byte);
            at += 1;
        } else {
            return Err(format!(
                "{segment:?}: {:?} is not a topic character",
                char::from(byte)
            ));
        }
    }
    String::from_utf8(value)
        .map(Some)
        .map_err(|_| format!("{segment:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_has_one_segment_and_back() {
        for (value, segment) in [
            (Some("acme"), "acme"),
            (Some("42"), "42"),
            (Some("a/b"), "a_2Fb"),
            (Some("snake_case"), "snake_5Fcase"),
            (Some("café"), "caf_C3_A9"),
            (Some("a b*"), "a_20b_2A"),
            (Some("%"), "_25"),
            (Some(""), "_"),
            (None, "_null"),
            (Some("_null"), "_5Fnull"),
            (
                Some("0192f5c4-7d3e-7c1a-8d2b-3f4e5a6b7c8d"),
                "0192f5c4-7d3e-7c1a-8d2b-3f4e5a6b7c8d",
            ),
        ] {
            assert_eq!(encode(value), segment, "{value:?}");
            assert_eq!(decode(segment), Ok(value.map(str::to_owned)), "{segment}");
            assert!(
                crate::domain::Topic::parse(&format!("t/{segment}")).is_ok(),
                "{segment}"
            );
        }
        for bad in ["", "_2f", "_4", "_41", "a b", "_zz", "_C3"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
