//! A job's log, streamed from a response body through `exlogare-logtext` into the host's log
//! sink: read in bounded pieces, normalized line by line (ANSI, carriage-return redraws, step
//! markers) and emitted in bounded chunks as it goes, so guest memory stays flat whatever the
//! log's size (a 200 MB log under a 64 MiB cap). Where the log is and how to fetch it is the
//! provider's; everything from the first byte of the body on is here.

use exlogare_logtext::{Edge, Line, Normalizer};

use crate::http::transport_error;
use crate::{BodyReader, Host, LogChunk, LogLine, Method, ProviderError, StepBoundary, StepEdge};

pub const READ_BYTES: u32 = 64 * 1024;
/// A chunk goes to the sink when it reaches either bound.
pub const CHUNK_MAX_LINES: usize = 2000;
pub const CHUNK_MAX_TEXT: usize = 256 * 1024;
/// Longer lines are truncated by the normalizer (minified bundles, base64 dumps).
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// The start of an error body, for the message; the rest is never read.
pub fn read_excerpt(body: &mut impl BodyReader) -> Vec<u8> {
    body.read(4096).ok().flatten().unwrap_or_default()
}

/// Lines waiting to go to the sink.
struct Batch {
    chunk: LogChunk,
    text_bytes: usize,
}

impl Batch {
    fn new() -> Self {
        Batch {
            chunk: LogChunk {
                lines: Vec::new(),
                steps: Vec::new(),
            },
            text_bytes: 0,
        }
    }

    fn add<H: Host>(
        &mut self,
        host: &H,
        line: Line,
        emitted: &mut u64,
    ) -> Result<(), ProviderError> {
        let cost = line.text.len() + line.steps.iter().map(|s| s.name.len()).sum::<usize>();
        if !self.chunk.lines.is_empty()
            && (self.chunk.lines.len() >= CHUNK_MAX_LINES
                || self.text_bytes + cost > CHUNK_MAX_TEXT)
        {
            self.flush(host, emitted)?;
        }
        for step in line.steps {
            self.chunk.steps.push(StepBoundary {
                edge: match step.edge {
                    Edge::Start => StepEdge::Start,
                    Edge::End => StepEdge::End,
                },
                name: step.name,
                source_line: line.number,
            });
        }
        self.chunk.lines.push(LogLine {
            source_line: line.number,
            text: line.text,
        });
        self.text_bytes += cost;
        Ok(())
    }

    fn flush<H: Host>(&mut self, host: &H, emitted: &mut u64) -> Result<(), ProviderError> {
        if self.chunk.lines.is_empty() && self.chunk.steps.is_empty() {
            return Ok(());
        }
        host.emit(&self.chunk).map_err(|e| {
            ProviderError::Denied(format!(
                "the host's log sink refused more text after {emitted} lines: {e}"
            ))
        })?;
        *emitted += self.chunk.lines.len() as u64;
        self.chunk.lines.clear();
        self.chunk.steps.clear();
        self.text_bytes = 0;
        Ok(())
    }
}

/// Reads `body` to its end in reads of [`READ_BYTES`], normalizes it line by line and emits the
/// lines (with their step markers) to the host's log sink in chunks of at most
/// [`CHUNK_MAX_LINES`] lines and [`CHUNK_MAX_TEXT`] bytes of text, so memory stays flat whatever
/// the log's size. Returns (raw bytes read, lines emitted). A failed read is the transport error
/// of `GET url`; a sink that refuses more text is `denied`, naming how many lines it took.
pub fn stream<H: Host, B: BodyReader>(
    host: &H,
    body: &mut B,
    url: &str,
) -> Result<(u64, u64), ProviderError> {
    let mut normalizer = Normalizer::new(MAX_LINE_BYTES);
    let mut lines: Vec<Line> = Vec::new();
    let mut batch = Batch::new();
    let (mut bytes, mut emitted) = (0u64, 0u64);
    loop {
        let data = body
            .read(READ_BYTES)
            .map_err(|e| transport_error(Method::Get, url, e))?;
        let Some(data) = data else { break };
        bytes += data.len() as u64;
        normalizer.push(&data, &mut lines);
        for line in lines.drain(..) {
            batch.add(host, line, &mut emitted)?;
        }
    }
    normalizer.finish(&mut lines);
    for line in lines.drain(..) {
        batch.add(host, line, &mut emitted)?;
    }
    batch.flush(host, &mut emitted)?;
    Ok((bytes, emitted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Body, FakeHost};
    use crate::{HttpError, Request};

    const URL: &str = "https://ci.example.com/job/7/log";

    fn body_of(host: &FakeHost, body: Body) -> <FakeHost as Host>::Body {
        host.on_with(Method::Get, URL, 200, &[], Ok(body));
        let req = Request {
            method: Method::Get,
            url: URL.into(),
            headers: Vec::new(),
            body: None,
            credential: None,
        };
        host.send_streaming(&req).unwrap().1
    }

    #[test]
    fn lines_are_normalized_with_their_steps() {
        let host = FakeHost::new();
        let log = "\x1b[0Ksection_start:1795168000:build\r\x1b[0K\x1b[1mBuilding\x1b[0m\n 10%\r 50%\r100% done\n\x1b[0Ksection_end:1795168000:build\r\x1b[0K\nlast line without newline";
        let mut body = body_of(&host, Body::Bytes(log.as_bytes().to_vec()));
        assert_eq!(
            stream(&host, &mut body, URL).unwrap(),
            (log.len() as u64, 4)
        );
        let s = host.emitted.borrow();
        let lines: Vec<(u64, &str)> = s
            .kept
            .iter()
            .flat_map(|c| c.lines.iter().map(|l| (l.source_line, l.text.as_str())))
            .collect();
        assert_eq!(
            lines,
            [
                (1, "Building"),
                (2, "100% done"),
                (3, ""),
                (4, "last line without newline")
            ]
        );
        assert_eq!(
            s.kept[0].steps,
            [
                StepBoundary {
                    edge: StepEdge::Start,
                    name: "build".into(),
                    source_line: 1
                },
                StepBoundary {
                    edge: StepEdge::End,
                    name: "build".into(),
                    source_line: 3
                }
            ]
        );
    }

    #[test]
    fn chunks_and_memory_stay_bounded() {
        let mut host = FakeHost::new();
        host.keep_chunks = false;
        let total: u64 = 16_000_000; // whole 100-byte lines
        let mut body = body_of(&host, Body::Generated(total));
        let before = crate::testing::alloc::reset_peak();
        assert_eq!(stream(&host, &mut body, URL).unwrap(), (total, total / 100));
        let peak = crate::testing::alloc::peak_since(before);
        let s = host.emitted.borrow();
        assert_eq!(s.lines, total / 100);
        assert!(s.max_chunk_lines <= CHUNK_MAX_LINES && s.max_chunk_text <= CHUNK_MAX_TEXT);
        assert!(host.max_read.get() <= READ_BYTES);
        assert!(peak < 4 << 20, "peak heap growth {peak} bytes");
    }

    #[test]
    fn a_refusing_sink_is_denied_and_a_failed_read_is_transport() {
        let mut host = FakeHost::new();
        host.keep_chunks = false;
        host.fail_emit_at = Some(1);
        let mut body = body_of(&host, Body::Generated(1 << 20));
        let err = stream(&host, &mut body, URL).unwrap_err();
        assert!(
            matches!(err, ProviderError::Denied(ref m) if m.contains("after 2000 lines")),
            "{err:?}"
        );

        struct Broken;
        impl BodyReader for Broken {
            fn read(&mut self, _max: u32) -> Result<Option<Vec<u8>>, HttpError> {
                Err(HttpError::Transport("connection reset".into()))
            }
        }
        let err = stream(&FakeHost::new(), &mut Broken, URL).unwrap_err();
        assert!(
            matches!(err, ProviderError::Transient(ref m) if m.contains("connection reset") && m.contains(URL)),
            "{err:?}"
        );
        assert_eq!(read_excerpt(&mut Broken), Vec::<u8>::new());
    }
}
