//! One subscriber: opens its stream (Herald's or the Mercure hub's), then checks every event it
//! receives against the run's range of ids and times its arrival.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::chunked::{ChunkedDecoder, Progress};
use crate::fleet::{Phase, Shared};
use crate::http::{self, BodyKind};
use crate::sse::{self, Frame};
use crate::tally::Tally;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Reads per wake-up before yielding to the other subscribers.
const READS_PER_WAKE: usize = 4;

thread_local! {
    /// Every subscriber on a runtime thread reads into this one buffer and
    /// parses before it awaits again, so an idle connection holds no buffer.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 64 * 1024]);
}

pub struct Spec {
    /// The subscriber's index within its process.
    pub index: usize,
    pub target: SocketAddr,
    pub source: Ipv4Addr,
}

pub enum Outcome {
    Failed(String),
    Connected {
        connect_micros: u64,
        tally: Tally,
        /// Why the stream ended before the harness closed it.
        ended: Option<String>,
    },
}

pub async fn run(
    spec: Spec,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let started = Instant::now();
    let opened = tokio::select! {
        _ = cancel.cancelled() => Err(anyhow::anyhow!("stopped while connecting")),
        opened = tokio::time::timeout(CONNECT_TIMEOUT, open(spec.target, spec.source, shared.dialect.stream_path())) => {
            opened.unwrap_or_else(|_| Err(anyhow::anyhow!("no response head within {CONNECT_TIMEOUT:?}")))
        }
    };
    drop(permit);
    let (stream, body, early_bytes) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            shared.highest[spec.index].store(crate::fleet::GONE, Ordering::Relaxed);
            shared.settle(false);
            return Outcome::Failed(format!("{error:#}"));
        }
    };
    let connect_micros = started.elapsed().as_micros() as u64;
    shared.settle(true);

    let mut reader = Reader {
        body,
        parser: sse::Parser::default(),
        tally: Tally::default(),
    };
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    let mut ended = match reader.process(&early_bytes, wall_micros(), &shared, spec.index) {
        Ok(true) => None,
        Ok(false) => Some("the server ended the stream".to_owned()),
        Err(error) => Some(format!("{error:#}")),
    };
    while ended.is_none() {
        tokio::select! {
            biased;
            _ = &mut cancelled => break,
            ready = stream.readable() => {
                ended = match ready.map_err(anyhow::Error::from).and_then(|()| reader.pump(&stream, &shared, spec.index)) {
                    Ok(true) => None,
                    Ok(false) => Some("the server ended the stream".to_owned()),
                    Err(error) => Some(format!("{error:#}")),
                };
            }
        }
    }
    if ended.is_some() {
        shared.highest[spec.index].store(crate::fleet::GONE, Ordering::Relaxed);
    }
    Outcome::Connected {
        connect_micros,
        tally: reader.tally,
        ended,
    }
}

enum Body {
    Chunked(ChunkedDecoder),
    Raw,
}

/// Opens the stream; returns it with the body bytes that came with the head.
async fn open(
    target: SocketAddr,
    source: Ipv4Addr,
    path: &str,
) -> anyhow::Result<(TcpStream, Body, Vec<u8>)> {
    let mut stream = http::connect(target, Some(source))
        .await
        .with_context(|| format!("connect from {source} to {target}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if tokio::io::AsyncReadExt::read_buf(&mut stream, &mut buf).await? == 0 {
            anyhow::bail!("connection closed before the response head");
        }
        if let Some(head) = http::parse_head(&buf)? {
            anyhow::ensure!(head.status == 200, "the stream answered {}", head.status);
            let body = match head.body {
                BodyKind::Chunked => Body::Chunked(ChunkedDecoder::new()),
                BodyKind::UntilClose | BodyKind::Length(_) => Body::Raw,
            };
            return Ok((stream, body, buf.split_off(head.len)));
        }
    }
}

struct Reader {
    body: Body,
    parser: sse::Parser,
    tally: Tally,
}

impl Reader {
    /// Reads what the socket holds; false once the stream is over.
    fn pump(&mut self, stream: &TcpStream, shared: &Shared, index: usize) -> anyhow::Result<bool> {
        SCRATCH.with_borrow_mut(|buf| {
            for _ in 0..READS_PER_WAKE {
                match stream.try_read(buf) {
                    Ok(0) => return Ok(false),
                    Ok(n) => {
                        if !self.process(&buf[..n], wall_micros(), shared, index)? {
                            return Ok(false);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(true)
        })
    }

    /// Parses bytes received at `now`; false once the body is over.
    fn process(
        &mut self,
        bytes: &[u8],
        now: i64,
        shared: &Shared,
        index: usize,
    ) -> anyhow::Result<bool> {
        let mut accounting = Accounting {
            shared,
            index,
            now,
            tally: &mut self.tally,
            delivered: 0,
        };
        let open = match &mut self.body {
            Body::Raw => {
                self.parser.feed(bytes, &mut accounting)?;
                true
            }
            Body::Chunked(decoder) => {
                let parser = &mut self.parser;
                let mut failure = None;
                let progress = decoder.feed(bytes, |part| {
                    if failure.is_none() {
                        failure = parser.feed(part, &mut accounting).err();
                    }
                })?;
                if let Some(error) = failure {
                    return Err(error);
                }
                progress == Progress::More
            }
        };
        if accounting.delivered > 0 {
            shared
                .received
                .fetch_add(accounting.delivered, Ordering::Relaxed);
            if let Some(highest) = self.tally.highest_id() {
                shared.highest[index].store(highest, Ordering::Relaxed);
            }
        }
        Ok(open)
    }
}

/// Checks each frame against the run and records its latency.
struct Accounting<'a> {
    shared: &'a Shared,
    index: usize,
    now: i64,
    tally: &'a mut Tally,
    delivered: u64,
}

impl sse::Handler for Accounting<'_> {
    fn wants_data(&mut self, id: Option<u64>) -> bool {
        let Some(id) = id else { return true };
        self.shared
            .position(id)
            .is_some_and(|position| self.shared.commit_times.get(position).is_none())
    }

    fn frame(&mut self, frame: Frame<'_>) {
        if let Some(keep_alive) = self.shared.dialect.keep_alive_event()
            && frame.event == Some(keep_alive)
        {
            return self.comment();
        }
        if !frame.has_data {
            return;
        }
        match frame.event {
            None | Some(b"message") => {}
            Some(b"reset") => return self.tally.resets += 1,
            Some(_) => return self.tally.unexpected += 1,
        }
        let Some(id) = frame.id else {
            return self.tally.unexpected += 1;
        };
        // Events from before the run are not counted.
        let Some(position) = self.shared.position(id) else {
            return;
        };
        let at = self.shared.commit_times.get(position).or_else(|| {
            let at = commit_time(frame.data?, id)?;
            self.shared.commit_times.insert(position, at);
            Some(at)
        });
        if self.tally.deliver(id, position, self.now) {
            self.delivered += 1;
            match at {
                Some(at) => self
                    .shared
                    .latency
                    .record(self.index, (self.now - at).max(0) as u64),
                None => self.tally.malformed += 1,
            }
        }
    }

    fn comment(&mut self) {
        match self.shared.phase() {
            Phase::Ramp => {}
            Phase::Hold => {
                self.tally.keep_alives += 1;
                self.tally.keep_alives_in_hold += 1;
            }
            Phase::Writes => self.tally.keep_alives += 1,
        }
    }
}

/// The envelope's `at` in microseconds since the epoch, if its `id` matches
/// the frame's.
fn commit_time(data: &[u8], id: u64) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        id: u64,
        #[serde(borrow)]
        at: std::borrow::Cow<'a, str>,
    }
    let envelope: Envelope = serde_json::from_slice(data).ok()?;
    (envelope.id == id).then_some(())?;
    Some(
        chrono::DateTime::parse_from_rfc3339(&envelope.at)
            .ok()?
            .timestamp_micros(),
    )
}

pub fn wall_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_commit_time_of_the_matching_envelope() {
        let data = br#"{"id": 7, "event": "user_created", "at": "2026-11-22T03:58:16.207821Z", "data": {"user": {"created_at": "x"}}}"#;
        assert_eq!(commit_time(data, 7), Some(1_795_319_896_207_821));
        assert_eq!(commit_time(data, 8), None);
        assert_eq!(commit_time(b"not json", 7), None);
    }
}
