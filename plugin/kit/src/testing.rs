//! A scripted host for providers' unit tests (feature `fake`): canned responses matched on
//! method and URL, every request recorded, emitted log chunks measured against the kit's
//! streaming bounds. [`alloc`] measures the heap a call needs.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::{
    BodyReader, Host, HttpError, Level, LogChunk, Method, Request, Response, ResponseHead,
    Timestamp,
};

pub mod alloc;

/// 2026-11-20T10:00:00Z, the fixtures' "now".
pub const NOW: Timestamp = 1_795_168_800_000;

pub enum Body {
    Bytes(Vec<u8>),
    /// `n` bytes of a synthetic log produced as it is read, never held whole.
    Generated(u64),
}

pub struct Exchange {
    pub method: Method,
    pub url: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Result<Body, HttpError>,
    /// When set, the request must carry exactly this credential.
    pub credential: Option<Option<crate::Credential>>,
    /// When set, the request body must be this JSON value.
    pub body_json: Option<serde_json::Value>,
}

#[derive(Default)]
pub struct EmitStats {
    pub chunks: usize,
    pub lines: u64,
    pub max_chunk_lines: usize,
    pub max_chunk_text: usize,
    pub kept: Vec<LogChunk>,
}

#[derive(Default)]
/// The [`Host`] of a unit test. Scripted with [`FakeHost::on`] and friends; a request without
/// an exchange is answered 599 and listed, so [`FakeHost::matched`] can tell.
pub struct FakeHost {
    exchanges: RefCell<VecDeque<Exchange>>,
    pub requests: RefCell<Vec<Request>>,
    unmatched: RefCell<Vec<String>>,
    pub logs: RefCell<Vec<(Level, String)>>,
    pub emitted: RefCell<EmitStats>,
    pub keep_chunks: bool,
    /// `emit` fails from this chunk on (0-based).
    pub fail_emit_at: Option<usize>,
    /// The largest `max` the plugin asked one `read` for.
    pub max_read: Rc<Cell<u32>>,
}

impl FakeHost {
    pub fn new() -> Self {
        FakeHost {
            keep_chunks: true,
            ..Default::default()
        }
    }

    pub fn on(&self, method: Method, url: &str, status: u16, body: &str) -> &Self {
        self.on_with(
            method,
            url,
            status,
            &[],
            Ok(Body::Bytes(body.as_bytes().to_vec())),
        )
    }

    pub fn on_json(
        &self,
        method: Method,
        url: &str,
        status: u16,
        body: serde_json::Value,
    ) -> &Self {
        self.on(method, url, status, &body.to_string())
    }

    pub fn on_with(
        &self,
        method: Method,
        url: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: Result<Body, HttpError>,
    ) -> &Self {
        self.exchanges.borrow_mut().push_back(Exchange {
            method,
            url: url.into(),
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
            credential: None,
            body_json: None,
        });
        self
    }

    pub fn push(&self, e: Exchange) {
        self.exchanges.borrow_mut().push_back(e);
    }

    /// Whether a request found a recorded exchange (the fake answers the others with 599).
    pub fn matched(&self, req: &Request) -> bool {
        !self.unmatched.borrow().contains(&req.url)
    }

    pub fn unused(&self) -> usize {
        self.exchanges.borrow().len()
    }

    fn take(&self, req: &Request) -> Result<Answer, HttpError> {
        self.requests.borrow_mut().push(req.clone());
        for (name, _) in &req.headers {
            assert!(
                !["authorization", "host", "cookie"].contains(&name.to_ascii_lowercase().as_str()),
                "the plugin set the forbidden header {name}"
            );
        }
        let mut ex = self.exchanges.borrow_mut();
        let Some(i) = ex
            .iter()
            .position(|e| e.method == req.method && e.url == req.url)
        else {
            self.unmatched.borrow_mut().push(req.url.clone());
            let body = format!(
                "no exchange for {} {}",
                crate::http::method_name(req.method),
                req.url
            );
            return Ok((599, Vec::new(), Body::Bytes(body.into_bytes())));
        };
        let e = ex.remove(i).unwrap();
        if let Some(want) = &e.credential {
            assert_eq!(&req.credential, want, "credential of {}", req.url);
        }
        if let Some(want) = &e.body_json {
            let got: serde_json::Value =
                serde_json::from_slice(req.body.as_deref().unwrap_or_default())
                    .expect("a JSON request body");
            assert_eq!(&got, want, "body of {}", req.url);
        }
        e.body.map(|b| (e.status, e.headers, b))
    }
}

/// Status, headers and body of a canned answer.
type Answer = (u16, Vec<(String, String)>, Body);

pub struct FakeBody {
    kind: Body,
    pos: u64,
    max_read: Rc<Cell<u32>>,
}

/// Line `i` (0-based) of the generated log: colours, a progress bar redrawn with `\r`, GitLab
/// section markers every 1000 lines.
pub fn generated_line(i: u64) -> String {
    match i % 1000 {
        0 => format!(
            "\x1b[0Ksection_start:1795168000:step_{}\r\x1b[0K\x1b[36;1mStep {}\x1b[0m\n",
            i / 1000,
            i / 1000
        ),
        999 => format!("\x1b[0Ksection_end:1795168000:step_{}\r\x1b[0K\n", i / 1000),
        n if n % 10 == 5 => {
            format!("Downloading  10%\rDownloading  60%\rDownloading 100% crate-{i}\n")
        }
        _ => format!(
            "\x1b[32m   Compiling\x1b[0m module-{i} v0.1.0 (/builds/acme/api/crates/module-{i})\n"
        ),
    }
}

impl BodyReader for FakeBody {
    fn read(&mut self, max: u32) -> Result<Option<Vec<u8>>, HttpError> {
        self.max_read.set(self.max_read.get().max(max));
        match &self.kind {
            Body::Bytes(b) => {
                let start = self.pos as usize;
                if start >= b.len() {
                    return Ok(None);
                }
                let end = (start + max as usize).min(b.len());
                self.pos = end as u64;
                Ok(Some(b[start..end].to_vec()))
            }
            Body::Generated(total) => {
                if self.pos >= *total {
                    return Ok(None);
                }
                // Deterministic text: byte k of the stream is byte k of the concatenated lines.
                let want = (max as u64).min(*total - self.pos) as usize;
                let mut out = Vec::with_capacity(want);
                let mut line_no = self.pos / 100;
                let mut skip = (self.pos % 100) as usize;
                while out.len() < want {
                    // Every line padded to exactly 100 bytes, so offsets map to lines.
                    let mut line = generated_line(line_no)
                        .trim_end_matches('\n')
                        .as_bytes()
                        .to_vec();
                    line.truncate(99);
                    line.resize(99, b' ');
                    line.push(b'\n');
                    let take = (want - out.len()).min(100 - skip);
                    out.extend_from_slice(&line[skip..skip + take]);
                    skip = 0;
                    line_no += 1;
                }
                self.pos += want as u64;
                Ok(Some(out))
            }
        }
    }
}

impl Host for FakeHost {
    type Body = FakeBody;

    fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let (status, headers, body) = self.take(req)?;
        let body = match body {
            Body::Bytes(b) => b,
            Body::Generated(_) => panic!("a generated body must be read with send_streaming"),
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn send_streaming(&self, req: &Request) -> Result<(ResponseHead, FakeBody), HttpError> {
        let (status, headers, kind) = self.take(req)?;
        Ok((
            ResponseHead { status, headers },
            FakeBody {
                kind,
                pos: 0,
                max_read: self.max_read.clone(),
            },
        ))
    }

    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn now(&self) -> Timestamp {
        NOW
    }

    fn emit(&self, chunk: &LogChunk) -> Result<(), String> {
        let mut s = self.emitted.borrow_mut();
        if self.fail_emit_at.is_some_and(|n| s.chunks >= n) {
            return Err("extracted-text cap of the host reached".into());
        }
        s.chunks += 1;
        s.lines += chunk.lines.len() as u64;
        s.max_chunk_lines = s.max_chunk_lines.max(chunk.lines.len());
        s.max_chunk_text = s
            .max_chunk_text
            .max(chunk.lines.iter().map(|l| l.text.len()).sum());
        if self.keep_chunks {
            s.kept.push(chunk.clone());
        }
        Ok(())
    }
}
