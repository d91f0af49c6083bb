//! A plugin switched off by its circuit breaker does not cost the deliveries waiting for it
//! their attempts: they wait and come back, instead of running out of attempts inside the
//! breaker's window and being parked where the poller never brings them back.
//!
//! The misbehaving test plugin traps in `get-failure-details`; the delivery is stored directly
//! (its `verify-webhook` never queues anything) and the worker's steps run on the test thread
//! with `Service::process_next`, so each attempt is exact and nothing sleeps to prove a negative.
//!
//! Needs the components: cargo build --target wasm32-wasip2 --profile plugin -p exlogare-gitflic -p exlogare-test-misbehave

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::{component, gitflic_component};
use exlogare_service::storage::now_ms;
use running::RunningHost as Host;

#[test]
fn deliveries_wait_out_an_open_breaker_without_spending_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_secrets(d, &[("secret", "wh-breaker-7Hq2")]);
    let text = server("")
        + &storage(d)
        + &plugins(
            &[gitflic_component(), component("exlogare-test-misbehave")],
            Some(&d.join("cache")),
        )
        + &Worker {
            threads: 1,
            max_attempts: 3,
            backoff_base_ms: 1,
            backoff_max_ms: 1,
        }
        .section()
        + &format!(
            r#"
[sandbox]
max_consecutive_traps = 2
trap_window_secs = 300

[[connections]]
id = "bad"
provider = "misbehave"
web_base = "http://api.test"
api_base = "http://api.test"
oauth_base = "http://api.test"
options = {{ mode = "trap" }}
webhook_secret_file = {:?}
"#,
            d.join("secret")
        );
    let host = Host::start(&write_config(d, &text), false, false);
    let s = &host.service;
    let event = running::failed_pipeline("acme", "app", 7);
    let stored = s.enqueue_failure("misbehave", "bad", &event, b"{}", "webhook");
    let id = stored.body["delivery"].as_i64().expect("stored");

    let run_due = || {
        // Backoffs are 1 ms: wait for the delivery to be due, then run one step.
        while s.store.delivery(id).unwrap().unwrap().next_attempt_at > now_ms() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(s.process_next().unwrap(), "the delivery was due");
        s.store.delivery(id).unwrap().unwrap()
    };
    // Two traps: two attempts spent, and the breaker opens.
    for attempt in 1..=2 {
        let d = run_due();
        assert_eq!((d.state.as_str(), d.attempts), ("queued", attempt), "{d:?}");
    }
    // The third claim meets the open breaker: it waits, keeping its last attempt.
    let d = run_due();
    assert_eq!(d.state, "queued", "not parked: {d:?}");
    assert_eq!(d.attempts, 2, "the attempt is given back: {d:?}");
    let why = d.last_error.unwrap_or_default();
    assert!(why.contains("disabled"), "{why}");
    assert!(
        d.next_attempt_at > now_ms(),
        "it comes back later, not at once"
    );
}
