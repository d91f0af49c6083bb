//! A stateful fake GitLab on 127.0.0.1 for gitlab_oauth.rs, playing GitLab's OAuth 2
//! (Doorkeeper) and REST v4 as `shared/reference/gitlab-api.md` §9 and §6 describe them:
//!
//! - `GET /oauth/authorize?client_id=&redirect_uri=&response_type=code&state=&scope=`: checks
//!   the registered application (client id, redirect URI, scopes ⊆ the app's), then, as a user
//!   who clicks "Authorize", answers 302 to `{redirect_uri}?code=&state=` with a fresh code.
//! - `POST /oauth/token` (a form, the client in HTTP Basic): `grant_type=authorization_code`
//!   (the code once, with the redirect URI it was issued for) and `grant_type=refresh_token`
//!   (the current refresh token only; each refresh rotates: the old access and refresh tokens
//!   stop working and a new pair is answered). A used code or an old refresh token gets 400
//!   `invalid_grant`, a wrong client 401 `invalid_client`.
//! - `/api/v4/*` only with `Authorization: Bearer <the current access token>`: another token gets
//!   401 `invalid_token` (counted: a stale token is part of the scenario); another scheme or none
//!   is a violation. `GET /api/v4/user`, and the recorded exchanges of a GitLab fixture scenario
//!   (`fixtures/gitlab/<scenario>/exchanges.toml`, reusable).
//!
//! Include after `fakes.rs`: `#[path = "support/gitlab_oauth.rs"] mod gitlab_oauth;`.

#![allow(dead_code)]

use crate::fakes::*;
use std::path::Path;
use std::sync::Arc;

/// The REST root the GitLab recordings were made against; its paths are served by the fake.
pub const RECORDED_GITLAB_API: &str = "https://gitlab.com/api/v4";

/// One recorded GitLab exchange: method, path, decoded and sorted query pairs, the reply.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub reply: Reply,
    /// How often it was answered.
    pub used: u32,
}

/// Decoded, sorted query (or form) pairs.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    v.sort();
    v
}

/// `fixtures/gitlab/<scenario>/exchanges.toml` as the fake's script.
pub fn gitlab_recordings(fixtures: &Path, scenario: &str) -> Vec<Recorded> {
    let dir = fixtures.join(scenario);
    let doc: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("exchanges.toml")).unwrap()).unwrap();
    doc["exchange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let url = x["url"].as_str().unwrap();
            let rest = url
                .strip_prefix(RECORDED_GITLAB_API)
                .unwrap_or_else(|| panic!("{scenario}: {url} is not on {RECORDED_GITLAB_API}"));
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let body = match (
                x.get("body").and_then(|b| b.as_str()),
                x.get("body_file").and_then(|b| b.as_str()),
            ) {
                (Some(b), _) => b.as_bytes().to_vec(),
                (None, Some(f)) => std::fs::read(dir.join(f)).unwrap(),
                _ => Vec::new(),
            };
            let mut r = reply(x["status"].as_integer().unwrap_or(200) as u16, body);
            for (k, v) in x
                .get("headers")
                .and_then(|h| h.as_table())
                .into_iter()
                .flatten()
            {
                r = r.header(k, v.as_str().unwrap());
            }
            Recorded {
                method: x["method"].as_str().unwrap_or("GET").into(),
                path: format!("/api/v4{path}"),
                query: pairs(query),
                reply: r,
                used: 0,
            }
        })
        .collect()
}

/// One request to `/oauth/token` as the fake received it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The raw body.
    pub body: String,
    /// The form, decoded.
    pub form: Vec<(String, String)>,
}

impl TokenRequest {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A code the authorize endpoint issued.
#[derive(Debug, Clone)]
pub struct Grant {
    pub code: String,
    pub redirect_uri: String,
    pub used: bool,
}

/// The registered OAuth application and what the fake GitLab has issued and seen.
pub struct GitlabState {
    pub client_id: String,
    /// `Basic base64(client_id:client_secret)`, expected on every token request.
    pub basic: String,
    /// The application's registered callback.
    pub redirect_uri: String,
    /// The application's scopes; an authorize request may ask for a subset.
    pub scopes: Vec<String>,
    /// `expires_in` of issued tokens: GitLab's 2 h.
    pub expires_in: u64,
    pub grants: Vec<Grant>,
    /// The currently valid tokens (`None`: none issued, or the access token expired).
    pub access: Option<String>,
    pub refresh: Option<String>,
    /// Token pairs issued so far.
    pub issued: u32,
    pub authorize_calls: u32,
    pub exchange_calls: u32,
    pub refresh_calls: u32,
    /// API calls answered 401 for a token that is not the current one.
    pub rejected_calls: u32,
    pub token_requests: Vec<TokenRequest>,
    pub recordings: Vec<Recorded>,
}

pub type FakeGitlab = Fake<GitlabState>;

/// The access token of the `n`th pair the fake issues.
pub fn access_token(n: u32) -> String {
    format!("glo-access-{n}-5c1e9a7d3b")
}

/// The refresh token of the `n`th pair the fake issues.
pub fn refresh_token(n: u32) -> String {
    format!("glo-refresh-{n}-8f2b6d04e1")
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    reply(
        status,
        serde_json::json!({ "error": error, "error_description": description }).to_string(),
    )
}

fn issue(st: &mut GitlabState) -> Reply {
    st.issued += 1;
    let (access, refresh) = (access_token(st.issued), refresh_token(st.issued));
    st.access = Some(access.clone());
    st.refresh = Some(refresh.clone());
    reply(
        200,
        serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": st.expires_in,
            "refresh_token": refresh,
            "scope": st.scopes.join(" "),
            "created_at": 1_795_000_000u64 + u64::from(st.issued),
        })
        .to_string(),
    )
}

fn authorize(req: &Req, s: &mut Shared<GitlabState>) -> Reply {
    s.inner.authorize_calls += 1;
    let q = pairs(req.query());
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // Doorkeeper shows an error page (no redirect) for an unknown client or a redirect URI
    // that is not the application's.
    if get("client_id") != s.inner.client_id {
        s.violations
            .push(format!("authorize: client_id {:?}", get("client_id")));
        return reply(401, "Client authentication failed due to unknown client.")
            .header("content-type", "text/html");
    }
    if get("redirect_uri") != s.inner.redirect_uri {
        s.violations
            .push(format!("authorize: redirect_uri {:?}", get("redirect_uri")));
        return reply(400, "The redirect URI included is not valid.")
            .header("content-type", "text/html");
    }
    let back = |params: &[(&str, &str)]| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        reply(302, "").header("location", &format!("{}?{query}", get("redirect_uri")))
    };
    let state = get("state");
    if get("response_type") != "code" {
        s.violations.push(format!(
            "authorize: response_type {:?}",
            get("response_type")
        ));
        return back(&[
            ("error", "unsupported_response_type"),
            ("state", state.as_str()),
        ]);
    }
    let asked = get("scope");
    if asked.is_empty()
        || asked
            .split(' ')
            .any(|sc| !s.inner.scopes.iter().any(|a| a == sc))
    {
        s.violations.push(format!(
            "authorize: scope {asked:?} is not within the application's {:?}",
            s.inner.scopes
        ));
        return back(&[
            ("error", "invalid_scope"),
            (
                "error_description",
                "The requested scope is invalid, unknown, or malformed.",
            ),
            ("state", state.as_str()),
        ]);
    }
    let code = format!("glcode-{}-0e4f", s.inner.grants.len() + 1);
    s.inner.grants.push(Grant {
        code: code.clone(),
        redirect_uri: get("redirect_uri"),
        used: false,
    });
    back(&[("code", code.as_str()), ("state", state.as_str())])
}

fn token(req: &Req, s: &mut Shared<GitlabState>) -> Reply {
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let t = TokenRequest {
        content_type: req.header("content-type").map(String::from),
        authorization: req.header("authorization").map(String::from),
        form: pairs(&body),
        body,
    };
    s.inner.token_requests.push(t.clone());
    if !t
        .content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        s.violations
            .push(format!("oauth/token: content-type {:?}", t.content_type));
    }
    if t.authorization.as_deref() != Some(s.inner.basic.as_str()) {
        s.violations
            .push("oauth/token without the application's HTTP Basic credentials".into());
        return oauth_error(
            401,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        );
    }
    if t.field("client_id")
        .is_some_and(|id| id != s.inner.client_id)
    {
        s.violations.push(format!(
            "oauth/token: form client_id {:?}",
            t.field("client_id")
        ));
    }
    let invalid_grant = || {
        oauth_error(
            400,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        )
    };
    match t.field("grant_type") {
        Some("authorization_code") => {
            s.inner.exchange_calls += 1;
            let code = t.field("code").unwrap_or_default();
            let redirect = t.field("redirect_uri").unwrap_or_default();
            let Some(g) = s
                .inner
                .grants
                .iter_mut()
                .find(|g| g.code == code && !g.used)
            else {
                return invalid_grant();
            };
            if g.redirect_uri != redirect {
                return invalid_grant();
            }
            g.used = true;
            issue(&mut s.inner)
        }
        Some("refresh_token") => {
            s.inner.refresh_calls += 1;
            if t.field("redirect_uri")
                .is_some_and(|r| r != s.inner.redirect_uri)
            {
                return invalid_grant();
            }
            if t.field("refresh_token").is_none()
                || t.field("refresh_token") != s.inner.refresh.as_deref()
            {
                return invalid_grant();
            }
            issue(&mut s.inner)
        }
        other => {
            s.violations
                .push(format!("oauth/token: grant_type {other:?}"));
            oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        }
    }
}

fn api(req: &Req, s: &mut Shared<GitlabState>) -> Reply {
    let Some(presented) = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
    else {
        s.violations.push(format!(
            "gitlab: {} {} without `Authorization: Bearer …` (carried {:?})",
            req.method,
            req.target,
            req.header("authorization")
                .map(|a| a.split(' ').next().unwrap_or("").to_owned() + " …")
        ));
        return reply(401, r#"{"message":"401 Unauthorized"}"#);
    };
    if s.inner.access.as_deref() != Some(presented) {
        s.inner.rejected_calls += 1;
        return oauth_error(
            401,
            "invalid_token",
            "Token is expired. You can either do re-authorization or token refresh.",
        );
    }
    if req.method == "GET" && req.path() == "/api/v4/user" {
        return reply(
            200,
            r#"{"id":1,"username":"john_smith","name":"John Smith","state":"active","locked":false,"web_url":"https://gitlab.example.com/john_smith"}"#,
        );
    }
    let q = pairs(req.query());
    match s
        .inner
        .recordings
        .iter_mut()
        .find(|e| e.method == req.method && e.path == req.path() && e.query == q)
    {
        Some(e) => {
            e.used += 1;
            e.reply.clone()
        }
        None => {
            s.violations.push(format!(
                "gitlab: no recording for {} {}",
                req.method, req.target
            ));
            reply(404, r#"{"message":"404 Not found"}"#)
        }
    }
}

/// The fake GitLab of the application `client_id` / `client_secret` registered with
/// `redirect_uri` and `scopes`, serving `recordings`.
pub fn fake_gitlab(
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    scopes: &[&str],
    recordings: Vec<Recorded>,
) -> FakeGitlab {
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"));
    let state = GitlabState {
        client_id: client_id.into(),
        basic: format!("Basic {basic}"),
        redirect_uri: redirect_uri.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_in: 7200,
        grants: vec![],
        access: None,
        refresh: None,
        issued: 0,
        authorize_calls: 0,
        exchange_calls: 0,
        refresh_calls: 0,
        rejected_calls: 0,
        token_requests: vec![],
        recordings,
    };
    Fake::start(
        state,
        Arc::new(|req: &Req, s: &mut Shared<GitlabState>| {
            match (req.method.as_str(), req.path()) {
                ("GET", "/oauth/authorize") => authorize(req, s),
                ("POST", "/oauth/token") => token(req, s),
                (_, p) if p.starts_with("/api/v4/") => api(req, s),
                _ => {
                    s.violations
                        .push(format!("gitlab: unexpected {} {}", req.method, req.target));
                    reply(404, r#"{"message":"404 Not found"}"#)
                }
            }
        }),
    )
}

impl Fake<GitlabState> {
    /// The access token GitLab currently accepts.
    pub fn current_access(&self) -> Option<String> {
        self.with(|s| s.inner.access.clone())
    }

    /// The current access token expires (GitLab answers 401 `invalid_token` to it from now
    /// on); the refresh token keeps working.
    pub fn expire_access_token(&self) {
        self.with(|s| s.inner.access = None);
    }

    /// `(authorize, code exchanges, refreshes, API calls refused for a stale token)`.
    pub fn counts(&self) -> (u32, u32, u32, u32) {
        self.with(|s| {
            (
                s.inner.authorize_calls,
                s.inner.exchange_calls,
                s.inner.refresh_calls,
                s.inner.rejected_calls,
            )
        })
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.with(|s| s.inner.token_requests.clone())
    }

    /// `Authorization` of every REST request, in order, with its method and target.
    pub fn api_requests(&self) -> Vec<(String, Option<String>)> {
        self.requests()
            .iter()
            .filter(|r| r.path().starts_with("/api/v4/"))
            .map(|r| {
                (
                    format!("{} {}", r.method, r.target),
                    r.header("authorization").map(String::from),
                )
            })
            .collect()
    }

    /// Recordings nobody asked for.
    pub fn unused(&self) -> Vec<String> {
        self.with(|s| {
            s.inner
                .recordings
                .iter()
                .filter(|e| e.used == 0)
                .map(|e| format!("{} {}", e.method, e.path))
                .collect()
        })
    }
}
