//! A hostile provider plugin, end to end through `serve`: third-party code that tries to leak
//! what it is handed and to mislead the people who read its results, without breaking any
//! sandbox limit (the misbehaving test plugin's `hostile` mode, tests/plugins/misbehave).
//!
//! It quotes the expected webhook secret and the whole delivery back in every answer, accepts
//! deliveries without comparing anything, refuses a refresh quoting the refresh token (and logs
//! it), links the pipeline and its jobs to a phishing page dressed up as the instance's, returns
//! 10,000 failed jobs, and prints a right-to-left override and an `@room` mention into the log. What each
//! gets:
//! - `verify-webhook` never holds the webhook secret: it compares a per-delivery stand-in
//!   (host/runtime/src/secret_stand_in.rs), so nothing it says can carry the secret;
//! - an acceptance of a delivery that presents no secret is refused with 401, nothing stored;
//! - senders read the host's fixed words, never the plugin's;
//! - the refresh token it quotes is scrubbed from the stored error, the flag, the alert;
//! - the links are dropped with a note, 20 jobs are read and the rest counted;
//! - no secret appears in any HTTP answer, log line, stored byte, metric or chat post.
//!
//! Needs the components: cargo build --target wasm32-wasip2 --profile plugin -p exlogare-test-misbehave

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::component;
use exlogare_runtime::contract;
use exlogare_runtime::http::Secret;
use exlogare_service::accounts::tokens::TokenSet;
use exlogare_service::storage::now_ms;
use fakes::*;
use running::RunningHost as Host;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::prelude::*;

const WEBHOOK_SECRET: &str = "wh-hostile-9Zq3Lm7X";
const CLIENT_SECRET: &str = "client-secret-hostile-41";
const ACCESS_TOKEN: &str = "at-hostile-Q8w2Zk55";
const REFRESH_TOKEN: &str = "rt-hostile-Pp04Xv31";
const SECRETS: [&str; 4] = [WEBHOOK_SECRET, CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN];

/// Every line this binary's services log, at every level, to scan for secrets.
fn captured_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        // Everything the host and the HTTP stack log, at every level; not the compiler's own
        // trace (in a workspace build tracing-subscriber also bridges the `log` crate, and
        // Cranelift tracing every function it compiles made a delivery miss its wait).
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || Capture(sink.clone()))
                    .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                        let t = m.target();
                        !(t.starts_with("cranelift")
                            || t.starts_with("wasmtime")
                            || t.starts_with("regalloc"))
                    })),
            )
            .init();
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A served host with one hostile connection `evil` (webhook secret, and OAuth tokens when
/// `oauth`), its failures and alerts routed to a fake Slack.
fn hostile_host(d: &Path, slack: &ChatFake, oauth: bool) -> Host {
    write_secrets(
        d,
        &[
            ("secret", WEBHOOK_SECRET),
            ("client-secret", CLIENT_SECRET),
            ("admin-token", "admin-hostile-77c1"),
            ("slack-url", &format!("{}{SLACK_PATH}", slack.base)),
        ],
    );
    let oauth_fields = if oauth {
        format!(
            "client_id = \"exlogare-test\"\nclient_secret_file = {:?}\n[connections.oauth]\nredirect_url = \"https://exlogare.example/api/integrations/misbehave/oauth/callback\"\n",
            d.join("client-secret")
        )
    } else {
        String::new()
    };
    let text = server(&admin(d))
        + &storage(d)
        + &plugins(
            &[component("exlogare-test-misbehave")],
            Some(&d.join("cache")),
        )
        + &Worker {
            threads: 1,
            max_attempts: 2,
            backoff_base_ms: 1,
            backoff_max_ms: 1,
        }
        .section()
        + &slack_notifier(d)
        + "\n[[routes]]\nconnection = \"evil\"\nnotifiers = [\"team-slack\"]\n"
        + &format!(
            r#"
[[connections]]
id = "evil"
provider = "misbehave"
web_base = "https://gitflic.ru"
api_base = "http://api.test"
oauth_base = "http://api.test"
options = {{ mode = "hostile" }}
webhook_secret_file = {:?}
{oauth_fields}
"#,
            d.join("secret")
        );
    Host::start(&write_config(d, &text), false, false)
}

fn post(host: &Host, secret: &str, answer: Option<&str>) -> (u16, Value) {
    let mut req = host
        .client
        .post(format!(
            "{}/api/integrations/misbehave/webhook/evil?secret={secret}",
            host.base
        ))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {secret}"));
    if let Some(a) = answer {
        req = req.header("x-hostile-answer", a);
    }
    let resp = req.body(r#"{"event":"PIPELINE_FAIL"}"#).send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// Fails naming the place when any secret is in `text`.
fn assert_no_secret(place: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{place} carries `{s}`: {text}");
    }
}

/// The database and its write-ahead log, byte for byte: every stored row at once.
fn stored_bytes(d: &Path) -> String {
    ["exlogare.db", "exlogare.db-wal"]
        .iter()
        .filter_map(|f| std::fs::read(d.join(f)).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect()
}

#[test]
fn a_hostile_plugin_never_holds_the_webhook_secret_and_senders_never_read_its_words() {
    let log = captured_log();
    exlogare_key();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slack = slack_fake();
    let host = hostile_host(d, &slack, false);

    // With the right secret, the plugin quotes back "the expected secret" and the delivery:
    // what it was handed is the stand-in, so the answer carries no secret.
    let (status, body) = post(&host, WEBHOOK_SECRET, Some("reject"));
    assert_eq!(status, 401, "{body}");
    assert_no_secret("a refusal", &body.to_string());
    let (status, body) = post(&host, WEBHOOK_SECRET, Some("ping"));
    assert_eq!(status, 200, "{body}");
    let ping = body["message"].as_str().unwrap();
    assert!(ping.starts_with("expected "), "the plugin's words: {ping}");
    assert_no_secret("a ping", ping);
    let (status, body) = post(&host, WEBHOOK_SECRET, Some("malformed"));
    assert_eq!(status, 400, "{body}");
    assert_no_secret("a malformed answer", &body.to_string());

    // A sender reads the host's fixed words, never the plugin's.
    let (status, body) = post(&host, "guess-1234", Some("malformed"));
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("is not a delivery the misbehave plugin can read"),
        "{error}"
    );
    assert!(
        !error.contains("expected") && !error.contains("guess-1234"),
        "{error}"
    );

    // An acceptance the secret does not back is refused, and nothing is stored.
    let (status, body) = post(&host, "guess-1234", Some("accept"));
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("carries no secret"),
        "{body}"
    );
    assert!(host.service.store.delivery(1).unwrap().is_none());

    // An honest compare with the right secret queues the failure; the "expected secret" the
    // plugin put into the event is the stand-in.
    let (status, body) = post(&host, WEBHOOK_SECRET, None);
    assert_eq!(status, 202, "{body}");
    let id = body["delivery"].as_i64().unwrap();
    let stored = host.delivery(id);
    let event: contract::FailureEvent = serde_json::from_str(&stored.event_json).unwrap();
    let git_ref = event.git_ref.unwrap();
    assert_eq!(git_ref.len(), 32, "a stand-in: {git_ref}");
    assert_ne!(git_ref, WEBHOOK_SECRET);

    let (_, _, metrics) = get(&host, "/metrics");
    assert_no_secret("/metrics", &metrics);
    assert_no_secret("the log", &String::from_utf8_lossy(&log.lock().unwrap()));
    assert_no_secret("the database", &stored_bytes(d));
}

#[test]
fn a_hostile_failure_gets_no_phishing_link_twenty_jobs_and_clean_text() {
    let log = captured_log();
    exlogare_key();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slack = slack_fake();
    let mut host = hostile_host(d, &slack, false);
    let (status, body) = post(&host, WEBHOOK_SECRET, None);
    assert_eq!(status, 202, "{body}");
    let id = body["delivery"].as_i64().unwrap();
    host.start_workers();
    host.wait_state(id, "done");

    slack.assert_clean();
    let posts = slack.posted();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let text = all_text(&posts[0]);
    assert!(
        !text.contains("evil.example"),
        "a phishing link reached Slack: {text}"
    );
    assert!(
        text.contains("pointed outside https://gitflic.ru, so it is not shown"),
        "{text}"
    );
    assert!(
        text.contains("9980 more failed jobs were not analysed"),
        "the jobs past 20 are counted: {text}"
    );
    assert!(!text.contains('\u{202e}'), "a bidi override reached Slack");
    assert!(
        !text.contains("@room"),
        "a mention reached Slack as written: {text}"
    );

    let report = host.service.store.report(id).unwrap().expect("a report");
    let message: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        message["jobs"].as_array().unwrap().len(),
        20,
        "20 jobs read"
    );
    assert!(
        !report.contains("evil.example"),
        "the stored message links out"
    );

    let (_, _, metrics) = get(&host, "/metrics");
    assert_no_secret("/metrics", &metrics);
    assert_no_secret("the Slack post", &posts[0].to_string());
    assert_no_secret("the log", &String::from_utf8_lossy(&log.lock().unwrap()));
    assert_no_secret("the database", &stored_bytes(d));
}

#[test]
fn a_refresh_token_the_plugin_quotes_reaches_no_row_room_answer_or_log() {
    let log = captured_log();
    exlogare_key();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let slack = slack_fake();
    let host = hostile_host(d, &slack, true);
    let s = &host.service;
    // Tokens as a finished OAuth flow stores them, already expired: the delivery's first step
    // is a refresh, which the plugin refuses quoting the refresh token.
    let expired = TokenSet {
        access_token: Secret::new(ACCESS_TOKEN),
        refresh_token: Some(Secret::new(REFRESH_TOKEN)),
        expires_at: Some(now_ms() - 1000),
    };
    s.accounts
        .as_ref()
        .unwrap()
        .tokens
        .save_tokens(&s.store, "evil", &expired, now_ms())
        .unwrap();
    let event = running::failed_pipeline("acme", "app", 7);
    let id = s
        .enqueue_failure("misbehave", "evil", &event, b"{}", "webhook")
        .body["delivery"]
        .as_i64()
        .unwrap();
    while s.process_next().unwrap() {}
    let d_row = host.delivery(id);
    assert_eq!(d_row.state, "parked", "{d_row:?}");
    let last_error = d_row.last_error.unwrap_or_default();
    assert!(
        last_error.contains("was refused"),
        "the words stay: {last_error}"
    );

    let flag = s
        .connection("evil")
        .unwrap()
        .needs_reconnection
        .lock()
        .unwrap()
        .clone()
        .expect("the connection needs reconnection");
    let (_, _, connections) = get_admin(&host, "/api/connections");
    let (_, _, metrics) = get(&host, "/metrics");
    let mut seen = vec![
        ("last_error", last_error),
        ("the reconnection flag", flag),
        ("/api/connections", connections),
        ("/metrics", metrics),
        ("the database", stored_bytes(d)),
        (
            "the log",
            String::from_utf8_lossy(&log.lock().unwrap()).into_owned(),
        ),
    ];
    slack.assert_clean();
    for post in slack.posted() {
        seen.push(("the Slack alert", post.to_string()));
    }
    assert!(
        seen.iter().any(|(p, _)| *p == "the Slack alert"),
        "the room hears that the connection needs reconnecting"
    );
    for (place, text) in &seen {
        assert_no_secret(place, text);
    }
}

/// The token store's key, as `serve` reads it from the environment.
fn exlogare_key() {
    static KEY: std::sync::Once = std::sync::Once::new();
    KEY.call_once(|| {
        let hex: String = (0..32).map(|i| format!("{:02x}", i * 5 + 1)).collect();
        // SAFETY: set once, before any service of this binary reads the environment.
        unsafe { std::env::set_var("EXLOGARE_TOKEN_KEY", hex) };
    });
}

fn get(host: &Host, path: &str) -> (u16, Value, String) {
    let resp = host
        .client
        .get(format!("{}{path}", host.base))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

fn get_admin(host: &Host, path: &str) -> (u16, Value, String) {
    let resp = host
        .client
        .get(format!("{}{path}", host.base))
        .header("authorization", "Bearer admin-hostile-77c1")
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}
