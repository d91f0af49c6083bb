//! `exlogare-host record` end to end: a failed pipeline recorded from a fake GitFlic on
//! 127.0.0.1 (serving the failed-job-trace traffic) becomes a scenario that the conformance
//! runner replays, blesses and then passes; no credential reaches the recording.
//!
//! Needs the GitFlic component: cargo build -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;

use config_text::*;
use exlogare_conformance::run_suite;
use exlogare_conformance_tests::{gitflic_component, gitflic_fixtures};
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use fakes::*;

const TOKEN: &str = "gf-record-token-Wq31";
const SECRET: &str = "wh-record-9kPz";

fn service(dir: &std::path::Path, api: &str) -> Service {
    write_secrets(dir, &[("token", TOKEN), ("secret", SECRET)]);
    let cloud = format!(
        r#"options = {{ analyze_warnings = "false" }}
access_token_file = {token:?}
webhook_secret_file = {secret:?}"#,
        token = dir.join("token"),
        secret = dir.join("secret"),
    );
    let text = storage(dir)
        + &plugins(&[gitflic_component()], None)
        + &gitflic_connection("cloud", api, &cloud);
    Service::build(toml::from_str::<Config>(&text).unwrap()).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn a_recorded_failure_replays_through_the_conformance_runner() {
    let fixtures = gitflic_fixtures();
    let mut exchanges = load_exchanges(&fixtures, &["failed-job-trace"]);
    // The recorded first page holds 5 pipelines of a claimed 1288; the search for a failed one
    // reads on, and the second page is empty here (GitFlic answers a page past the end so: no `_embedded`).
    exchanges.push(Exchange::new(
        "GET",
        "/project/acme/payments-api/cicd/pipeline?page=1&size=20",
        reply(
            200,
            r#"{"page":{"size":20,"totalElements":1288,"totalPages":65,"number":1}}"#,
        ),
    ));
    // Both the search and the failure details read the first page.
    for e in &mut exchanges {
        e.times = 2;
    }
    let gitflic = gitflic_fake(TOKEN, "unused", exchanges);
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path(), &gitflic.base);
    let out = dir.path().join("recorded").join("payments-1287");

    // No pipeline named: the newest failed one is found first (and that call is recorded too).
    let r = service
        .record_failure("cloud", "acme/payments-api", None, &out)
        .unwrap();
    assert_eq!(r.pipeline, 1287);
    assert_eq!(r.failed_jobs, ["build"]);
    let artifact = fixtures.join("failed-job-trace/bodies/job-5521.log");
    assert_eq!(
        r.log_bytes,
        std::fs::metadata(&artifact).unwrap().len(),
        "the whole log was read and recorded"
    );
    assert_eq!(r.summary.truncated, 0);
    gitflic.assert_clean();

    // Nothing secret in any recorded file.
    for entry in walk(&out) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(
            !text.contains(TOKEN),
            "{} holds the access token",
            entry.display()
        );
    }
    let scenario = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(
        scenario.contains("op = \"list-pipelines\"") && scenario.contains("pipeline_number = 1287"),
        "{scenario}"
    );

    // A refused folder: recording never overwrites a scenario.
    let err = service
        .record_failure("cloud", "acme/payments-api", Some(1287), &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty"), "{err}");
    assert!(
        service
            .record_failure("nope", "acme/payments-api", None, &dir.path().join("x"))
            .is_err()
    );

    // The recording is a scenario: blessed once, then it passes as it is, with no network
    // (the fake is stopped first, so a replay that tried to go live would fail).
    drop(gitflic);
    let plugin = &service.plugins.get("gitflic").unwrap();
    let root = out.parent().unwrap();
    let blessed = run_suite(plugin, root, &[], true).unwrap();
    for v in &blessed {
        assert!(v.passed, "{}: {}", v.name, v.detail);
    }
    let golden = std::fs::read_to_string(out.join("expected.json")).unwrap();
    assert!(
        golden.contains("\"build\"") && golden.contains("1287"),
        "{golden}"
    );
    let verdicts = run_suite(plugin, root, &[], false).unwrap();
    assert_eq!(verdicts.len(), 1);
    assert!(
        verdicts[0].passed,
        "{}: {}",
        verdicts[0].name, verdicts[0].detail
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
