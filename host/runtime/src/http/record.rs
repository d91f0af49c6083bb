//! Recording: live traffic written as a fixture scenario's `exchanges.toml` + `bodies/`, in the
//! format of `fixtures/README.md`, so a recorded session replays through [`super::replay`].
//!
//! Nothing secret may land in a fixture. The credential the host added is recorded as its kind
//! (`auth = "access-token"`), never its value. Token-bearing JSON fields (`accessToken`,
//! `refreshToken`, `access_token`, `refresh_token`, `clientSecret`, `client_secret`,
//! `id_token`) are replaced with `REDACTED-<kind>-<n>` in response bodies, request bodies and
//! query strings, with one placeholder per distinct value, so a refresh token issued in one
//! exchange and sent back in a later one still matches on replay. Any known secret value (the
//! injected credentials, tokens seen earlier) that turns up elsewhere is scrubbed as well.
//! Only an allowlist of response headers is kept (`set-cookie` and the like never are).
//!
//! Bodies are redacted and written as the plugin reads them, never buffered whole: a 200 MB
//! job log streams through in constant memory. A body the plugin stopped reading early is kept
//! as far as it was read, and `exchanges.toml` says so in a comment.

use super::{BackendError, BackendResponse, HttpBackend, OutboundRequest};
use crate::egress::CredentialKind;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// JSON keys whose string values are credentials, and the name their placeholder carries.
const SECRET_KEYS: &[(&str, &str)] = &[
    ("accessToken", "access-token"),
    ("access_token", "access-token"),
    ("refreshToken", "refresh-token"),
    ("refresh_token", "refresh-token"),
    ("clientSecret", "client-secret"),
    ("client_secret", "client-secret"),
    ("id_token", "id-token"),
];

/// Response headers worth replaying; everything else (cookies, server banners, dates) is dropped.
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "retry-after",
    "location",
    "link",
    "content-disposition",
    "www-authenticate",
];
const KEPT_HEADER_PREFIXES: &[&str] = &["x-ratelimit-", "ratelimit-"];

/// Values shorter than this are not scrubbed as free text (too likely to hit innocent bytes).
const MIN_SCRUB_LEN: usize = 8;
/// A secret value longer than this is still swallowed, but only its prefix names the placeholder.
const MAX_VALUE_LEN: usize = 8192;

pub struct RecordBackend {
    inner: Arc<dyn HttpBackend>,
    state: Arc<Mutex<State>>,
}

struct State {
    dir: PathBuf,
    entries: Vec<Entry>,
    placeholders: Placeholders,
    /// Problems writing the recording; they never fail the plugin's request.
    errors: Vec<String>,
}

#[derive(Default)]
struct Placeholders {
    by_value: HashMap<Vec<u8>, String>,
    counters: HashMap<&'static str, u32>,
}

impl Placeholders {
    fn name(&mut self, kind: &'static str, value: &[u8]) -> String {
        if let Some(p) = self.by_value.get(value) {
            return p.clone();
        }
        let n = self.counters.entry(kind).or_insert(0);
        *n += 1;
        let name = format!("REDACTED-{kind}-{n}");
        self.by_value.insert(value.to_vec(), name.clone());
        name
    }

    fn needles(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = self
            .by_value
            .iter()
            .filter(|(v, _)| v.len() >= MIN_SCRUB_LEN)
            .map(|(v, p)| (v.clone(), p.clone().into_bytes()))
            .collect();
        // Longest first, so a token that contains another is replaced whole.
        all.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        all
    }
}

struct Entry {
    method: &'static str,
    url: String,
    auth: Option<&'static str>,
    body_json: Option<String>,
    /// `None` when the backend failed (then `note` says why and the entry is a comment).
    status: Option<u16>,
    headers: BTreeMap<String, String>,
    body_file: String,
    body_bytes: u64,
    complete: bool,
    notes: Vec<String>,
}

/// What [`RecordBackend::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub exchanges: usize,
    /// Exchanges whose body the plugin did not read to the end.
    pub truncated: usize,
    pub exchanges_file: PathBuf,
}

impl RecordBackend {
    /// Records into `dir` (created if missing): `dir/exchanges.toml` and `dir/bodies/`.
    pub fn new(inner: Arc<dyn HttpBackend>, dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("bodies"))?;
        let state = State {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            placeholders: Placeholders::default(),
            errors: Vec::new(),
        };
        Ok(Self {
            inner,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// Writes `exchanges.toml` with everything recorded so far. Call it after the plugin calls
    /// returned (their body streams are dropped then, so every body file is complete); calling
    /// it again rewrites the file with any later exchanges.
    pub fn finish(&self) -> std::io::Result<RecordSummary> {
        let state = lock(&self.state);
        if let Some(first) = state.errors.first() {
            return Err(std::io::Error::other(format!(
                "the recording is incomplete: {first}"
            )));
        }
        let text = render(&state.entries);
        let path = state.dir.join("exchanges.toml");
        let tmp = state.dir.join("exchanges.toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        Ok(RecordSummary {
            exchanges: state.entries.iter().filter(|e| e.status.is_some()).count(),
            truncated: state
                .entries
                .iter()
                .filter(|e| e.status.is_some() && !e.complete)
                .count(),
            exchanges_file: path,
        })
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for RecordBackend {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!("recording not written: {e}");
        }
    }
}

impl HttpBackend for RecordBackend {
    fn send(
        &self,
        req: &OutboundRequest,
        deadline: Instant,
    ) -> Result<BackendResponse, BackendError> {
        let (index, url, auth, body_json, mut notes) = {
            let mut state = lock(&self.state);
            let auth = req.credential.as_ref().map(|(kind, secret)| {
                // Learn the injected value so it is scrubbed wherever it turns up.
                let value = secret.expose();
                let bare = value.split_once(' ').map(|(_, rest)| rest).unwrap_or(value);
                match kind {
                    CredentialKind::AccessToken => {
                        state.placeholders.name("access-token", bare.as_bytes());
                        "access-token"
                    }
                    CredentialKind::ClientBasic => {
                        state.placeholders.name("client-basic", bare.as_bytes());
                        "client-basic"
                    }
                }
            });
            let url = redact_url(&req.url, &mut state.placeholders);
            let mut notes = Vec::new();
            let body_json = match &req.body {
                None => None,
                Some(body) => {
                    match serde_json::from_slice::<serde_json::Value>(body) {
                        Ok(_) => Some(
                            String::from_utf8_lossy(&redact_all(body, &mut state.placeholders))
                                .into_owned(),
                        ),
                        Err(_) => {
                            notes.push(format!("the request had a {}-byte body that is not JSON; it is not recorded", body.len()));
                            None
                        }
                    }
                }
            };
            (state.entries.len() + 1, url, auth, body_json, notes)
        };
        let result = self.inner.send(req, deadline);
        let mut state = lock(&self.state);
        let mut entry = Entry {
            method: req.method.as_str(),
            url,
            auth,
            body_json,
            status: None,
            headers: BTreeMap::new(),
            body_file: String::new(),
            body_bytes: 0,
            complete: false,
            notes: Vec::new(),
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                notes.push(format!(
                    "not recorded: the backend failed: {}",
                    describe(&e)
                ));
                entry.notes = notes;
                state.entries.push(entry);
                return Err(e);
            }
        };
        let content_type = resp
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase());
        let ext = if content_type.as_deref().is_some_and(|t| t.contains("json")) {
            "json"
        } else {
            "log"
        };
        entry.body_file = format!("bodies/{index:03}-{}.{ext}", slug(&req.url));
        for (name, value) in &resp.headers {
            let lower = name.to_ascii_lowercase();
            if KEPT_HEADERS.contains(&lower.as_str())
                || KEPT_HEADER_PREFIXES.iter().any(|p| lower.starts_with(p))
            {
                let scrubbed =
                    String::from_utf8_lossy(&redact_all(value.as_bytes(), &mut state.placeholders))
                        .into_owned();
                entry.headers.insert(lower, scrubbed);
            }
        }
        entry.status = Some(resp.status);
        entry.notes = notes;
        let path = state.dir.join(&entry.body_file);
        let file = match File::create(&path) {
            Ok(f) => Some(BufWriter::with_capacity(64 << 10, f)),
            Err(e) => {
                state
                    .errors
                    .push(format!("cannot create {}: {e}", path.display()));
                None
            }
        };
        let slot = state.entries.len();
        state.entries.push(entry);
        let needles = state.placeholders.needles();
        drop(state);
        let body = RecordingBody {
            inner: resp.body,
            file,
            json: JsonRedactor::default(),
            scrub: Scrubber::new(needles),
            state: self.state.clone(),
            slot,
            bytes: 0,
            done: false,
            staged: Vec::new(),
            scrubbed: Vec::new(),
        };
        Ok(BackendResponse {
            status: resp.status,
            headers: resp.headers,
            body: Box::new(body),
        })
    }
}

fn describe(e: &BackendError) -> String {
    match e {
        BackendError::Timeout => "timeout".into(),
        BackendError::Transport(m) => format!("transport: {m}"),
        BackendError::Denied(m) => format!("denied: {m}"),
        BackendError::OverBudget { message, .. } => format!("over budget: {message}"),
    }
}

/// `project-acme-demo-cicd-job-17-artifacts` style names, short and file-system safe.
fn slug(url: &url::Url) -> String {
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let tail = &segments[segments.len().saturating_sub(3)..];
    let mut s: String = tail
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    if s.is_empty() {
        s.push_str("root");
    }
    s
}

fn redact_url(url: &url::Url, placeholders: &mut Placeholders) -> String {
    let sensitive = |k: &str| {
        SECRET_KEYS
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, kind)| *kind)
    };
    let mut out = url.clone();
    if url.query_pairs().any(|(k, _)| sensitive(&k).is_some()) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| match sensitive(&k) {
                Some(kind) => (k.to_string(), placeholders.name(kind, v.as_bytes())),
                None => (k.into_owned(), v.into_owned()),
            })
            .collect();
        out.query_pairs_mut().clear().extend_pairs(pairs);
    }
    String::from_utf8_lossy(&Scrubber::new(placeholders.needles()).run(out.as_str().as_bytes()))
        .into_owned()
}

/// Redacts a whole in-memory value (request bodies, header values).
fn redact_all(bytes: &[u8], placeholders: &mut Placeholders) -> Vec<u8> {
    let mut json = JsonRedactor::default();
    let mut staged = Vec::new();
    json.feed(bytes, &mut staged, placeholders);
    json.finish(&mut staged, placeholders);
    Scrubber::new(placeholders.needles()).run(&staged)
}

/// Tees the body into its fixture file, redacted, as the plugin reads it.
struct RecordingBody {
    inner: Box<dyn Read + Send>,
    file: Option<BufWriter<File>>,
    json: JsonRedactor,
    scrub: Scrubber,
    state: Arc<Mutex<State>>,
    slot: usize,
    bytes: u64,
    done: bool,
    staged: Vec<u8>,
    scrubbed: Vec<u8>,
}

impl RecordingBody {
    fn write_out(&mut self, input: &[u8], last: bool) {
        self.staged.clear();
        self.scrubbed.clear();
        {
            let mut state = lock(&self.state);
            self.json
                .feed(input, &mut self.staged, &mut state.placeholders);
            if last {
                self.json.finish(&mut self.staged, &mut state.placeholders);
            }
        }
        self.scrub.feed(&self.staged, &mut self.scrubbed, last);
        if let Some(file) = &mut self.file {
            let mut result = file.write_all(&self.scrubbed);
            if last && result.is_ok() {
                result = file.flush();
            }
            if let Err(e) = result {
                self.file = None;
                lock(&self.state)
                    .errors
                    .push(format!("writing a body file failed: {e}"));
            }
        }
    }

    fn close(&mut self, complete: bool, note: Option<String>) {
        if self.done {
            return;
        }
        self.done = true;
        self.write_out(&[], true);
        self.file = None;
        let mut state = lock(&self.state);
        let entry = &mut state.entries[self.slot];
        entry.body_bytes = self.bytes;
        entry.complete = complete;
        if let Some(note) = note {
            entry.notes.push(note);
        }
    }
}

impl Read for RecordingBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.close(true, None);
                Ok(0)
            }
            Ok(n) => {
                self.bytes += n as u64;
                self.write_out(&buf[..n], false);
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let note = format!(
                    "reading the body failed after {} bytes ({:?}); the body file holds what arrived",
                    self.bytes,
                    e.kind()
                );
                self.close(false, Some(note));
                Err(e)
            }
        }
    }
}

impl Drop for RecordingBody {
    fn drop(&mut self) {
        let note = format!(
            "the plugin stopped reading after {} bytes; the body file holds only those",
            self.bytes
        );
        self.close(false, Some(note));
    }
}

/// Replaces the string values of [`SECRET_KEYS`] in a JSON byte stream, without parsing it
/// whole: a small state machine that survives any split of the input into chunks. Input that
/// is not JSON passes through unchanged (except for a `"accessToken": "..."` it happens to hold).
#[derive(Default)]
struct JsonRedactor {
    mode: Mode,
}

#[derive(Default)]
enum Mode {
    #[default]
    Normal,
    /// Inside a string that may turn out to be a secret key; its bytes are held back.
    MaybeKey {
        buf: Vec<u8>,
        escaped: bool,
    },
    /// Inside a string too long to be a key; passed through.
    InString {
        escaped: bool,
    },
    AfterKey {
        kind: &'static str,
    },
    AfterColon {
        kind: &'static str,
    },
    /// Inside a secret value: swallowed, to be replaced by its placeholder.
    InValue {
        kind: &'static str,
        value: Vec<u8>,
        escaped: bool,
    },
}

const LONGEST_KEY: usize = 16;

impl JsonRedactor {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, placeholders: &mut Placeholders) {
        for &b in input {
            self.step(b, out, placeholders);
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<u8>, placeholders: &mut Placeholders) {
        match &mut self.mode {
            Mode::Normal => {
                out.push(b);
                if b == b'"' {
                    self.mode = Mode::MaybeKey {
                        buf: Vec::new(),
                        escaped: false,
                    };
                }
            }
            Mode::MaybeKey { buf, escaped } => {
                if *escaped {
                    *escaped = false;
                    buf.push(b);
                } else if b == b'\\' {
                    *escaped = true;
                    buf.push(b);
                } else if b == b'"' {
                    out.extend_from_slice(buf);
                    out.push(b);
                    let kind = SECRET_KEYS
                        .iter()
                        .find(|(k, _)| k.as_bytes() == buf.as_slice())
                        .map(|(_, kind)| *kind);
                    self.mode = match kind {
                        Some(kind) => Mode::AfterKey { kind },
                        None => Mode::Normal,
                    };
                } else {
                    buf.push(b);
                    if buf.len() > LONGEST_KEY {
                        out.extend_from_slice(buf);
                        self.mode = Mode::InString { escaped: false };
                    }
                }
            }
            Mode::InString { escaped } => {
                out.push(b);
                if *escaped {
                    *escaped = false;
                } else if b == b'\\' {
                    *escaped = true;
                } else if b == b'"' {
                    self.mode = Mode::Normal;
                }
            }
            Mode::AfterKey { kind } => {
                let kind = *kind;
                if b.is_ascii_whitespace() {
                    out.push(b);
                } else if b == b':' {
                    out.push(b);
                    self.mode = Mode::AfterColon { kind };
                } else {
                    self.mode = Mode::Normal;
                    self.step(b, out, placeholders);
                }
            }
            Mode::AfterColon { kind } => {
                let kind = *kind;
                if b.is_ascii_whitespace() {
                    out.push(b);
                } else if b == b'"' {
                    out.push(b);
                    self.mode = Mode::InValue {
                        kind,
                        value: Vec::new(),
                        escaped: false,
                    };
                } else {
                    // `null`, a number: nothing secret to hide.
                    self.mode = Mode::Normal;
                    self.step(b, out, placeholders);
                }
            }
            Mode::InValue {
                kind,
                value,
                escaped,
            } => {
                if *escaped {
                    *escaped = false;
                    if value.len() < MAX_VALUE_LEN {
                        value.push(b);
                    }
                } else if b == b'\\' {
                    *escaped = true;
                    if value.len() < MAX_VALUE_LEN {
                        value.push(b);
                    }
                } else if b == b'"' {
                    out.extend_from_slice(placeholders.name(kind, value).as_bytes());
                    out.push(b);
                    self.mode = Mode::Normal;
                } else if value.len() < MAX_VALUE_LEN {
                    value.push(b);
                }
            }
        }
    }

    /// End of input: releases held-back bytes; an unterminated secret still becomes a placeholder.
    fn finish(&mut self, out: &mut Vec<u8>, placeholders: &mut Placeholders) {
        match std::mem::take(&mut self.mode) {
            Mode::MaybeKey { buf, .. } => out.extend_from_slice(&buf),
            Mode::InValue { kind, value, .. } => {
                out.extend_from_slice(placeholders.name(kind, &value).as_bytes())
            }
            _ => {}
        }
    }
}

/// Replaces known secret values anywhere in a byte stream, holding back just enough bytes at a
/// chunk boundary to catch a value split across two reads.
struct Scrubber {
    needles: Vec<(Vec<u8>, Vec<u8>)>,
    hold: usize,
    pending: Vec<u8>,
}

impl Scrubber {
    fn new(needles: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let hold = needles.iter().map(|(n, _)| n.len()).max().unwrap_or(1) - 1;
        Self {
            needles,
            hold,
            pending: Vec::new(),
        }
    }

    fn run(mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.feed(input, &mut out, true);
        out
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool) {
        if self.needles.is_empty() {
            out.extend_from_slice(input);
            return;
        }
        self.pending.extend_from_slice(input);
        let keep = if last { 0 } else { self.hold };
        let p = &self.pending;
        let mut i = 0;
        while i < p.len() {
            if let Some((needle, replacement)) =
                self.needles.iter().find(|(n, _)| p[i..].starts_with(n))
            {
                out.extend_from_slice(replacement);
                i += needle.len();
                continue;
            }
            if p.len() - i <= keep {
                // Could be the start of a value whose rest is in the next chunk.
                break;
            }
            out.push(p[i]);
            i += 1;
        }
        self.pending.drain(..i);
    }
}

/// `exchanges.toml` in the README's layout: one `[[exchange]]` table per response, failures and
/// truncations as comments a reviewer sees.
fn render(entries: &[Entry]) -> String {
    let mut out = String::from(
        "# Recorded by exlogare-host's record backend. Credentials appear as the kind the host added\n# (`auth`), never their value; token fields are replaced by REDACTED-<kind>-<n> placeholders.\n",
    );
    for e in entries {
        out.push('\n');
        for note in &e.notes {
            out.push_str(&format!(
                "# {} {}: {}\n",
                e.method,
                e.url,
                note.replace(['\n', '\r'], " ")
            ));
        }
        let Some(status) = e.status else { continue };
        out.push_str("[[exchange]]\n");
        out.push_str(&format!("method = {}\n", quote(e.method)));
        out.push_str(&format!("url = {}\n", quote(&e.url)));
        if let Some(auth) = e.auth {
            out.push_str(&format!("auth = {}\n", quote(auth)));
        }
        if let Some(body) = &e.body_json {
            out.push_str(&format!("body_json = {}\n", quote(body)));
        }
        out.push_str(&format!("status = {status}\n"));
        if !e.headers.is_empty() {
            let pairs: Vec<String> = e
                .headers
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
                .collect();
            out.push_str(&format!("headers = {{ {} }}\n", pairs.join(", ")));
        }
        if e.body_bytes > 0 {
            out.push_str(&format!("body_file = {}\n", quote(&e.body_file)));
        } else {
            out.push_str("body = \"\"\n");
        }
    }
    out
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_in_chunks(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut p = Placeholders::default();
        let mut r = JsonRedactor::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            r.feed(piece, &mut out, &mut p);
        }
        r.finish(&mut out, &mut p);
        out
    }

    #[test]
    fn token_fields_are_replaced_however_the_stream_is_split() {
        let input = br#"{"accessToken":"gf-at-1","refreshToken" : "gf-rt-\"x","expires":"2026","note":"accessToken"}"#;
        let want = br#"{"accessToken":"REDACTED-access-token-1","refreshToken" : "REDACTED-refresh-token-1","expires":"2026","note":"accessToken"}"#;
        for chunk in [1, 2, 3, 7, 1000] {
            assert_eq!(
                String::from_utf8_lossy(&redact_in_chunks(input, chunk)),
                String::from_utf8_lossy(want),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn snake_case_null_and_long_strings_pass_correctly() {
        let input = br#"{"access_token": null, "refresh_token": "r", "a-very-long-string-that-is-not-a-key": "v"}"#;
        let out = String::from_utf8(redact_in_chunks(input, 5)).unwrap();
        assert_eq!(
            out,
            r#"{"access_token": null, "refresh_token": "REDACTED-refresh-token-1", "a-very-long-string-that-is-not-a-key": "v"}"#
        );
    }

    #[test]
    fn the_same_value_gets_the_same_placeholder() {
        let mut p = Placeholders::default();
        let a = redact_all(br#"{"refreshToken":"same-value-1"}"#, &mut p);
        let b = redact_all(
            br#"{"refresh_token":"same-value-1","accessToken":"other"}"#,
            &mut p,
        );
        assert_eq!(a, br#"{"refreshToken":"REDACTED-refresh-token-1"}"#);
        assert_eq!(b, br#"{"refresh_token":"REDACTED-refresh-token-1","accessToken":"REDACTED-access-token-1"}"#);
    }

    #[test]
    fn known_values_are_scrubbed_across_chunk_boundaries() {
        let text = b"log line with token supersecret-123 in it, and again supersecret-123.";
        for chunk in [1, 4, 9, 100] {
            let mut s = Scrubber::new(vec![(
                b"supersecret-123".to_vec(),
                b"REDACTED-access-token-1".to_vec(),
            )]);
            let mut out = Vec::new();
            let pieces: Vec<&[u8]> = text.chunks(chunk).collect();
            for (i, piece) in pieces.iter().enumerate() {
                s.feed(piece, &mut out, i + 1 == pieces.len());
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "log line with token REDACTED-access-token-1 in it, and again REDACTED-access-token-1.",
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn secret_query_parameters_are_replaced() {
        let mut p = Placeholders::default();
        let url = url::Url::parse("https://oauth.example/api/token?refresh_token=abc&x=1").unwrap();
        assert_eq!(
            redact_url(&url, &mut p),
            "https://oauth.example/api/token?refresh_token=REDACTED-refresh-token-1&x=1"
        );
    }

    #[test]
    fn slugs_are_short_and_safe() {
        let url = url::Url::parse(
            "https://api.gitflic.ru/project/acme/demo/cicd/job/17/artifacts?page=0",
        )
        .unwrap();
        assert_eq!(slug(&url), "job-17-artifacts");
        assert_eq!(slug(&url::Url::parse("https://x.test/").unwrap()), "root");
    }
}
