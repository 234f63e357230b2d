//! Incremental `Transfer-Encoding: chunked` decoding: bytes in as they come
//! off the socket, body slices out, nothing copied.

#[derive(Debug, Clone, Copy)]
enum State {
    Size { size: u64, digits: u8 },
    Extension { size: u64 },
    SizeLf { size: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    Trailer { line_start: bool },
    Done,
}

pub struct ChunkedDecoder {
    state: State,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    More,
    /// The last chunk arrived: the body is over.
    End,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
        }
    }

    pub fn feed<'a>(
        &mut self,
        mut input: &'a [u8],
        mut body: impl FnMut(&'a [u8]),
    ) -> anyhow::Result<Progress> {
        while let Some((&byte, rest)) = input.split_first() {
            self.state = match self.state {
                State::Data { remaining } => {
                    let n = input
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    body(&input[..n]);
                    input = &input[n..];
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                    continue;
                }
                State::Size { size, digits } => match (byte as char).to_digit(16) {
                    Some(digit) if digits < 15 => State::Size {
                        size: size * 16 + u64::from(digit),
                        digits: digits + 1,
                    },
                    Some(_) => anyhow::bail!("chunk size too large"),
                    None if digits == 0 => anyhow::bail!("chunk size missing"),
                    None => match byte {
                        b';' | b' ' | b'\t' => State::Extension { size },
                        b'\r' => State::SizeLf { size },
                        b'\n' => after_size(size),
                        _ => anyhow::bail!("bad chunk size"),
                    },
                },
                State::Extension { size } => match byte {
                    b'\n' => after_size(size),
                    _ => State::Extension { size },
                },
                State::SizeLf { size } => match byte {
                    b'\n' => after_size(size),
                    _ => anyhow::bail!("bad chunk size line end"),
                },
                State::DataCr => match byte {
                    b'\r' => State::DataLf,
                    b'\n' => State::Size { size: 0, digits: 0 },
                    _ => anyhow::bail!("chunk longer than its size"),
                },
                State::DataLf => match byte {
                    b'\n' => State::Size { size: 0, digits: 0 },
                    _ => anyhow::bail!("bad chunk end"),
                },
                State::Trailer { line_start } => match byte {
                    b'\n' if line_start => State::Done,
                    b'\n' => State::Trailer { line_start: true },
                    b'\r' => State::Trailer { line_start },
                    _ => State::Trailer { line_start: false },
                },
                State::Done => return Ok(Progress::End),
            };
            input = rest;
        }
        Ok(match self.state {
            State::Done => Progress::End,
            _ => Progress::More,
        })
    }
}

fn after_size(size: u64) -> State {
    if size == 0 {
        State::Trailer { line_start: true }
    } else {
        State::Data { remaining: size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(wire: &[u8], piece: usize) -> (Vec<u8>, Progress) {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut progress = Progress::More;
        for part in wire.chunks(piece) {
            progress = decoder
                .feed(part, |bytes| body.extend_from_slice(bytes))
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
        (body, progress)
    }

    #[test]
    fn decodes_whatever_the_read_boundaries() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        for piece in 1..wire.len() {
            assert_eq!(
                decode_in_pieces(wire, piece),
                (b"hello, world".to_vec(), Progress::End),
                "piece {piece}"
            );
        }
    }

    #[test]
    fn an_open_stream_is_not_over() {
        assert_eq!(
            decode_in_pieces(b"A\r\n0123456789\r\n3\r\nab", 4),
            (b"0123456789ab".to_vec(), Progress::More)
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(ChunkedDecoder::new().feed(b"zz\r\n", |_| {}).is_err());
        assert!(ChunkedDecoder::new().feed(b"1\r\nab", |_| {}).is_err());
    }
}
