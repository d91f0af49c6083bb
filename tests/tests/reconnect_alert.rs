//! The "needs reconnection" chat alert end to end: `Service::build` from a TOML
//! config, the real GitFlic plugin against the stateful fake GitFlic (its refresh can be
//! refused), fake Slack, Matrix and Telegram recording what they accept. Deliveries are
//! processed with `Service::process_next` on the test thread (what a worker thread runs), so
//! "after the delivery was handled" is exact and no test sleeps to prove that nothing came.
//!
//! Routes: `cloud` → Slack; any connection, `acme/*` → Matrix; `other` → Telegram. An alert
//! about `cloud` goes to Slack and Matrix (a route with no connection counts, whatever its
//! project), never to Telegram.
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

use accounts_world::{
    CLIENT_ID, DAY_MS, cloud_to_slack, key_and_cache, oauth_cloud, oauth_gitflic_for, seed_tokens,
};
use config_text::*;
use exlogare_service::accounts::alerts::AlertRecord;
use exlogare_service::accounts::tokens::ConnectionStatus;
use exlogare_service::storage::{Delivery, now_ms};
use fakes::*;
use gitflic_oauth::*;
use running::RunningHost as Host;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "wh-alerts-Xb81LmQ2";
const CLIENT_SECRET: &str = "client-secret-alerts-5";
const ADMIN_TOKEN: &str = "admin-token-alerts-0f3c9a";
const RECONNECT_URL: &str = "https://exlogare.example/api/integrations/gitflic/oauth/start/cloud";

/// A second connection, never called: an alert about `cloud` must not reach its room.
const OTHER: &str = r#"
[[connections]]
id = "other"
provider = "gitflic"
compare_green_runs = false
web_base = "http://127.0.0.1:9"
api_base = "http://127.0.0.1:9"
oauth_base = "http://127.0.0.1:9"
allow_private = true
"#;

/// The routes beside `cloud` → Slack (see the top of the file).
const ROUTES: &str = r#"
[[routes]]
project = "acme/*"
notifiers = ["ci-room"]

[[routes]]
connection = "other"
notifiers = ["ops-telegram"]
"#;

struct World {
    dir: tempfile::TempDir,
    gitflic: OAuthGitflic,
    slack: ChatFake,
    matrix: ChatFake,
    telegram: ChatFake,
}

impl World {
    fn new() -> World {
        let gitflic = oauth_gitflic_for(CLIENT_ID, CLIENT_SECRET, &["failed-job-trace"]);
        let (slack, matrix, telegram) = (slack_fake(), matrix_fake(), telegram_fake());
        let dir = tempfile::tempdir().unwrap();
        let slack_url = format!("{}{SLACK_PATH}", slack.base);
        write_secrets(
            dir.path(),
            &[
                ("webhook-secret", WEBHOOK_SECRET),
                ("client-secret", CLIENT_SECRET),
                ("admin-token", ADMIN_TOKEN),
                ("slack-url", &slack_url),
                ("matrix-token", MX_TOKEN),
                ("telegram-token", TG_TOKEN),
            ],
        );
        World {
            dir,
            gitflic,
            slack,
            matrix,
            telegram,
        }
    }

    /// The service on this world's database; workers are not started (tests call `run`).
    fn host(&self) -> Host {
        let d = self.dir.path();
        let text = head(
            d,
            &admin(d),
            &Worker {
                threads: 1,
                ..Worker::default()
            },
            &key_and_cache(),
        ) + &oauth_cloud(d, &self.gitflic.base, CLIENT_ID, "")
            + OTHER
            + &cloud_to_slack(d)
            + &matrix_notifier(d, &self.matrix.base)
            + &telegram_notifier(d, &self.telegram.base)
            + ROUTES;
        Host::start(&write_config(d, &text), false, false)
    }

    /// Every fake saw only well-formed requests, and Telegram (routed to `other`) none at all.
    fn assert_clean(&self) {
        self.gitflic.assert_clean();
        self.slack.assert_clean();
        self.matrix.assert_clean();
        self.telegram.assert_clean();
        assert!(
            self.telegram.requests().is_empty(),
            "an alert about `cloud` reached the room routed to `other`"
        );
    }

    /// The Matrix transaction ids, in order, of every PUT (repeats included).
    fn matrix_txns(&self) -> Vec<String> {
        self.matrix
            .requests()
            .iter()
            .map(|r| r.path().rsplit('/').next().unwrap().to_owned())
            .collect()
    }
}

impl Host {
    /// Handles every due delivery on this thread, as a worker would; alerts included.
    fn run(&self) {
        while self.service.process_next().unwrap() {}
    }

    /// The failed-job-trace delivery as GitFlic sends it (queued, or queued again when the
    /// same failure was parked); returns the delivery id.
    fn deliver_failure(&self) -> i64 {
        let text = std::fs::read_to_string(
            exlogare_conformance_tests::gitflic_fixtures()
                .join("failed-job-trace/bodies/delivery.json"),
        )
        .unwrap();
        let resp = self
            .webhook("gitflic", "cloud", WEBHOOK_SECRET, text)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp.json().unwrap();
        assert_eq!(
            (status, json["status"].as_str()),
            (202, Some("queued")),
            "{json}"
        );
        json["delivery"].as_i64().unwrap()
    }

    /// Delivers the failure, handles it, and checks it was parked because of the connection.
    fn deliver_and_park(&self) -> Delivery {
        let id = self.deliver_failure();
        self.run();
        let d = self.delivery(id);
        assert_eq!(d.state, "parked", "{d:?}");
        assert!(
            d.last_error
                .as_deref()
                .unwrap_or("")
                .starts_with("connection `cloud` needs reconnection"),
            "{d:?}"
        );
        d
    }

    /// Tokens valid for 20 days more.
    fn seed_tokens(&self, access: &str, refresh: &str) {
        seed_tokens(&self.service, access, refresh, now_ms() + 20 * DAY_MS);
    }

    fn alerts(&self) -> Vec<AlertRecord> {
        self.service.reconnection_alerts("cloud").unwrap()
    }

    /// `(notifier, state, attempts)` of the newest episode.
    fn sends(&self) -> Vec<(String, String, u32)> {
        self.alerts()[0]
            .sends
            .iter()
            .map(|s| (s.notifier.clone(), s.state.clone(), s.attempts))
            .collect()
    }

    /// OAuth start (an admin endpoint) and GitFlic's callback with the code the fake accepts.
    fn reconnect(&self, world: &World, code: &str) {
        world.gitflic.with(|s| s.inner.code = Some(code.into()));
        let resp = self
            .client
            .get(format!(
                "{}/api/integrations/gitflic/oauth/start/cloud",
                self.base
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let query: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        let resp = self
            .client
            .post(format!(
                "{}/api/integrations/gitflic/oauth/callback",
                self.base
            ))
            .header("content-type", "application/json")
            .body(json!({ "code": code, "state": query["state"] }).to_string())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap();
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("connected")),
            "{body}"
        );
    }
}

/// What an alert must say, in whatever markup: which connection, why, where to reconnect and
/// that the link needs the admin token; and no credential of any kind.
fn assert_alert(posted: &Value, why: &str) {
    let text = all_text(posted);
    for needle in [
        "Connection cloud (gitflic) needs reconnection",
        why,
        RECONNECT_URL,
        "admin_token",
        "https://gitflic.ru",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from the alert:\n{text}"
        );
    }
    for secret in [
        "gf-rt-",
        "gf-at-",
        "revoked-access",
        CLIENT_SECRET,
        ADMIN_TOKEN,
        WEBHOOK_SECRET,
    ] {
        assert!(
            !text.contains(secret),
            "the alert shows `{secret}`:\n{text}"
        );
    }
}

#[test]
fn a_refused_refresh_posts_one_alert_per_room_and_only_a_reconnect_rearms_it() {
    let world = World::new();
    let host = world.host();
    world.gitflic.with(|s| s.inner.refresh_ok = false);
    // The provider's valid access token is gf-at-0; the stored one was revoked, and the
    // refresh token will be refused.
    host.seed_tokens("revoked-access", "gf-rt-0");

    // A failure: the call is rejected, the one refresh refused, the delivery parked, the
    // connection flagged, and one alert in each room routed to `cloud`.
    host.deliver_and_park();
    assert_eq!(
        world
            .gitflic
            .with(|s| (s.inner.refresh_calls, s.inner.rejected_calls)),
        (1, 1)
    );
    let (status, last_error) = host.service.token_status("cloud").unwrap();
    assert_eq!(status, ConnectionStatus::NeedsReconnection);
    assert!(
        last_error
            .unwrap()
            .contains("Refresh token is invalid or expired")
    );
    let (slack, matrix) = (world.slack.posted(), world.matrix.posted());
    assert_eq!(
        (slack.len(), matrix.len()),
        (1, 1),
        "slack {slack:?}\nmatrix {matrix:?}"
    );
    assert_alert(&slack[0], "Refresh token is invalid or expired");
    assert_alert(&matrix[0], "Refresh token is invalid or expired");
    let button = slack[0]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("a Reconnect button");
    assert_eq!(
        (
            button["elements"][0]["text"]["text"].as_str(),
            button["elements"][0]["url"].as_str()
        ),
        (Some("Reconnect"), Some(RECONNECT_URL))
    );
    assert!(
        matrix[0]["formatted_body"]
            .as_str()
            .unwrap()
            .contains(&format!("<a href=\"{RECONNECT_URL}\">"))
    );
    let alerts = host.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        host.sends(),
        [
            ("ci-room".into(), "sent".into(), 1),
            ("team-slack".into(), "sent".into(), 1)
        ]
    );

    // The same failure seen again (queued again, parked again) and then a restart with another
    // one: the connection still needs reconnection, nobody is told twice.
    host.deliver_and_park();
    drop(host);
    let host = world.host();
    let parked = host.deliver_and_park();
    assert_eq!(
        (world.slack.posted().len(), world.matrix.posted().len()),
        (1, 1)
    );
    assert_eq!(
        world.gitflic.with(|s| s.inner.refresh_calls),
        1,
        "no refresh is tried until the user reconnects"
    );
    assert_eq!(host.alerts().len(), 1);

    // The user reconnects: the episode is closed...
    host.reconnect(&world, "code-1");
    assert_eq!(
        host.service.token_status("cloud").unwrap(),
        (ConnectionStatus::Connected, None)
    );
    assert!(host.alerts()[0].cleared_at.is_some(), "{:?}", host.alerts());

    // ...what it had parked is queued again with fresh attempts...
    let d = host.delivery(parked.id);
    assert_eq!((d.state.as_str(), d.attempts), ("queued", 0), "{d:?}");
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("resumed after reconnecting: connection `cloud` needs reconnection"),
        "{d:?}"
    );

    // ...so the next refused refresh alerts again, as a new message (a new Matrix txn id).
    world
        .gitflic
        .with(|s| s.inner.access = "rotated-at-the-provider".into());
    host.run();
    let d = host.delivery(parked.id);
    assert_eq!(d.state, "parked", "{d:?}");
    assert!(
        d.last_error
            .as_deref()
            .unwrap_or("")
            .starts_with("connection `cloud` needs reconnection"),
        "{d:?}"
    );
    assert_eq!(world.gitflic.with(|s| s.inner.refresh_calls), 2);
    let (slack, matrix) = (world.slack.posted(), world.matrix.posted());
    assert_eq!((slack.len(), matrix.len()), (2, 2));
    assert_alert(&slack[1], "Refresh token is invalid or expired");
    assert_alert(&matrix[1], "Refresh token is invalid or expired");
    let txns = world.matrix_txns();
    assert_eq!(txns.len(), 2);
    assert_ne!(txns[0], txns[1]);
    let alerts = host.alerts();
    assert_eq!(
        (
            alerts.len(),
            alerts[0].cleared_at,
            alerts[1].cleared_at.is_some()
        ),
        (2, None, true)
    );
    world.assert_clean();
}

#[test]
fn a_room_that_fails_transiently_gets_the_alert_at_the_next_trigger_and_matrix_never_twice() {
    let world = World::new();
    let host = world.host();
    world.gitflic.with(|s| s.inner.refresh_ok = false);
    host.seed_tokens("revoked-access", "gf-rt-0");
    // Slack answers the first alert with a 500 (nothing posted). Matrix stores the event but
    // its answer is lost (a 502 after the commit): the homeserver has it, we do not know.
    world
        .slack
        .then(reply(500, "internal_error").header("content-type", "text/plain"));
    world
        .matrix
        .then(reply(502, r#"{"errcode":"M_UNKNOWN","error":"bad gateway"}"#).after_commit());

    // First trigger: both sends are recorded `pending` with the error, not lost and not
    // `sent`; the delivery is parked all the same (a notifier never changes its fate).
    host.deliver_and_park();
    assert_eq!(
        (world.slack.posted().len(), world.matrix.posted().len()),
        (0, 1)
    );
    assert_eq!(
        host.sends(),
        [
            ("ci-room".into(), "pending".into(), 1),
            ("team-slack".into(), "pending".into(), 1)
        ]
    );
    let errors: Vec<String> = host.alerts()[0]
        .sends
        .iter()
        .map(|s| s.last_error.clone().unwrap_or_default())
        .collect();
    assert!(
        errors[0].contains("HTTP 502") && errors[1].contains("HTTP 500"),
        "{errors:?}"
    );

    // Next trigger (the failure seen again): Slack gets the alert now; Matrix is sent again
    // with the same transaction id and the homeserver returns the stored event: one message.
    host.deliver_and_park();
    assert_eq!(
        (world.slack.posted().len(), world.matrix.posted().len()),
        (1, 1)
    );
    assert_alert(
        &world.slack.posted()[0],
        "Refresh token is invalid or expired",
    );
    let txns = world.matrix_txns();
    assert_eq!(
        (txns.len(), &txns[0]),
        (2, &txns[1]),
        "the retry reuses the transaction id"
    );
    assert_eq!(
        host.sends(),
        [
            ("ci-room".into(), "sent".into(), 2),
            ("team-slack".into(), "sent".into(), 2)
        ]
    );

    // And after that, nothing more.
    host.deliver_and_park();
    assert_eq!(
        (world.slack.requests().len(), world.matrix.requests().len()),
        (2, 2)
    );
    world.assert_clean();
}

#[test]
fn a_never_connected_connection_alerts_once_and_a_refused_room_is_not_retried() {
    let world = World::new();
    let host = world.host();
    // Slack refuses for good (a revoked webhook): recorded `failed`, logged, not retried.
    world
        .slack
        .then(reply(404, "no_service").header("content-type", "text/plain"));
    host.deliver_and_park();
    let matrix = world.matrix.posted();
    assert_eq!(matrix.len(), 1);
    assert_alert(&matrix[0], "never connected: go through OAuth first");
    assert_eq!(
        host.sends(),
        [
            ("ci-room".into(), "sent".into(), 1),
            ("team-slack".into(), "failed".into(), 1)
        ]
    );
    host.deliver_and_park();
    assert_eq!(
        (world.slack.requests().len(), world.matrix.requests().len()),
        (1, 1)
    );
    assert_eq!(
        world.gitflic.requests().len(),
        0,
        "nothing was asked of GitFlic without tokens"
    );
    world.assert_clean();
}
