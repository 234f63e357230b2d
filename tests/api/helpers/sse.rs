//! An event stream as a client reads it.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::Response;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::PROMPTLY;

/// One block of an event stream, as an EventSource would parse it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
}

impl Frame {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap_or("null"))
            .unwrap_or_else(|e| panic!("data is not JSON: {e}"))
    }

    /// The event id of the frame's `id:` (`<id>.<tag>`).
    pub fn id_number(&self) -> i64 {
        self.id
            .as_deref()
            .and_then(|i| i.split_once('.'))
            .filter(|(_, tag)| tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or_else(|| panic!("frame has no `<id>.<tag>` id: {self:?}"))
    }
}

/// A Server-Sent Events client over a real HTTP response.
pub struct SseClient {
    pub headers: HeaderMap,
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: Vec<u8>,
}

impl SseClient {
    pub fn new(response: Response) -> Self {
        Self {
            headers: response.headers().clone(),
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The next block, or `None` when the server ended the stream.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(&String::from_utf8_lossy(&block)));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => panic!("stream failed: {e}"),
                None => return None,
            }
        }
    }

    /// The next frame, failing the test if none comes promptly.
    pub async fn expect_frame(&mut self) -> Frame {
        match tokio::time::timeout(PROMPTLY, self.next_frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("the stream ended"),
            Err(_) => panic!("no frame within {PROMPTLY:?}"),
        }
    }

    /// The next frame that carries data, skipping keep-alives and `retry:`;
    /// failing the test if none comes promptly, however many keep-alives do.
    pub async fn expect_event(&mut self) -> Frame {
        self.expect_event_within(PROMPTLY).await
    }

    /// Like [`SseClient::expect_event`], for an event due only after
    /// `within`.
    pub async fn expect_event_within(&mut self, within: Duration) -> Frame {
        let event = async {
            loop {
                match self.next_frame().await {
                    Some(frame) if frame.data.is_some() => return frame,
                    Some(_) => {}
                    None => panic!("the stream ended"),
                }
            }
        };
        tokio::time::timeout(within, event)
            .await
            .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }

    /// The ids of the next `n` data events.
    pub async fn expect_ids(&mut self, n: usize) -> Vec<i64> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(self.expect_event().await.id_number());
        }
        ids
    }

    /// Asserts that no data event arrives before the next keep-alive, which
    /// the server sends after everything already queued for this stream.
    pub async fn expect_quiet(&mut self) {
        loop {
            let frame = self.expect_frame().await;
            assert!(frame.data.is_none(), "unexpected event {frame:?}");
            if frame.comments.iter().any(|c| c == "keep-alive") {
                return;
            }
        }
    }
}

fn parse_block(block: &str) -> Frame {
    let mut frame = Frame::default();
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comments.push(comment.trim_start().to_owned());
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "id" => frame.id = Some(value.to_owned()),
            "event" => frame.event = Some(value.to_owned()),
            "retry" => frame.retry = value.parse().ok(),
            "data" => {
                frame.data = Some(match frame.data.take() {
                    Some(previous) => format!("{previous}\n{value}"),
                    None => value.to_owned(),
                })
            }
            _ => {}
        }
    }
    frame
}
