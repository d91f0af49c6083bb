//! Plugins loaded while `exlogare-host serve` runs, as an operator does it: a component copied
//! into the plugins folder serves after a SIGHUP, without a restart; one that does not load
//! (`plugins --reload`) leaves the earlier version serving, and the command exits 1 saying
//! which file and why; a delivery to the kept provider is still taken.
//!
//! Needs the components: cargo build -p exlogare-test-misbehave -p exlogare-gitflic --target wasm32-wasip2 --profile plugin

#[path = "support/component.rs"]
mod component;
#[path = "support/serving.rs"]
mod serving;

use component::{gitflic_component, misbehave_component};
use serde_json::Value;
use serving::{plugins, serve};
use std::path::Path;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-reload-cli-5Rw";

fn config(d: &Path) -> std::path::PathBuf {
    let folder = d.join("plugins");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(misbehave_component(), folder.join("misbehave.wasm")).unwrap();
    std::fs::write(d.join("admin-token"), ADMIN).unwrap();
    std::fs::write(d.join("secret"), "wh-reload-cli-8Kd").unwrap();
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
dir = {folder:?}

[[connections]]
id = "quiet"
provider = "misbehave"
web_base = "http://api.test"
api_base = "http://api.test"
oauth_base = "http://api.test"
options = {{ mode = "ok" }}
webhook_secret_file = {secret:?}
"#,
            admin = d.join("admin-token"),
            db = d.join("exlogare.db"),
            secret = d.join("secret"),
        ),
    )
    .unwrap();
    config
}

/// `GET /api/plugins` of the running host.
fn listing(url: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{url}/api/plugins"))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn ids(listing: &Value) -> Vec<String> {
    listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[cfg(unix)]
#[test]
fn a_component_added_to_the_folder_serves_after_sighup_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = config(d);
    let serving = serve(&config);
    let url = serving.1.clone();
    assert_eq!(ids(&listing(&url)), ["misbehave"]);

    // Added to the folder, announced with SIGHUP: no restart.
    std::fs::copy(gitflic_component(), d.join("plugins/gitflic.wasm")).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &serving.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let now = listing(&url);
        if ids(&now).len() == 2 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "gitflic not loaded after SIGHUP: {now}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ids(&after), ["gitflic", "misbehave"]);
    assert_eq!(after["last_reload"]["added"][0], "gitflic", "{after}");
    let digest = after["plugins"][0]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(digest.len(), 64);

    // A broken replacement: refused, the earlier version serves on, the operator hears why.
    std::fs::write(d.join("plugins/gitflic.wasm"), b"not a component").unwrap();
    let (code, out, err) = plugins(&config, &url, &["--reload"]);
    assert_eq!(
        code, 1,
        "a refused component is a failed reload: {out}{err}"
    );
    assert!(
        out.contains("refused ") && out.contains("gitflic.wasm"),
        "{out}"
    );
    assert!(
        out.contains("kept gitflic: ") && out.contains("the version loaded before keeps serving"),
        "{out}"
    );
    let now = listing(&url);
    assert_eq!(ids(&now), ["gitflic", "misbehave"]);
    assert_eq!(now["plugins"][0]["sha256"], digest.as_str(), "{now}");
    let metrics = reqwest::blocking::get(format!("{url}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(r#"exlogare_plugin_reloads_total{outcome="with_refusals"} 1"#)
            && metrics.contains("exlogare_plugin_files_refused 1"),
        "{metrics}"
    );
    // The kept provider still answers its webhooks: GitFlic's endpoint knows no connection
    // `nope` (404 from the host, not "no such provider").
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/api/integrations/gitflic/webhook/nope"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("no provider"), "{body}");

    // Mended: the next reload is clean and the command says what it did.
    std::fs::copy(gitflic_component(), d.join("plugins/gitflic.wasm")).unwrap();
    let (code, out, err) = plugins(&config, &url, &["--reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("unchanged: gitflic, misbehave"), "{out}");
}
