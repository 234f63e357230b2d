//! The `text/event-stream` wire format.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

pub const KEEP_ALIVE: Bytes = Bytes::from_static(b": keep-alive\n\n");

/// A default (`message`) event carrying `data` under `id`.
pub fn message(id: i64, data: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + 32);
    frame.put_slice(format!("id: {id}\n").as_bytes());
    put_data(&mut frame, data);
    frame.freeze()
}

/// A named event without an id (the client's resume point stays put).
pub fn named(event: &str, data: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + 32);
    frame.put_slice(format!("event: {event}\n").as_bytes());
    put_data(&mut frame, data);
    frame.freeze()
}

pub fn retry(after: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", after.as_millis()))
}

/// One `data:` line per line of `data`, so a payload can never end an event early.
fn put_data(frame: &mut BytesMut, data: &str) {
    for line in data.split('\n') {
        frame.put_slice(b"data: ");
        frame.put_slice(line.as_bytes());
        frame.put_u8(b'\n');
    }
    frame.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_event_stream_format() {
        assert_eq!(
            message(7, r#"{"a":1}"#),
            Bytes::from_static(b"id: 7\ndata: {\"a\":1}\n\n")
        );
        assert_eq!(
            named("reset", "x\ny"),
            Bytes::from_static(b"event: reset\ndata: x\ndata: y\n\n")
        );
        assert_eq!(
            retry(Duration::from_millis(3000)),
            Bytes::from_static(b"retry: 3000\n\n")
        );
    }
}
