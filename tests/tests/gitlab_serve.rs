//! One `serve` with both providers (issue 13): a GitFlic connection and a GitLab connection side
//! by side in one host, each on its own fake on 127.0.0.1 serving its recorded fixtures, each
//! webhook at `/api/integrations/{provider}/webhook/{connection}`, and one Slack room receiving
//! both failures. Each connection's requests go only to its own origin with its own credential
//! in its own scheme (`token …` to GitFlic, `Bearer …` to GitLab); the fakes refuse anything else.
//!
//! Needs both components: `./x test`, or
//! `cargo build -p exlogare-gitflic -p exlogare-gitlab --target wasm32-wasip2 --profile plugin`.

#[path = "support/config_text.rs"]
mod config_text;
#[path = "support/fakes.rs"]
mod fakes;
#[path = "support/running.rs"]
mod running;

use config_text::*;
use exlogare_conformance_tests::{
    gitflic_component, gitflic_fixtures, gitlab_component, workspace_root,
};
use fakes::*;
use running::{RunningHost, base64_encode, wait_until};
use std::path::Path;
use std::sync::Arc;

const GITFLIC_SECRET: &str = "wh-5Kq9vT2mXa7LpR3d";
const GITFLIC_TOKEN: &str = "gf-access-test-4b8e";
const GITLAB_SECRET: &str = "glwh-7Qv2xN5kLs9RtY4";
const GITLAB_TOKEN: &str = "glpat-test-0b9c3e5f7a1d";
/// The origin the GitLab recordings were made against; its REST root moves to the fake.
const RECORDED_GITLAB_API: &str = "https://gitlab.com/api/v4";
/// The GitLab connection's web root: links point there, requests go to the fake.
const GITLAB_WEB: &str = "https://gitlab.example.com";

/// One recorded GitLab exchange: method, path, decoded and sorted query pairs, the reply.
struct Recorded {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    reply: Reply,
    used: bool,
}

fn pairs(query: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    v.sort();
    v
}

/// `fixtures/gitlab/<scenario>/exchanges.toml` as the fake's script.
fn gitlab_exchanges(scenario: &str) -> Vec<Recorded> {
    let dir = workspace_root().join("fixtures/gitlab").join(scenario);
    let doc: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("exchanges.toml")).unwrap()).unwrap();
    let read = |x: &toml::Value, dir: &Path| -> Vec<u8> {
        match (
            x.get("body").and_then(|b| b.as_str()),
            x.get("body_file").and_then(|b| b.as_str()),
        ) {
            (Some(b), _) => b.as_bytes().to_vec(),
            (None, Some(f)) => std::fs::read(dir.join(f)).unwrap(),
            _ => Vec::new(),
        }
    };
    doc["exchange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let url = x["url"].as_str().unwrap();
            let rest = url
                .strip_prefix(RECORDED_GITLAB_API)
                .expect("a gitlab.com REST URL");
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut r = reply(x["status"].as_integer().unwrap() as u16, read(x, &dir));
            for (k, v) in x
                .get("headers")
                .and_then(|h| h.as_table())
                .into_iter()
                .flatten()
            {
                r = r.header(k, v.as_str().unwrap());
            }
            Recorded {
                method: x["method"].as_str().unwrap().into(),
                path: format!("/api/v4{path}"),
                query: pairs(query),
                reply: r,
                used: false,
            }
        })
        .collect()
}

/// A GitLab on 127.0.0.1 answering from the recordings; every request must carry
/// `Authorization: Bearer <the GitLab token>`, and each recording answers once.
fn gitlab_fake(scenario: &str) -> Fake<Vec<Recorded>> {
    Fake::start(
        gitlab_exchanges(scenario),
        Arc::new(|req: &Req, st: &mut Shared<Vec<Recorded>>| {
            let want = format!("Bearer {GITLAB_TOKEN}");
            if req.header("authorization") != Some(want.as_str()) {
                st.violations.push(format!(
                    "gitlab: {} {} carried another credential than the GitLab connection's Bearer token",
                    req.method, req.target
                ));
                return reply(401, r#"{"message":"401 Unauthorized"}"#);
            }
            let q = pairs(req.query());
            let found = st.inner.iter_mut().find(|e| {
                !e.used && e.method == req.method && e.path == req.path() && e.query == q
            });
            match found {
                Some(e) => {
                    e.used = true;
                    e.reply.clone()
                }
                None => {
                    st.violations.push(format!(
                        "gitlab: no recording for {} {}",
                        req.method, req.target
                    ));
                    reply(404, r#"{"message":"404 Not found"}"#)
                }
            }
        }),
    )
}

fn fixture(provider_fixtures: &Path, scenario: &str, file: &str) -> Vec<u8> {
    std::fs::read(provider_fixtures.join(scenario).join("bodies").join(file)).unwrap()
}

#[test]
fn gitflic_and_gitlab_failures_reach_one_slack_room_from_one_host() {
    let basic = base64_encode(b"exlogare-test:client-secret-test-77");
    let gitflic = gitflic_fake(
        GITFLIC_TOKEN,
        &basic,
        load_exchanges(&gitflic_fixtures(), &["failed-job-trace"]),
    );
    let gitlab = gitlab_fake("failed-pipeline-trace");
    let slack = slack_fake();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_secrets(
        d,
        &[
            ("gitflic-webhook-secret", GITFLIC_SECRET),
            ("gitflic-token", GITFLIC_TOKEN),
            ("gitlab-webhook-secret", GITLAB_SECRET),
            ("gitlab-token", GITLAB_TOKEN),
            ("slack-url", &format!("{}{SLACK_PATH}", slack.base)),
        ],
    );
    let gitflic_fields = format!(
        "options = {{ analyze_warnings = \"false\" }}\nwebhook_secret_file = {:?}\naccess_token_file = {:?}",
        d.join("gitflic-webhook-secret"),
        d.join("gitflic-token")
    );
    let config = server("")
        + &storage(d)
        + &Worker::default().section()
        + &plugins(
            &[gitflic_component(), gitlab_component()],
            Some(&d.join("cache")),
        )
        + &gitflic_connection("cloud", &gitflic.base, &gitflic_fields)
        + &format!(
            r#"
[[connections]]
id = "lab"
provider = "gitlab"
# These worlds serve a failure's recorded traffic alone; green runs: tests/tests/green_run.rs.
compare_green_runs = false
web_base = "{GITLAB_WEB}"
api_base = "{api}/api/v4"
oauth_base = "{api}"
allow_private = true
webhook_secret_file = {wh:?}
access_token_file = {at:?}
"#,
            api = gitlab.base,
            wh = d.join("gitlab-webhook-secret"),
            at = d.join("gitlab-token"),
        )
        + &slack_notifier(d)
        + r#"
[[routes]]
connection = "cloud"
project = "acme/*"
notifiers = ["team-slack"]

[[routes]]
connection = "lab"
project = "acme/*"
notifiers = ["team-slack"]
"#;
    let host = RunningHost::start(&write_config(d, &config), true, true);

    let post = |path: &str, headers: &[(&str, &str)], body: Vec<u8>| {
        let mut req = host.client.post(format!("{}{path}", host.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().unwrap())
    };
    let (status, text) = post(
        &format!("/api/integrations/gitflic/webhook/cloud?secret={GITFLIC_SECRET}"),
        &[
            ("content-type", "application/json"),
            ("gitflic-webhook-secret", GITFLIC_SECRET),
        ],
        fixture(&gitflic_fixtures(), "failed-job-trace", "delivery.json"),
    );
    assert!(
        (200..300).contains(&status),
        "GitFlic delivery: {status} {text}"
    );
    let gitlab_fixtures = workspace_root().join("fixtures/gitlab");
    let (status, text) = post(
        &format!("/api/integrations/gitlab/webhook/lab?secret={GITLAB_SECRET}"),
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Pipeline Hook"),
            ("x-gitlab-token", GITLAB_SECRET),
            ("x-gitlab-instance", GITLAB_WEB),
        ],
        fixture(&gitlab_fixtures, "failed-pipeline-trace", "delivery.json"),
    );
    assert!(
        (200..300).contains(&status),
        "GitLab delivery: {status} {text}"
    );
    // A GitLab delivery with the GitFlic connection's secret is refused: secrets are per connection.
    let (status, _) = post(
        "/api/integrations/gitlab/webhook/lab",
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Pipeline Hook"),
            ("x-gitlab-token", GITFLIC_SECRET),
        ],
        fixture(&gitlab_fixtures, "failed-pipeline-trace", "delivery.json"),
    );
    assert_eq!(status, 401);

    wait_until("both failures in the Slack room", || {
        slack.posted().len() >= 2
    });
    let texts: Vec<String> = slack.posted().iter().map(all_text).collect();
    let lab = texts
        .iter()
        .find(|t| t.contains("https://gitlab.example.com/acme/payments-api/-/pipelines/1187654"))
        .unwrap_or_else(|| {
            panic!(
                "no GitLab message with its deep link:\n{}",
                texts.join("\n---\n")
            )
        });
    assert!(
        lab.contains("settle_partial"),
        "the GitLab trace's error is in the message:\n{lab}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("https://gitflic.ru/project/acme/payments-api/ci-cd/pipeline/1287")),
        "no GitFlic message with its deep link:\n{}",
        texts.join("\n---\n")
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(slack.posted().len(), 2, "one message per failure");
    gitflic.assert_clean();
    gitlab.assert_clean();
    slack.assert_clean();
    assert!(
        gitlab.with(|s| s.inner.iter().all(|e| e.used)),
        "every GitLab recording was asked for"
    );
}
