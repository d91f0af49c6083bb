//! The optional model step in the service, end to end on 127.0.0.1: a host configured with
//! `[analysis] model_url` pointing at a fake OpenAI-compatible server asks it once per failed
//! job during the analysis, and the posted message carries the model's summary; a model that
//! fails or answers too slowly leaves the deterministic report, posted on the first attempt.
//! The real GitFlic plugin talks to a fake GitFlic serving the `failed-job-trace` recording;
//! Slack is a fake too. No internet.
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
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use fakes::*;
use running::{RunningHost as Host, base64_encode};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WEBHOOK_SECRET: &str = "wh-model-step-9f3K2q";
const ACCESS_TOKEN: &str = "gf-access-model-step-1a2b";
const MODEL_KEY: &str = "sk-model-step-test-key-7d41";
const MODEL_NAME: &str = "fake-model";
const ANSWER: &str = "The refund handler passes an i64 where a u64 is expected; convert the amount before calling settle().";

// ---- A fake OpenAI-compatible endpoint --------------------------------------------------

/// One request the model endpoint received.
#[derive(Debug, Clone)]
struct ModelRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl ModelRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers every `POST …/chat/completions` with `status` and `body` after `delay` (the
/// shared fake server records the request before it waits, so a test can read what a slow
/// model was asked without waiting for it).
struct FakeModel {
    /// The base URL to configure (`…/v1`).
    url: String,
    fake: Fake<()>,
}

impl FakeModel {
    fn start(status: u16, body: String, delay: Duration) -> FakeModel {
        let fake = Fake::start(
            (),
            Arc::new(move |_: &Req, _: &mut Shared<()>| reply(status, body.clone()).after(delay)),
        );
        FakeModel {
            url: format!("{}/v1", fake.base),
            fake,
        }
    }

    /// A model that answers `content`.
    fn answering(content: &str) -> FakeModel {
        let body = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": content}}]}).to_string();
        FakeModel::start(200, body, Duration::ZERO)
    }

    fn requests(&self) -> Vec<ModelRequest> {
        self.fake
            .requests()
            .into_iter()
            .map(|r| ModelRequest {
                body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                method: r.method,
                target: r.target,
                headers: r.headers,
            })
            .collect()
    }
}

// ---- The world ----------------------------------------------------------------------------

struct World {
    dir: tempfile::TempDir,
    gitflic: FakeGitflic,
    slack: ChatFake,
}

impl World {
    fn new() -> World {
        let basic = base64_encode(b"unused:unused");
        let gitflic = gitflic_fake(
            ACCESS_TOKEN,
            &basic,
            load_exchanges(&gitflic_fixtures(), &["failed-job-trace"]),
        );
        let slack = slack_fake();
        let dir = tempfile::tempdir().unwrap();
        let slack_url = format!("{}{SLACK_PATH}", slack.base);
        write_secrets(
            dir.path(),
            &[
                ("webhook-secret", WEBHOOK_SECRET),
                ("access-token", ACCESS_TOKEN),
                ("slack-url", &slack_url),
                ("model-key", MODEL_KEY),
            ],
        );
        World {
            dir,
            gitflic,
            slack,
        }
    }

    /// The config: `analysis` (a whole `[analysis]` section, or nothing), one GitFlic
    /// connection on the fake, Slack for every failure.
    fn config_text(&self, analysis: &str) -> String {
        let d = self.dir.path();
        let cloud = format!(
            "options = {{ analyze_warnings = \"false\" }}\nwebhook_secret_file = {:?}\naccess_token_file = {:?}",
            d.join("webhook-secret"),
            d.join("access-token")
        );
        head(d, "", &Worker::default(), &compile_cache())
            + analysis
            + &gitflic_connection("cloud", &self.gitflic.base, &cloud)
            + &slack_notifier(d)
            + "\n[[routes]]\nnotifiers = [\"team-slack\"]\n"
    }

    /// `[analysis]` aimed at `model`, its key in the file `model-key`.
    fn analysis(&self, model: &FakeModel, timeout_secs: u64) -> String {
        format!(
            "\n[analysis]\nmodel_url = \"{}\"\nmodel = \"{MODEL_NAME}\"\nmodel_key_file = {:?}\ntimeout_secs = {timeout_secs}\n",
            model.url,
            self.dir.path().join("model-key")
        )
    }

    fn host(&self, analysis: &str) -> Host {
        Host::start(
            &write_config(self.dir.path(), &self.config_text(analysis)),
            true,
            true,
        )
    }
}

impl Host {
    /// Delivers the recorded failure and waits until its message is posted; returns the
    /// stored message (what every notifier renders).
    fn deliver_and_wait(&self) -> Value {
        let body = std::fs::read(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json"))
            .unwrap();
        let resp = self
            .webhook("gitflic", "cloud", WEBHOOK_SECRET, body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let answer: Value = resp.json().unwrap();
        assert_eq!(
            (status, answer["status"].as_str()),
            (202, Some("queued")),
            "{answer}"
        );
        let id = answer["delivery"].as_i64().unwrap();
        let d = self.wait_state(id, "done");
        assert_eq!(d.attempts, 1, "the model step never costs a retry: {d:?}");
        serde_json::from_str(
            &self
                .service
                .store
                .report(id)
                .unwrap()
                .expect("a stored report"),
        )
        .unwrap()
    }
}

/// What the Slack message must show whatever the model did: the deterministic facts.
fn assert_deterministic_parts(text: &str) {
    for needle in [
        "acme/payments-api",
        "#1287",
        "compilation",
        "cargo build --locked --all-targets",
        "error[E0308]: mismatched types",
    ] {
        assert!(
            text.contains(needle),
            "the message lacks {needle:?}:\n{text}"
        );
    }
}

// ---- Cases --------------------------------------------------------------------------------

#[test]
fn the_configured_model_is_asked_once_and_the_message_carries_its_summary() {
    let world = World::new();
    let model = FakeModel::answering(ANSWER);
    let host = world.host(&world.analysis(&model, 10));
    assert!(
        host.service.model.is_some(),
        "[analysis] model_url turns the step on"
    );

    let report = host.deliver_and_wait();
    let summary = report["jobs"][0]["summary"].as_str().unwrap();
    assert_eq!(summary, format!("{MODEL_NAME}: {ANSWER}"), "{report}");
    assert_eq!(
        report["jobs"][0]["category"], "compilation",
        "the category stays deterministic"
    );

    let posted = world.slack.posted();
    assert_eq!(posted.len(), 1);
    let text = all_text(&posted[0]);
    assert!(
        text.contains(ANSWER),
        "Slack shows the model's summary:\n{text}"
    );
    assert_deterministic_parts(&text);
    assert!(!text.contains(MODEL_KEY));

    // One call, as an OpenAI-compatible client makes it, with the key from the file.
    let asked = model.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let req = &asked[0];
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {MODEL_KEY}").as_str())
    );
    assert_eq!(req.body["model"], MODEL_NAME);
    let user = req.body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("<<<UNTRUSTED-LOG-") && user.contains("mismatched types"),
        "the fenced excerpt is sent: {user}"
    );
    assert!(!user.contains(ACCESS_TOKEN) && !user.contains(WEBHOOK_SECRET));

    // The model's URL is the host's egress, not the plugin's: the connection's policy refuses
    // it, and no provider request went there or carried its key.
    let conn = host.service.connection("cloud").unwrap();
    let refused = conn
        .policy
        .check_url(&format!("{}/chat/completions", model.url));
    assert!(
        refused.is_err(),
        "a plugin of this connection could reach the model: {refused:?}"
    );
    for r in world.gitflic.requests() {
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(MODEL_KEY)),
            "{r:?}"
        );
    }
    assert_eq!(
        world.gitflic.requests().len(),
        4,
        "the recorded traffic only"
    );
    world.gitflic.assert_clean();
    world.slack.assert_clean();
}

#[test]
fn a_failing_model_leaves_the_deterministic_report() {
    for (what, model) in [
        (
            "a 500",
            FakeModel::start(
                500,
                r#"{"error":{"message":"overloaded"}}"#.into(),
                Duration::ZERO,
            ),
        ),
        (
            "no choices",
            FakeModel::start(200, r#"{"choices":[]}"#.into(), Duration::ZERO),
        ),
        (
            "not JSON",
            FakeModel::start(200, "<html>gateway</html>".into(), Duration::ZERO),
        ),
    ] {
        let world = World::new();
        let host = world.host(&world.analysis(&model, 10));
        let report = host.deliver_and_wait();
        let summary = report["jobs"][0]["summary"].as_str().unwrap();
        assert!(
            !summary.starts_with(MODEL_NAME) && summary.contains("mismatched types"),
            "{what}: {summary}"
        );
        assert_eq!(
            model.requests().len(),
            1,
            "{what}: the model was asked once"
        );
        let posted = world.slack.posted();
        assert_eq!(posted.len(), 1, "{what}");
        assert_deterministic_parts(&all_text(&posted[0]));
        world.slack.assert_clean();
    }
}

#[test]
fn a_slow_model_is_abandoned_at_its_timeout_and_the_report_is_posted() {
    let world = World::new();
    let model = FakeModel::start(
        200,
        r#"{"choices":[{"message":{"content":"too late"}}]}"#.into(),
        Duration::from_secs(30),
    );
    let host = world.host(&world.analysis(&model, 1));
    let started = Instant::now();
    let report = host.deliver_and_wait();
    let took = started.elapsed();
    assert_eq!(model.requests().len(), 1, "the model was asked");
    assert!(
        took < Duration::from_secs(15),
        "the 1 s bound held: the message came after {took:?}, not after the model's 30 s"
    );
    let summary = report["jobs"][0]["summary"].as_str().unwrap();
    assert!(
        !summary.contains("too late") && summary.contains("mismatched types"),
        "{summary}"
    );
    assert_deterministic_parts(&all_text(&world.slack.posted()[0]));
}

#[test]
fn without_an_analysis_section_nothing_is_asked() {
    let world = World::new();
    let model = FakeModel::answering(ANSWER);
    let host = world.host("");
    assert!(host.service.model.is_none());
    let report = host.deliver_and_wait();
    assert!(
        !report["jobs"][0]["summary"]
            .as_str()
            .unwrap()
            .contains(ANSWER)
    );
    assert!(model.requests().is_empty());
}

#[test]
fn a_missing_model_key_stops_the_start_naming_it() {
    let world = World::new();
    let model = FakeModel::answering(ANSWER);
    let analysis = format!(
        "\n[analysis]\nmodel_url = \"{}\"\nmodel_key_env = \"EXLOGARE_TEST_MODEL_KEY_NOT_SET\"\n",
        model.url
    );
    let config = Config::load(&write_config(
        world.dir.path(),
        &world.config_text(&analysis),
    ))
    .unwrap();
    let err = Service::build(config).err().expect("the start fails");
    let err = format!("{err:#}");
    assert!(
        err.contains("EXLOGARE_TEST_MODEL_KEY_NOT_SET") && err.contains("[analysis]"),
        "{err}"
    );

    let analysis = format!(
        "\n[analysis]\nmodel_url = \"{}\"\nmodel_key_file = {:?}\n",
        model.url,
        world.dir.path().join("no-such-key")
    );
    let config = Config::load(&write_config(
        world.dir.path(),
        &world.config_text(&analysis),
    ))
    .unwrap();
    let err = format!(
        "{:#}",
        Service::build(config).err().expect("the start fails")
    );
    assert!(err.contains("no-such-key"), "{err}");
}
