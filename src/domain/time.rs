//! How times are written in JSON: RFC 3339 in UTC, always with six
//! fractional digits (`2026-11-22T03:58:16.081864Z`), as the database's
//! triggers write them in events too, so that a user in a response and the
//! same user in its event are the same text.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn rfc3339_micros<S: Serializer>(
    time: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_always_have_six_fractional_digits() {
        let whole = Utc.with_ymd_and_hms(2026, 11, 22, 3, 58, 16).single();
        let json = serde_json::to_value(whole.map(Micros));
        assert_eq!(
            json.ok(),
            Some(serde_json::json!("2026-11-22T03:58:16.000000Z"))
        );
    }

    #[derive(serde::Serialize)]
    struct Micros(#[serde(serialize_with = "rfc3339_micros")] DateTime<Utc>);
}
