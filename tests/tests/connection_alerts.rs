//! The connection alerts about reaching the provider, end to end through `serve`: a connection
//! whose requests this host's egress policy refuses (a GitFlic on 127.0.0.1 without
//! `allow_private`), and one whose provider does not answer (a closed port). Before, both
//! answered 202 and then parked or retried every delivery in silence; now each raises one alert
//! in its rooms, saying what is wrong and what to do, and the deliveries keep their reasons.
//!
//! Synthetic: the deliveries are the recorded failed-job-trace body; nothing is recorded of
//! GitFlic here, since no request reaches it.
//!
//! Needs the GitFlic component: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::gitflic_fixtures;
use fakes::*;
use running::RunningHost as Host;
use serde_json::Value;

const WEBHOOK_SECRET: &str = "wh-reach-3Qx7Lm2P";

/// A host whose one connection `cloud` has `api` as its API and `fields` (credentials, switches)
/// and posts to the Slack fake.
fn host(dir: &std::path::Path, slack: &ChatFake, api: &str, allow_private: bool) -> Host {
    let slack_url = format!("{}{SLACK_PATH}", slack.base);
    write_secrets(
        dir,
        &[
            ("webhook-secret", WEBHOOK_SECRET),
            ("access-token", "gf-reach-token-1"),
            ("slack-url", &slack_url),
        ],
    );
    let connection = format!(
        r#"
[[connections]]
id = "cloud"
provider = "gitflic"
compare_green_runs = false
web_base = "https://gitflic.ru"
api_base = "{api}"
oauth_base = "{api}"
allow_private = {allow_private}
webhook_secret_file = {wh:?}
access_token_file = {at:?}
"#,
        wh = dir.join("webhook-secret"),
        at = dir.join("access-token"),
    );
    let worker = Worker {
        threads: 1,
        max_attempts: 4,
        backoff_base_ms: 20,
        backoff_max_ms: 40,
    };
    let text = head(dir, "", &worker, &compile_cache())
        + &connection
        + &slack_notifier(dir)
        + "\n[[routes]]\nconnection = \"cloud\"\nnotifiers = [\"team-slack\"]\n";
    Host::start(&write_config(dir, &text), true, false)
}

/// The failed-job-trace delivery for pipeline `number`; returns its id.
fn deliver(host: &Host, number: u64) -> i64 {
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json")).unwrap(),
    )
    .unwrap();
    body["pipeline"]["local_id"] = number.into();
    body["pipeline"]["id"] = format!("uuid-{number}").into();
    let resp = host
        .webhook("gitflic", "cloud", WEBHOOK_SECRET, body.to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let json: Value = resp.json().unwrap();
    assert_eq!(json["status"], "queued", "{json}");
    json["delivery"].as_i64().unwrap()
}

#[test]
fn requests_the_egress_policy_refuses_raise_one_alert_and_park_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let slack = slack_fake();
    // A self-hosted GitFlic on a private address, and the switch forgotten.
    let host = host(dir.path(), &slack, "http://127.0.0.1:9", false);

    let first = deliver(&host, 41);
    let parked = host.wait_state(first, "parked");
    let reason = parked.last_error.unwrap_or_default();
    assert!(
        reason.contains("denied by the sandbox") && reason.contains("127.0.0.1"),
        "the parked delivery says why: {reason}"
    );
    let second = deliver(&host, 42);
    host.wait_state(second, "parked");

    // One alert for the connection, not one per delivery.
    let posted = slack.posted();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let text = all_text(&posted[0]);
    for needle in [
        "Connection cloud (gitflic) is refused by this host's egress policy",
        "allow_private = true",
        "127.0.0.1",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    assert!(!text.contains("gf-reach-token-1") && !text.contains(WEBHOOK_SECRET));
    let alerts = host.service.reconnection_alerts("cloud").unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].kind.as_str(), alerts[0].cleared_at),
        ("egress_refused", None)
    );
    slack.assert_clean();
}

#[test]
fn a_provider_that_does_not_answer_raises_one_alert_after_three_requests() {
    let dir = tempfile::tempdir().unwrap();
    let slack = slack_fake();
    // Nothing listens on the port of a listener that was bound and dropped.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let host = host(dir.path(), &slack, &api, true);

    let id = deliver(&host, 77);
    let parked = host.wait_state(id, "parked");
    let reason = parked.last_error.unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 4 attempts"),
        "retried like any outage, then parked: {reason}"
    );

    let posted = slack.posted();
    assert_eq!(
        posted.len(),
        1,
        "one alert for four failed attempts: {posted:#?}"
    );
    let text = all_text(&posted[0]);
    for needle in [
        "Connection cloud (gitflic) cannot reach its provider",
        "requests in a row got no answer",
        "reachable from this host",
        "retried with backoff",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
    assert!(!text.contains("Reconnect"), "{text}");
    let alerts = host.service.reconnection_alerts("cloud").unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, "unreachable");
    slack.assert_clean();
}
