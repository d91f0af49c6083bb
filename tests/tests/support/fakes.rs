//! Fake servers on 127.0.0.1 for end-to-end tests (never the internet): a GitFlic API that
//! serves recorded fixture exchanges, and Slack, Telegram and Matrix that check every request
//! the way the platform would. The chat checks are the ones `notify.rs` applies to single sends.
//!
//! Every fake records what it saw; a request it would refuse is answered with the platform's
//! error *and* recorded as a violation, so a test ends with `assert_clean()`.
//!
//! Include with `#[path = "support/fakes.rs"] mod fakes;` (the shared `support/mod.rs` is left
//! as it is).

#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

// ---- A tiny HTTP/1.1 server --------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(p, _)| p)
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    pub fn json(&self) -> Result<Value, String> {
        if self
            .header("content-type")
            .is_none_or(|c| !c.starts_with("application/json"))
        {
            return Err(format!(
                "content-type is {:?}, not application/json",
                self.header("content-type")
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Matrix: store the event first, then answer with this (the answer got lost).
    pub commit_first: bool,
    /// Wait this long before answering (a slow server); the request is recorded before.
    pub delay: Duration,
}

pub fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply {
        status,
        headers: vec![],
        body: body.into(),
        commit_first: false,
        delay: Duration::ZERO,
    }
}

impl Reply {
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Answers after `delay`, without holding the fake's state meanwhile.
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Matrix only: the event is stored, then this answer is given (as if it got lost).
    pub fn after_commit(mut self) -> Reply {
        self.commit_first = true;
        self
    }
}

/// What a fake remembers. `S` is the platform's own state.
pub struct Shared<S> {
    pub requests: Vec<Req>,
    pub violations: Vec<String>,
    pub inner: S,
}

pub struct Fake<S> {
    pub base: String,
    pub state: Arc<Mutex<Shared<S>>>,
}

type Handler<S> = dyn Fn(&Req, &mut Shared<S>) -> Reply + Send + Sync;

impl<S: Send + 'static> Fake<S> {
    pub fn start(inner: S, handler: Arc<Handler<S>>) -> Fake<S> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Shared {
            requests: vec![],
            violations: vec![],
            inner,
        }));
        let st = state.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut stream) = conn else { continue };
                let (st, h) = (st.clone(), handler.clone());
                thread::spawn(move || {
                    let Some(req) = read_request(&mut stream) else {
                        return;
                    };
                    let answer = {
                        let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                        s.requests.push(req.clone());
                        h(&req, &mut s)
                    };
                    thread::sleep(answer.delay);
                    let has_type = answer
                        .headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
                    let mut head = format!(
                        "HTTP/1.1 {} Fake\r\nContent-Length: {}\r\nConnection: close\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    if !has_type {
                        head.push_str("Content-Type: application/json\r\n");
                    }
                    for (k, v) in &answer.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&answer.body);
                    let _ = stream.flush();
                });
            }
        });
        Fake { base, state }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Shared<S>) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn requests(&self) -> Vec<Req> {
        self.with(|s| s.requests.clone())
    }

    pub fn assert_clean(&self) {
        let v = self.with(|s| s.violations.clone());
        assert!(
            v.is_empty(),
            "the fake at {} saw bad requests:\n{}",
            self.base,
            v.join("\n")
        );
    }
}

fn read_request(s: &mut TcpStream) -> Option<Req> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let at = Instant::now();
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Req {
        method,
        target,
        headers,
        body,
        at,
    })
}

// ---- GitFlic: recorded exchanges ---------------------------------------------------------

/// The origin the recordings were made against; rewritten to the fake's in URLs and bodies.
pub const RECORDED_API: &str = "https://api.gitflic.ru";

#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    /// Sorted `k=v` pairs (the recording's query matches in any order).
    pub query: Vec<String>,
    /// `access-token`, `client-basic` or `none`.
    pub auth: String,
    pub reply: Reply,
    /// Uses left.
    pub times: u32,
    /// Where it came from, for messages.
    pub origin: String,
}

impl Exchange {
    /// A scripted exchange: `url` is a path with an optional query.
    pub fn new(method: &str, url: &str, reply: Reply) -> Exchange {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        Exchange {
            method: method.into(),
            path: path.into(),
            query: sorted_query(query),
            auth: "access-token".into(),
            reply,
            times: 1,
            origin: "scripted".into(),
        }
    }

    fn matches(&self, req: &Req) -> bool {
        self.method == req.method
            && self.path == req.path()
            && self.query == sorted_query(req.query())
    }
}

fn sorted_query(q: &str) -> Vec<String> {
    let mut v: Vec<String> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

pub struct GitflicState {
    pub access_token: String,
    pub client_basic: String,
    /// In order; the first matching one with uses left answers.
    pub exchanges: Vec<Exchange>,
}

pub type FakeGitflic = Fake<GitflicState>;

/// Reads `fixtures/gitflic/<scenario>/exchanges.toml` for each scenario, in order. Exchanges of
/// an earlier scenario answer first (so `["gitflic-500", "failed-job-trace"]` is "a 500, then
/// the recording").
pub fn load_exchanges(fixtures: &Path, scenarios: &[&str]) -> Vec<Exchange> {
    let mut out = Vec::new();
    for s in scenarios {
        let dir = fixtures.join(s);
        let text = std::fs::read_to_string(dir.join("exchanges.toml"))
            .unwrap_or_else(|e| panic!("{s}/exchanges.toml: {e}"));
        let doc: toml::Value =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{s}/exchanges.toml: {e}"));
        for (i, x) in doc
            .get("exchange")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let str_of = |k: &str| x.get(k).and_then(|v| v.as_str()).map(String::from);
            let url = str_of("url").expect("exchange url");
            let rest = url
                .strip_prefix(RECORDED_API)
                .unwrap_or_else(|| panic!("{s}: {url} is not on {RECORDED_API}"));
            let body = match (str_of("body"), str_of("body_file")) {
                (Some(b), _) => b.into_bytes(),
                (None, Some(f)) => {
                    std::fs::read(dir.join(&f)).unwrap_or_else(|e| panic!("{s}/{f}: {e}"))
                }
                (None, None) => Vec::new(),
            };
            let mut reply = reply(
                x.get("status").and_then(|v| v.as_integer()).unwrap_or(200) as u16,
                body,
            );
            if let Some(h) = x.get("headers").and_then(|v| v.as_table()) {
                for (k, v) in h {
                    reply = reply.header(k, v.as_str().unwrap_or_default());
                }
            }
            let mut e = Exchange::new(
                &str_of("method").unwrap_or_else(|| "GET".into()),
                rest,
                reply,
            );
            e.auth = str_of("auth").unwrap_or_else(|| "none".into());
            e.times = x.get("times").and_then(|v| v.as_integer()).unwrap_or(1) as u32;
            e.origin = format!("{s} exchange {}", i + 1);
            out.push(e);
        }
    }
    out
}

/// A GitFlic API on 127.0.0.1 that answers from `exchanges` and checks the credential the host
/// must have added. A request that matches nothing gets 599 naming it (and is a violation).
pub fn gitflic_fake(
    access_token: &str,
    client_basic: &str,
    exchanges: Vec<Exchange>,
) -> FakeGitflic {
    let state = GitflicState {
        access_token: access_token.into(),
        client_basic: client_basic.into(),
        exchanges,
    };
    let fake = Fake::start(
        state,
        Arc::new(|req: &Req, st: &mut Shared<GitflicState>| {
            let Some(i) = st
                .inner
                .exchanges
                .iter()
                .position(|e| e.times > 0 && e.matches(req))
            else {
                st.violations.push(format!(
                    "gitflic: no exchange (left) for {} {}",
                    req.method, req.target
                ));
                return reply(
                    599,
                    format!("no recorded exchange for {} {}", req.method, req.target),
                )
                .header("content-type", "text/plain");
            };
            let e = &mut st.inner.exchanges[i];
            e.times -= 1;
            let e = e.clone();
            let expected = match e.auth.as_str() {
                "access-token" => Some(format!("token {}", st.inner.access_token)),
                "client-basic" => Some(format!("Basic {}", st.inner.client_basic)),
                _ => None,
            };
            if req.header("authorization") != expected.as_deref() {
                st.violations.push(format!(
                    "gitflic: {} {} ({}) carried authorization {:?}, expected {}",
                    req.method,
                    req.target,
                    e.origin,
                    req.header("authorization").map(|a| a
                        .split(' ')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                        + " ..."),
                    e.auth
                ));
                return reply(401, r#"{"error":"Unauthorized"}"#);
            }
            e.reply
        }),
    );
    // Recorded bodies link to the recorded origin (`downloadUrl`); point them at the fake.
    let base = fake.base.clone();
    fake.with(|s| {
        for e in &mut s.inner.exchanges {
            let json = e
                .reply
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("json"));
            if json && let Ok(text) = std::str::from_utf8(&e.reply.body) {
                e.reply.body = text.replace(RECORDED_API, &base).into_bytes();
            }
        }
    });
    fake
}

impl Fake<GitflicState> {
    /// Puts an exchange ahead of the recorded ones.
    pub fn answer_first(&self, e: Exchange) {
        self.with(|s| s.inner.exchanges.insert(0, e));
    }

    /// Requests whose path and query are `url` (path with an optional query).
    pub fn calls(&self, method: &str, url: &str) -> usize {
        let probe = Exchange::new(method, url, reply(200, ""));
        self.with(|s| s.requests.iter().filter(|r| probe.matches(r)).count())
    }

    /// Recorded exchanges nobody asked for (scripted or not), by origin.
    pub fn unused(&self) -> Vec<String> {
        self.with(|s| {
            s.inner
                .exchanges
                .iter()
                .filter(|e| e.times > 0)
                .map(|e| format!("{} ({} {})", e.origin, e.method, e.path))
                .collect()
        })
    }
}

// ---- Chat platforms -----------------------------------------------------------------------

#[derive(Default)]
pub struct ChatState {
    /// Answers to give, in order, before behaving normally.
    pub script: VecDeque<Reply>,
    /// Messages the platform accepted (what the room / channel now shows).
    pub posted: Vec<Value>,
    /// Matrix: txn id -> event id.
    pub txns: HashMap<String, String>,
}

pub type ChatFake = Fake<ChatState>;

impl Fake<ChatState> {
    pub fn then(&self, r: Reply) -> &Self {
        self.with(|s| s.inner.script.push_back(r));
        self
    }

    pub fn posted(&self) -> Vec<Value> {
        self.with(|s| s.inner.posted.clone())
    }
}

/// Parses the HTML subset a platform accepts and returns the visible text (entities decoded).
pub fn parse_html(s: &str, allowed: &[&str], void: &[&str]) -> Result<String, String> {
    let mut visible = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unterminated tag")?;
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    if stack.pop().as_deref() != Some(name) {
                        return Err(format!("unbalanced </{name}>"));
                    }
                } else {
                    let name = tag.split(' ').next().unwrap_or("");
                    if !allowed.contains(&name) {
                        return Err(format!("tag <{name}> is not allowed"));
                    }
                    if name == "a" {
                        let href = tag
                            .strip_prefix("a href=\"")
                            .and_then(|h| h.strip_suffix('"'))
                            .ok_or("bad <a>")?;
                        if href.contains(['<', '>', '"']) || !href.starts_with("http") {
                            return Err(format!("bad href {href}"));
                        }
                    } else if tag != name {
                        return Err(format!("unexpected attributes in <{tag}>"));
                    }
                    if !void.contains(&name) {
                        stack.push(name.to_owned());
                    }
                }
                rest = &rest[end + 1..];
            }
            '>' => return Err("bare `>`".into()),
            '&' => {
                let (ent, ch) = [
                    ("&lt;", '<'),
                    ("&gt;", '>'),
                    ("&amp;", '&'),
                    ("&quot;", '"'),
                ]
                .into_iter()
                .find(|(e, _)| rest.starts_with(e))
                .ok_or_else(|| format!("bad entity at `{}`", &rest[..rest.len().min(8)]))?;
                visible.push(ch);
                rest = &rest[ent.len()..];
            }
            c => {
                visible.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    Ok(visible)
}

/// Slack mrkdwn: `&` only as `&amp;`/`&lt;`/`&gt;`, `<` only to open a link `<http...|label>`,
/// code fences paired. Returns the text as shown (entities decoded, links as their label).
pub fn parse_mrkdwn(s: &str) -> Result<String, String> {
    if !s.matches("```").count().is_multiple_of(2) {
        return Err(format!("unpaired ``` in {s:.80}"));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unterminated <")?;
                let inner = &rest[1..end];
                if !inner.starts_with("http") || inner.contains('<') {
                    return Err(format!(
                        "`<{inner}>` is not a link: Slack would interpret it"
                    ));
                }
                out.push_str(inner.split_once('|').map_or(inner, |(_, label)| label));
                rest = &rest[end + 1..];
            }
            '>' => return Err("bare `>`".into()),
            '&' => {
                let (ent, ch) = [("&lt;", '<'), ("&gt;", '>'), ("&amp;", '&')]
                    .into_iter()
                    .find(|(e, _)| rest.starts_with(e))
                    .ok_or_else(|| format!("unescaped `&` at `{}`", &rest[..rest.len().min(8)]))?;
                out.push(ch);
                rest = &rest[ent.len()..];
            }
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Ok(out)
}

pub fn u16len(s: &str) -> usize {
    s.encode_utf16().count()
}

pub const SLACK_PATH: &str = "/services/T0001/B0001/XyZwebhookSecretPath";

pub fn check_slack(req: &Req) -> Result<(), String> {
    if req.method != "POST" || req.target != SLACK_PATH {
        return Err(format!("{} {} is not the webhook", req.method, req.target));
    }
    let v = req.json()?;
    let text = v["text"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("no `text` fallback")?;
    parse_mrkdwn(text)?;
    let blocks = v["blocks"].as_array().ok_or("no blocks")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    let check_mrkdwn = |t: &Value, max: usize| -> Result<(), String> {
        if t["type"] != "mrkdwn" {
            return Err(format!("text object {t} is not mrkdwn"));
        }
        let s = t["text"].as_str().ok_or("text without text")?;
        if s.is_empty() || u16len(s) > max {
            return Err(format!("mrkdwn text of {} units (max {max})", u16len(s)));
        }
        parse_mrkdwn(s).map(|_| ())
    };
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                let t = &b["text"];
                let s = t["text"].as_str().unwrap_or("");
                if t["type"] != "plain_text" || s.is_empty() || u16len(s) > 150 {
                    return Err(format!("bad header {t}"));
                }
            }
            Some("section") => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    return Err("section without text or fields".into());
                }
                if let Some(t) = b.get("text") {
                    check_mrkdwn(t, 3000)?;
                }
                if let Some(f) = b.get("fields") {
                    let f = f.as_array().ok_or("fields is not a list")?;
                    if f.is_empty() || f.len() > 10 {
                        return Err(format!("{} fields", f.len()));
                    }
                    for t in f {
                        check_mrkdwn(t, 2000)?;
                    }
                }
            }
            Some("context") => {
                let e = b["elements"].as_array().ok_or("context without elements")?;
                if e.is_empty() || e.len() > 10 {
                    return Err("context elements".into());
                }
                for t in e {
                    check_mrkdwn(t, 3000)?;
                }
            }
            Some("actions") => {
                for e in b["elements"].as_array().ok_or("actions without elements")? {
                    let label = e["text"]["text"].as_str().unwrap_or("");
                    let url = e["url"].as_str().unwrap_or("");
                    if e["type"] != "button"
                        || label.is_empty()
                        || u16len(label) > 75
                        || !url.starts_with("http")
                        || url.len() > 3000
                    {
                        return Err(format!("bad button {e}"));
                    }
                }
            }
            other => return Err(format!("unexpected block type {other:?}")),
        }
    }
    Ok(())
}

/// A Slack incoming webhook at `{base}{SLACK_PATH}`.
pub fn slack_fake() -> ChatFake {
    Fake::start(
        ChatState::default(),
        Arc::new(|req: &Req, st: &mut Shared<ChatState>| {
            if let Err(e) = check_slack(req) {
                st.violations.push(format!("slack: {e}"));
                return reply(400, "invalid_blocks");
            }
            if let Some(r) = st.inner.script.pop_front() {
                return r;
            }
            st.inner.posted.push(req.json().unwrap());
            reply(200, "ok").header("content-type", "text/plain")
        }),
    )
}

pub const TG_TOKEN: &str = "123456:AAE-secretBotToken_xyz";
pub const TG_CHAT: i64 = -1001234567890;

pub fn check_telegram(req: &Req) -> Result<String, String> {
    if req.method != "POST" || req.target != format!("/bot{TG_TOKEN}/sendMessage") {
        return Err(format!(
            "{} {} is not sendMessage with the bot token",
            req.method, req.target
        ));
    }
    let v = req.json()?;
    if v["chat_id"] != json!(TG_CHAT) {
        return Err(format!("chat_id {}", v["chat_id"]));
    }
    if v["parse_mode"] != "HTML" || v["disable_web_page_preview"] != true {
        return Err("parse_mode HTML and disable_web_page_preview expected".into());
    }
    let text = v["text"].as_str().ok_or("no text")?;
    let visible = parse_html(
        text,
        &["b", "strong", "i", "em", "u", "s", "code", "pre", "a"],
        &[],
    )
    .map_err(|e| format!("Bad Request: can't parse entities: {e}"))?;
    if visible.trim().is_empty() || u16len(&visible) > 4096 {
        return Err(format!(
            "Bad Request: message is too long ({} UTF-16 units)",
            u16len(&visible)
        ));
    }
    Ok(visible)
}

/// The Bot API at `{base}/bot{TG_TOKEN}/sendMessage`, chat [`TG_CHAT`].
pub fn telegram_fake() -> ChatFake {
    Fake::start(
        ChatState::default(),
        Arc::new(|req: &Req, st: &mut Shared<ChatState>| {
            if let Err(e) = check_telegram(req) {
                st.violations.push(format!("telegram: {e}"));
                return reply(
                    400,
                    json!({"ok": false, "error_code": 400, "description": e}).to_string(),
                );
            }
            if let Some(r) = st.inner.script.pop_front() {
                return r;
            }
            st.inner.posted.push(req.json().unwrap());
            let id = st.inner.posted.len();
            reply(
                200,
                json!({"ok": true, "result": {"message_id": id, "chat": {"id": TG_CHAT}}})
                    .to_string(),
            )
        }),
    )
}

pub const MX_TOKEN: &str = "syt_bWF0cml4_secretAccessToken";
pub const MX_ROOM: &str = "!room:example.org";

pub fn check_matrix(req: &Req) -> Result<String, (u16, String)> {
    let bad = |e: String| (400, e);
    let prefix = "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/";
    let txn = req.target.strip_prefix(prefix).ok_or_else(|| {
        bad(format!(
            "path {} is not this room's send endpoint",
            req.target
        ))
    })?;
    if req.method != "PUT" {
        return Err(bad(format!("method {}", req.method)));
    }
    if txn.is_empty()
        || !txn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
    {
        return Err(bad(format!("txn id {txn:?}")));
    }
    if req.header("authorization") != Some(&format!("Bearer {MX_TOKEN}")) {
        return Err((401, "M_UNKNOWN_TOKEN".into()));
    }
    if req.body.len() > 65536 {
        return Err((413, format!("M_TOO_LARGE: {} bytes", req.body.len())));
    }
    let v = req.json().map_err(bad)?;
    if v["msgtype"] != "m.text" || v["format"] != "org.matrix.custom.html" {
        return Err(bad(
            "msgtype m.text and format org.matrix.custom.html expected".into(),
        ));
    }
    if v["body"].as_str().is_none_or(str::is_empty) {
        return Err(bad("empty body".into()));
    }
    let html = v["formatted_body"]
        .as_str()
        .ok_or_else(|| bad("no formatted_body".into()))?;
    parse_html(
        html,
        &["p", "strong", "em", "br", "code", "pre", "a"],
        &["br"],
    )
    .map_err(|e| bad(format!("formatted_body: {e}")))?;
    Ok(txn.to_owned())
}

/// A homeserver with room [`MX_ROOM`]; dedupes sends by transaction id as Synapse does.
pub fn matrix_fake() -> ChatFake {
    Fake::start(
        ChatState::default(),
        Arc::new(|req: &Req, st: &mut Shared<ChatState>| {
            let txn = match check_matrix(req) {
                Ok(t) => t,
                Err((status, e)) => {
                    st.violations.push(format!("matrix: {e}"));
                    return reply(
                        status,
                        json!({"errcode": "M_BAD_JSON", "error": e}).to_string(),
                    );
                }
            };
            let scripted = st.inner.script.pop_front();
            if let Some(r) = &scripted
                && !r.commit_first
            {
                return r.clone();
            }
            let event_id = match st.inner.txns.get(&txn) {
                Some(id) => id.clone(),
                None => {
                    st.inner.posted.push(req.json().unwrap());
                    let id = format!("$event{}", st.inner.posted.len());
                    st.inner.txns.insert(txn, id.clone());
                    id
                }
            };
            scripted.unwrap_or_else(|| reply(200, json!({"event_id": event_id}).to_string()))
        }),
    )
}

/// Every string in a posted JSON message, joined: what the message says, markup included.
pub fn all_text(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}
