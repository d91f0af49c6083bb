//! The service end to end on 127.0.0.1 with real HTTP: `Service::build` from a TOML config,
//! the axum router serving the webhook endpoint, worker threads, the real GitFlic plugin
//! talking to a fake GitFlic that serves the recorded fixtures, and fake Slack, Telegram and
//! Matrix servers that check every request. No internet.
//!
//! Every case asserts the status code, what the JSON body says, and what got stored and sent.
//! Waits poll with a bounded deadline; nothing asserts on how long something took.
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
use exlogare_service::service::Service;
use exlogare_service::storage::now_ms;
use fakes::*;
use running::{RunningHost as Host, base64_encode, wait_until};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WEBHOOK_SECRET: &str = "wh-5Kq9vT2mXa7LpR3d";
const ACCESS_TOKEN: &str = "gf-access-test-4b8e";
const CLIENT_ID: &str = "exlogare-test";
const CLIENT_SECRET: &str = "client-secret-test-77";
const ENDPOINT: &str = "/api/integrations/gitflic/webhook/cloud";
const DEEP_LINK: &str = "https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287";

fn fixture_body(scenario: &str, file: &str) -> Vec<u8> {
    let path = gitflic_fixtures().join(scenario).join("bodies").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- The world: fakes, secrets, a database path -------------------------------------------

/// Every room hears about acme's failures on `cloud`.
const ROUTE: &str = r#"
[[routes]]
connection = "cloud"
project = "acme/*"
notifiers = ["team-slack", "ops-telegram", "ci-room"]
"#;

#[derive(Clone)]
struct Opts {
    max_body_bytes: usize,
    max_queued: u64,
    threads: usize,
    max_attempts: u32,
    backoff_base_ms: u64,
    start_workers: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            max_body_bytes: 1 << 20,
            max_queued: 100,
            threads: 2,
            max_attempts: 4,
            backoff_base_ms: 50,
            start_workers: true,
        }
    }
}

struct World {
    dir: tempfile::TempDir,
    gitflic: FakeGitflic,
    slack: ChatFake,
    telegram: ChatFake,
    matrix: ChatFake,
}

impl World {
    /// Fakes serving the exchanges of `scenarios` (earlier ones answer first).
    fn new(scenarios: &[&str]) -> World {
        let basic = base64_encode(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes());
        let gitflic = gitflic_fake(
            ACCESS_TOKEN,
            &basic,
            load_exchanges(&gitflic_fixtures(), scenarios),
        );
        let (slack, telegram, matrix) = (slack_fake(), telegram_fake(), matrix_fake());
        let dir = tempfile::tempdir().unwrap();
        let slack_url = format!("{}{SLACK_PATH}", slack.base);
        write_secrets(
            dir.path(),
            &[
                ("webhook-secret", WEBHOOK_SECRET),
                ("access-token", ACCESS_TOKEN),
                ("client-secret", CLIENT_SECRET),
                ("slack-url", &slack_url),
                ("telegram-token", TG_TOKEN),
                ("matrix-token", MX_TOKEN),
            ],
        );
        World {
            dir,
            gitflic,
            slack,
            telegram,
            matrix,
        }
    }

    fn config_text(&self, o: &Opts) -> String {
        let d = self.dir.path();
        let server = format!(
            "max_body_bytes = {}\nmax_queued = {}",
            o.max_body_bytes, o.max_queued
        );
        let worker = Worker {
            threads: o.threads,
            max_attempts: o.max_attempts,
            backoff_base_ms: o.backoff_base_ms,
            backoff_max_ms: o.backoff_base_ms * 4,
        };
        let cloud = format!(
            r#"options = {{ analyze_warnings = "false" }}
webhook_secret_file = {wh:?}
access_token_file = {at:?}
client_id = "{CLIENT_ID}"
client_secret_file = {cs:?}"#,
            wh = d.join("webhook-secret"),
            at = d.join("access-token"),
            cs = d.join("client-secret"),
        );
        head(d, &server, &worker, &compile_cache())
            + &gitflic_connection("cloud", &self.gitflic.base, &cloud)
            + &slack_notifier(d)
            + &telegram_notifier(d, &self.telegram.base)
            + &matrix_notifier(d, &self.matrix.base)
            + ROUTE
    }

    /// Builds the service on this world's database (a second call is a restart), serves it on
    /// 127.0.0.1:0 and starts the workers unless told not to.
    fn host(&self, o: Opts) -> Host {
        Host::start(
            &write_config(self.dir.path(), &self.config_text(&o)),
            o.start_workers,
            true,
        )
    }

    fn chats(&self) -> [(&'static str, &ChatFake); 3] {
        [
            ("slack", &self.slack),
            ("telegram", &self.telegram),
            ("matrix", &self.matrix),
        ]
    }

    fn assert_clean(&self) {
        self.gitflic.assert_clean();
        for (_, f) in self.chats() {
            f.assert_clean();
        }
    }

    fn posted_counts(&self) -> [usize; 3] {
        [
            self.slack.posted().len(),
            self.telegram.posted().len(),
            self.matrix.posted().len(),
        ]
    }
}

// ---- The running service ------------------------------------------------------------------

struct Answer {
    status: u16,
    json: Value,
    retry_after: Option<String>,
}

impl Host {
    fn post(&self, path_and_query: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let mut req = self
            .client
            .post(format!("{}{path_and_query}", self.base))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("POST {path_and_query}: {e}"));
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.text().unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("POST {path_and_query} answered {status} with a non-JSON body ({e}): {text}")
        });
        Answer {
            status,
            json,
            retry_after,
        }
    }

    /// A fixture delivery as GitFlic sends it: the secret in the header and the query.
    fn deliver(&self, scenario: &str, file: &str) -> Answer {
        self.post(
            &format!("{ENDPOINT}?secret={WEBHOOK_SECRET}"),
            &[
                ("content-type", "application/json"),
                ("gitflic-webhook-secret", WEBHOOK_SECRET),
            ],
            fixture_body(scenario, file),
        )
    }

    /// The failed-job-trace delivery with its `pipeline` object replaced (another pipeline, or
    /// the same one named another way), the secret in the query only.
    fn deliver_pipeline(&self, pipeline: Value) -> Answer {
        let mut body: Value =
            serde_json::from_slice(&fixture_body("failed-job-trace", "delivery.json")).unwrap();
        body["pipeline"] = pipeline;
        self.post(
            &format!("{ENDPOINT}?secret={WEBHOOK_SECRET}"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
    }

    /// The stored report (the message as JSON) of delivery `id`.
    fn report(&self, id: i64) -> Value {
        serde_json::from_str(&self.service.store.report(id).unwrap().unwrap()).unwrap()
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, ctype, resp.text().unwrap())
    }

    fn stored_count(&self) -> usize {
        ["queued", "running", "done", "parked"]
            .iter()
            .map(|s| self.service.store.deliveries_in(s, 1000).unwrap().len())
            .sum()
    }

    fn notifications(&self, id: i64) -> Vec<(String, String, u32)> {
        self.service.store.notifications_of(id).unwrap()
    }

    /// Stops the workers and the server; returns the service so a test can check nothing else
    /// holds it.
    fn shutdown(mut self) -> Arc<Service> {
        self.stop();
        self.service.clone()
    }
}

fn queued_id(a: &Answer) -> i64 {
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (202, Some("queued")),
        "{}",
        a.json
    );
    a.json["delivery"].as_i64().expect("a delivery id")
}

/// What every room must show for the failed-job-trace failure.
fn assert_failed_job_trace_message(platform: &str, msg: &Value) {
    let text = all_text(msg);
    for needle in [
        "acme/payments-api",
        "#1287",
        "main",
        "build",
        "cargo build --locked --all-targets",
        "compilation",
        "mismatched types",
        "error[E0308]: mismatched types",
        "crates/payments-api/src/handlers/refund.rs:87:35",
        DEEP_LINK,
    ] {
        assert!(
            text.contains(needle),
            "{platform}: the message lacks {needle:?}:\n{text}"
        );
    }
}

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, ""));
        (n == name
            && labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
        .then(|| value.parse().ok())?
    })
}

// ---- Cases ---------------------------------------------------------------------------------

#[test]
fn a_failure_is_stored_analysed_and_posted_once_to_each_room() {
    let world = World::new(&["failed-job-trace"]);
    let host = world.host(Opts::default());

    let a = host.deliver("failed-job-trace", "delivery.json");
    let id = queued_id(&a);
    assert_eq!(a.json["project"], "acme/payments-api");
    assert_eq!(a.json["pipeline"], "1287");
    // Stored before the answer.
    let d = host.delivery(id);
    assert_eq!(
        (
            d.provider.as_str(),
            d.connection.as_str(),
            d.project.as_str(),
            d.pipeline.as_str()
        ),
        ("gitflic", "cloud", "acme/payments-api", "1287")
    );
    assert_eq!(d.source, "webhook");

    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 1, "{d:?}");
    let report: Value = serde_json::from_str(
        &host
            .service
            .store
            .report(id)
            .unwrap()
            .expect("a stored report"),
    )
    .unwrap();
    assert_eq!(report["project"], "acme/payments-api");
    assert_eq!(report["pipeline"], "#1287");
    assert_eq!(report["git_ref"], "main");
    assert_eq!(report["deep_link"], DEEP_LINK);
    assert_eq!(report["jobs"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["jobs"][0]["name"], "build");
    assert_eq!(report["jobs"][0]["category"], "compilation");
    assert_eq!(
        report["jobs"][0]["failing_step"],
        "cargo build --locked --all-targets"
    );

    assert_eq!(world.posted_counts(), [1, 1, 1], "one message per room");
    for (platform, fake) in world.chats() {
        assert_failed_job_trace_message(platform, &fake.posted()[0]);
        assert_eq!(fake.requests().len(), 1, "{platform}: one request");
    }
    let sent: Vec<_> = host.notifications(id);
    assert_eq!(
        sent,
        vec![
            ("ci-room".into(), "sent".into(), 1),
            ("ops-telegram".into(), "sent".into(), 1),
            ("team-slack".into(), "sent".into(), 1)
        ]
    );
    // Exactly the recorded traffic, each exchange once, every one with the access token.
    assert_eq!(world.gitflic.requests().len(), 4);
    assert!(
        world.gitflic.unused().is_empty(),
        "unused exchanges: {:?}",
        world.gitflic.unused()
    );
    assert_eq!(host.stored_count(), 1);
    world.assert_clean();
}

#[test]
fn a_route_in_russian_posts_our_words_in_russian_and_the_report_as_the_log_has_it() {
    let world = World::new(&["failed-job-trace"]);
    let ru = ROUTE.replace("notifiers = [", "language = \"ru\"\nnotifiers = [");
    let text = world.config_text(&Opts::default()).replace(ROUTE, &ru);
    assert!(text.contains("language = \"ru\""), "{text}");
    let host = Host::start(&write_config(world.dir.path(), &text), true, true);

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    host.wait_state(id, "done");
    let slack = all_text(&world.slack.posted()[0]);
    for needle in [
        "Пайплайн упал: acme/payments-api #1287",
        "*Категория*\nкомпиляция, уверенность 90%",
        "Открыть пайплайн",
        // The report as the tool printed it.
        "error[E0308]: mismatched types",
        "cargo build --locked --all-targets",
    ] {
        assert!(slack.contains(needle), "{needle} missing:\n{slack}");
    }
    assert!(!slack.contains("CI failed"), "{slack}");
    world.assert_clean();
}

#[test]
fn a_ping_and_an_ignored_event_answer_200_and_store_nothing() {
    let world = World::new(&[]);
    let host = world.host(Opts::default());

    let ping = host.deliver("test-webhook", "delivery.json");
    assert_eq!(
        (ping.status, ping.json["status"].as_str()),
        (200, Some("ping")),
        "{}",
        ping.json
    );
    assert!(
        ping.json["message"]
            .as_str()
            .unwrap()
            .contains("TEST_WEBHOOK"),
        "{}",
        ping.json
    );

    let ignored = host.deliver("pipeline-success-ignored", "delivery.json");
    assert_eq!(
        (ignored.status, ignored.json["status"].as_str()),
        (200, Some("ignored")),
        "{}",
        ignored.json
    );
    assert!(
        ignored.json["reason"]
            .as_str()
            .unwrap()
            .contains("PIPELINE_SUCCESS"),
        "{}",
        ignored.json
    );

    assert_eq!(host.stored_count(), 0);
    assert!(world.gitflic.requests().is_empty());
    assert_eq!(world.posted_counts(), [0, 0, 0]);
    world.assert_clean();
}

#[test]
fn malformed_deliveries_answer_400_and_store_nothing() {
    let world = World::new(&[]);
    let host = world.host(Opts::default());
    for file in [
        "truncated.json",
        "no-action.json",
        "no-owner.json",
        "bad-local-id.json",
    ] {
        let a = host.deliver("malformed-envelope", file);
        assert_eq!(a.status, 400, "{file}: {}", a.json);
        assert_eq!(a.json["status"], "malformed", "{file}: {}", a.json);
        assert!(
            a.json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{file}: the body says what is wrong: {}",
            a.json
        );
    }
    assert_eq!(host.stored_count(), 0);
    assert!(world.gitflic.requests().is_empty());
    world.assert_clean();
}

#[test]
fn a_missing_or_wrong_secret_answers_401_and_stores_nothing() {
    let world = World::new(&[]);
    let host = world.host(Opts::default());
    let body = || fixture_body("failed-job-trace", "delivery.json");
    let json_ct = ("content-type", "application/json");

    let missing = host.post(
        &format!("{ENDPOINT}?source=gitflic"),
        &[json_ct],
        fixture_body("missing-secret", "delivery.json"),
    );
    assert_eq!(
        (missing.status, missing.json["status"].as_str()),
        (401, Some("unauthorized")),
        "{}",
        missing.json
    );
    assert!(
        missing.json["error"]
            .as_str()
            .unwrap()
            .contains("no secret"),
        "{}",
        missing.json
    );

    let wrong_header = host.post(
        ENDPOINT,
        &[json_ct, ("gitflic-webhook-secret", "wh-guessed-0000")],
        body(),
    );
    assert_eq!(
        (wrong_header.status, wrong_header.json["status"].as_str()),
        (401, Some("unauthorized")),
        "{}",
        wrong_header.json
    );
    assert!(
        wrong_header.json["error"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{}",
        wrong_header.json
    );

    let wrong_query = host.post(
        &format!("{ENDPOINT}?secret=wh-5Kq9vT2mXa7LpR3"),
        &[json_ct],
        body(),
    );
    assert_eq!(
        (wrong_query.status, wrong_query.json["status"].as_str()),
        (401, Some("unauthorized")),
        "{}",
        wrong_query.json
    );
    assert!(
        wrong_query.json["error"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{}",
        wrong_query.json
    );

    for a in [&missing, &wrong_header, &wrong_query] {
        assert!(
            !a.json.to_string().contains(WEBHOOK_SECRET),
            "the answer must not reveal the secret: {}",
            a.json
        );
    }
    assert_eq!(host.stored_count(), 0);
    assert!(world.gitflic.requests().is_empty());
    world.assert_clean();
}

#[test]
fn an_unknown_connection_or_provider_answers_404() {
    let world = World::new(&[]);
    let host = world.host(Opts::default());
    let headers = [
        ("content-type", "application/json"),
        ("gitflic-webhook-secret", WEBHOOK_SECRET),
    ];
    let body = || fixture_body("failed-job-trace", "delivery.json");

    let conn = host.post(
        &format!("/api/integrations/gitflic/webhook/nope?secret={WEBHOOK_SECRET}"),
        &headers,
        body(),
    );
    assert_eq!(conn.status, 404, "{}", conn.json);
    let e = conn.json["error"].as_str().unwrap();
    assert!(
        e.contains("connection `nope`"),
        "the error names the unknown connection: {e}"
    );

    let provider = host.post(
        &format!("/api/integrations/gitlab/webhook/cloud?secret={WEBHOOK_SECRET}"),
        &headers,
        body(),
    );
    assert_eq!(provider.status, 404, "{}", provider.json);
    let e = provider.json["error"].as_str().unwrap();
    assert!(
        e.contains("provider `gitlab`"),
        "the error names the unknown provider: {e}"
    );

    assert_eq!(host.stored_count(), 0);
    world.assert_clean();
}

#[test]
fn a_body_over_the_cap_answers_413() {
    let world = World::new(&[]);
    let host = world.host(Opts {
        max_body_bytes: 256,
        ..Opts::default()
    });

    let body = fixture_body("failed-job-trace", "delivery.json");
    assert!(body.len() > 256);
    let over = host.deliver("failed-job-trace", "delivery.json");
    assert_eq!(over.status, 413, "{}", over.json);
    let e = over.json["error"].as_str().unwrap();
    assert!(
        e.contains("limit is 256") && e.contains(&body.len().to_string()),
        "the error gives the size and the cap: {e}"
    );

    // Far past the cap: cut off by the server's hard limit, still a JSON 413.
    let huge = host.post(
        &format!("{ENDPOINT}?secret={WEBHOOK_SECRET}"),
        &[
            ("content-type", "application/json"),
            ("gitflic-webhook-secret", WEBHOOK_SECRET),
        ],
        vec![b' '; 200 * 1024],
    );
    assert_eq!(huge.status, 413, "{}", huge.json);
    assert!(
        huge.json["error"]
            .as_str()
            .unwrap()
            .contains("over the limit of 256 bytes"),
        "{}",
        huge.json
    );

    assert_eq!(host.stored_count(), 0);
    world.assert_clean();
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let world = World::new(&[]);
    let host = world.host(Opts {
        max_queued: 1,
        start_workers: false,
        ..Opts::default()
    });

    let first = host.deliver("failed-job-trace", "delivery.json");
    let id = queued_id(&first);

    let second = host.deliver("log-artifact-fallback", "delivery.json");
    assert_eq!(
        (second.status, second.json["status"].as_str()),
        (503, Some("queue_full")),
        "{}",
        second.json
    );
    assert!(
        second.json["error"]
            .as_str()
            .unwrap()
            .contains("retry later"),
        "{}",
        second.json
    );
    assert_eq!(second.retry_after.as_deref(), Some("60"));

    // A failure that is already stored is not new work: acknowledged even with the queue full.
    let again = host.deliver("failed-job-trace", "delivery.json");
    assert_eq!(
        (again.status, again.json["status"].as_str()),
        (202, Some("duplicate")),
        "{}",
        again.json
    );
    assert_eq!(again.json["delivery"], id);

    assert_eq!(host.stored_count(), 1);
    assert_eq!(host.service.store.queue_depth().unwrap(), 1);
    assert!(world.gitflic.requests().is_empty(), "no worker ran");
    world.assert_clean();
}

#[test]
fn the_same_failure_delivered_twice_is_analysed_once_and_posted_once_per_room() {
    let world = World::new(&["failed-job-trace"]);
    let host = world.host(Opts::default());

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    // GitFlic redelivers (here with the secret only in the query).
    let again = host.post(
        &format!("{ENDPOINT}?secret={WEBHOOK_SECRET}"),
        &[("content-type", "application/json")],
        fixture_body("secret-query-only", "delivery.json"),
    );
    assert_eq!(
        (again.status, again.json["status"].as_str()),
        (202, Some("duplicate")),
        "{}",
        again.json
    );
    assert_eq!(again.json["delivery"], id);

    host.wait_state(id, "done");
    // And once more after the analysis and the messages.
    let late = host.deliver("failed-job-trace", "delivery.json");
    assert_eq!(
        (late.status, late.json["delivery"].as_i64()),
        (202, Some(id)),
        "{}",
        late.json
    );
    assert_eq!(late.json["status"], "duplicate");

    // A redelivery that names the pipeline only by its UUID, or only by its number, is still
    // the same failure (GitFlic's release notes: key on the UUID as well as the localId).
    for pipeline in [
        json!({ "id": "12798c04-3b8d-5445-a590-6c80448d7e4a" }),
        json!({ "local_id": 1287 }),
    ] {
        let again = host.deliver_pipeline(pipeline);
        assert_eq!(
            (
                again.status,
                again.json["status"].as_str(),
                again.json["delivery"].as_i64()
            ),
            (202, Some("duplicate"), Some(id)),
            "{}",
            again.json
        );
    }

    assert_eq!(host.stored_count(), 1);
    assert_eq!(
        world.gitflic.calls(
            "GET",
            "/project/acme/payments-api/cicd/pipeline/1287/jobs?page=0&size=100"
        ),
        1,
        "one analysis"
    );
    assert_eq!(world.posted_counts(), [1, 1, 1], "one message per room");
    for (platform, fake) in world.chats() {
        assert_eq!(fake.requests().len(), 1, "{platform}: one request");
    }
    world.assert_clean();
}

#[test]
fn a_gitflic_500_is_retried_and_the_failure_still_delivered() {
    // The recorded 500 on the jobs list (a Java NPE as text), then the good recording.
    let world = World::new(&["gitflic-500", "failed-job-trace"]);
    let host = world.host(Opts::default());

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 2, "one failed attempt, one good one: {d:?}");

    assert_eq!(
        world.gitflic.calls(
            "GET",
            "/project/acme/payments-api/cicd/pipeline/1287/jobs?page=0&size=100"
        ),
        2,
        "the jobs list was asked twice"
    );
    assert_eq!(world.posted_counts(), [1, 1, 1]);
    for (platform, fake) in world.chats() {
        assert_failed_job_trace_message(platform, &fake.posted()[0]);
    }
    // Only the 502 on the webhook list (another step of that scenario) is left unused.
    let unused = world.gitflic.unused();
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert!(unused[0].contains("setting/webhook"), "{unused:?}");

    let (_, _, metrics) = host.get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            "exlogare_provider_requests_total",
            &[("provider", "gitflic"), ("status", "500")]
        ),
        Some(1.0),
        "{metrics}"
    );
    world.assert_clean();
}

#[test]
fn a_429_is_retried_no_sooner_than_retry_after() {
    let world = World::new(&["failed-job-trace"]);
    world.gitflic.answer_first(Exchange::new(
        "GET",
        "/project/acme/payments-api/cicd/pipeline?page=0&size=20",
        reply(429, "Too Many Requests")
            .header("content-type", "text/plain")
            .header("retry-after", "1"),
    ));
    let host = world.host(Opts::default());

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 2, "{d:?}");
    let list: Vec<Instant> = world
        .gitflic
        .requests()
        .iter()
        .filter(|r| r.path() == "/project/acme/payments-api/cicd/pipeline")
        .map(|r| r.at)
        .collect();
    assert_eq!(list.len(), 2);
    assert!(
        list[1] - list[0] >= Duration::from_secs(1),
        "Retry-After: 1 was honoured (waited {:?})",
        list[1] - list[0]
    );
    assert_eq!(world.posted_counts(), [1, 1, 1]);
    assert!(world.gitflic.unused().is_empty());
    world.assert_clean();
}

#[test]
fn a_restart_resumes_deliveries_in_flight_and_posts_each_once() {
    let world = World::new(&["failed-job-trace", "log-artifact-fallback"]);
    let opts = Opts {
        start_workers: false,
        ..Opts::default()
    };

    // First run: two failures stored; a worker claims one and the process dies mid-analysis.
    let first = world.host(opts.clone());
    let a = queued_id(&first.deliver("failed-job-trace", "delivery.json"));
    let b = queued_id(&first.deliver("log-artifact-fallback", "delivery.json"));
    let claimed = first
        .service
        .store
        .claim_due(now_ms())
        .unwrap()
        .expect("a due delivery");
    assert_eq!(claimed.id, a);
    assert_eq!(first.delivery(a).state, "running");
    assert_eq!(first.delivery(b).state, "queued");
    let service = first.shutdown();
    assert_eq!(
        Arc::strong_count(&service),
        1,
        "nothing else holds the first service"
    );
    drop(service);
    assert_eq!(world.posted_counts(), [0, 0, 0]);
    assert!(world.gitflic.requests().is_empty());

    // Second run on the same database: what was running is queued again, then both are done.
    let second = world.host(Opts {
        start_workers: true,
        ..opts
    });
    let da = second.wait_state(a, "done");
    let db = second.wait_state(b, "done");
    assert_eq!(da.attempts, 2, "the interrupted claim counts: {da:?}");
    assert_eq!(db.attempts, 1, "{db:?}");

    assert_eq!(
        world.posted_counts(),
        [2, 2, 2],
        "one message per failure per room"
    );
    for (platform, fake) in world.chats() {
        let texts: Vec<String> = fake.posted().iter().map(all_text).collect();
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.contains("acme/payments-api"))
                .count(),
            1,
            "{platform}: {texts:?}"
        );
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.contains("acme/billing-service"))
                .count(),
            1,
            "{platform}: {texts:?}"
        );
    }
    for id in [a, b] {
        assert!(
            second
                .notifications(id)
                .iter()
                .all(|(_, state, attempts)| state == "sent" && *attempts == 1),
            "{:?}",
            second.notifications(id)
        );
    }
    assert!(
        world.gitflic.unused().is_empty(),
        "{:?}",
        world.gitflic.unused()
    );
    world.assert_clean();
}

#[test]
fn rejected_credentials_park_the_delivery_and_flag_the_connection() {
    let world = World::new(&["token-rejected"]);
    let host = world.host(Opts::default());

    let id = queued_id(&host.deliver("token-rejected", "delivery.json"));
    let d = host.wait_state(id, "parked");
    let reason = d.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("credentials rejected") && reason.contains("reconnect connection `cloud`"),
        "{reason}"
    );
    assert!(
        !reason.contains(ACCESS_TOKEN),
        "the reason must not carry the token: {reason}"
    );
    let flag = host
        .service
        .connection("cloud")
        .unwrap()
        .needs_reconnection
        .lock()
        .unwrap()
        .clone();
    assert!(
        flag.as_deref().is_some_and(|m| m.contains("403")),
        "the connection is flagged: {flag:?}"
    );

    assert_eq!(
        world.gitflic.calls(
            "GET",
            "/project/acme/payments-api/cicd/pipeline?page=0&size=20"
        ),
        1,
        "no retry with a rejected token"
    );
    // No failure report; each room is told once that the token must be replaced.
    assert_eq!(world.posted_counts(), [1, 1, 1]);
    assert!(
        all_text(&world.slack.posted()[0]).contains("replace the token"),
        "{}",
        all_text(&world.slack.posted()[0])
    );
    assert!(host.service.store.report(id).unwrap().is_none());
    world.assert_clean();
}

#[test]
fn secrets_a_provider_or_plugin_echoes_back_reach_no_row_room_or_answer() {
    // A provider (or a plugin passing its words on) that puts the connection's secrets in an
    // error body, as they are, without any credential-like shape: synthetic, on the
    // token-rejected scenario's recorded 403.
    let world = World::new(&["token-rejected"]);
    let echo = format!(
        "{{\"status\":403,\"error\":\"token {ACCESS_TOKEN} is not valid for client {CLIENT_SECRET}; hook {WEBHOOK_SECRET}\"}}"
    );
    world.gitflic.answer_first(Exchange::new(
        "GET",
        "/project/acme/payments-api/cicd/pipeline?page=0&size=20",
        reply(403, echo).header("content-type", "application/json"),
    ));
    let host = world.host(Opts::default());
    let id = queued_id(&host.deliver("token-rejected", "delivery.json"));
    let d = host.wait_state(id, "parked");
    let flag = host
        .service
        .connection("cloud")
        .unwrap()
        .needs_reconnection
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_default();
    let (_, _, metrics) = host.get("/metrics");
    let mut seen = vec![
        ("last_error", d.last_error.clone().unwrap_or_default()),
        ("needs_reconnection", flag.clone()),
        ("metrics", metrics),
    ];
    for (platform, fake) in world.chats() {
        for post in fake.posted() {
            seen.push((platform, post.to_string()));
        }
    }
    assert!(
        d.last_error.unwrap().contains("is not valid for client"),
        "the words stay"
    );
    for (place, text) in &seen {
        for secret in [ACCESS_TOKEN, CLIENT_SECRET, WEBHOOK_SECRET] {
            assert!(!text.contains(secret), "{place} carries a secret: {text}");
        }
    }
    assert_eq!(world.posted_counts(), [1, 1, 1], "the rooms still hear why");
}

#[test]
fn a_notifier_answering_500_once_is_retried_and_each_room_gets_one_message() {
    let world = World::new(&["failed-job-trace"]);
    world
        .slack
        .then(reply(500, "internal_error").header("content-type", "text/plain"));
    // The homeserver stores the event, then the answer is lost: the retry's txn id dedupes it.
    world.matrix.then(
        reply(
            500,
            json!({"errcode": "M_UNKNOWN", "error": "lost"}).to_string(),
        )
        .after_commit(),
    );
    let host = world.host(Opts::default());

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 2, "{d:?}");

    assert_eq!(world.posted_counts(), [1, 1, 1], "one message per room");
    assert_eq!(
        world.slack.requests().len(),
        2,
        "Slack: the 500, then the message"
    );
    assert_eq!(
        world.telegram.requests().len(),
        1,
        "Telegram succeeded first time and is not sent again"
    );
    let mx = world.matrix.requests();
    assert_eq!(mx.len(), 2);
    assert_eq!(
        mx[0].target, mx[1].target,
        "the Matrix retry reuses the transaction id"
    );
    for (platform, fake) in world.chats() {
        assert_failed_job_trace_message(platform, &fake.posted()[0]);
    }
    assert_eq!(
        host.notifications(id),
        vec![
            ("ci-room".into(), "sent".into(), 2),
            ("ops-telegram".into(), "sent".into(), 1),
            ("team-slack".into(), "sent".into(), 2)
        ]
    );
    // The report was kept: the retry did not analyse again.
    assert_eq!(world.gitflic.requests().len(), 4);

    let (_, _, metrics) = host.get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            "exlogare_notifications_total",
            &[("notifier", "team-slack"), ("outcome", "transient")]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "exlogare_notifications_total",
            &[("notifier", "team-slack"), ("outcome", "sent")]
        ),
        Some(1.0),
        "{metrics}"
    );
    world.assert_clean();
}

#[test]
fn healthz_and_metrics_report_the_service() {
    let world = World::new(&["failed-job-trace"]);
    let host = world.host(Opts::default());

    let (status, _, body) = host.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        health,
        json!({"status": "ok", "providers": ["gitflic"], "connections": 1, "queue_depth": 0})
    );

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    assert_eq!(host.deliver("test-webhook", "delivery.json").status, 200);
    assert_eq!(
        host.post(
            ENDPOINT,
            &[("content-type", "application/json")],
            fixture_body("missing-secret", "delivery.json")
        )
        .status,
        401
    );
    assert_eq!(
        host.post(
            "/api/integrations/gitflic/webhook/nope",
            &[],
            b"{}".to_vec()
        )
        .status,
        404
    );
    host.wait_state(id, "done");

    let (status, ctype, m) = host.get("/metrics");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    let deliveries = |outcome| {
        metric(
            &m,
            "exlogare_webhook_deliveries_total",
            &[("provider", "gitflic"), ("outcome", outcome)],
        )
    };
    assert_eq!(deliveries("queued"), Some(1.0), "{m}");
    assert_eq!(deliveries("ping"), Some(1.0), "{m}");
    assert_eq!(deliveries("unauthorized"), Some(1.0), "{m}");
    assert_eq!(deliveries("http_404"), Some(1.0), "{m}");
    assert_eq!(
        metric(
            &m,
            "exlogare_provider_requests_total",
            &[("provider", "gitflic"), ("status", "200")]
        ),
        Some(4.0),
        "{m}"
    );
    for notifier in ["team-slack", "ops-telegram", "ci-room"] {
        assert_eq!(
            metric(
                &m,
                "exlogare_notifications_total",
                &[("notifier", notifier), ("outcome", "sent")]
            ),
            Some(1.0),
            "{notifier}: {m}"
        );
    }
    assert_eq!(metric(&m, "exlogare_queue_depth", &[]), Some(0.0), "{m}");
    assert_eq!(
        metric(&m, "exlogare_analyses_total", &[("outcome", "reported")]),
        Some(1.0),
        "{m}"
    );
    assert!(
        metric(
            &m,
            "exlogare_plugin_call_seconds_count",
            &[("provider", "gitflic"), ("op", "verify-webhook")]
        )
        .is_some_and(|n| n >= 2.0),
        "{m}"
    );
    assert!(
        metric(
            &m,
            "exlogare_plugin_call_seconds_count",
            &[("provider", "gitflic"), ("op", "analyze-failure")]
        )
        .is_some_and(|n| n >= 1.0),
        "{m}"
    );
    assert!(
        m.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    world.assert_clean();
}

#[test]
fn a_redelivery_without_a_pipeline_reference_is_posted_once_after_it_resolves() {
    // Two deliveries of one failure whose bodies name no pipeline and differ in their bytes (so
    // the content-hash keys differ): each is analysed to learn the pipeline (the newest failed
    // one, #1268); the second to resolve is re-keyed onto the first and completes as its
    // duplicate without a message.
    let world = World::new(&["no-pipeline-reference", "no-pipeline-reference"]);
    let artifacts = |base: &str| {
        json!({"_embedded": {"restPipelineJobArtifactModelList": [{
            "id": "6a1f0c3e-0000-4000-8000-000000005400", "fileName": "job.log", "fileType": "trace", "size": 15915,
            "downloadUrl": format!("{base}/project/acme/payments-api/cicd/job/5400/artifact/6a1f0c3e-0000-4000-8000-000000005400/download")
        }]}, "page": {"size": 20, "totalElements": 1, "totalPages": 1, "number": 0}})
        .to_string()
    };
    for _ in 0..2 {
        // Scripted (the scenario stops at the pipeline's details): its build job's trace log.
        world.gitflic.answer_first(Exchange::new(
            "GET",
            "/project/acme/payments-api/cicd/job/5400/artifacts",
            reply(200, artifacts(&world.gitflic.base)).header("content-type", "application/json"),
        ));
        world.gitflic.answer_first(Exchange::new(
            "GET",
            "/project/acme/payments-api/cicd/job/5400/artifact/6a1f0c3e-0000-4000-8000-000000005400/download",
            reply(200, fixture_body("failed-job-trace", "job-5521.log")).header("content-type", "application/octet-stream"),
        ));
    }
    let host = world.host(Opts::default());

    let raw = fixture_body("no-pipeline-reference", "delivery.json");
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&raw).unwrap()).unwrap();
    assert_ne!(raw, compact);
    let headers = [
        ("content-type", "application/json"),
        ("gitflic-webhook-secret", WEBHOOK_SECRET),
    ];
    let a = host.post(ENDPOINT, &headers, raw);
    let first = queued_id(&a);
    assert!(
        a.json["pipeline"].as_str().unwrap().starts_with("body:"),
        "keyed by content until resolved: {}",
        a.json
    );
    let second = queued_id(&host.post(ENDPOINT, &headers, compact));
    assert_ne!(first, second);

    wait_until("both deliveries to be done", || {
        host.delivery(first).state == "done" && host.delivery(second).state == "done"
    });
    let (d1, d2) = (host.delivery(first), host.delivery(second));
    let (kept, dup) = if d1.last_error.is_none() {
        (d1, d2)
    } else {
        (d2, d1)
    };
    assert_eq!(kept.last_error, None, "{kept:?}");
    assert_eq!(
        dup.last_error.as_deref(),
        Some(format!("duplicate of delivery {}", kept.id).as_str()),
        "{dup:?}"
    );
    assert!(
        host.notifications(dup.id).is_empty(),
        "the duplicate sends nothing"
    );
    assert_eq!(host.notifications(kept.id).len(), 3);

    assert_eq!(world.posted_counts(), [1, 1, 1], "one message per room");
    for (platform, fake) in world.chats() {
        let text = all_text(&fake.posted()[0]);
        assert!(
            text.contains("#1268") && text.contains("error[E0308]: mismatched types"),
            "{platform}: {text}"
        );
    }
    world.assert_clean();
}

#[test]
fn a_failure_gitflic_keeps_refusing_is_parked_with_its_reason_after_max_attempts() {
    // GitFlic answers 500 on every attempt (the recorded NPE, twice).
    let world = World::new(&["gitflic-500", "gitflic-500"]);
    let host = world.host(Opts {
        max_attempts: 2,
        ..Opts::default()
    });

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    let d = host.wait_state(id, "parked");
    assert_eq!(d.attempts, 2, "{d:?}");
    let reason = d.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("gave up after 2 attempts") && reason.contains("500"),
        "{reason}"
    );
    assert_eq!(
        host.service
            .store
            .deliveries_in("parked", 10)
            .unwrap()
            .len(),
        1,
        "visible as parked"
    );
    assert_eq!(
        world.gitflic.calls(
            "GET",
            "/project/acme/payments-api/cicd/pipeline/1287/jobs?page=0&size=100"
        ),
        2
    );
    assert_eq!(world.posted_counts(), [0, 0, 0]);
    let (_, _, m) = host.get("/metrics");
    assert_eq!(
        metric(&m, "exlogare_analyses_total", &[("outcome", "parked")]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(metric(&m, "exlogare_queue_depth", &[]), Some(0.0), "{m}");
    world.assert_clean();
}

#[test]
fn expired_logs_end_in_a_message_that_says_so() {
    // The artifact-expired scenario has no delivery body: the failed-job-trace one, aimed at #1284.
    let world = World::new(&["artifact-expired"]);
    let host = world.host(Opts::default());
    let id = queued_id(&host.deliver_pipeline(json!({ "local_id": "1284", "ref": "main" })));
    host.wait_state(id, "done");

    let report = host.report(id);
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{report}");
    for j in jobs {
        assert!(
            j["log_unavailable"]
                .as_str()
                .is_some_and(|w| w.contains("expired")),
            "{j}"
        );
    }
    assert_eq!(world.posted_counts(), [1, 1, 1]);
    for (platform, fake) in world.chats() {
        let text = all_text(&fake.posted()[0]);
        assert!(
            text.contains("#1284") && text.contains("expired"),
            "{platform}: {text}"
        );
    }
    assert!(
        world.gitflic.unused().is_empty(),
        "{:?}",
        world.gitflic.unused()
    );
    world.assert_clean();
}

#[test]
fn a_deleted_pipeline_ends_in_a_message_that_says_so_without_a_made_up_job() {
    let world = World::new(&["pipeline-deleted"]);
    let host = world.host(Opts::default());
    let id = queued_id(&host.deliver_pipeline(json!({ "local_id": "1284", "ref": "main" })));
    host.wait_state(id, "done");

    let report = host.report(id);
    assert_eq!(report["pipeline"], "#1284", "{report}");
    assert_eq!(
        report["jobs"],
        json!([]),
        "no job stands in for the pipeline: {report}"
    );
    let note = report["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("GitFlic no longer has this pipeline") && note.contains("deleted"),
        "{report}"
    );
    assert_eq!(world.posted_counts(), [1, 1, 1]);
    for (platform, fake) in world.chats() {
        let text = all_text(&fake.posted()[0]);
        assert!(
            text.contains("#1284") && text.contains("no longer has this pipeline"),
            "{platform}: {text}"
        );
        assert!(
            !text.contains("pipeline [") && !text.contains("\npipeline —"),
            "{platform}: {text}"
        );
    }
    assert!(
        world.gitflic.unused().is_empty(),
        "{:?}",
        world.gitflic.unused()
    );
    world.assert_clean();
}

#[test]
fn a_notifier_refusing_for_good_is_recorded_and_the_other_rooms_still_get_the_message() {
    let world = World::new(&["failed-job-trace"]);
    world
        .slack
        .then(reply(404, "no_service").header("content-type", "text/plain"));
    let host = world.host(Opts::default());

    let id = queued_id(&host.deliver("failed-job-trace", "delivery.json"));
    let d = host.wait_state(id, "done");
    assert_eq!(d.attempts, 1, "a permanent refusal is not retried: {d:?}");
    assert_eq!(world.posted_counts(), [0, 1, 1]);
    assert_eq!(world.slack.requests().len(), 1);
    assert_eq!(
        host.notifications(id),
        vec![
            ("ci-room".into(), "sent".into(), 1),
            ("ops-telegram".into(), "sent".into(), 1),
            ("team-slack".into(), "failed".into(), 1)
        ]
    );
    let (_, _, m) = host.get("/metrics");
    assert_eq!(
        metric(
            &m,
            "exlogare_notifications_total",
            &[("notifier", "team-slack"), ("outcome", "permanent")]
        ),
        Some(1.0),
        "{m}"
    );
    world.assert_clean();
}

#[test]
fn a_restart_between_notifications_sends_only_what_was_not_sent() {
    let world = World::new(&["failed-job-trace"]);
    world
        .slack
        .then(reply(503, "service_unavailable").header("content-type", "text/plain"));

    // First run: analysed, Telegram and Matrix sent, Slack answered 503 and the retry is far off.
    let first = world.host(Opts {
        backoff_base_ms: 600_000,
        ..Opts::default()
    });
    let id = queued_id(&first.deliver("failed-job-trace", "delivery.json"));
    wait_until("the Slack failure to be recorded", || {
        first
            .notifications(id)
            .iter()
            .any(|(t, s, _)| t == "team-slack" && s == "pending")
            && first.delivery(id).state == "queued"
    });
    assert!(
        first
            .delivery(id)
            .last_error
            .unwrap_or_default()
            .contains("notification")
    );
    drop(first.shutdown());
    assert_eq!(world.posted_counts(), [0, 1, 1]);

    // Second run on the same database; the wait is over (made due here instead of waiting).
    let mut second = world.host(Opts {
        start_workers: false,
        ..Opts::default()
    });
    second
        .service
        .store
        .retry_later(id, "made due by the test", now_ms())
        .unwrap();
    second.start_workers();
    let d = second.wait_state(id, "done");
    assert_eq!(d.attempts, 2, "{d:?}");

    assert_eq!(world.posted_counts(), [1, 1, 1], "one message per room");
    assert_eq!(
        world.telegram.requests().len(),
        1,
        "Telegram is not sent again"
    );
    assert_eq!(world.matrix.requests().len(), 1, "Matrix is not sent again");
    assert_eq!(world.slack.requests().len(), 2);
    assert_failed_job_trace_message("slack", &world.slack.posted()[0]);
    assert_eq!(
        world.gitflic.requests().len(),
        4,
        "the stored report is reused, not analysed again"
    );
    world.assert_clean();
}
