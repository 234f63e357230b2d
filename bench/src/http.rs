//! Just enough HTTP/1.1 over a `TcpStream`: a few hundred bytes of state per
//! connection where a general client would hold far more.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::chunked::{ChunkedDecoder, Progress};

/// Response heads larger than this are refused.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;

/// Opens a connection from `source` (any port) to `target`.
pub async fn connect(target: SocketAddr, source: Option<Ipv4Addr>) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        // Defers the choice of source port to connect(), so a port is only
        // unique per (source, destination) pair rather than per source
        // address: more connections, and no clash with ports that earlier
        // runs left in TIME_WAIT towards other servers.
        let enable: libc::c_int = 1;
        // SAFETY: a valid socket descriptor and a pointer to a live c_int of
        // the length given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&raw const enable).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("IP_BIND_ADDRESS_NO_PORT");
        }
        socket
            .bind(SocketAddr::new(IpAddr::V4(source), 0))
            .with_context(|| format!("bind to {source}"))?;
    }
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Chunked,
    Length(usize),
    /// Neither: the body runs until the server closes the connection.
    UntilClose,
}

#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// Bytes the head took in the buffer; what follows is body.
    pub len: usize,
    pub body: BodyKind,
    pub close: bool,
}

/// Parses a response head at the start of `buf`; `None` until it is complete.
pub fn parse_head(buf: &[u8]) -> anyhow::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial if buf.len() > MAX_HEAD => {
            anyhow::bail!("response head over {MAX_HEAD} bytes")
        }
        httparse::Status::Partial => return Ok(None),
    };
    let mut body = BodyKind::UntilClose;
    let mut close = false;
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        if header.name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            body = BodyKind::Chunked;
        } else if header.name.eq_ignore_ascii_case("content-length") && body != BodyKind::Chunked {
            body = BodyKind::Length(value.trim().parse().context("content-length")?);
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some(Head {
        status: response.code.context("no status")?,
        len,
        body,
        close,
    }))
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A request's body: its bytes, their type, and the bearer token that
/// goes with them, if any.
pub struct Body<'a> {
    pub content_type: &'a str,
    pub bytes: &'a [u8],
    pub bearer: Option<&'a str>,
}

impl<'a> Body<'a> {
    pub fn json(bytes: &'a [u8]) -> Self {
        Self {
            content_type: "application/json",
            bytes,
            bearer: None,
        }
    }
}

/// A keep-alive connection for request/response exchanges.
pub struct Client {
    target: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends one request, reconnecting first if the last exchange closed the
    /// connection. A failed exchange leaves it closed.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Body<'_>>,
    ) -> anyhow::Result<Response> {
        let result = self.exchange(method, path, body).await;
        if !matches!(result, Ok((_, false))) {
            self.stream = None;
        }
        result.map(|(response, _)| response)
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Body<'_>>,
    ) -> anyhow::Result<(Response, bool)> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => self.stream.insert(connect(self.target, None).await?),
        };
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.target);
        if let Some(body) = &body {
            request.push_str(&format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                body.content_type,
                body.bytes.len()
            ));
            if let Some(token) = body.bearer {
                request.push_str(&format!("Authorization: Bearer {token}\r\n"));
            }
        }
        request.push_str("\r\n");
        let mut request = request.into_bytes();
        request.extend_from_slice(body.map(|body| body.bytes).unwrap_or_default());
        stream.write_all(&request).await?;

        self.buf.clear();
        let head = loop {
            if stream.read_buf(&mut self.buf).await? == 0 {
                anyhow::bail!("connection closed before the response head");
            }
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
        };
        let mut body = Vec::new();
        let mut rest = self.buf.split_off(head.len);
        match head.body {
            BodyKind::Length(len) => {
                while rest.len() < len {
                    if stream.read_buf(&mut rest).await? == 0 {
                        anyhow::bail!("connection closed in the response body");
                    }
                }
                rest.truncate(len);
                body = rest;
            }
            BodyKind::Chunked => {
                let mut decoder = ChunkedDecoder::new();
                loop {
                    if decoder.feed(&rest, |part| body.extend_from_slice(part))? == Progress::End {
                        break;
                    }
                    rest.clear();
                    if stream.read_buf(&mut rest).await? == 0 {
                        anyhow::bail!("connection closed in the response body");
                    }
                }
            }
            BodyKind::UntilClose => {
                body = rest;
                stream.read_to_end(&mut body).await?;
            }
        }
        let close = head.close || head.body == BodyKind::UntilClose;
        Ok((
            Response {
                status: head.status,
                body,
            },
            close,
        ))
    }
}

/// One GET on a fresh connection, bounded in time.
pub async fn get(target: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<Response> {
    tokio::time::timeout(timeout, Client::new(target).request("GET", path, None))
        .await
        .with_context(|| format!("GET {path} took over {timeout:?}"))?
}

/// The newest event id the server reports (`last_event_id` of the list).
pub async fn last_event_id(target: SocketAddr) -> anyhow::Result<u64> {
    let response = get(target, "/api/v1/users?limit=1", Duration::from_secs(30)).await?;
    anyhow::ensure!(
        response.status == 200,
        "GET /api/v1/users answered {}",
        response.status
    );
    #[derive(serde::Deserialize)]
    struct Page {
        last_event_id: u64,
    }
    let page: Page = serde_json::from_slice(&response.body).context("the users list")?;
    Ok(page.last_event_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_body_is_made_of() -> anyhow::Result<()> {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n")?;
        assert!(matches!(
            head,
            Some(Head {
                status: 200,
                len: 47,
                body: BodyKind::Chunked,
                close: false
            })
        ));
        let head =
            parse_head(b"HTTP/1.1 201 Created\r\ncontent-length: 12\r\nconnection: close\r\n\r\n")?;
        assert!(matches!(
            head,
            Some(Head {
                status: 201,
                body: BodyKind::Length(12),
                close: true,
                ..
            })
        ));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n")?.is_none());
        Ok(())
    }
}
