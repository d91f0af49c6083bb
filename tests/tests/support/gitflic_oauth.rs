//! A stateful fake GitFlic on 127.0.0.1 for the accounts tests: OAuth token
//! endpoints (`/api/token/access`, `/api/token/refresh`) that issue numbered tokens, count
//! calls and can refuse refreshes; `/user/me`; and the recorded fixture exchanges (reusable),
//! answered only for the currently valid access token (any other gets 401, counted, not a
//! violation: a stale token is part of the scenario).
//!
//! Include after `fakes.rs`: `#[path = "support/gitflic_oauth.rs"] mod gitflic_oauth;`.

#![allow(dead_code)]

use crate::fakes::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub struct OAuthState {
    /// `Basic base64(client_id:client_secret)` expected on token requests.
    pub basic: String,
    /// The one authorization code the fake accepts (once).
    pub code: Option<String>,
    /// The currently valid tokens.
    pub access: String,
    pub refresh: String,
    pub issued: u32,
    /// False: every refresh is refused with 401 (a revoked refresh token).
    pub refresh_ok: bool,
    /// How long a refresh takes (so concurrent callers overlap with it).
    pub refresh_delay: Duration,
    pub exchange_calls: u32,
    pub refresh_calls: u32,
    /// API calls refused for a stale or wrong token.
    pub rejected_calls: u32,
    pub exchanges: Vec<Exchange>,
    /// Webhooks of acme/payments-api as GitFlic keeps them (`secret` masked on reads).
    pub hooks: Vec<serde_json::Value>,
    pub hooks_created: u32,
    /// Set: the pipeline list of acme/payments-api shows only pipelines up to this number
    /// (later ones "have not run yet"); every page past the first is empty.
    pub pipelines_upto: Option<u64>,
    pub pipeline_lists: u32,
    /// The next this many pipeline lists are answered 429 with `Retry-After: {retry_after}`.
    pub pipelines_429: u32,
    pub retry_after: String,
    /// When each 429 was served.
    pub served_429: Vec<std::time::Instant>,
    /// Set: a webhook create waits at this gate (after it "reached GitFlic", before the answer).
    pub hook_gate: Option<Arc<HookGate>>,
    /// Set: webhook creates are refused with this status.
    pub hook_create_status: Option<u16>,
    /// Where the token endpoints sit below the fake's root: empty for the cloud's OAuth server
    /// (`https://oauth.gitflic.ru/api/token/…`), `/oauth` for a self-hosted instance
    /// (`{instance}/oauth/api/token/…`, GitFlic's docs).
    pub token_prefix: String,
}

/// Holds a webhook create in flight until the test opens it; hands the test the body GitFlic
/// received (with the new secret). The fake's other requests wait meanwhile (one lock).
#[derive(Default)]
pub struct HookGate {
    /// The body that arrived, and whether the test opened the gate.
    state: Mutex<(Option<serde_json::Value>, bool)>,
    changed: Condvar,
}

impl HookGate {
    /// Waits (bounded) for a create to arrive; returns its body.
    pub fn arrived(&self) -> serde_json::Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut st = self.state.lock().unwrap();
        while st.0.is_none() {
            let left = deadline
                .checked_duration_since(std::time::Instant::now())
                .expect("no webhook create arrived at the gate");
            st = self.changed.wait_timeout(st, left).unwrap().0;
        }
        st.0.clone().unwrap()
    }

    pub fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    /// Called by the fake: hands over the body, then waits (bounded) until the test opens.
    fn pass(&self, body: serde_json::Value) {
        let mut st = self.state.lock().unwrap();
        st.0 = Some(body);
        self.changed.notify_all();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !st.1 {
            let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
                return;
            };
            st = self.changed.wait_timeout(st, left).unwrap().0;
        }
    }
}

pub type OAuthGitflic = Fake<OAuthState>;

fn sorted(q: &str) -> Vec<String> {
    let mut v: Vec<String> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

fn issue(st: &mut OAuthState) -> String {
    st.issued += 1;
    st.access = format!("gf-at-{}", st.issued);
    st.refresh = format!("gf-rt-{}", st.issued);
    format!(
        r#"{{"accessToken":"{}","refreshToken":"{}","expires_in":2592000}}"#,
        st.access, st.refresh
    )
}

pub fn oauth_gitflic(basic: &str, exchanges: Vec<Exchange>) -> OAuthGitflic {
    let state = OAuthState {
        basic: basic.into(),
        code: None,
        access: "gf-at-0".into(),
        refresh: "gf-rt-0".into(),
        issued: 0,
        refresh_ok: true,
        refresh_delay: Duration::from_millis(100),
        exchange_calls: 0,
        refresh_calls: 0,
        rejected_calls: 0,
        exchanges,
        hooks: vec![],
        hooks_created: 0,
        pipelines_upto: None,
        pipeline_lists: 0,
        pipelines_429: 0,
        retry_after: "1".into(),
        served_429: vec![],
        hook_gate: None,
        hook_create_status: None,
        token_prefix: String::new(),
    };
    let fake = Fake::start(
        state,
        Arc::new(|req: &Req, s: &mut Shared<OAuthState>| {
            let basic = format!("Basic {}", s.inner.basic);
            match (req.method.as_str(), req.path()) {
                ("GET", p) if p == format!("{}/api/token/access", s.inner.token_prefix) => {
                    s.inner.exchange_calls += 1;
                    if req.header("authorization") != Some(basic.as_str()) {
                        s.violations
                            .push("token/access without the client's Basic credentials".into());
                        return reply(401, r#"{"error":"Unauthorized"}"#);
                    }
                    let code = req.query().strip_prefix("code=").unwrap_or("").to_string();
                    if s.inner.code.as_deref() != Some(code.as_str()) {
                        return reply(
                            400,
                            r#"{"error":"invalid_grant","message":"Code is invalid or used"}"#,
                        );
                    }
                    s.inner.code = None;
                    reply(200, issue(&mut s.inner))
                }
                ("POST", p) if p == format!("{}/api/token/refresh", s.inner.token_prefix) => {
                    s.inner.refresh_calls += 1;
                    std::thread::sleep(s.inner.refresh_delay);
                    if req.header("authorization") != Some(basic.as_str()) {
                        s.violations
                            .push("token/refresh without the client's Basic credentials".into());
                    }
                    let presented = req
                        .json()
                        .ok()
                        .and_then(|v| v["refreshToken"].as_str().map(String::from));
                    if !s.inner.refresh_ok || presented.as_deref() != Some(s.inner.refresh.as_str())
                    {
                        return reply(
                            401,
                            r#"{"status":401,"error":"Unauthorized","message":"Refresh token is invalid or expired"}"#,
                        );
                    }
                    reply(200, issue(&mut s.inner))
                }
                ("GET", p) if p.ends_with("/oauth/authorize") => authorize_page(req, &s.inner),
                (method, path) => {
                    if req.header("authorization")
                        != Some(format!("token {}", s.inner.access).as_str())
                    {
                        s.inner.rejected_calls += 1;
                        return reply(401, r#"{"status":401,"error":"Unauthorized"}"#);
                    }
                    if path.ends_with("/user/me") {
                        return reply(
                            200,
                            r#"{"id":"c2d38c66","username":"ivan.petrov","fullName":"Ivan Petrov"}"#,
                        );
                    }
                    if let Some(r) = hooks(req, &mut s.inner) {
                        return r;
                    }
                    if path == PIPELINES {
                        s.inner.pipeline_lists += 1;
                        if s.inner.pipelines_429 > 0 {
                            s.inner.pipelines_429 -= 1;
                            s.inner.served_429.push(req.at);
                            return reply(429, r#"{"status":429,"error":"Too Many Requests"}"#)
                                .header("Retry-After", &s.inner.retry_after);
                        }
                        if let Some(r) = pipelines(req, &s.inner) {
                            return r;
                        }
                    }
                    let q = sorted(req.query());
                    match s
                        .inner
                        .exchanges
                        .iter()
                        .find(|e| e.method == method && e.path == path && e.query == q)
                    {
                        Some(e) => e.reply.clone(),
                        None => {
                            s.violations.push(format!(
                                "gitflic: nothing for {} {}",
                                req.method, req.target
                            ));
                            reply(599, "no exchange").header("content-type", "text/plain")
                        }
                    }
                }
            }
        }),
    );
    let base = fake.base.clone();
    fake.with(|s| {
        for e in &mut s.inner.exchanges {
            if let Ok(text) = std::str::from_utf8(&e.reply.body) {
                e.reply.body = text.replace(RECORDED_API, &base).into_bytes();
            }
        }
    });
    fake
}

/// The project (`owner/name`) whose webhooks `path` addresses, and the rest of the path after
/// `/setting/webhook`, as GitFlic lays them out: `/project/{owner}/{name}/setting/webhook[/…]`.
fn hooks_path(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("/project/")?;
    let (owner, rest) = rest.split_once('/')?;
    let (name, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("setting/webhook")?;
    Some((format!("{owner}/{name}"), rest))
}

/// The key under which the fake files a hook with its project; GitFlic's own answers never
/// carry it (removed before a hook is shown).
const PROJECT_KEY: &str = "_project";

/// List, create and delete webhooks (POST `.../{id}/delete`) of any project, as GitFlic does.
/// `OAuthState::hooks` holds every project's hooks, each filed under [`PROJECT_KEY`].
fn hooks(req: &Req, st: &mut OAuthState) -> Option<Reply> {
    let (project, rest) = hooks_path(req.path())?;
    let shown = |h: &serde_json::Value| {
        let mut h = h.clone();
        h["secret"] = "****".into();
        if let Some(o) = h.as_object_mut() {
            o.remove(PROJECT_KEY);
        }
        h
    };
    if req.method == "GET" && rest.is_empty() {
        let list: Vec<serde_json::Value> = st
            .hooks
            .iter()
            .filter(|h| h[PROJECT_KEY] == project.as_str())
            .map(shown)
            .collect();
        let n = list.len();
        let body = serde_json::json!({ "_embedded": { "webhookList": list }, "page": { "size": 50, "totalElements": n, "totalPages": 1, "number": 0 } });
        return Some(reply(200, body.to_string()));
    }
    if req.method == "POST" && rest.is_empty() {
        let Ok(mut hook) = req.json() else {
            return Some(reply(400, r#"{"message":"bad body"}"#));
        };
        if let Some(status) = st.hook_create_status {
            return Some(reply(status, r#"{"message":"webhook refused"}"#));
        }
        if let Some(gate) = &st.hook_gate {
            gate.pass(hook.clone());
        }
        st.hooks_created += 1;
        hook["id"] = format!("hook-{}", st.hooks_created).into();
        hook[PROJECT_KEY] = project.as_str().into();
        st.hooks.push(hook.clone());
        return Some(reply(200, shown(&hook).to_string()));
    }
    if req.method == "POST"
        && let Some(id) = rest
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix("/delete"))
    {
        let before = st.hooks.len();
        st.hooks
            .retain(|h| !(h["id"] == id && h[PROJECT_KEY] == project.as_str()));
        return Some(if st.hooks.len() < before {
            reply(200, "")
        } else {
            reply(404, r#"{"message":"not found"}"#)
        });
    }
    None
}

/// GitFlic's OAuth consent page, reduced to what a person does there: one link that sends the
/// browser back to the `redirect_url` with the code the test set and the `state` it was given
/// (the shape of the redirect is GitFlic's documented one: `?code=…&state=…`).
fn authorize_page(req: &Req, st: &OAuthState) -> Reply {
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query().as_bytes())
            .into_owned()
            .collect();
    let (Some(back), Some(state), Some(code)) =
        (q.get("redirect_url"), q.get("state"), st.code.as_ref())
    else {
        return reply(
            400,
            "authorize needs redirect_url and state, and the test a code",
        )
        .header("content-type", "text/plain");
    };
    let target: String = url::form_urlencoded::Serializer::new(format!("{back}?"))
        .append_pair("code", code)
        .append_pair("state", state)
        .finish();
    let escaped = target.replace('&', "&amp;").replace('"', "&quot;");
    reply(
        200,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>GitFlic: authorize</title></head><body><p>Exlogare asks for access to your projects.</p><a id=\"allow\" href=\"{escaped}\">Allow</a></body></html>"
        ),
    )
    .header("content-type", "text/html; charset=utf-8")
}

const PIPELINES: &str = "/project/acme/payments-api/cicd/pipeline";

fn pipelines(req: &Req, st: &OAuthState) -> Option<Reply> {
    let upto = st.pipelines_upto?;
    let recorded = st
        .exchanges
        .iter()
        .find(|e| e.method == "GET" && e.path == PIPELINES)?;
    let mut body: serde_json::Value = serde_json::from_slice(&recorded.reply.body).ok()?;
    let first_page = req.query().split('&').any(|p| p == "page=0");
    let list = body["_embedded"]["restPipelineModelList"].as_array_mut()?;
    list.retain(|p| {
        let n = p["localId"]
            .as_u64()
            .or_else(|| p["localId"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        first_page && n <= upto
    });
    Some(reply(200, body.to_string()))
}
