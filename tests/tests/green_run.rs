//! The comparison with the job's last green run (issue 12), end to end on 127.0.0.1: the real
//! GitFlic plugin finds the green run through a fake GitFlic serving the `green-run-compared`
//! scenario (a red #1292 and a green #1290 of job `test` on main, both printing the same Redis
//! error, only the red one a schema drift), the host fingerprints the green log once, and the
//! message posted to a fake Slack shows the lines new in the failing log and says what it was
//! compared with. What each way of not comparing gets: no green run found, a provider 500
//! during the lookup, a budget too small, the comparison turned off.
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
use exlogare_service::green_run::{FingerprintStore, GreenKey};
use fakes::*;
use running::{RunningHost as Host, base64_encode};
use serde_json::Value;

const SCENARIO: &str = "green-run-compared";
const WEBHOOK_SECRET: &str = "wh-green-run-4Tz8Qm";
const ACCESS_TOKEN: &str = "gf-access-green-run-77c1";
const PROJECT: &str = "/project/acme/payments-api/cicd";
/// The green job's log: downloaded at most once per green run.
const GREEN_LOG: &str = "/project/acme/payments-api/cicd/job/5550/artifact/2b3c4d5e-6f7a-5b8c-9d0e-1f2a3b4c5d50/download";
/// The line both runs print: the analysis alone takes it for the cause.
const OLD_NOISE: &str = "Redis недоступен";
/// The lines only the failing run prints.
const NEW_LINES: [&str; 3] = [
    "Проверка схемы: таблица payments_refund расходится с моделью Refund",
    "Поле amount_minor: в базе integer, в модели bigint",
    "Создайте миграцию: python manage.py makemigrations payments",
];

struct World {
    dir: tempfile::TempDir,
    gitflic: FakeGitflic,
    slack: ChatFake,
}

impl World {
    fn new() -> World {
        let gitflic = gitflic_fake(
            ACCESS_TOKEN,
            &base64_encode(b"unused:unused"),
            load_exchanges(&gitflic_fixtures(), &[SCENARIO]),
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
            ],
        );
        World {
            dir,
            gitflic,
            slack,
        }
    }

    /// `connection`: extra lines of the GitFlic connection (`compare_green_runs`,
    /// `calls_per_hour`); the comparison is on unless they turn it off.
    fn host(&self, connection: &str) -> Host {
        let d = self.dir.path();
        let compare = if connection.contains("compare_green_runs") {
            ""
        } else {
            "compare_green_runs = true\n"
        };
        let cloud = format!(
            "{compare}{connection}\noptions = {{ analyze_warnings = \"false\" }}\nwebhook_secret_file = {:?}\naccess_token_file = {:?}",
            d.join("webhook-secret"),
            d.join("access-token")
        );
        let text = head(d, "", &Worker::default(), &compile_cache())
            + &gitflic_connection("cloud", &self.gitflic.base, &cloud)
            + &slack_notifier(d)
            + "\n[[routes]]\nnotifiers = [\"team-slack\"]\n";
        Host::start(&write_config(d, &text), true, true)
    }

    /// Requests to `path` (with its query) the fake received.
    fn calls(&self, path: &str) -> usize {
        self.gitflic.calls("GET", path)
    }

    /// Serves `body_file` of the scenario first at `path`, `times` times, as the recording
    /// would (its links pointed at the fake).
    fn serve(&self, path: &str, body_file: &str, times: u32) {
        let body = std::fs::read(gitflic_fixtures().join(SCENARIO).join(body_file)).unwrap();
        let (body, kind) = if body_file.ends_with(".json") {
            let text = String::from_utf8(body).unwrap();
            (
                text.replace(RECORDED_API, &self.gitflic.base).into_bytes(),
                "application/json",
            )
        } else {
            (body, "application/octet-stream")
        };
        let mut e = Exchange::new("GET", path, reply(200, body).header("content-type", kind));
        e.times = times;
        self.gitflic.answer_first(e);
    }

    /// The traffic of a second failure of the job, #1294 (its details, jobs and log), beyond
    /// the recorded first one.
    fn serve_second_failure(&self) {
        self.serve(
            &format!("{PROJECT}/pipeline?page=0&size=20"),
            "bodies/pipelines.json",
            1,
        );
        self.serve(
            &format!("{PROJECT}/pipeline/1294/jobs?page=0&size=100"),
            "bodies/jobs-1294.json",
            1,
        );
        self.serve(
            &format!("{PROJECT}/job/5571/artifacts"),
            "bodies/artifacts-5571.json",
            1,
        );
        self.serve(
            &format!("{PROJECT}/job/5571/artifact/2b3c4d5e-6f7a-5b8c-9d0e-1f2a3b4c5d71/download"),
            "bodies/job-5571.log",
            1,
        );
    }
}

impl Host {
    /// Delivers the recorded failure `#number` and waits for its message; the stored report.
    fn fail(&self, number: u64) -> Value {
        let body = std::fs::read(
            gitflic_fixtures()
                .join(SCENARIO)
                .join(format!("bodies/delivery-{number}.json")),
        )
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
        assert_eq!(d.attempts, 1, "the comparison never costs a retry: {d:?}");
        serde_json::from_str(&self.service.store.report(id).unwrap().expect("a report")).unwrap()
    }
}

fn excerpt_text(report: &Value) -> Vec<String> {
    report["jobs"][0]["excerpt"]
        .as_array()
        .expect("an excerpt")
        .iter()
        .map(|l| l[1].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn assert_excerpt_is_the_new_lines(report: &Value) {
    let excerpt = excerpt_text(report);
    for line in NEW_LINES {
        assert!(
            excerpt.iter().any(|l| l.contains(line)),
            "the excerpt lacks {line:?}: {excerpt:#?}"
        );
    }
    assert!(
        !excerpt.iter().any(|l| l.contains(OLD_NOISE)),
        "the line the green run also printed is not the cause: {excerpt:#?}"
    );
}

#[test]
fn a_failure_is_compared_with_the_last_green_run_and_its_excerpt_is_the_new_lines() {
    let world = World::new();
    let host = world.host("");
    let report = host.fail(1292);
    assert_eq!(report["pipeline"], "#1292");
    assert_eq!(report["jobs"][0]["name"], "test");
    assert_eq!(
        report["jobs"][0]["comparison"], "compared with the last green run #1290 on main",
        "{report}"
    );
    assert_excerpt_is_the_new_lines(&report);

    // The one message says it too.
    let posted = world.slack.posted();
    assert_eq!(posted.len(), 1);
    let text = all_text(&posted[0]);
    assert!(
        text.contains("compared with the last green run #1290 on main"),
        "{text}"
    );
    assert!(text.contains(NEW_LINES[0]), "{text}");

    // The green log was read once, and its fingerprint kept for the job and ref.
    assert_eq!(world.calls(GREEN_LOG), 1);
    let stored = host
        .service
        .store
        .load_green(&GreenKey {
            connection: "cloud".into(),
            project: "acme/payments-api".into(),
            job_name: "test".into(),
            git_ref: "main".into(),
        })
        .unwrap()
        .expect("the green run is stored");
    assert_eq!(
        (stored.pipeline, stored.label.as_str()),
        (Some(1290), "#1290")
    );
    assert!(stored.fingerprint.is_some());
    world.gitflic.assert_clean();

    // Operators see it counted: one job compared after a lookup (its time in
    // plugin_call_seconds{op="green-run"}).
    let metrics = host.metrics_text();
    // What the lookup cost, printed for the record (time is never asserted).
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("exlogare_plugin_call_seconds_sum") && l.contains("gitflic"))
    {
        eprintln!("{line}");
    }
    assert!(
        metrics.contains(r#"exlogare_green_runs_total{outcome="compared",source="lookup"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"exlogare_plugin_call_seconds_count{provider="gitflic",op="green-run"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_repeated_failure_of_the_job_reads_no_green_log_again() {
    let world = World::new();
    world.serve_second_failure();
    let host = world.host("");
    host.fail(1292);
    let before = world.gitflic.requests().len();
    let report = host.fail(1294);
    assert_eq!(report["pipeline"], "#1294");
    assert_eq!(
        report["jobs"][0]["comparison"],
        "compared with the last green run #1290 on main"
    );
    assert_excerpt_is_the_new_lines(&report);
    // The second failure cost its own requests only (details, jobs, artifacts, its log): the
    // lookup within the recheck window asks nothing, and the green log is not read again.
    let second: Vec<String> = world.gitflic.requests()[before..]
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(world.calls(GREEN_LOG), 1, "{second:#?}");
    let metrics = host.metrics_text();
    assert!(
        metrics.contains(r#"exlogare_green_runs_total{outcome="compared",source="stored"} 1"#),
        "{metrics}"
    );
    assert_eq!(
        second,
        [
            format!("{PROJECT}/pipeline?page=0&size=20"),
            format!("{PROJECT}/pipeline/1294/jobs?page=0&size=100"),
            format!("{PROJECT}/job/5571/artifacts"),
            format!("{PROJECT}/job/5571/artifact/2b3c4d5e-6f7a-5b8c-9d0e-1f2a3b4c5d71/download"),
        ],
        "no green-run lookup, no green log"
    );
    world.gitflic.assert_clean();
}

#[test]
fn without_a_green_run_the_log_is_read_alone_and_the_message_says_so() {
    let world = World::new();
    // Only failures on the list: for the details of #1292 and for the lookup.
    let list = serde_json::json!({
        "_embedded": {"restPipelineModelList": [
            pipeline(1292, "FAILED"),
            pipeline(1289, "FAILED"),
        ]},
        "page": {"size": 20, "totalElements": 2, "totalPages": 1, "number": 0}
    });
    let mut e = Exchange::new(
        "GET",
        &format!("{PROJECT}/pipeline?page=0&size=20"),
        reply(200, list.to_string()).header("content-type", "application/json"),
    );
    e.times = 2;
    world.gitflic.answer_first(e);
    let host = world.host("");
    let report = host.fail(1292);
    let mode = report["jobs"][0]["comparison"].as_str().unwrap_or_default();
    assert!(
        mode.starts_with("no green run to compare with ("),
        "{report}"
    );
    assert!(mode.contains("test"), "{mode}");
    assert!(excerpt_text(&report).iter().any(|l| l.contains(OLD_NOISE)));
    assert_eq!(world.calls(GREEN_LOG), 0);
    assert_eq!(
        world.calls(&format!("{PROJECT}/pipeline/1290/jobs?page=0&size=100")),
        0
    );
    world.gitflic.assert_clean();
}

/// A pipeline of the list as GitFlic shows it (the scenario's shape), on main.
fn pipeline(number: u64, status: &str) -> Value {
    let list: Value = serde_json::from_slice(
        &std::fs::read(
            gitflic_fixtures()
                .join(SCENARIO)
                .join("bodies/pipelines.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut p = list["_embedded"]["restPipelineModelList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["localId"] == number)
        .cloned()
        .unwrap_or_else(|| panic!("no #{number} in the scenario"));
    p["status"] = status.into();
    p
}

#[test]
fn a_provider_500_during_the_lookup_posts_the_analysis_alone_and_says_why() {
    let world = World::new();
    world.gitflic.answer_first(Exchange::new(
        "GET",
        &format!("{PROJECT}/pipeline/1290/jobs?page=0&size=100"),
        reply(500, r#"{"message":"Internal Server Error"}"#)
            .header("content-type", "application/json"),
    ));
    let host = world.host("");
    let report = host.fail(1292);
    let mode = report["jobs"][0]["comparison"].as_str().unwrap_or_default();
    assert!(
        mode.starts_with("not compared with a green run: looking it up failed: temporary failure"),
        "{report}"
    );
    // Read alone, the log's first error is taken: what the comparison exists to fix.
    assert!(excerpt_text(&report).iter().any(|l| l.contains(OLD_NOISE)));
    assert_eq!(world.calls(GREEN_LOG), 0);
    assert_eq!(world.slack.posted().len(), 1);
}

#[test]
fn a_budget_without_room_for_the_lookup_reads_the_failing_log_alone() {
    let world = World::new();
    let host = world.host("calls_per_hour = 8");
    let report = host.fail(1292);
    let mode = report["jobs"][0]["comparison"].as_str().unwrap_or_default();
    assert!(
        mode.starts_with(
            "not compared with a green run: the connection's request budget has 8 requests left"
        ),
        "{report}"
    );
    assert_eq!(world.calls(GREEN_LOG), 0);
    assert_eq!(world.slack.posted().len(), 1);
}

#[test]
fn with_the_comparison_off_the_message_has_no_comparison_and_no_extra_request() {
    let world = World::new();
    let host = world.host("compare_green_runs = false");
    let report = host.fail(1292);
    assert!(report["jobs"][0].get("comparison").is_none(), "{report}");
    assert_eq!(world.calls(GREEN_LOG), 0);
    assert!(
        !world
            .gitflic
            .requests()
            .iter()
            .any(|r| r.target.contains("/pipeline/1290/"))
    );
}
