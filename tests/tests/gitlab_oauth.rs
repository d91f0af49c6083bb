//! GitLab's OAuth connect through `serve`, end to end on 127.0.0.1 (issue 13): a GitLab
//! connection configured with an OAuth application (`client_id`, `client_secret_file`,
//! `[connections.oauth]`), served by the real service with the real GitLab plugin, against a
//! stateful fake GitLab (`support/gitlab_oauth.rs`) playing Doorkeeper's authorize and token
//! endpoints, `GET /api/v4/user` and the recorded exchanges of `failed-pipeline-trace`, and a
//! fake Slack. It holds the host to: the start URL → GitLab's authorize with a state; the
//! callback's code exchanged as a form with the client in HTTP Basic; the tokens stored
//! encrypted and never shown; the OAuth access token as `Bearer` on every REST request of an
//! analysis; a rejected token refreshed once, GitLab's rotated refresh token kept; a replayed or
//! unknown state refused without storing anything. No internet; waits poll with a deadline.
//!
//! Needs the GitLab component: `./x test`, or
//! `cargo build -p exlogare-gitlab --target wasm32-wasip2 --profile plugin`.

#[path = "support/accounts_world.rs"]
mod accounts_world;
#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/gitflic_oauth.rs"]
mod gitflic_oauth;
#[path = "support/gitlab_oauth.rs"]
mod gitlab_oauth;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::{gitlab_component, workspace_root};
use exlogare_runtime::http::Secret;
use exlogare_service::accounts::tokens::ConnectionStatus;
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use fakes::*;
use gitlab_oauth::*;
use running::RunningHost as Host;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

const CLIENT_ID: &str = "gl-app-2b7e41c9d05a";
const CLIENT_SECRET: &str = "gloas-client-secret-test-77";
const WEBHOOK_SECRET: &str = "glwh-7Qv2xN5kLs9RtY4";
const ADMIN: &str = "admin-token-gloauth-Q7w3";
/// Where GitLab sends the user back: the host's public URL (`[server] public_url`) + the callback.
const REDIRECT: &str = "https://exlogare.example/api/integrations/gitlab/oauth/callback";
const PUBLIC: &str = "https://exlogare.example";
const SCOPES: [&str; 2] = ["api", "read_user"];
/// The connection's web root: links point there, requests go to the fake.
const GITLAB_WEB: &str = "https://gitlab.example.com";

/// The token key (set once per binary, before any service) and a compile cache warmed with
/// the GitLab component, so each test's service loads it instead of compiling it.
fn cache() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    accounts_world::key_and_cache();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let text =
            storage(dir.path()) + &plugins(&[gitlab_component()], Some(&dir.path().join("cache")));
        Service::build(toml::from_str::<Config>(&text).unwrap())
            .unwrap_or_else(|e| panic!("warming the compile cache: {e:#}"));
        dir
    });
    dir.path().join("cache")
}

/// The fake GitLab (the application [`CLIENT_ID`] with [`SCOPES`], serving
/// failed-pipeline-trace), a fake Slack, and a folder with the secrets, database and config.
struct World {
    dir: tempfile::TempDir,
    gitlab: FakeGitlab,
    slack: ChatFake,
}

impl World {
    fn new() -> World {
        let gitlab = fake_gitlab(
            CLIENT_ID,
            CLIENT_SECRET,
            REDIRECT,
            &SCOPES,
            gitlab_recordings(
                &workspace_root().join("fixtures/gitlab"),
                "failed-pipeline-trace",
            ),
        );
        let slack = slack_fake();
        let dir = tempfile::tempdir().unwrap();
        write_secrets(
            dir.path(),
            &[
                ("admin-token", ADMIN),
                ("webhook-secret", WEBHOOK_SECRET),
                ("client-secret", CLIENT_SECRET),
                ("slack-url", &format!("{}{SLACK_PATH}", slack.base)),
            ],
        );
        World { dir, gitlab, slack }
    }

    /// The config with the OAuth connection `lab`; `oauth` is its `[connections.oauth]` table's
    /// body (the redirect URL defaults to the public URL's callback).
    fn config(&self, oauth: &str) -> PathBuf {
        let d = self.dir.path();
        let text = server(&admin(d))
            + &storage(d)
            + &Worker::default().section()
            + &plugins(&[gitlab_component()], Some(&cache()))
            + &format!(
                r#"
[[connections]]
id = "lab"
provider = "gitlab"
# These worlds serve one failure's recorded traffic; green runs: tests/tests/green_run.rs.
compare_green_runs = false
web_base = "{GITLAB_WEB}"
api_base = "{api}/api/v4"
oauth_base = "{api}"
allow_private = true
webhook_secret_file = {wh:?}
client_id = "{CLIENT_ID}"
client_secret_file = {cs:?}
[connections.oauth]
{oauth}
"#,
                api = self.gitlab.base,
                wh = d.join("webhook-secret"),
                cs = d.join("client-secret"),
            )
            + &slack_notifier(d)
            + "\n[[routes]]\nconnection = \"lab\"\nnotifiers = [\"team-slack\"]\n";
        write_config(d, &text)
    }

    fn host(&self) -> Host {
        Host::start(
            &self.config(r#"scopes = ["api", "read_user"]"#),
            true,
            false,
        )
    }

    /// Every database file (main, WAL) as text: what someone with the file could read.
    fn database_text(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("exlogare.db")
            {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
        assert!(!out.is_empty(), "no database file");
        out
    }

    /// Asserts that none of `secrets` is in the database in clear.
    fn assert_db_holds_none_of(&self, secrets: &[&str]) {
        let db = self.database_text();
        for s in secrets {
            assert!(!db.contains(s), "the database holds `{s}` in clear");
        }
    }
}

/// An answer: status, the body (JSON when it parses, else the text), the `Location` header.
struct Answer {
    status: u16,
    body: Value,
    text: String,
    location: Option<String>,
}

fn send(req: reqwest::blocking::RequestBuilder) -> Answer {
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text.clone())),
        text,
        location,
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

impl Host {
    fn get(&self, path: &str) -> Answer {
        send(self.client.get(format!("{}{path}", self.base)))
    }

    fn admin_get(&self, path: &str) -> Answer {
        send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(ADMIN),
        )
    }

    /// `GET /api/connections`' line for `lab`.
    fn connection_view(&self) -> (Value, String) {
        let a = self.admin_get("/api/connections");
        assert_eq!(a.status, 200, "{}", a.text);
        let v = a.body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "lab")
            .cloned()
            .expect("lab is listed");
        (v, a.text)
    }

    /// The start endpoint's redirect to GitLab's authorize URL.
    fn oauth_start(&self) -> Answer {
        self.admin_get("/api/integrations/gitlab/oauth/start/lab")
    }

    /// A browser at GitLab's authorize URL, the user clicking "Authorize": GitLab's redirect
    /// back to the callback (`REDIRECT?code=&state=`).
    fn authorize_at_gitlab(&self, authorize_url: &str) -> String {
        let a = send(self.client.get(authorize_url));
        assert_eq!(a.status, 302, "GitLab's authorize answered {}", a.text);
        let back = a.location.expect("GitLab redirects back");
        assert!(back.starts_with(&format!("{REDIRECT}?")), "{back}");
        back
    }

    /// The browser arriving at the callback GitLab redirected to (served here, not at the
    /// public URL's host).
    fn callback(&self, back: &str) -> Answer {
        let local = back.replacen(PUBLIC, &self.base, 1);
        send(self.client.get(local))
    }

    /// Start → authorize → callback; asserts the connect succeeded and returns the state used.
    fn connect(&self) -> String {
        let start = self.oauth_start();
        assert_eq!(start.status, 302, "{}", start.text);
        let back = self.authorize_at_gitlab(&start.location.unwrap());
        let a = self.callback(&back);
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["status"], "connected", "{}", a.text);
        query_of(&back)["state"].clone()
    }

    /// The failed-pipeline-trace Pipeline Hook as GitLab delivers it; returns the delivery id.
    fn deliver_failure(&self) -> i64 {
        let body = std::fs::read(
            workspace_root().join("fixtures/gitlab/failed-pipeline-trace/bodies/delivery.json"),
        )
        .unwrap();
        let a = send(
            self.client
                .post(format!("{}/api/integrations/gitlab/webhook/lab", self.base))
                .header("content-type", "application/json")
                .header("user-agent", "GitLab/18.6.0-ee")
                .header("x-gitlab-event", "Pipeline Hook")
                .header("x-gitlab-token", WEBHOOK_SECRET)
                .header("x-gitlab-instance", GITLAB_WEB)
                .header(
                    "x-gitlab-event-uuid",
                    "13792a34-cac6-4fda-95a8-c58e00a3954e",
                )
                .header("idempotency-key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f")
                .body(body),
        );
        assert_eq!(
            (a.status, a.body["status"].as_str()),
            (202, Some("queued")),
            "{}",
            a.text
        );
        a.body["delivery"].as_i64().unwrap()
    }

    fn status(&self) -> Option<(ConnectionStatus, Option<String>)> {
        self.service.token_status("lab")
    }
}

/// The one failure message in Slack names the pipeline and the trace's error.
fn assert_one_failure_message(slack: &ChatFake) {
    let posted = slack.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = all_text(&posted[0]);
    assert!(
        text.contains("https://gitlab.example.com/acme/payments-api/-/pipelines/1187654"),
        "the deep link:\n{text}"
    );
    assert!(
        text.contains("settle_partial"),
        "the trace's error:\n{text}"
    );
    slack.assert_clean();
}

#[test]
fn connect_exchanges_the_code_with_the_client_in_basic_and_stores_tokens_encrypted() {
    let world = World::new();
    let host = world.host();
    let (v, _) = host.connection_view();
    assert_eq!(
        (
            v["status"].as_str(),
            v["auth"].as_str(),
            v["provider"].as_str()
        ),
        (Some("not_connected"), Some("oauth"), Some("gitlab")),
        "{v}"
    );
    assert_eq!(host.status(), None);

    // Only an operator may start the flow.
    let a = host.get("/api/integrations/gitlab/oauth/start/lab");
    assert_eq!(a.status, 401, "{}", a.text);
    assert_eq!(world.gitlab.counts(), (0, 0, 0, 0));

    let start = host.oauth_start();
    assert_eq!(start.status, 302, "{}", start.text);
    let location = start.location.expect("a Location header");
    assert!(
        location.starts_with(&format!("{}/oauth/authorize?", world.gitlab.base)),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "api read_user");
    let state = q["state"].clone();
    assert!(state.len() >= 22, "{state}");
    assert!(
        !location.contains(CLIENT_SECRET),
        "the client secret stays out of the browser's URL"
    );

    // GitLab sends the browser back with a code and the same state.
    let back = host.authorize_at_gitlab(&location);
    let b = query_of(&back);
    assert_eq!(b["state"], state);
    assert_eq!(b["code"], "glcode-1-0e4f");

    let a = host.callback(&back);
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        (
            a.body["status"].as_str(),
            a.body["connection"].as_str(),
            a.body["user"].as_str()
        ),
        (Some("connected"), Some("lab"), Some("john_smith")),
        "{}",
        a.text
    );

    // What GitLab's token endpoint received: one form POST, the client in HTTP Basic.
    assert_eq!(world.gitlab.counts(), (1, 1, 0, 0));
    let sent = world.gitlab.token_requests();
    assert_eq!(sent.len(), 1);
    let t = &sent[0];
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(t.authorization.as_deref(), Some(&*format!("Basic {basic}")));
    assert!(
        t.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")),
        "{:?}",
        t.content_type
    );
    assert_eq!(t.field("grant_type"), Some("authorization_code"));
    assert_eq!(t.field("code"), Some("glcode-1-0e4f"));
    assert_eq!(t.field("redirect_uri"), Some(REDIRECT));
    assert_eq!(t.field("client_id"), Some(CLIENT_ID));
    assert!(
        !t.body.contains(CLIENT_SECRET) && t.field("client_secret").is_none(),
        "the secret goes in Basic only: {}",
        t.body
    );
    // The connect is confirmed with GET /user, carrying the new access token.
    assert_eq!(
        world.gitlab.api_requests(),
        vec![(
            "GET /api/v4/user".to_string(),
            Some(format!("Bearer {}", access_token(1)))
        )]
    );

    assert_eq!(host.status(), Some((ConnectionStatus::Connected, None)));
    let (v, view_text) = host.connection_view();
    assert_eq!(
        (v["status"].as_str(), v["last_error"].as_str()),
        (Some("connected"), None),
        "{v}"
    );
    // Every provider request counts against the hour's budget: the exchange and GET /user.
    assert_eq!(v["calls_used_this_hour"].as_u64(), Some(2), "{v}");

    // The tokens appear in no answer and, in clear, nowhere in the database.
    for text in [&a.text, &view_text, &location, &start.text] {
        for secret in [access_token(1), refresh_token(1), CLIENT_SECRET.into()] {
            assert!(!text.contains(&secret), "an answer shows {secret}: {text}");
        }
    }
    world.assert_db_holds_none_of(&[&access_token(1), &refresh_token(1), CLIENT_SECRET]);
    let st = host
        .service
        .accounts
        .as_ref()
        .unwrap()
        .tokens
        .status(&host.service.store, "lab")
        .unwrap()
        .expect("a token row");
    assert!(st.has_refresh_token, "GitLab's refresh token is kept");
    world.gitlab.assert_clean();
}

#[test]
fn a_failure_is_analysed_with_the_oauth_access_token_as_bearer_and_posted_to_slack() {
    failure_analysed_with_the_oauth_token(false);
}

/// GitLab's access tokens live 2 hours; one with 2 hours left is good to use as it is. The host
/// refreshes every token with less than a day left (`RefreshPolicy::default`, sized for
/// GitFlic's 30-day tokens), so every GitLab analysis starts with a refresh that rotates the
/// connection's tokens.
#[test]
fn a_fresh_gitlab_token_is_used_as_is_without_a_refresh_first() {
    failure_analysed_with_the_oauth_token(true);
}

/// Case 2. `strict`: also that the connect's own token is used, with no refresh first.
fn failure_analysed_with_the_oauth_token(strict: bool) {
    let world = World::new();
    let host = world.host();
    host.connect();
    let connect_requests = world.gitlab.requests().len();

    let id = host.deliver_failure();
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 1, "{d:?}");
    assert_one_failure_message(&world.slack);

    // The analysis: the pipeline, its failed jobs and the trace, each with the token GitLab
    // issued at the connect (2 hours left: nothing to refresh), as `Bearer`.
    let analysis: Vec<Req> = world.gitlab.requests()[connect_requests..]
        .iter()
        .filter(|r| strict || r.path().starts_with("/api/v4/"))
        .cloned()
        .collect();
    let seen: Vec<(String, Option<&str>)> = analysis
        .iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.path()),
                r.header("authorization"),
            )
        })
        .collect();
    // Strict: the connect's token; otherwise the one GitLab accepts now (the host may have
    // refreshed first), never a stale one.
    let current = if strict {
        access_token(1)
    } else {
        world.gitlab.current_access().unwrap()
    };
    let bearer = format!("Bearer {current}");
    assert_eq!(
        seen,
        vec![
            (
                "GET /api/v4/projects/4812/pipelines/1187654".to_string(),
                Some(bearer.as_str())
            ),
            (
                "GET /api/v4/projects/4812/pipelines/1187654/jobs".to_string(),
                Some(bearer.as_str())
            ),
            (
                "GET /api/v4/projects/4812/jobs/5521/trace".to_string(),
                Some(bearer.as_str())
            ),
        ]
    );
    let (authorize, exchanges, refreshes, rejected) = world.gitlab.counts();
    assert_eq!((authorize, exchanges, rejected), (1, 1, 0), "no 401");
    if strict {
        assert_eq!(refreshes, 0, "nothing to refresh with 2 hours left");
    } else {
        assert!(refreshes <= 1, "{refreshes} refreshes");
    }
    assert!(
        world.gitlab.unused().is_empty(),
        "{:?}",
        world.gitlab.unused()
    );
    world.gitlab.assert_clean();
}

#[test]
fn an_expired_access_token_is_refreshed_once_and_the_rotated_refresh_token_is_stored() {
    expired_token_refreshed(false);
}

/// A token GitLab stopped accepting before its stored expiry: the analysis meets a 401, the
/// host refreshes once and retries. With GitLab's 2-hour tokens the host refreshes before the
/// call (less than a day left), so this 401 path is never taken for GitLab today.
#[test]
fn a_rejected_access_token_is_refreshed_once_after_the_401() {
    expired_token_refreshed(true);
}

/// Case 3. `strict`: the stale token is tried first (one 401), as it should be while its
/// stored expiry is still hours away.
fn expired_token_refreshed(strict: bool) {
    let world = World::new();
    let host = world.host();
    host.connect();
    // GitLab no longer accepts the access token of the connect; its refresh token still works.
    world.gitlab.expire_access_token();
    let connect_requests = world.gitlab.requests().len();

    let id = host.deliver_failure();
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 1, "refreshed within the same attempt: {d:?}");
    assert_one_failure_message(&world.slack);

    // (One 401 for the stale token,) one refresh, then the analysis with the new token.
    let (authorize, exchanges, refreshes, rejected) = world.gitlab.counts();
    assert_eq!((authorize, exchanges, refreshes), (1, 1, 1));
    if strict {
        assert_eq!(rejected, 1, "the stale token was tried once");
    } else {
        assert!(rejected <= 1, "{rejected} calls with the stale token");
    }
    let sent = world.gitlab.token_requests();
    assert_eq!(sent.len(), 2, "the code exchange and one refresh");
    let r = &sent[1];
    assert_eq!(r.field("grant_type"), Some("refresh_token"));
    assert_eq!(r.field("refresh_token"), Some(&*refresh_token(1)));
    assert_eq!(r.field("redirect_uri"), Some(REDIRECT));
    assert_eq!(r.field("client_id"), Some(CLIENT_ID));
    assert_eq!(
        r.authorization, sent[0].authorization,
        "the client in Basic"
    );
    assert!(!r.body.contains(CLIENT_SECRET), "{}", r.body);
    let api = world.gitlab.requests()[connect_requests..]
        .iter()
        .filter(|q| q.path().starts_with("/api/v4/"))
        .map(|q| q.header("authorization").unwrap_or("").to_string())
        .collect::<Vec<_>>();
    let (stale, fresh) = (
        format!("Bearer {}", access_token(1)),
        format!("Bearer {}", access_token(2)),
    );
    let mut expected = vec![fresh.clone(), fresh.clone(), fresh];
    if rejected == 1 {
        expected.insert(0, stale);
    }
    assert_eq!(api, expected);
    assert!(
        world.gitlab.unused().is_empty(),
        "{:?}",
        world.gitlab.unused()
    );
    assert_eq!(host.status(), Some((ConnectionStatus::Connected, None)));

    // GitLab rotated the refresh token: the old one is refused from now on ...
    let old = send(
        host.client
            .post(format!("{}/oauth/token", world.gitlab.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token(1).as_str()),
                ("redirect_uri", REDIRECT),
            ]),
    );
    assert_eq!(
        (old.status, old.body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{}",
        old.text
    );
    // ... and the host stored the new one: its next refresh presents it and succeeds.
    world.gitlab.expire_access_token();
    let c = host.service.connection("lab").unwrap();
    let next = host
        .service
        .refresh_rejected_token(&c, &Secret::new(access_token(2)))
        .expect("the stored refresh token is GitLab's current one");
    assert_eq!(next.expose(), access_token(3));
    let sent = world.gitlab.token_requests();
    assert_eq!(
        sent.last().unwrap().field("refresh_token"),
        Some(&*refresh_token(2))
    );
    world.assert_db_holds_none_of(&[
        &access_token(1),
        &refresh_token(1),
        &access_token(2),
        &refresh_token(2),
        &access_token(3),
        &refresh_token(3),
    ]);
    world.gitlab.assert_clean();
}

#[test]
fn a_replayed_or_unknown_state_is_refused_and_stores_nothing() {
    let world = World::new();
    let host = world.host();

    // A state this host never issued: refused before GitLab is asked, nothing stored.
    let a =
        host.get("/api/integrations/gitlab/oauth/callback?code=glcode-1-0e4f&state=never-issued");
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.body["error"].as_str().unwrap().contains("not issued"),
        "{}",
        a.text
    );
    // A callback without a state.
    let a = host.get("/api/integrations/gitlab/oauth/callback?code=glcode-1-0e4f");
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.body["error"].as_str().unwrap().contains("missing"),
        "{}",
        a.text
    );
    assert_eq!(world.gitlab.counts(), (0, 0, 0, 0));
    assert_eq!(host.status(), None, "no tokens stored");
    let (v, _) = host.connection_view();
    assert_eq!(v["status"].as_str(), Some("not_connected"), "{v}");

    // A real connect, then its callback again (a reload, or someone replaying the URL).
    let start = host.oauth_start();
    let back = host.authorize_at_gitlab(&start.location.unwrap());
    let a = host.callback(&back);
    assert_eq!(a.status, 200, "{}", a.text);
    let before = host
        .service
        .accounts
        .as_ref()
        .unwrap()
        .tokens
        .status(&host.service.store, "lab")
        .unwrap()
        .unwrap();
    let replay = host.callback(&back);
    assert_eq!(replay.status, 400, "{}", replay.text);
    assert!(
        replay.body["error"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{}",
        replay.text
    );
    // The same state with another code: refused too.
    let state = query_of(&back)["state"].clone();
    let other = host.get(&format!(
        "/api/integrations/gitlab/oauth/callback?code=glcode-9-0e4f&state={state}"
    ));
    assert_eq!(other.status, 400, "{}", other.text);
    assert!(
        other.body["error"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{}",
        other.text
    );
    // GitLab saw one code exchange; the stored tokens are the connect's, untouched.
    assert_eq!(world.gitlab.counts(), (1, 1, 0, 0));
    let after = host
        .service
        .accounts
        .as_ref()
        .unwrap()
        .tokens
        .status(&host.service.store, "lab")
        .unwrap()
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(
        world.gitlab.current_access().as_deref(),
        Some(&*access_token(1))
    );
    world.gitlab.assert_clean();
}

/// A GitLab connection whose `[connections.oauth]` names no scopes should ask GitLab for the
/// GitLab plugin's default (`api`), not for GitFlic's scope names.
#[test]
fn without_configured_scopes_the_authorize_url_asks_for_gitlabs_default() {
    let world = World::new();
    let host = Host::start(&world.config(""), true, false);
    let start = host.oauth_start();
    assert_eq!(start.status, 302, "{}", start.text);
    let location = start.location.unwrap();
    assert_eq!(query_of(&location)["scope"], "api", "{location}");
    let back = host.authorize_at_gitlab(&location);
    assert_eq!(host.callback(&back).status, 200);
    world.gitlab.assert_clean();
}
