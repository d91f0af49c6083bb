//! The open endpoint under an unauthenticated flood, end to end through `serve` (issue 11):
//! 2,000 deliveries with wrong secrets from 100 senders at once while 200 connections trickle
//! half a request and hang, then one valid delivery. It is accepted and processed into one Slack
//! message, GitFlic's breaker stays closed, and `/metrics` still scrapes and counts the flood
//! under `unauthorized`. The fake GitFlic and Slack are on 127.0.0.1; the delivery is the
//! recorded failed-job-trace scenario's.
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
use exlogare_runtime::plugin::BreakerState;
use fakes::*;
use running::{RunningHost as Host, base64_encode};
use std::io::Write;
use std::time::Instant;

const WEBHOOK_SECRET: &str = "wh-flood-Rt5Km2Qa";
const ACCESS_TOKEN: &str = "gf-access-flood-61c0";
const SENDERS: usize = 100;
const PER_SENDER: usize = 20;
const TRICKLERS: usize = 200;

#[test]
fn a_flood_of_wrong_secrets_and_hanging_connections_leaves_a_valid_delivery_served() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let basic = base64_encode(b"exlogare-test:client-secret-test-77");
    let gitflic = gitflic_fake(
        ACCESS_TOKEN,
        &basic,
        load_exchanges(&gitflic_fixtures(), &["failed-job-trace"]),
    );
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
        "webhook_secret_file = {:?}\naccess_token_file = {:?}",
        d.join("webhook-secret"),
        d.join("access-token")
    );
    let text = head(d, "", &Worker::default(), &compile_cache())
        + &gitflic_connection("cloud", &gitflic.base, &secrets)
        + &slack_notifier(d)
        + "\n[[routes]]\nconnection = \"cloud\"\nnotifiers = [\"team-slack\"]\n";
    let host = Host::start(&write_config(d, &text), true, false);
    let body =
        std::fs::read(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json")).unwrap();
    let addr = host.base.trim_start_matches("http://").to_string();

    // 200 connections that send half a request head and hang.
    let tricklers: Vec<std::net::TcpStream> = (0..TRICKLERS)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            write!(s, "POST /api/integrations/gitflic/webhook/cloud HTTP/1.1\r\nHost: {addr}\r\nContent-Le").unwrap();
            s
        })
        .collect();

    let refused: Vec<u16> = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|i| {
                let (host, body) = (&host, &body);
                scope.spawn(move || {
                    (0..PER_SENDER)
                        .map(|j| {
                            host.webhook(
                                "gitflic",
                                "cloud",
                                &format!("wh-guess-{i}-{j}"),
                                body.clone(),
                            )
                            .send()
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    });
    let unauthorized = refused.iter().filter(|s| **s == 401).count();
    let busy = refused.iter().filter(|s| **s == 503).count();
    assert_eq!(
        unauthorized + busy,
        SENDERS * PER_SENDER,
        "every wrong secret is refused (401) or told to come back (503): {:?}",
        refused
            .iter()
            .filter(|s| **s != 401 && **s != 503)
            .take(5)
            .collect::<Vec<_>>()
    );

    // The hanging connections are still open; a valid delivery gets through beside them.
    let started = Instant::now();
    let resp = host
        .webhook("gitflic", "cloud", WEBHOOK_SECRET, body.clone())
        .send()
        .unwrap();
    let accepted_in = started.elapsed();
    assert_eq!(resp.status().as_u16(), 202);
    let json: serde_json::Value = resp.json().unwrap();
    let id = json["delivery"].as_i64().expect("stored");
    host.wait_state(id, "done");
    assert_eq!(
        slack.posted().len(),
        1,
        "one message for the valid delivery"
    );
    drop(tricklers);

    assert_eq!(
        host.service.plugins.get("gitflic").unwrap().breaker(),
        BreakerState::Closed { recent_faults: 0 }
    );
    let scrape = host
        .client
        .get(format!("{}/metrics", host.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        scrape.contains(&format!(
            r#"exlogare_webhook_deliveries_total{{provider="gitflic",outcome="unauthorized"}} {unauthorized}"#
        )),
        "{scrape}"
    );
    assert!(
        scrape.contains(r#"exlogare_plugin_disabled{provider="gitflic"} 0"#),
        "{scrape}"
    );
    eprintln!(
        "{} wrong secrets: {unauthorized} × 401, {busy} × 503 busy; with {TRICKLERS} hanging connections the valid delivery was accepted in {} ms",
        SENDERS * PER_SENDER,
        accepted_in.as_millis()
    );
    gitflic.assert_clean();
}
