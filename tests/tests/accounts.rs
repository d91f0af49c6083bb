//! Accounts end to end on 127.0.0.1: `Service::build` from a TOML config with an
//! OAuth connection, the axum router, worker threads, the real GitFlic plugin talking to a
//! stateful fake GitFlic (token endpoints counting calls, tokens that go stale), and a fake
//! Slack. No internet; waits poll with a bounded deadline.
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

use accounts_world::*;
use exlogare_conformance_tests::gitflic_fixtures;
use exlogare_runtime::http::Secret;
use exlogare_service::accounts::budget::Purpose;
use exlogare_service::accounts::poller;
use exlogare_service::accounts::polling::{Poller, PollerOptions};
use exlogare_service::accounts::tokens::ConnectionStatus;
use exlogare_service::storage::now_ms;
use fakes::*;
use running::{RunningHost as Host, wait_until};
use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use std::time::Duration;

impl World {
    fn host(&self) -> Host {
        self.host_with("")
    }

    /// More config after the standard one (e.g. a second connection).
    fn host_with_tail(&self, tail: &str) -> Host {
        Host::start(&self.config("", tail), true, false)
    }

    /// `extra` is added to the connection's table (e.g. `calls_per_hour = 3`).
    fn host_with(&self, extra: &str) -> Host {
        Host::start(&self.config(extra, ""), true, false)
    }
}

impl Host {
    fn send(&self, req: reqwest::blocking::RequestBuilder) -> (u16, Value, Option<String>) {
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

    fn get(&self, path: &str) -> (u16, Value, Option<String>) {
        self.send(self.client.get(format!("{}{path}", self.base)))
    }

    fn post_json(&self, path: &str, body: Value) -> (u16, Value, Option<String>) {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    /// The failed-job-trace delivery as GitFlic sends it; returns the delivery id.
    fn deliver_failure(&self) -> i64 {
        let (status, json) = self.deliver_with(WEBHOOK_SECRET, "acme", "payments-api");
        assert_eq!(
            (status, json["status"].as_str()),
            (202, Some("queued")),
            "{json}"
        );
        json["delivery"].as_i64().unwrap()
    }

    /// The failed-job-trace delivery for `owner/alias`, with `secret` in the header and the query.
    fn deliver_with(&self, secret: &str, owner: &str, alias: &str) -> (u16, Value) {
        let text = std::fs::read_to_string(
            gitflic_fixtures().join("failed-job-trace/bodies/delivery.json"),
        )
        .unwrap();
        let text = text
            .replace(
                "\"alias\": \"payments-api\"",
                &format!("\"alias\": \"{alias}\""),
            )
            .replace(
                "\"owner_alias\": \"acme\"",
                &format!("\"owner_alias\": \"{owner}\""),
            );
        let (status, json, _) = self.send(self.webhook("gitflic", "cloud", secret, text));
        (status, json)
    }

    fn seed_tokens(&self, access: &str, refresh: &str, expires_at: i64) {
        seed_tokens(&self.service, access, refresh, expires_at);
    }

    /// The `cloud` line of `GET /api/connections`.
    fn connection_view(&self) -> Value {
        let (status, body, _) = self.get("/api/connections");
        assert_eq!(status, 200, "{body}");
        body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "cloud")
            .cloned()
            .expect("cloud is listed")
    }

    fn status(&self) -> (ConnectionStatus, Option<String>) {
        self.service
            .token_status("cloud")
            .expect("the connection has tokens")
    }
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

fn state_of(location: &str) -> String {
    query_of(location)
        .get("state")
        .cloned()
        .expect("a state in the authorize URL")
}

#[test]
fn connect_via_the_callback_stores_tokens_encrypted_and_a_state_works_once() {
    let world = World::new();
    let host = world.host();
    world.gitflic.with(|s| s.inner.code = Some("code-1".into()));
    let v = host.connection_view();
    assert_eq!(
        (
            v["status"].as_str(),
            v["auth"].as_str(),
            v["calls_used_this_hour"].as_u64()
        ),
        (Some("not_connected"), Some("oauth"), Some(0)),
        "{v}"
    );

    let (status, _, location) = host.get("/api/integrations/gitflic/oauth/start/cloud");
    assert_eq!(status, 302);
    let location = location.expect("a Location header");
    assert!(
        location.starts_with(&format!("{}/oauth/authorize?", world.gitflic.base)),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["redirect_url"],
        "https://exlogare.example/api/integrations/gitflic/oauth/callback"
    );
    assert_eq!(
        q["scope"],
        "PROJECT_READ,PROJECT_WRITE,USER_READ,PROJECT_EDIT"
    );
    let state = state_of(&location);
    assert!(state.len() >= 22, "{state}");

    // GitFlic's server-to-server form.
    let (status, body, _) = host.post_json(
        "/api/integrations/gitflic/oauth/callback",
        json!({ "code": "code-1", "state": state }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["status"].as_str(),
            body["connection"].as_str(),
            body["user"].as_str()
        ),
        (Some("connected"), Some("cloud"), Some("ivan.petrov"))
    );
    assert_eq!(host.status(), (ConnectionStatus::Connected, None));
    assert_eq!(
        world
            .gitflic
            .with(|s| (s.inner.exchange_calls, s.inner.access.clone())),
        (1, "gf-at-1".to_string())
    );
    // Encrypted at rest: neither token appears anywhere in the database files (main, WAL).
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
                !bytes.contains("gf-at-1") && !bytes.contains("gf-rt-1"),
                "{} holds a token in clear",
                path.display()
            );
        }
    }
    assert!(host.service.token_status("cloud").is_some());
    // The same state again (by POST or by a browser GET), an unknown one, a missing one: 400.
    let (status, body, _) = host.post_json(
        "/api/integrations/gitflic/oauth/callback",
        json!({ "code": "code-1", "state": state }),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (status, body, _) = host.get(&format!(
        "/api/integrations/gitflic/oauth/callback?code=code-1&state={state}"
    ));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    let (status, body, _) =
        host.get("/api/integrations/gitflic/oauth/callback?code=x&state=never-issued");
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("not issued"),
        "{body}"
    );
    let (status, body, _) = host.post_json(
        "/api/integrations/gitflic/oauth/callback",
        json!({ "code": "x" }),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("missing"),
        "{body}"
    );
    let (status, _, _) = host.get("/api/integrations/gitflic/oauth/start/nope");
    assert_eq!(status, 404);
    assert_eq!(
        world.gitflic.with(|s| s.inner.exchange_calls),
        1,
        "refused states never reach the provider"
    );

    // A browser GET with a fresh state and a code the provider refuses: 400, tokens unchanged.
    let (_, _, location) = host.get("/api/integrations/gitflic/oauth/start/cloud");
    let (status, body, _) = host.get(&format!(
        "/api/integrations/gitflic/oauth/callback?code=used-code&state={}",
        state_of(&location.unwrap())
    ));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("refused the code"),
        "{body}"
    );

    // The stored token drives the analysis.
    let id = host.deliver_failure();
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 1);
    assert_eq!(world.slack.posted().len(), 1);
    assert_eq!(
        world
            .gitflic
            .with(|s| (s.inner.refresh_calls, s.inner.rejected_calls)),
        (0, 0)
    );
    // Every provider request of every path counts: 2 code exchanges, current-user, 4 for the analysis.
    let v = host.connection_view();
    assert_eq!(
        (v["status"].as_str(), v["last_error"].as_str()),
        (Some("connected"), None),
        "{v}"
    );
    assert_eq!(
        v["calls_used_this_hour"].as_u64(),
        Some(world.gitflic.requests().len() as u64),
        "{v}"
    );
    assert_eq!(
        (
            v["calls_used_this_hour"].as_u64(),
            v["calls_per_hour"].as_u64()
        ),
        (Some(7), Some(250)),
        "{v}"
    );
    world.gitflic.assert_clean();
    world.slack.assert_clean();
}

#[test]
fn the_call_budget_is_never_exceeded() {
    let world = World::new();
    let host = world.host_with("calls_per_hour = 3");
    host.seed_tokens("gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    // The analysis needs 4 requests; only 3 fit in the hour: the fourth (the log download) is
    // refused before it is sent, and the report says the log could not be fetched.
    let id = host.deliver_failure();
    host.wait_state(id, "done");
    let report = host.service.store.report(id).unwrap().expect("a report");
    assert!(
        report.contains("request budget of 3 calls per hour"),
        "{report}"
    );
    assert_eq!(
        world.gitflic.requests().len(),
        3,
        "never more than the budget"
    );
    let v = host.connection_view();
    assert_eq!(
        (
            v["calls_used_this_hour"].as_u64(),
            v["calls_per_hour"].as_u64()
        ),
        (Some(3), Some(3)),
        "{v}"
    );
    assert_eq!(
        world.slack.posted().len(),
        1,
        "the team still hears about the failure"
    );
    // Another failure while the budget is spent waits for room: queued, no attempt spent, no
    // request sent, due when the first call leaves the hour (not parked after a few retries).
    let (status, body) = host.deliver_with(WEBHOOK_SECRET, "acme", "payments-ledger");
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    let other = body["delivery"].as_i64().unwrap();
    wait_until("the worker to look at the second delivery", || {
        host.delivery(other).last_error.is_some()
    });
    let d = host.delivery(other);
    assert_eq!((d.state.as_str(), d.attempts), ("queued", 0), "{d:?}");
    assert!(
        d.last_error.as_deref().unwrap().contains("request budget"),
        "{d:?}"
    );
    assert!(
        d.next_attempt_at > now_ms() + 30 * 60 * 1000,
        "due once the first call left the hour: {d:?}"
    );
    assert_eq!(
        world.gitflic.requests().len(),
        3,
        "nothing sent while waiting"
    );
    world.gitflic.assert_clean();
}

/// A pipeline whose details alone need more requests than the hour allows will never fit:
/// waiting for room would come back every hour, spend the whole budget and be refused again.
/// It is parked at once, saying what to change, and the budget is never exceeded.
#[test]
fn a_pipeline_needing_more_than_the_whole_budget_is_parked_with_what_to_change() {
    let world = World::new();
    let host = world.host_with("calls_per_hour = 1");
    host.seed_tokens("gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let id = host.deliver_failure();
    let d = host.wait_state(id, "parked");
    let why = d.last_error.unwrap_or_default();
    assert!(
        why.contains("took all 1 provider requests") && why.contains("calls_per_hour"),
        "{why}"
    );
    assert_eq!(
        world.gitflic.requests().len(),
        1,
        "never more than the budget"
    );
    assert!(world.slack.posted().is_empty());
}

#[test]
fn a_rejected_token_is_refreshed_once_and_the_analysis_retried() {
    let world = World::new();
    let host = world.host();
    // The provider's valid tokens are gf-at-0 / gf-rt-0; the stored access token was revoked.
    host.seed_tokens("revoked-access", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let id = host.deliver_failure();
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 1, "retried within the same attempt: {d:?}");
    assert_eq!(
        world
            .gitflic
            .with(|s| (s.inner.refresh_calls, s.inner.rejected_calls)),
        (1, 1)
    );
    assert_eq!(world.slack.posted().len(), 1);
    assert_eq!(host.status(), (ConnectionStatus::Connected, None));
    // The rotated refresh token was persisted: the next refresh presents gf-rt-1.
    host.seed_tokens("revoked-again", "gf-rt-1", now_ms() + 20 * DAY_MS);
    let c = &host.service.connection("cloud").unwrap();
    let fresh = host
        .service
        .refresh_rejected_token(c, &Secret::new("revoked-again"))
        .unwrap();
    assert_eq!(fresh.expose(), "gf-at-2");
    world.gitflic.assert_clean();
    world.slack.assert_clean();
}

#[test]
fn an_expiring_token_is_refreshed_once_under_concurrent_calls() {
    let world = World::new();
    let host = world.host();
    host.seed_tokens("gf-at-0", "gf-rt-0", now_ms() + 60_000);
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (service, barrier) = (host.service.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                service
                    .connection_token(&service.connection("cloud").unwrap())
                    .unwrap()
                    .expose()
                    .to_string()
            })
        })
        .collect();
    let tokens: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(tokens.iter().all(|t| t == "gf-at-1"), "{tokens:?}");
    assert_eq!(
        world.gitflic.with(|s| s.inner.refresh_calls),
        1,
        "exactly one refresh request"
    );
    let st = host
        .service
        .accounts
        .as_ref()
        .unwrap()
        .tokens
        .status(&host.service.store, "cloud")
        .unwrap()
        .unwrap();
    assert!(
        st.expires_at > now_ms() + 29 * DAY_MS,
        "the new expiry is stored"
    );
    world.gitflic.assert_clean();
}

#[test]
fn a_refused_refresh_parks_the_delivery_and_the_connection_needs_reconnection() {
    let world = World::new();
    let host = world.host();
    world.gitflic.with(|s| s.inner.refresh_ok = false);
    host.seed_tokens("revoked-access", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let id = host.deliver_failure();
    let d = host.wait_state(id, "parked");
    let reason = d.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("connection `cloud` needs reconnection")
            && reason.contains("Refresh token is invalid"),
        "{reason}"
    );
    assert_eq!(
        world
            .gitflic
            .with(|s| (s.inner.refresh_calls, s.inner.rejected_calls)),
        (1, 1)
    );
    let (status, last_error) = host.status();
    assert_eq!(status, ConnectionStatus::NeedsReconnection);
    assert!(last_error.unwrap().contains("Refresh token is invalid"));
    assert!(
        host.service
            .connection("cloud")
            .unwrap()
            .needs_reconnection
            .lock()
            .unwrap()
            .is_some()
    );
    let v = host.connection_view();
    assert_eq!(v["status"].as_str(), Some("needs_reconnection"), "{v}");
    // And for the operator's alerting: the state set and the refused refresh in /metrics.
    let (_, metrics, _) = host.get("/metrics");
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.contains(r#"exlogare_connection_state{connection="cloud",provider="gitflic",state="needs_reconnection"} 1"#), "{metrics}");
    assert!(
        metrics
            .contains(r#"exlogare_token_refreshes_total{connection="cloud",outcome="refused"} 1"#),
        "{metrics}"
    );
    assert!(
        v["last_error"]
            .as_str()
            .unwrap()
            .contains("Refresh token is invalid"),
        "{v}"
    );
    // No failure report (nothing could be analysed), only the needs-reconnection alert.
    let posted = world.slack.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert!(
        all_text(&posted[0]).contains("Connection cloud (gitflic) needs reconnection"),
        "{}",
        all_text(&posted[0])
    );
    // No further refresh is tried until the user reconnects.
    let err = host
        .service
        .connection_token(&host.service.connection("cloud").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("needs reconnection"), "{err}");
    assert_eq!(world.gitflic.with(|s| s.inner.refresh_calls), 1);
    world.gitflic.assert_clean();
}

#[test]
fn watching_registers_one_hook_with_a_fresh_per_project_secret_that_the_service_accepts() {
    let world = World::new();
    let host = world.host();
    host.seed_tokens("gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let s = &host.service;

    let w = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example/"),
            false,
        )
        .unwrap();
    assert_eq!(
        (w.registration.as_str(), w.event),
        ("created", "PIPELINE_FAIL")
    );
    assert_eq!(w.secret.expose().len(), 64, "256 random bits, hex");
    assert_eq!(
        w.url,
        format!(
            "https://exlogare.example/api/integrations/gitflic/webhook/cloud?secret={}",
            w.secret.expose()
        )
    );
    let hooks = world.gitflic.with(|st| st.inner.hooks.clone());
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        (hooks[0]["url"].as_str(), hooks[0]["secret"].as_str()),
        (Some(w.url.as_str()), Some(w.secret.expose()))
    );
    assert_eq!(hooks[0]["events"]["PIPELINE_FAIL"], true);

    // Again: the hook is repaired in place (new secret), never duplicated; the old secret is refused.
    let w2 = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();
    assert_ne!(w2.secret.expose(), w.secret.expose());
    assert!(
        ["repaired", "reused"].contains(&w2.registration.as_str()),
        "{}",
        w2.registration
    );
    let hooks = world.gitflic.with(|st| st.inner.hooks.clone());
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["secret"].as_str(), Some(w2.secret.expose()));
    assert_eq!(s.watched_projects("cloud").unwrap(), ["acme/payments-api"]);

    let (status, body) = host.deliver_with(w.secret.expose(), "acme", "payments-api");
    assert_eq!(status, 401, "the rotated-away secret: {body}");
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("an old one of acme/payments-api's watch")
            && why.contains("watched again")
            && !why.contains(w.secret.expose()),
        "the 401 says whose secret it was and why it stopped working: {body}"
    );
    let (status, body) = host.deliver_with(w2.secret.expose(), "acme", "other-project");
    assert_eq!(
        status, 401,
        "a watch secret reports only on its project: {body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("another project"),
        "{body}"
    );
    let (status, body) = host.deliver_with(w2.secret.expose(), "acme", "payments-api");
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    host.wait_state(body["delivery"].as_i64().unwrap(), "done");
    assert_eq!(world.slack.posted().len(), 1);

    // By hand: nothing is sent to GitFlic; the printed secret is accepted.
    let before = world.gitflic.requests().len();
    let m = s.watch("cloud", "acme/tools", None, true).unwrap();
    assert_eq!(
        (m.registration.as_str(), m.webhook_id.as_deref()),
        ("manual", None)
    );
    assert!(
        m.url
            .starts_with("http://127.0.0.1:0/api/integrations/gitflic/webhook/cloud?secret="),
        "{}",
        m.url
    );
    assert_eq!(world.gitflic.requests().len(), before);
    assert_eq!(
        s.watched_projects("cloud").unwrap(),
        ["acme/payments-api", "acme/tools"]
    );
    assert_eq!(
        host.connection_view()["watched"],
        json!(["acme/payments-api", "acme/tools"])
    );
    let (status, body) = host.deliver_with(m.secret.expose(), "acme", "payments-api");
    assert_eq!(status, 401, "{body}");
    assert!(s.watch("cloud", "no-slash", None, true).is_err());

    // Unwatching removes our hook and the secret stops working.
    assert!(s.unwatch("cloud", "acme/payments-api").unwrap());
    assert!(world.gitflic.with(|st| st.inner.hooks.is_empty()));
    assert_eq!(s.watched_projects("cloud").unwrap(), ["acme/tools"]);
    let (status, body) = host.deliver_with(w2.secret.expose(), "acme", "payments-api");
    assert_eq!(status, 401, "{body}");
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("acme/payments-api's watch") && why.contains("unwatched"),
        "the 401 says the watch was removed: {body}"
    );
    // A secret this host never gave out is just wrong, and said so without guessing.
    let (status, body) = host.deliver_with("wh-never-issued-0000", "acme", "payments-api");
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not match connection `cloud`'s webhook secret"),
        "{body}"
    );
    assert!(!s.unwatch("cloud", "acme/payments-api").unwrap());
    assert!(
        s.unwatch("cloud", "acme/tools").unwrap(),
        "a hand-wired watch is forgotten without a provider call"
    );

    // GitFlic aliases are case-insensitive: another spelling is the same watch and the same hook.
    s.watch(
        "cloud",
        "acme/payments-api",
        Some("https://exlogare.example"),
        false,
    )
    .unwrap();
    let again = s
        .watch(
            "cloud",
            "ACME/Payments-API",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();
    assert_eq!(
        again.project, "acme/payments-api",
        "stored under the first spelling"
    );
    assert_eq!(s.watched_projects("cloud").unwrap(), ["acme/payments-api"]);
    assert_eq!(world.gitflic.with(|st| st.inner.hooks.len()), 1);
    assert!(s.unwatch("cloud", "Acme/PAYMENTS-api").unwrap());
    assert!(s.watched_projects("cloud").unwrap().is_empty());
    assert!(
        world.gitflic.with(|st| st.inner.hooks.is_empty()),
        "the one hook is removed"
    );
    world.gitflic.assert_clean();
}

#[test]
fn a_lost_webhook_is_caught_by_polling_and_analysed_once() {
    let world = World::new();
    world.gitflic.with(|s| s.inner.pipelines_upto = Some(1286));
    // 36000/hour with a fifth kept for the webhook path (it spent only the watch's 2 calls): one project every 125 ms.
    let host = world.host_with("calls_per_hour = 36000");
    host.seed_tokens("gf-at-0", "gf-rt-0", now_ms() + 20 * DAY_MS);
    let s = host.service.clone();
    let w = s
        .watch(
            "cloud",
            "acme/payments-api",
            Some("https://exlogare.example"),
            false,
        )
        .unwrap();
    assert_eq!(
        s.poll_interval_of("cloud", Duration::ZERO),
        Some(Duration::from_millis(125))
    );
    let poller = Poller::start_with(
        s.clone(),
        PollerOptions {
            min_interval: Duration::ZERO,
            tick: Duration::from_millis(10),
        },
    );

    // The first poll only sets the watermark to the newest pipeline.
    wait_until("the first poll", || {
        poller::watermark(&s.store, "cloud", "acme/payments-api").unwrap() == Some(1286)
    });
    assert!(s.store.deliveries_in("queued", 10).unwrap().is_empty());

    // Pipeline 1287 fails (1288 is still running); its webhook never arrives.
    world
        .gitflic
        .with(|st| st.inner.pipelines_upto = Some(1288));
    wait_until("the polled failure to be analysed and reported", || {
        s.store.deliveries_in("done", 10).unwrap().len() == 1
    });
    assert_eq!(world.slack.posted().len(), 1);
    let done = s.store.deliveries_in("done", 10).unwrap();
    assert_eq!(
        (done[0].pipeline.as_str(), done[0].source.as_str()),
        ("1287", "poll")
    );
    // The running 1288 holds the watermark just below itself.
    wait_until("the watermark at 1287", || {
        poller::watermark(&s.store, "cloud", "acme/payments-api").unwrap() == Some(1287)
    });

    // The webhook arriving late is the same failure: stored once, analysed once.
    let (status, body) = host.deliver_with(w.secret.expose(), "acme", "payments-api");
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("duplicate")),
        "{body}"
    );
    let lists_before = world.gitflic.with(|st| st.inner.pipeline_lists);
    wait_until("more polls", || {
        world.gitflic.with(|st| st.inner.pipeline_lists) >= lists_before + 2
    });
    poller.stop();
    assert_eq!(world.slack.posted().len(), 1);
    // The poller's requests (one pipeline list per poll) are spent as polling, the analysis's
    // and the watch's as the webhook path: the poll interval is planned from that split.
    let polled = world.gitflic.with(|st| st.inner.pipeline_lists);
    let (poll_spent, other_spent) = {
        let c = s.connection("cloud").unwrap();
        let mut b = c.budget.lock().unwrap();
        (
            b.used_by(Purpose::Poll, now_ms()),
            b.used_by(Purpose::Other, now_ms()),
        )
    };
    assert_eq!(
        poll_spent + 1,
        polled,
        "every pipeline list but the analysis's own (its failure details) is a poll"
    );
    assert!(
        other_spent >= 2,
        "the watch and the analysis: {other_spent}"
    );
    let v = host.connection_view();
    assert!(v["calls_used_this_hour"].as_u64().unwrap() <= 36000);
    assert_eq!(
        v["calls_used_this_hour"].as_u64(),
        Some(world.gitflic.requests().len() as u64),
        "every request is counted"
    );
    world.gitflic.assert_clean();
    world.slack.assert_clean();
}

#[test]
fn a_cloud_and_a_self_hosted_connection_side_by_side_keep_separate_tokens_and_secrets() {
    let world = World::new();
    let onprem = oauth_gitflic_for(CLIENT_ID, CLIENT_SECRET, &["failed-job-trace"]);
    world
        .gitflic
        .with(|s| s.inner.code = Some("cloud-code".into()));
    onprem.with(|s| {
        s.inner.code = Some("onprem-code".into());
        s.inner.token_prefix = "/oauth".into();
        // Its own token numbering, so a token of one never works on the other.
        s.inner.issued = 100;
    });
    let extra = format!(
        r#"
[[connections]]
id = "onprem"
provider = "gitflic"
compare_green_runs = false
web_base = "{base}"
allow_private = true
{client}
[[routes]]
connection = "onprem"
notifiers = ["team-slack"]
"#,
        base = onprem.base,
        client = oauth_client(CLIENT_ID, &world.dir.path().join("client-secret")),
    );
    // Only the instance's address is configured: the plugin derives its REST root
    // `{base}/rest-api`, and its OAuth root `{base}`, whose token endpoints live under
    // `{base}/oauth/api/token/…` (the cloud's are on oauth.gitflic.ru without that prefix).
    // The fake serves the recorded REST exchanges under that prefix.
    let (plain, under) = (
        format!("{}/project/", onprem.base),
        format!("{}/rest-api/project/", onprem.base),
    );
    onprem.with(|s| {
        for e in &mut s.inner.exchanges {
            e.path = format!("/rest-api{}", e.path);
            // Absolute links in its answers (an artifact's `downloadUrl`) are under it too.
            if let Ok(text) = std::str::from_utf8(&e.reply.body) {
                e.reply.body = text.replace(&plain, &under).into_bytes();
            }
        }
    });
    let host = world.host_with_tail(&extra);
    let connect = |conn: &str, code: &str| {
        let (status, _, location) =
            host.get(&format!("/api/integrations/gitflic/oauth/start/{conn}"));
        assert_eq!(status, 302);
        let (status, body, _) = host.post_json(
            "/api/integrations/gitflic/oauth/callback",
            json!({ "code": code, "state": state_of(&location.unwrap()) }),
        );
        assert_eq!(
            (status, body["connection"].as_str()),
            (200, Some(conn)),
            "{body}"
        );
    };
    connect("cloud", "cloud-code");
    connect("onprem", "onprem-code");
    assert_eq!(world.gitflic.with(|s| s.inner.access.clone()), "gf-at-1");
    assert_eq!(onprem.with(|s| s.inner.access.clone()), "gf-at-101");
    let s = &host.service;
    assert_eq!(
        s.connection_token(&s.connection("cloud").unwrap())
            .unwrap()
            .expose(),
        "gf-at-1"
    );
    assert_eq!(
        s.connection_token(&s.connection("onprem").unwrap())
            .unwrap()
            .expose(),
        "gf-at-101"
    );

    // Watch secrets are per connection and project: one connection's never opens the other.
    let wc = s.watch("cloud", "acme/payments-api", None, true).unwrap();
    let wo = s.watch("onprem", "acme/payments-api", None, true).unwrap();
    assert_ne!(wc.secret.expose(), wo.secret.expose());
    assert!(wo.url.contains("/webhook/onprem?secret="), "{}", wo.url);
    assert!(
        s.watch_secret_for("onprem", Some(&format!("secret={}", wc.secret.expose())))
            .is_none()
    );
    assert_eq!(
        s.watch_secret_for("onprem", Some(&format!("secret={}", wo.secret.expose())))
            .map(|(_, p)| p)
            .as_deref(),
        Some("acme/payments-api")
    );

    let (status, body, _) = host.get("/api/connections");
    assert_eq!(status, 200);
    let views = body["connections"].as_array().unwrap();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|v| v["status"] == "connected"), "{body}");
    assert!(
        views
            .iter()
            .any(|v| v["api_base"] == format!("{}/rest-api", onprem.base)
                && v["oauth_base"] == onprem.base),
        "the roots derived from the instance's address: {body}"
    );

    // A failure on the self-hosted instance goes end to end: its watch secret, its REST root,
    // its own token, one message.
    let text =
        std::fs::read_to_string(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json"))
            .unwrap();
    let resp = host
        .webhook("gitflic", "onprem", wo.secret.expose(), text.clone())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let queued: Value = resp.json().unwrap();
    host.wait_state(queued["delivery"].as_i64().unwrap(), "done");
    assert_eq!(world.slack.posted().len(), 1);
    assert!(
        onprem.requests().iter().any(|r| r.method == "GET"
            && r.path() == "/rest-api/project/acme/payments-api/cicd/pipeline"),
        "the REST calls go to the derived root"
    );
    assert!(
        onprem
            .requests()
            .iter()
            .any(|r| r.path() == "/oauth/api/token/access"),
        "the code was exchanged under the instance's /oauth"
    );
    // The self-hosted watch's secret sent to the cloud connection's URL: told whose it is.
    let resp = host
        .webhook("gitflic", "cloud", wo.secret.expose(), text)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let refused: Value = resp.json().unwrap();
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("belongs to connection `onprem`'s watch of acme/payments-api"),
        "{refused}"
    );
    world.gitflic.assert_clean();
    onprem.assert_clean();
}

#[test]
fn sync_lists_my_and_shared_projects_over_all_pages() {
    let world = World::new();
    world.gitflic.with(|s| {
        s.inner.exchanges.extend(load_exchanges(
            &gitflic_fixtures(),
            &["list-projects-search"],
        ))
    });
    let host = world.host();
    // Expired: the sync refreshes first (one refresh), then pages with the new token.
    host.seed_tokens("gf-at-0", "gf-rt-0", now_ms() - 1);
    let projects = host.service.sync_projects("cloud", Some("pay")).unwrap();
    let names: Vec<String> = projects
        .iter()
        .map(|p| format!("{}/{}", p.reference.owner, p.reference.name))
        .collect();
    assert_eq!(
        names,
        [
            "acme/payments-api",
            "acme/payments-ledger",
            "acme/pay-widget",
            "acme/payouts",
            "ivan.petrov/payday-bot",
            "acme/repayments",
            "team-core/pay-gateway"
        ]
    );
    assert_eq!(
        world
            .gitflic
            .with(|s| (s.inner.refresh_calls, s.inner.rejected_calls)),
        (1, 0)
    );
    let paths: Vec<String> = world
        .gitflic
        .requests()
        .iter()
        .map(|r| r.target.clone())
        .filter(|t| t.starts_with("/project/"))
        .collect();
    assert_eq!(
        paths,
        [
            "/project/my?q=pay&page=0&size=20",
            "/project/my?q=pay&page=1&size=20",
            "/project/shared?page=0&size=20"
        ]
    );
    world.gitflic.assert_clean();
}
