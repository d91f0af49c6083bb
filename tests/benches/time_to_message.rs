//! Time to message: a GitFlic webhook in, the message at a fake Slack out, with the real
//! service (router, SQLite, workers, the GitFlic plugin in its sandbox) and a fake GitFlic on
//! 127.0.0.1 serving a 1 MB job log; one failure at a time. Prints the time from the POST to
//! Slack's receipt (median, p90, max) and the split per step from the service's own
//! `exlogare_delivery_step_seconds` (verify, store, queue_wait, failure_details, extraction,
//! analysis, settle, send). Asserts nothing about speed.
//!
//! `cargo bench -p exlogare-conformance-tests --bench time_to_message [-- FAILURES]`
//! (after the component is built: `./x bench` does both). Default: 30 failures after 3 warm-ups.

#[path = "../tests/support/config_text.rs"]
mod config_text;
#[path = "../tests/support/fakes.rs"]
mod fakes;
#[path = "../tests/support/running.rs"]
mod running;

use config_text::*;
use fakes::{Fake, Req, Shared, reply};
use running::RunningHost;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "wh-ttm-bench-3Pq";
const TOKEN: &str = "gf-ttm-bench-token";
const LOG_BYTES: u64 = 1 << 20;

/// What the fake GitFlic serves: any pipeline number is one failed pipeline on main with one
/// failed job `build` (job id = 10 000 + the pipeline's), whose trace artifact is `log`.
struct GitflicState {
    newest: u64,
    log: Arc<Vec<u8>>,
}

fn gitflic(log: Vec<u8>) -> Fake<GitflicState> {
    let state = GitflicState {
        newest: 0,
        log: Arc::new(log),
    };
    Fake::start(
        state,
        Arc::new(|req: &Req, st: &mut Shared<GitflicState>| {
            let path = req.path().to_owned();
            let json = |v: serde_json::Value| {
                reply(200, v.to_string()).header("content-type", "application/json")
            };
            let project = "/project/acme/app/cicd";
            let Some(rest) = path.strip_prefix(project) else {
                return reply(404, "{}");
            };
            let n = st.inner.newest;
            if rest == "/pipeline" {
                return json(serde_json::json!({
                    "_embedded": {"restPipelineModelList": [{
                        "id": format!("00000000-0000-5000-8000-{n:012}"), "status": "FAILED",
                        "localId": n, "ref": "main", "commitId": "0123456789abcdef0123456789abcdef01234567",
                        "createdAt": "2026-12-03T10:00:00.000", "finishedAt": "2026-12-03T10:05:00.000"
                    }]},
                    "page": {"size": 20, "totalElements": 1, "totalPages": 1, "number": 0}
                }));
            }
            if rest.starts_with("/pipeline/") && rest.ends_with("/jobs") {
                return json(serde_json::json!({
                    "_embedded": {"restPipelineJobModelList": [{
                        "id": format!("10000000-0000-5000-8000-{n:012}"), "localId": 10_000 + n,
                        "name": "build", "stageName": "build", "ref": "main", "status": "FAILED",
                        "pipelineLocalId": n
                    }]},
                    "page": {"size": 100, "totalElements": 1, "totalPages": 1, "number": 0}
                }));
            }
            if rest.ends_with("/artifacts") {
                let job = rest
                    .trim_start_matches("/job/")
                    .trim_end_matches("/artifacts");
                let base = req.header("host").unwrap_or("127.0.0.1");
                return json(serde_json::json!({
                    "_embedded": {"restPipelineJobArtifactModelList": [{
                        "id": "a1", "fileName": "job.log", "fileType": "trace", "size": LOG_BYTES,
                        "downloadUrl": format!("http://{base}{project}/job/{job}/artifact/a1/download")
                    }]}
                }));
            }
            if rest.ends_with("/download") {
                return reply(200, st.inner.log.as_ref().clone())
                    .header("content-type", "application/octet-stream");
            }
            reply(404, "{}")
        }),
    )
}

/// A Slack incoming webhook that notes when each message arrived.
fn slack() -> Fake<Vec<Instant>> {
    Fake::start(
        Vec::new(),
        Arc::new(|_: &Req, st: &mut Shared<Vec<Instant>>| {
            st.inner.push(Instant::now());
            reply(200, "ok").header("content-type", "text/plain")
        }),
    )
}

fn delivery(n: u64) -> String {
    serde_json::json!({
        "action": "PIPELINE_FAIL",
        "project_id": "aa62e838-464f-5c6d-bbbc-9e2dff577e28",
        "project": {"alias": "app", "owner_alias": "acme", "title": "App"},
        "pipeline": {"local_id": n.to_string(), "ref": "main"}
    })
    .to_string()
}

/// `sum / count` of each step's histogram, in ms, from the OpenMetrics text.
fn step_means(metrics: &str) -> Vec<(String, f64, u64)> {
    let value = |name: &str, step: &str| -> Option<f64> {
        metrics.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, v) = rest.rsplit_once(' ')?;
            (labels == format!("{{step=\"{step}\"}}")).then(|| v.parse().ok())?
        })
    };
    [
        "verify",
        "store",
        "queue_wait",
        "failure_details",
        "extraction",
        "analysis",
        "settle",
        "send",
    ]
    .iter()
    .filter_map(|step| {
        let sum = value("exlogare_delivery_step_seconds_sum", step)?;
        let count = value("exlogare_delivery_step_seconds_count", step)?;
        (count > 0.0).then(|| (step.to_string(), 1000.0 * sum / count, count as u64))
    })
    .collect()
}

fn main() {
    let failures: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let warmups = 3;
    let mut log = Vec::with_capacity(LOG_BYTES as usize);
    exlogare_runtime::http::replay::GeneratedLog::new(LOG_BYTES)
        .read_to_end(&mut log)
        .unwrap();
    let gitflic = gitflic(log);
    let slack = slack();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("webhook-secret"), SECRET).unwrap();
    std::fs::write(d.join("access-token"), TOKEN).unwrap();
    std::fs::write(
        d.join("slack-url"),
        format!("{}/services/T/B/X", slack.base),
    )
    .unwrap();
    let cloud = format!(
        "webhook_secret_file = {:?}\naccess_token_file = {:?}\ncalls_per_hour = 100000",
        d.join("webhook-secret"),
        d.join("access-token")
    );
    let text = head(d, "", &Worker::default(), &d.join("cache"))
        + &gitflic_connection("cloud", &gitflic.base, &cloud)
        + &slack_notifier(d)
        + "\n[[routes]]\nnotifiers = [\"team-slack\"]\n";
    // The default worker poll (250 ms) is what an idle service falls back to; the workers are
    // woken by each store, so it does not enter the time to message.
    let text = text.replace("poll_interval_ms = 20", "poll_interval_ms = 250");
    let host = RunningHost::start(&write_config(d, &text), true, true);

    let mut times = Vec::new();
    for i in 0..(warmups + failures) {
        let n = 1000 + i;
        gitflic.with(|s| s.inner.newest = n);
        let before = slack.with(|s| s.inner.len());
        let sent = Instant::now();
        let status = host
            .webhook("gitflic", "cloud", SECRET, delivery(n))
            .send()
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 202);
        let deadline = sent + Duration::from_secs(60);
        let arrived = loop {
            if let Some(t) = slack.with(|s| s.inner.get(before).copied()) {
                break t;
            }
            assert!(Instant::now() < deadline, "no message for #{n}");
            std::thread::sleep(Duration::from_micros(200));
        };
        if i >= warmups {
            times.push(arrived - sent);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "time to message, {failures} failures one at a time, 1 MiB log: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(*times.last().unwrap())
    );
    let metrics = host.metrics_text();
    println!("per step, mean over every delivery (warm-ups included):");
    let mut total = 0.0;
    for (step, mean, count) in step_means(&metrics) {
        total += mean;
        println!("  {step:<16} {mean:>9.2} ms   ({count} observations)");
    }
    println!(
        "  {:<16} {total:>9.2} ms   (the rest of the time to message: HTTP to the host and to Slack, the workers' hand-offs)",
        "sum of steps"
    );
}
