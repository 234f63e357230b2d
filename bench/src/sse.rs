//! Incremental `text/event-stream` parsing (the WHATWG rules for lines,
//! fields and frames), fed body bytes as they arrive.
//!
//! A frame's data is only kept when the handler asks for it: the load
//! generator needs an event's JSON once per process, not once per subscriber.

use std::mem;

/// A line longer than this is an error, not something to buffer forever.
const MAX_LINE: usize = 1 << 20;

/// One dispatched frame (a blank line ended it).
pub struct Frame<'a> {
    /// The event id of the frame's `id:` field (Herald's `<id>.<tag>`, or
    /// a bare number as the baseline sends), when it holds one.
    pub id: Option<u64>,
    /// `event:`; absent for default (`message`) events.
    pub event: Option<&'a [u8]>,
    /// Whether any `data:` line came: frames without one dispatch no event.
    pub has_data: bool,
    /// The data lines joined by `\n`, when the handler wanted them.
    pub data: Option<&'a [u8]>,
}

pub trait Handler {
    /// Asked at a frame's first `data:` line, after the fields before it.
    fn wants_data(&mut self, id: Option<u64>) -> bool;
    fn frame(&mut self, frame: Frame<'_>);
    /// A `:` line: servers send them as keep-alives.
    fn comment(&mut self);
}

#[derive(Default)]
pub struct Parser {
    /// The start of a line that the previous input ended in the middle of.
    partial: Vec<u8>,
    /// The previous input ended with `\r`: a `\n` opening the next one
    /// belongs to the same line end.
    after_cr: bool,
    id: Option<u64>,
    event: Option<Vec<u8>>,
    has_data: bool,
    keep_data: Option<bool>,
    data: Vec<u8>,
}

impl Parser {
    pub fn feed(&mut self, mut input: &[u8], handler: &mut impl Handler) -> anyhow::Result<()> {
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if input[0] == b'\n' {
                input = &input[1..];
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', input) {
            if self.partial.is_empty() {
                self.line(&input[..end], handler);
            } else {
                let mut line = mem::take(&mut self.partial);
                line.extend_from_slice(&input[..end]);
                self.line(&line, handler);
                line.clear();
                self.partial = line;
            }
            let cr = input[end] == b'\r';
            input = &input[end + 1..];
            if cr {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if self.partial.len() + input.len() > MAX_LINE {
            anyhow::bail!("an event-stream line longer than {MAX_LINE} bytes");
        }
        self.partial.extend_from_slice(input);
        Ok(())
    }

    fn line(&mut self, line: &[u8], handler: &mut impl Handler) {
        if line.is_empty() {
            return self.dispatch(handler);
        }
        if line[0] == b':' {
            return handler.comment();
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"id" => {
                self.id = std::str::from_utf8(value)
                    .ok()
                    .and_then(|id| id.split('.').next())
                    .and_then(|id| id.parse().ok());
            }
            b"event" => self.event = Some(value.to_vec()),
            b"data" => {
                if *self
                    .keep_data
                    .get_or_insert_with(|| handler.wants_data(self.id))
                {
                    if self.has_data {
                        self.data.push(b'\n');
                    }
                    self.data.extend_from_slice(value);
                }
                self.has_data = true;
            }
            // `retry:` and unknown fields change nothing the harness checks.
            _ => {}
        }
    }

    fn dispatch(&mut self, handler: &mut impl Handler) {
        handler.frame(Frame {
            id: self.id,
            event: self.event.as_deref(),
            has_data: self.has_data,
            data: self.keep_data.unwrap_or(false).then_some(&self.data[..]),
        });
        self.id = None;
        self.event = None;
        self.has_data = false;
        self.keep_data = None;
        self.data.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// id, event, has data, data.
    type Seen = (Option<u64>, Option<String>, bool, Option<String>);

    #[derive(Default)]
    struct Collect {
        frames: Vec<Seen>,
        comments: usize,
    }

    impl Handler for Collect {
        fn wants_data(&mut self, id: Option<u64>) -> bool {
            id != Some(2)
        }
        fn frame(&mut self, frame: Frame<'_>) {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            self.frames.push((
                frame.id,
                frame.event.map(text),
                frame.has_data,
                frame.data.map(text),
            ));
        }
        fn comment(&mut self) {
            self.comments += 1;
        }
    }

    fn parse_in_pieces(wire: &[u8], piece: usize) -> Collect {
        let mut parser = Parser::default();
        let mut collect = Collect::default();
        for part in wire.chunks(piece) {
            if let Err(e) = parser.feed(part, &mut collect) {
                panic!("{e}");
            }
        }
        collect
    }

    #[test]
    fn frames_fields_and_comments_whatever_the_read_boundaries() {
        let wire = b"retry: 3000\n\n: keep-alive\n\nid: 1.0a1b2c3d\ndata: {\"a\":1}\n\n\
                     id: 2\r\ndata: skipped\r\n\r\nevent: reset\rdata: x\rdata:y\r\r";
        for piece in 1..wire.len() {
            let parsed = parse_in_pieces(wire, piece);
            assert_eq!(parsed.comments, 1, "piece {piece}");
            assert_eq!(
                parsed.frames,
                vec![
                    (None, None, false, None),
                    // The blank line after the comment ends an empty frame.
                    (None, None, false, None),
                    (Some(1), None, true, Some("{\"a\":1}".to_owned())),
                    (Some(2), None, true, None),
                    (
                        None,
                        Some("reset".to_owned()),
                        true,
                        Some("x\ny".to_owned())
                    ),
                ],
                "piece {piece}"
            );
        }
    }
}
