//! The `text/event-stream` wire format. Every `data:` line is JSON, its
//! line separators escaped (see `data_line`).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::data_line;
use super::position::Tag;
use crate::domain::mercure::Update;

pub const KEEP_ALIVE: Bytes = Bytes::from_static(b": keep-alive\n\n");

/// Bytes of frames handed to a stream at once (one frame at least): one
/// stream's share of its connection's write buffer, which bounds what a
/// burst or a replay leaves behind in it.
pub const SEND_AT_ONCE: usize = 8 * 1024;

/// An event with its position (`<id>.<tag>`): a default `message`, or a
/// named one when `sse_event` is given. `data` is JSON.
pub fn message(id: i64, tag: Tag, sse_event: Option<&str>, data: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + 40);
    frame.put_slice(format!("id: {id}.{tag}\n").as_bytes());
    if let Some(name) = sse_event {
        put_event_name(&mut frame, name);
    }
    put_data(&mut frame, data);
    frame.freeze()
}

/// A named event without an id (the client's resume point stays put).
/// `data` is JSON.
pub fn named(event: &str, data: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + 32);
    put_event_name(&mut frame, event);
    put_data(&mut frame, data);
    frame.freeze()
}

/// A Mercure update as the hub sends it: its id as published, `event:` its
/// type, `retry:` when given, and one `data:` line for each line of its data
/// (split at CR, LF and CRLF alike, as every SSE reader splits them).
pub fn mercure(update: &Update) -> Bytes {
    let mut frame = BytesMut::with_capacity(update.data.len() + update.id.len() + 32);
    frame.put_slice(b"id: ");
    frame.put_slice(update.id.as_bytes());
    frame.put_u8(b'\n');
    if let Some(kind) = &update.kind {
        put_event_name(&mut frame, kind);
    }
    if let Some(retry) = update.retry.filter(|r| *r > 0) {
        frame.put_slice(format!("retry: {retry}\n").as_bytes());
    }
    let mut rest = update.data.as_str();
    loop {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        frame.put_slice(b"data: ");
        frame.put_slice(&rest.as_bytes()[..end]);
        frame.put_u8(b'\n');
        if end == rest.len() {
            break;
        }
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    frame.put_u8(b'\n');
    frame.freeze()
}

pub fn retry(after: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", after.as_millis()))
}

/// `frames` as one buffer: shared as it is when there is one, copied once
/// when there are several, so that one write carries them all.
pub fn join(frames: &[Bytes]) -> Bytes {
    match frames {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut joined = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
            for frame in many {
                joined.put_slice(frame);
            }
            joined.freeze()
        }
    }
}

fn put_event_name(frame: &mut BytesMut, name: &str) {
    frame.put_slice(b"event: ");
    frame.put_slice(name.as_bytes());
    frame.put_u8(b'\n');
}

/// One `data:` line per line of `data`, so a payload can never end an event
/// early, with the line separators JSON allows raw written as escapes.
fn put_data(frame: &mut BytesMut, data: &str) {
    for line in data.split('\n') {
        frame.put_slice(b"data: ");
        put_escaping_separators(frame, line);
        frame.put_u8(b'\n');
    }
    frame.put_u8(b'\n');
}

fn put_escaping_separators(frame: &mut BytesMut, json: &str) {
    data_line::escaping_separators(json, |piece| frame.put_slice(piece));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_event_stream_format() {
        let tag = Tag::of("x");
        assert_eq!(
            message(7, tag, None, r#"{"a":1}"#),
            Bytes::from(format!("id: 7.{tag}\ndata: {{\"a\":1}}\n\n"))
        );
        assert_eq!(
            message(8, tag, Some("psh"), "x"),
            Bytes::from(format!("id: 8.{tag}\nevent: psh\ndata: x\n\n"))
        );
        assert_eq!(
            named("reset", "x\ny"),
            Bytes::from_static(b"event: reset\ndata: x\ndata: y\n\n")
        );
        assert_eq!(
            retry(Duration::from_millis(3000)),
            Bytes::from_static(b"retry: 3000\n\n")
        );
        assert_eq!(
            join(&[KEEP_ALIVE, Bytes::from_static(b"a")]),
            Bytes::from_static(b": keep-alive\n\na")
        );
    }

    #[test]
    fn mercure_updates_are_framed_as_the_hub_frames_them() {
        let update = |data: &str, kind: Option<&str>, retry: Option<u64>| Update {
            id: "urn:uuid:1".to_owned(),
            topics: vec!["t".to_owned()],
            data: data.to_owned(),
            private: false,
            kind: kind.map(str::to_owned),
            retry,
        };
        assert_eq!(
            mercure(&update("a\r\nb\rc\n\nd", None, None)),
            Bytes::from_static(b"id: urn:uuid:1\ndata: a\ndata: b\ndata: c\ndata: \ndata: d\n\n")
        );
        assert_eq!(
            mercure(&update("", Some("book"), Some(5000))),
            Bytes::from_static(b"id: urn:uuid:1\nevent: book\nretry: 5000\ndata: \n\n")
        );
        assert_eq!(
            mercure(&update("x", None, Some(0))),
            Bytes::from_static(b"id: urn:uuid:1\ndata: x\n\n")
        );
    }

    #[test]
    fn line_separators_leave_as_json_escapes() {
        let data = "{\"name\":\"a\u{2028}b\u{2029}c\u{85}d\u{e9}\u{2027}\"}";
        let frame = named("x", data);
        let text = std::str::from_utf8(&frame).unwrap_or_default();
        assert_eq!(
            text,
            "event: x\ndata: {\"name\":\"a\\u2028b\\u2029c\\u0085d\u{e9}\u{2027}\"}\n\n"
        );
        let line = text.lines().nth(1).unwrap_or_default();
        assert_eq!(line.split(['\u{2028}', '\u{2029}', '\u{85}']).count(), 1);
        let decoded: serde_json::Value =
            serde_json::from_str(line.trim_start_matches("data: ")).unwrap_or_default();
        let original: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
        assert_eq!(decoded, original, "a JSON reader decodes the same string");
    }
}
