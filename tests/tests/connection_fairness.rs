//! One connection's slow deliveries cannot hold back another's failure, end to end through
//! `serve` with two workers: a `slow` connection whose GitFlic stalls two seconds on every
//! answer (then fails, so its deliveries keep coming back), and a `cloud` connection on the
//! recorded failed-job-trace scenario. Before, both workers took the slow connection's two
//! deliveries and the team on `cloud` waited for them; now a connection leaves one worker to
//! the others.
//!
//! No timed assertion: the test checks the order of events (cloud's failure is posted while the
//! slow deliveries are still unfinished), with stalls long enough that the order cannot flip.
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
use running::{RunningHost as Host, base64_encode};
use serde_json::Value;
use std::time::Duration;

const WEBHOOK_SECRET: &str = "wh-fair-8Jq2Lx0V";
const ACCESS_TOKEN: &str = "gf-access-test-4b8e";

#[test]
fn a_stalling_connection_leaves_a_worker_to_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let basic = base64_encode(b"exlogare-test:client-secret-test-77");
    let cloud = gitflic_fake(
        ACCESS_TOKEN,
        &basic,
        load_exchanges(&gitflic_fixtures(), &["failed-job-trace"]),
    );
    let mut stall = reply(503, "Service Unavailable").header("content-type", "text/plain");
    stall.delay = Duration::from_secs(2);
    let mut stalled = Exchange::new(
        "GET",
        "/project/acme/payments-api/cicd/pipeline?page=0&size=20",
        stall,
    );
    stalled.times = 1000;
    let slow = gitflic_fake(ACCESS_TOKEN, &basic, vec![stalled]);
    let slack = slack_fake();
    write_secrets(
        d,
        &[
            ("webhook-secret", WEBHOOK_SECRET),
            ("access-token", ACCESS_TOKEN),
            ("slack-url", &format!("{}{SLACK_PATH}", slack.base)),
        ],
    );
    let secrets = format!(
        "webhook_secret_file = {:?}\naccess_token_file = {:?}\noptions = {{ analyze_warnings = \"false\" }}",
        d.join("webhook-secret"),
        d.join("access-token")
    );
    let worker = Worker {
        threads: 2,
        max_attempts: 50,
        backoff_base_ms: 10,
        backoff_max_ms: 20,
    };
    let text = head(d, "", &worker, &compile_cache())
        + &gitflic_connection("slow", &slow.base, &secrets)
        + &gitflic_connection("cloud", &cloud.base, &secrets)
        + &slack_notifier(d)
        + "\n[[routes]]\nconnection = \"cloud\"\nnotifiers = [\"team-slack\"]\n";
    // Workers start after the deliveries are stored, so both slow ones are due first.
    let mut host = Host::start(&write_config(d, &text), false, false);

    let delivery = |connection: &str, number: u64| -> i64 {
        let mut body: Value = serde_json::from_slice(
            &std::fs::read(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json"))
                .unwrap(),
        )
        .unwrap();
        if number != 1287 {
            body["pipeline"]["local_id"] = number.into();
            body["pipeline"]["id"] = format!("uuid-{number}").into();
        }
        let resp = host
            .webhook("gitflic", connection, WEBHOOK_SECRET, body.to_string())
            .send()
            .unwrap();
        let json: Value = resp.json().unwrap();
        assert_eq!(json["status"], "queued", "{json}");
        json["delivery"].as_i64().unwrap()
    };
    let slow_ids = [delivery("slow", 5001), delivery("slow", 5002)];
    let cloud_id = delivery("cloud", 1287);
    host.start_workers();

    host.wait_state(cloud_id, "done");
    assert_eq!(slack.posted().len(), 1, "cloud's failure is posted");
    // Let the slow connection stall a few more times, then look at how its requests came.
    running::wait_until("three stalls", || slow.requests().len() >= 3);
    host.stop();
    for id in slow_ids {
        assert_ne!(host.delivery(id).state, "done");
    }
    // At most one of its deliveries ran at a time: the stalling GitFlic never saw a request
    // arrive while another was stalling (two at once would arrive milliseconds apart).
    let starts: Vec<_> = slow.requests().iter().map(|r| r.at).collect();
    for pair in starts.windows(2) {
        assert!(
            pair[1].duration_since(pair[0]) >= Duration::from_millis(1900),
            "two slow deliveries ran at once: requests {:?} apart",
            pair[1].duration_since(pair[0])
        );
    }
    cloud.assert_clean();
}
