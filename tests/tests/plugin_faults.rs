//! A provider plugin that misbehaves behind the webhook endpoint, end to end on 127.0.0.1:
//! the GitFlic plugin and the misbehave test plugin loaded side by side in one service, one
//! connection each. What the sender of a delivery gets when the plugin loops forever, traps
//! or keeps failing (503, nothing stored, so GitFlic's retry is not lost), and that the other
//! plugin's connection is served meanwhile.
//!
//! Needs both components: ./x test builds them (cargo build -p exlogare-gitflic -p
//! exlogare-test-misbehave --target wasm32-wasip2 --profile plugin).

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::{component, gitflic_component, gitflic_fixtures};
use running::RunningHost as Host;
use serde_json::Value;

const SECRET: &str = "wh-faults-R2d7Kp";

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        write_secrets(dir.path(), &[("secret", SECRET), ("token", "gf-token")]);
        World { dir }
    }

    /// `mode` is the misbehave plugin's behaviour on connection `bad` (loop, trap, alloc, ok).
    fn host(&self, mode: &str) -> Host {
        let d = self.dir.path();
        let rest = format!(
            r#"
[sandbox]
call_timeout_ms = 400
max_consecutive_traps = 2
trap_window_secs = 300

[[connections]]
id = "cloud"
provider = "gitflic"
web_base = "https://gitflic.ru"
api_base = "https://api.gitflic.ru"
oauth_base = "https://oauth.gitflic.ru"
webhook_secret_file = {secret:?}
access_token_file = {token:?}

[[connections]]
id = "bad"
provider = "misbehave"
web_base = "http://api.test"
api_base = "http://api.test"
oauth_base = "http://api.test"
options = {{ mode = "{mode}" }}
webhook_secret_file = {secret:?}
"#,
            secret = d.join("secret"),
            token = d.join("token"),
        );
        let both = plugins(
            &[gitflic_component(), component("exlogare-test-misbehave")],
            Some(&d.join("cache")),
        );
        let path = write_config(d, &(server("") + &storage(d) + &both + &rest));
        // No workers: what is asserted is the endpoint's answer and what it stored.
        Host::start(&path, false, true)
    }
}

impl Host {
    fn deliver(&self, provider: &str, connection: &str) -> (u16, Value) {
        let body = std::fs::read(gitflic_fixtures().join("failed-job-trace/bodies/delivery.json"))
            .unwrap();
        let resp = self
            .webhook(provider, connection, SECRET, body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_str(&resp.text().unwrap()).unwrap_or(Value::Null),
        )
    }

    fn stored(&self) -> usize {
        ["queued", "running", "done", "parked"]
            .iter()
            .map(|s| self.service.store.deliveries_in(s, 1000).unwrap().len())
            .sum()
    }
}

fn error_of(body: &Value) -> String {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error in {body}"))
        .to_string()
}

#[test]
fn a_plugin_that_loops_forever_gets_503_nothing_stored_and_is_disabled_after_repeated_faults() {
    let world = World::new();
    let host = world.host("loop");

    // The loop is cut at the call deadline: 503 so the sender retries, and nothing is stored.
    let (status, body) = host.deliver("misbehave", "bad");
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("plugin_fault")),
        "{body}"
    );
    let e = error_of(&body);
    assert!(
        e.contains("misbehave") && e.contains("nothing was stored"),
        "{e}"
    );
    assert!(
        e.to_lowercase().contains("deadline") || e.to_lowercase().contains("time"),
        "the cause is named: {e}"
    );
    assert_eq!(host.stored(), 0);

    // The GitFlic connection beside it is served as usual.
    let (status, body) = host.deliver("gitflic", "cloud");
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("queued")),
        "{body}"
    );
    assert_eq!(host.stored(), 1);

    // The second fault in a row opens the circuit: the next delivery is refused without running
    // the plugin, still 503 (the plugin may be fixed and reloaded; the sender keeps retrying).
    let (status, _) = host.deliver("misbehave", "bad");
    assert_eq!(status, 503);
    let (status, body) = host.deliver("misbehave", "bad");
    assert_eq!(status, 503, "{body}");
    assert!(
        error_of(&body).to_lowercase().contains("disabled"),
        "{body}"
    );
    assert_eq!(host.stored(), 1, "no fault stored anything");

    // The operator sees the open breaker and why, and switches it back on after a fix.
    let plugins: Value = host
        .client
        .get(format!("{}/api/plugins", host.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let misbehave = plugins["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "misbehave")
        .cloned()
        .unwrap();
    assert_eq!(misbehave["breaker"]["state"], "open", "{plugins}");
    assert!(misbehave["breaker"]["reenables_in_secs"].as_u64().unwrap() > 0);
    assert!(
        plugins["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "gitflic" && p["breaker"]["state"] == "closed"),
        "{plugins}"
    );
    let reset = host
        .client
        .post(format!("{}/api/plugins/misbehave/breaker/reset", host.base))
        .send()
        .unwrap();
    assert_eq!(reset.status().as_u16(), 200);
    let missing = host
        .client
        .post(format!("{}/api/plugins/nope/breaker/reset", host.base))
        .send()
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    // The next delivery runs the plugin again (and it still loops: the fault, not "disabled").
    let (status, body) = host.deliver("misbehave", "bad");
    assert_eq!(status, 503);
    assert!(
        !error_of(&body).to_lowercase().contains("disabled"),
        "the breaker was reset: {body}"
    );

    // The faults are counted for the operator.
    let metrics = host
        .client
        .get(format!("{}/metrics", host.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let faults = metrics
        .lines()
        .filter(|l| l.starts_with("exlogare_plugin_faults") && l.contains("misbehave"))
        .count();
    assert!(faults > 0, "plugin faults appear in /metrics:\n{metrics}");
}

#[test]
fn a_plugin_that_traps_gets_503_and_nothing_is_stored() {
    let world = World::new();
    let host = world.host("trap");
    let (status, body) = host.deliver("misbehave", "bad");
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("plugin_fault")),
        "{body}"
    );
    assert!(error_of(&body).contains("retry later"), "{body}");
    assert_eq!(host.stored(), 0);
    // A well-behaved mode of the same plugin answers normally (an ignored event: 200).
    let world = World::new();
    let host = world.host("ok");
    let (status, body) = host.deliver("misbehave", "bad");
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );
}
