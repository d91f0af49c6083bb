//! Connections managed at run time, end to end on 127.0.0.1: a host whose config
//! file names no connection; an operator adds one through `POST /api/connections`, connects
//! it through OAuth against a stateful fake GitFlic, syncs projects, watches one (a hook
//! registered at the fake), receives a failure on that hook, and removes the connection (the
//! hook is removed at GitFlic, the tokens are gone, the webhook URL answers 404). What bad
//! input gets is asserted beside each step. No internet.
//!
//! Needs the GitFlic component: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/accounts_world.rs"]
mod accounts_world;
#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/gitflic_oauth.rs"]
mod gitflic_oauth;
#[path = "support/running.rs"]
mod running;

use accounts_world::{key_and_cache, oauth_gitflic_for};
use config_text::*;
use exlogare_service::accounts::stored_connections::NewConnection;
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use gitflic_oauth::*;
use running::RunningHost as Host;
use serde_json::{Value, json};
use std::path::PathBuf;

const CLIENT_ID: &str = "exlogare-conn-test";
const CLIENT_SECRET: &str = "client-secret-conn-5Tq8";
const ADMIN: &str = "admin-token-conn-Zx81";

struct World {
    dir: tempfile::TempDir,
    gitflic: OAuthGitflic,
    slack: fakes::ChatFake,
}

impl World {
    fn new() -> World {
        let gitflic = oauth_gitflic_for(
            CLIENT_ID,
            CLIENT_SECRET,
            &["failed-job-trace", "list-projects-search"],
        );
        let slack = fakes::slack_fake();
        let dir = tempfile::tempdir().unwrap();
        write_secrets(
            dir.path(),
            &[
                ("admin-token", ADMIN),
                ("slack-url", &format!("{}{}", slack.base, fakes::SLACK_PATH)),
            ],
        );
        World {
            dir,
            gitflic,
            slack,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.config_path_with("")
    }

    /// The standard config (no connection) with `tail` appended (e.g. a `[[connections]]` table).
    fn config_path_with(&self, tail: &str) -> PathBuf {
        let d = self.dir.path();
        // Every connection's failures go to Slack, including those added at run time.
        let slack = slack_notifier(d) + "\n[[routes]]\nnotifiers = [\"team-slack\"]\n";
        write_config(
            d,
            &(head(
                d,
                &admin(d),
                &Worker {
                    threads: 1,
                    ..Worker::default()
                },
                &key_and_cache(),
            ) + &slack
                + tail),
        )
    }

    fn host(&self) -> Host {
        Host::start(&self.config_path(), true, false)
    }

    /// The body that adds `id` against the fake (its roots given: it serves the API at its root).
    fn new_connection(&self, id: &str) -> Value {
        json!({
            "id": id,
            "provider": "gitflic",
            "web_base": "https://git.example.com/",
            "api_base": self.gitflic.base,
            "oauth_base": self.gitflic.base,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "allow_private": true,
            // The fake serves each failure's traffic alone (green runs: green_run.rs).
            "compare_green_runs": false,
        })
    }
}

impl Host {
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        admin: bool,
    ) -> (u16, Value, Option<String>) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if admin {
            req = req.bearer_auth(ADMIN);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            location,
        )
    }

    fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (s, b, _) = self.call(method, path, body, true);
        (s, b)
    }

    /// The failed-job-trace delivery on connection `id` with `secret` in the header and the query.
    fn deliver(&self, id: &str, secret: &str) -> (u16, Value) {
        let text = std::fs::read_to_string(
            exlogare_conformance_tests::gitflic_fixtures()
                .join("failed-job-trace/bodies/delivery.json"),
        )
        .unwrap();
        let resp = self.webhook("gitflic", id, secret, text).send().unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_str(&resp.text().unwrap()).unwrap_or(Value::Null),
        )
    }
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error message in {body}"))
}

#[test]
fn a_connection_added_through_the_api_connects_syncs_watches_receives_and_is_removed() {
    use reqwest::Method;
    let world = World::new();
    let host = world.host();

    // Without the admin token nothing is added, nothing is listed.
    let (status, body, _) = host.call(
        Method::POST,
        "/api/connections",
        Some(world.new_connection("team")),
        false,
    );
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = host.call(Method::GET, "/api/connections/team", None, false);
    assert_eq!(status, 401);
    let (status, body, _) = host.call(
        Method::POST,
        "/api/connections",
        Some(json!("not an object")),
        false,
    );
    assert_eq!(
        status, 401,
        "without the token a bad body teaches nothing: {body}"
    );

    // Bad input: each refused with what is wrong, nothing stored.
    let mut no_secret = world.new_connection("team");
    no_secret.as_object_mut().unwrap().remove("client_secret");
    let mut both = world.new_connection("team");
    both["access_token"] = json!("pat-1");
    let mut unknown_provider = world.new_connection("team");
    unknown_provider["provider"] = json!("jenkins");
    let mut bad_id = world.new_connection("team/../x");
    bad_id["id"] = json!("team/../x");
    let mut bad_root = world.new_connection("team");
    bad_root["api_base"] = json!("ftp://files.example.com");
    let mut bad_ca = world.new_connection("team");
    bad_ca["ca_pem"] =
        json!("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
    let mut typo = world.new_connection("team");
    typo["client_sercet"] = json!("x");
    for (body, expect_status, expect_text) in [
        (no_secret, 400, "client_secret"),
        (both, 400, "not both"),
        (unknown_provider, 400, "jenkins"),
        (bad_id, 400, "letters, digits"),
        (bad_root, 400, "api_base: must be an http or https URL"),
        (bad_ca, 400, "team"),
        (typo, 400, "client_sercet"),
        (json!("not an object"), 400, "JSON connection"),
    ] {
        let (status, resp) = host.admin(Method::POST, "/api/connections", Some(body.clone()));
        assert_eq!(status, expect_status, "{body} -> {resp}");
        assert!(error_of(&resp).contains(expect_text), "{body} -> {resp}");
    }
    let (_, list) = host.admin(Method::GET, "/api/connections", None);
    assert_eq!(
        list["connections"],
        json!([]),
        "nothing was stored by refused requests"
    );

    // Added: stored, not connected yet; the answer says where to connect it.
    let (status, body) = host.admin(
        Method::POST,
        "/api/connections",
        Some(world.new_connection("team")),
    );
    assert_eq!(status, 201, "{body}");
    let v = &body["connection"];
    assert_eq!(
        (
            v["id"].as_str(),
            v["origin"].as_str(),
            v["auth"].as_str(),
            v["status"].as_str(),
            v["web_base"].as_str()
        ),
        (
            Some("team"),
            Some("stored"),
            Some("oauth"),
            Some("not_connected"),
            Some("https://git.example.com")
        ),
        "{body}"
    );
    assert_eq!(
        body["connect_url"].as_str(),
        Some("https://exlogare.example/api/integrations/gitflic/oauth/start/team")
    );
    let (status, body) = host.admin(
        Method::POST,
        "/api/connections",
        Some(world.new_connection("team")),
    );
    assert_eq!(status, 409, "{body}");
    // The client secret is sealed at rest.
    for entry in std::fs::read_dir(world.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("exlogare.db")
        {
            let bytes = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(
                !bytes.contains(CLIENT_SECRET),
                "{} holds the client secret in clear",
                path.display()
            );
        }
    }

    // Before OAuth, a sync says the connection must be connected first (409, no provider call).
    let (status, body) = host.admin(Method::GET, "/api/connections/team/projects", None);
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("OAuth"), "{body}");
    assert!(world.gitflic.requests().is_empty());

    // OAuth with the client the connection was added with (the fake checks its Basic credentials).
    world
        .gitflic
        .with(|s| s.inner.code = Some("code-team".into()));
    let (status, _, location) = host.call(
        Method::GET,
        "/api/integrations/gitflic/oauth/start/team",
        None,
        true,
    );
    assert_eq!(status, 302);
    let location = location.unwrap();
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["redirect_url"],
        "https://exlogare.example/api/integrations/gitflic/oauth/callback"
    );
    let (status, body, _) = host.call(
        Method::POST,
        "/api/integrations/gitflic/oauth/callback",
        Some(json!({ "code": "code-team", "state": q["state"] })),
        false,
    );
    assert_eq!(
        (status, body["connection"].as_str()),
        (200, Some("team")),
        "{body}"
    );
    let (_, body) = host.admin(Method::GET, "/api/connections/team", None);
    assert_eq!(
        body["connection"]["status"].as_str(),
        Some("connected"),
        "{body}"
    );
    // A person whose browser lands on the callback with a stale link gets a page, not JSON.
    let resp = host
        .client
        .get(format!(
            "{}/api/integrations/gitflic/oauth/callback?code=x&state={}",
            host.base, q["state"]
        ))
        .header("accept", "text/html")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = resp.text().unwrap();
    assert!(
        page.contains("Not connected") && page.contains("already used"),
        "{page}"
    );

    // Sync, with search, over all pages.
    let (status, body) = host.admin(
        Method::GET,
        "/api/connections/team/projects?search=pay",
        None,
    );
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["project"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7, "{body}");
    assert!(
        names.contains(&"acme/payments-api") && body["projects"][0]["watched"] == json!(false),
        "{body}"
    );

    // Watch: one hook at GitFlic, pointing at the public URL, with the secret in both places.
    let (status, w) = host.admin(
        Method::PUT,
        "/api/connections/team/watches/acme/payments-api",
        None,
    );
    assert_eq!(status, 200, "{w}");
    let secret = w["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    assert_eq!(
        w["url"].as_str().unwrap(),
        format!("https://exlogare.example/api/integrations/gitflic/webhook/team?secret={secret}")
    );
    assert_eq!(
        (w["event"].as_str(), w["registration"].as_str()),
        (Some("PIPELINE_FAIL"), Some("created"))
    );
    let hooks = world.gitflic.with(|s| s.inner.hooks.clone());
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["secret"].as_str(), Some(secret.as_str()));
    let (_, body) = host.admin(Method::GET, "/api/connections/team/watches", None);
    assert_eq!(body["watched"], json!(["acme/payments-api"]));
    let (status, body) = host.admin(
        Method::PUT,
        "/api/connections/team/watches/acme/payments-api",
        Some(json!({ "manaul": true })),
    );
    assert_eq!(status, 400, "a misspelt field is refused: {body}");

    // A failure on that hook is queued and analysed with the connection's token.
    let (status, body) = host.deliver("team", &secret);
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    host.wait_state(body["delivery"].as_i64().unwrap(), "done");
    // ... and ends in the chat: one message naming the project and linking the pipeline.
    let posted = world.slack.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = fakes::all_text(&posted[0]);
    assert!(
        text.contains("acme/payments-api") && text.contains("1287"),
        "{text}"
    );
    assert!(
        text.contains("https://git.example.com/project/acme/payments-api/ci-cd/pipeline/1287"),
        "the deep link uses the connection's web base: {text}"
    );
    let (status, _) = host.deliver("team", "a-wrong-secret");
    assert_eq!(status, 401);

    // Unknown connection: 404 everywhere.
    for (method, path) in [
        (Method::GET, "/api/connections/nope"),
        (Method::DELETE, "/api/connections/nope"),
        (Method::GET, "/api/connections/nope/projects"),
        (
            Method::PUT,
            "/api/connections/nope/watches/acme/payments-api",
        ),
    ] {
        let (status, body) = host.admin(method.clone(), path, None);
        assert_eq!(status, 404, "{method} {path}: {body}");
    }

    // Removal: the hook is removed at GitFlic first, then everything of the connection.
    let (status, body) = host.admin(Method::DELETE, "/api/connections/team", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"]["unwatched"], json!(["acme/payments-api"]));
    assert!(world.gitflic.with(|s| s.inner.hooks.is_empty()));
    let (status, _) = host.admin(Method::GET, "/api/connections/team", None);
    assert_eq!(status, 404);
    let (status, body) = host.deliver("team", &secret);
    assert_eq!(status, 404, "{body}");
    assert!(
        host.service.token_status("team").is_none(),
        "the tokens are gone"
    );
    world.gitflic.assert_clean();
}

#[test]
fn a_connection_added_by_another_process_is_seen_by_the_serving_host_and_so_is_its_removal() {
    let world = World::new();
    let serving = world.host();
    // The CLI builds its own Service on the same database (what `connections add` does).
    let cli = Service::build_without_resuming(Config::load(&world.config_path()).unwrap()).unwrap();
    let new: NewConnection = serde_json::from_value(world.new_connection("side")).unwrap();
    cli.add_connection(&new).unwrap();
    let seen = serving
        .service
        .connection("side")
        .expect("the serving host sees the new connection");
    assert_eq!(seen.config.api_base, world.gitflic.base);
    assert_eq!(serving.service.connection_ids(), ["side"]);
    // The serving host's answers now include it, and its webhook URL exists (401 without a secret).
    let (status, body) = serving.deliver("side", "no-watch-has-this-secret");
    assert_eq!(status, 401, "{body}");
    cli.remove_connection("side", false).unwrap();
    assert!(
        serving.service.connection("side").is_none(),
        "the removal is seen too"
    );
    let (status, _) = serving.deliver("side", "x");
    assert_eq!(status, 404);
}

#[test]
fn a_stored_connection_sealed_with_another_key_is_unusable_not_lost_and_can_still_be_removed() {
    let world = World::new();
    let host = world.host();
    let new: NewConnection = serde_json::from_value(world.new_connection("sealed")).unwrap();
    host.service.add_connection(&new).unwrap();
    drop(host);
    // A restart with another key still starts (other connections keep serving); this one says why
    // it cannot be used, and its webhooks answer 503 (GitFlic retries) rather than 404.
    let other = exlogare_service::accounts::crypto::TokenCipher::from_key([9; 32]);
    let wrong =
        Service::build_with_cipher(Config::load(&world.config_path()).unwrap(), Some(other))
            .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(wrong.connection("sealed").is_none());
    let v = wrong.connection_view("sealed").expect("still listed");
    assert_eq!(v.status, "unusable", "{v:?}");
    assert!(
        v.last_error.as_deref().unwrap().contains("token key"),
        "{v:?}"
    );
    let reply = wrong.webhook("gitflic", "sealed", Some("secret=x"), vec![], b"{}");
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (503, Some("connection_unusable")),
        "{:?}",
        reply.body
    );
    // With the right key it is usable again: nothing was lost.
    let right =
        Service::build_without_resuming(Config::load(&world.config_path()).unwrap()).unwrap();
    assert!(right.connection("sealed").is_some());
    // And it can be removed even where it cannot be loaded.
    wrong
        .remove_connection("sealed", false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(wrong.connection_view("sealed").is_none());
    assert_eq!(
        wrong
            .webhook("gitflic", "sealed", Some("secret=x"), vec![], b"{}")
            .status,
        404
    );
    assert!(
        right.connection("sealed").is_none(),
        "the other process sees the removal"
    );
}

#[test]
fn config_file_connections_keep_their_ids_and_cannot_be_removed_through_the_api() {
    use reqwest::Method;
    let world = World::new();
    std::fs::write(world.dir.path().join("pat"), "gf-at-0\n").unwrap();
    let tail = format!(
        "[[connections]]\nid = \"cfg\"\nprovider = \"gitflic\"\nweb_base = \"https://gitflic.ru\"\napi_base = \"{api}\"\noauth_base = \"{api}\"\nallow_private = true\naccess_token_file = {pat:?}\n",
        api = world.gitflic.base,
        pat = world.dir.path().join("pat"),
    );
    let host = Host::start(&world.config_path_with(&tail), false, false);
    let (status, body) = host.admin(
        Method::POST,
        "/api/connections",
        Some(world.new_connection("cfg")),
    );
    assert_eq!(status, 409, "{body}");
    assert!(error_of(&body).contains("config file"), "{body}");
    let (status, body) = host.admin(Method::DELETE, "/api/connections/cfg", None);
    assert_eq!(status, 409, "{body}");
    let (status, body) = host.admin(Method::GET, "/api/connections/cfg", None);
    assert_eq!(
        (
            status,
            body["connection"]["origin"].as_str(),
            body["connection"]["auth"].as_str()
        ),
        (200, Some("config"), Some("static-token")),
        "{body}"
    );
    let mut zero = world.new_connection("zero");
    zero["calls_per_hour"] = json!(0);
    let (status, body) = host.admin(Method::POST, "/api/connections", Some(zero));
    assert_eq!(status, 400, "{body}");
    // A personal access token instead of OAuth: stored sealed, the connection is usable at once.
    let mut pat = world.new_connection("pat");
    for k in ["client_id", "client_secret"] {
        pat.as_object_mut().unwrap().remove(k);
    }
    pat["access_token"] = json!("gf-at-0");
    let (status, body) = host.admin(Method::POST, "/api/connections", Some(pat));
    assert_eq!(
        (
            status,
            body["connection"]["auth"].as_str(),
            body["connect_url"].as_str()
        ),
        (201, Some("static-token"), None),
        "{body}"
    );
    let (status, body) = host.admin(
        Method::GET,
        "/api/connections/pat/projects?search=pay",
        None,
    );
    assert_eq!(status, 200, "{body}");
    world.gitflic.assert_clean();
}

#[test]
fn the_roots_come_from_the_plugin_for_the_cloud_and_a_self_hosted_instance_and_can_be_overridden() {
    use reqwest::Method;
    let world = World::new();
    let host = world.host();
    let client = |id: &str| json!({ "id": id, "provider": "gitflic", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET });
    let roots = |body: &Value| {
        let v = &body["connection"];
        (
            v["web_base"].as_str().unwrap().to_string(),
            v["api_base"].as_str().unwrap().to_string(),
            v["oauth_base"].as_str().unwrap().to_string(),
        )
    };
    let own = |s: &str| s.to_string();

    // No web base: the provider's public service (GitFlic cloud), its API and OAuth hosts.
    let (status, body) = host.admin(Method::POST, "/api/connections", Some(client("cloud")));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        roots(&body),
        (
            own("https://gitflic.ru"),
            own("https://api.gitflic.ru"),
            own("https://oauth.gitflic.ru")
        )
    );

    // Self-hosted under a path prefix: REST under the instance, OAuth on the instance.
    let mut onprem = client("onprem");
    onprem["web_base"] = json!("https://git.example.com/gitflic/");
    let (status, body) = host.admin(Method::POST, "/api/connections", Some(onprem));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        roots(&body),
        (
            own("https://git.example.com/gitflic"),
            own("https://git.example.com/gitflic/rest-api"),
            own("https://git.example.com/gitflic")
        )
    );

    // An OAuth server elsewhere: the override wins, the rest is still derived.
    let mut sso = client("sso");
    sso["web_base"] = json!("https://git.example.com");
    sso["oauth_base"] = json!("https://sso.example.com/");
    let (status, body) = host.admin(Method::POST, "/api/connections", Some(sso));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        roots(&body),
        (
            own("https://git.example.com"),
            own("https://git.example.com/rest-api"),
            own("https://sso.example.com")
        )
    );

    // An override with credentials, a query or another scheme: refused, the value not echoed.
    for (field, bad) in [
        ("api_base", "https://bob:tok3n@git.example.com/rest-api"),
        ("oauth_base", "https://sso.example.com/?next=x"),
        ("api_base", "ftp://git.example.com"),
    ] {
        let mut b = client("bad");
        b["web_base"] = json!("https://git.example.com");
        b[field] = json!(bad);
        let (status, body) = host.admin(Method::POST, "/api/connections", Some(b));
        assert_eq!(status, 400, "{field}={bad}: {body}");
        assert!(
            error_of(&body).starts_with(field) && !error_of(&body).contains("tok3n"),
            "{body}"
        );
    }

    // Not a web root: the plugin's reason, naming the field.
    for bad in [
        "ftp://git.example.com",
        "https://api.gitflic.ru",
        "https://user:pw@git.example.com",
    ] {
        let mut b = client("bad");
        b["web_base"] = json!(bad);
        let (status, body) = host.admin(Method::POST, "/api/connections", Some(b));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(error_of(&body).starts_with("web_base"), "{bad}: {body}");
        assert!(
            !error_of(&body).contains("pw@"),
            "credentials are not echoed: {body}"
        );
    }
    let (_, list) = host.admin(Method::GET, "/api/connections", None);
    let ids: Vec<&str> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cloud", "onprem", "sso"]);
    assert!(
        world.gitflic.requests().is_empty(),
        "deriving roots makes no request"
    );
}

#[test]
fn config_file_connections_may_leave_their_roots_to_the_plugin() {
    let world = World::new();
    std::fs::write(world.dir.path().join("pat"), "gf-at-0\n").unwrap();
    let pat = world.dir.path().join("pat");
    let tail = format!(
        "[[connections]]\nid = \"cloud\"\nprovider = \"gitflic\"\naccess_token_file = {pat:?}\n\n[[connections]]\nid = \"corp\"\nprovider = \"gitflic\"\nweb_base = \"https://git.corp.example/\"\noauth_base = \"https://sso.corp.example\"\naccess_token_file = {pat:?}\n"
    );
    let service =
        Service::build_without_resuming(Config::load(&world.config_path_with(&tail)).unwrap())
            .unwrap();
    let roots = |id: &str| {
        let c = service.connection(id).unwrap();
        (
            c.conn.web_base.clone(),
            c.conn.api_base.clone(),
            c.conn.oauth_base.clone(),
        )
    };
    let own = |s: &str| s.to_string();
    assert_eq!(
        roots("cloud"),
        (
            own("https://gitflic.ru"),
            own("https://api.gitflic.ru"),
            own("https://oauth.gitflic.ru")
        )
    );
    assert_eq!(
        roots("corp"),
        (
            own("https://git.corp.example"),
            own("https://git.corp.example/rest-api"),
            own("https://sso.corp.example")
        )
    );
    // A web base the plugin refuses stops the start, naming the connection.
    let bad = format!(
        "[[connections]]\nid = \"bad\"\nprovider = \"gitflic\"\nweb_base = \"ftp://git.corp.example\"\naccess_token_file = {pat:?}\n"
    );
    let err =
        match Service::build_without_resuming(Config::load(&world.config_path_with(&bad)).unwrap())
        {
            Ok(_) => panic!("an ftp web base must stop the start"),
            Err(e) => format!("{e:#}"),
        };
    assert!(
        err.contains("connection `bad`") && err.contains("web_base"),
        "{err}"
    );
}

#[test]
fn a_connection_removed_during_its_oauth_flow_gets_no_tokens() {
    use reqwest::Method;
    let world = World::new();
    let host = world.host();
    world
        .gitflic
        .with(|s| s.inner.code = Some("code-late".into()));
    let (status, _) = host.admin(
        Method::POST,
        "/api/connections",
        Some(world.new_connection("late")),
    );
    assert_eq!(status, 201);
    let (_, _, location) = host.call(
        Method::GET,
        "/api/integrations/gitflic/oauth/start/late",
        None,
        true,
    );
    let location = location.unwrap();
    let state: String = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let (status, _) = host.admin(Method::DELETE, "/api/connections/late", None);
    assert_eq!(status, 200);
    // The user comes back from GitFlic: the connection is gone, so is the flow; no code exchange.
    let (status, body, _) = host.call(
        Method::POST,
        "/api/integrations/gitflic/oauth/callback",
        Some(json!({ "code": "code-late", "state": state })),
        false,
    );
    assert_eq!(status, 400, "the state went with the connection: {body}");
    assert_eq!(world.gitflic.with(|s| s.inner.exchange_calls), 0);
    assert!(host.service.token_status("late").is_none());
}
