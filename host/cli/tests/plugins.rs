//! `exlogare-host plugins` against a running `exlogare-host serve`, both as an operator runs
//! them: a plugin that trapped on a delivery is shown with its breaker open and why, `--reset`
//! closes it, and a host that is not running gets a sentence saying what to do.
//!
//! Needs the misbehave component: cargo build -p exlogare-test-misbehave --target wasm32-wasip2 --profile plugin

#[path = "support/component.rs"]
mod component;
#[path = "support/serving.rs"]
mod serving;

use component::misbehave_component;
use serving::{plugins, serve};

#[test]
fn an_open_breaker_is_shown_with_why_and_reset_by_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("secret"), "wh-plugins-cli-6Tq").unwrap();
    std::fs::write(d.join("admin-token"), "admin-plugins-cli-93").unwrap();
    let config = d.join("exlogare.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
admin_token_file = {admin:?}

[storage]
path = {db:?}

[plugins]
files = [{plugin:?}]

[sandbox]
max_consecutive_traps = 1

[[connections]]
id = "bad"
provider = "misbehave"
web_base = "http://api.test"
api_base = "http://api.test"
oauth_base = "http://api.test"
options = {{ mode = "trap" }}
webhook_secret_file = {secret:?}
"#,
            admin = d.join("admin-token"),
            db = d.join("exlogare.db"),
            plugin = misbehave_component(),
            secret = d.join("secret"),
        ),
    )
    .unwrap();
    let serving = serve(&config);
    let url = serving.1.clone();

    let (code, out, err) = plugins(&config, &url, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "misbehave (Misbehaving test plugin contract 0.1.0): breaker closed, 0 recent faults"
        ),
        "{out}"
    );

    // One delivery whose verification traps opens the breaker (max_consecutive_traps = 1).
    let status = reqwest::blocking::Client::new()
        .post(format!(
            "{url}/api/integrations/misbehave/webhook/bad?secret=wh-plugins-cli-6Tq"
        ))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 503);
    let (code, out, err) = plugins(&config, &url, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("breaker open: "), "{out}");
    assert!(
        out.contains("misbehave: asked to trap"),
        "the panic's words: {out}"
    );
    assert!(out.contains("re-enables itself in"), "{out}");

    let (code, out, err) = plugins(&config, &url, &["--reset", "misbehave"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("misbehave: breaker closed (it was open: "),
        "{out}"
    );
    let (_, out, _) = plugins(&config, &url, &[]);
    assert!(out.contains("breaker closed, 0 recent faults"), "{out}");

    let (code, _, err) = plugins(&config, &url, &["--reset", "gitflic"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no plugin `gitflic` is loaded (loaded: misbehave)"),
        "{err}"
    );

    drop(serving);
    let (code, _, err) = plugins(&config, &url, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot reach the running host") && err.contains("--url"),
        "{err}"
    );
}
