//! The accounts harness of accounts.rs, accounts_durable.rs, reconnect_alert.rs and
//! connections.rs: the token key and a warm compile cache per test binary, the stateful fake
//! GitFlic set up for an OAuth client, the OAuth `cloud` connection's config, tokens stored as
//! a finished OAuth flow leaves them, and the [`World`] of the two files whose failures go to
//! Slack alone (accounts.rs, accounts_durable.rs). Each file adds its own helpers in `impl`
//! blocks.
//!
//! Include after `fakes.rs`, `gitflic_oauth.rs`, `running.rs` and `config_text.rs`.

#![allow(dead_code)]

use crate::config_text::*;
use crate::fakes::*;
use crate::gitflic_oauth::*;
use crate::running::base64_encode;
use exlogare_runtime::http::Secret;
use exlogare_service::accounts::tokens::TokenSet;
use exlogare_service::service::Service;
use std::path::{Path, PathBuf};
use std::sync::Once;

pub const WEBHOOK_SECRET: &str = "wh-accounts-9Qe2LmX4";
pub const CLIENT_ID: &str = "exlogare-test";
pub const CLIENT_SECRET: &str = "client-secret-test-77";
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// Sets the token key for every service in this binary, once and before any is built (tokens
/// are sealed with it); returns the warm compile cache, which is built after it.
pub fn key_and_cache() -> PathBuf {
    static KEY: Once = Once::new();
    KEY.call_once(|| {
        let hex: String = (0..32).map(|i| format!("{:02x}", i * 7 + 3)).collect();
        // SAFETY: set once, before any service of this binary reads the environment.
        unsafe { std::env::set_var("EXLOGARE_TOKEN_KEY", hex) };
    });
    compile_cache()
}

/// The stateful fake GitFlic of the OAuth client `client_id` (its token endpoints check the
/// client's Basic credentials), serving the recorded `scenarios`.
pub fn oauth_gitflic_for(client_id: &str, client_secret: &str, scenarios: &[&str]) -> OAuthGitflic {
    let basic = base64_encode(format!("{client_id}:{client_secret}").as_bytes());
    oauth_gitflic(
        &basic,
        load_exchanges(&exlogare_conformance_tests::gitflic_fixtures(), scenarios),
    )
}

/// The lines that end an OAuth connection's table: its client (the secret from `secret_file`)
/// and `[connections.oauth]`, GitFlic calling back to exlogare.example.
pub fn oauth_client(client_id: &str, secret_file: &Path) -> String {
    format!(
        "client_id = \"{client_id}\"\nclient_secret_file = {secret_file:?}\n[connections.oauth]\nredirect_url = \"https://exlogare.example/api/integrations/gitflic/oauth/callback\"\n"
    )
}

/// The OAuth connection `cloud` against the fake GitFlic at `api`, its webhook secret and
/// client secret in `dir/webhook-secret` and `dir/client-secret`; `extra` (whole lines, e.g.
/// `calls_per_hour = 3`) joins its table.
pub fn oauth_cloud(dir: &Path, api: &str, client_id: &str, extra: &str) -> String {
    let fields = format!(
        "webhook_secret_file = {:?}\n{extra}\n{}",
        dir.join("webhook-secret"),
        oauth_client(client_id, &dir.join("client-secret"))
    );
    gitflic_connection("cloud", api, &fields)
}

/// The `team-slack` notifier (see `slack_notifier`) and the route of `cloud`'s failures to it.
pub fn cloud_to_slack(dir: &Path) -> String {
    slack_notifier(dir) + "\n[[routes]]\nconnection = \"cloud\"\nnotifiers = [\"team-slack\"]\n"
}

/// Stores tokens for `cloud` as a finished OAuth flow does (sealed with the binary's key), as
/// GitFlic issues them: valid 30 days, so they were obtained 30 days before `expires_at` (a
/// token that expires in a minute is an old one, due for its refresh).
pub fn seed_tokens(s: &Service, access: &str, refresh: &str, expires_at: i64) {
    let set = TokenSet {
        access_token: Secret::new(access),
        refresh_token: Some(Secret::new(refresh)),
        expires_at: Some(expires_at),
    };
    s.accounts
        .as_ref()
        .unwrap()
        .tokens
        .save_tokens(&s.store, "cloud", &set, expires_at - 30 * 86_400_000)
        .unwrap();
}

/// The fake GitFlic (client [`CLIENT_ID`], serving failed-job-trace) and fake Slack, and a
/// folder with the secrets, the database and the config.
pub struct World {
    pub dir: tempfile::TempDir,
    pub gitflic: OAuthGitflic,
    pub slack: ChatFake,
}

impl World {
    pub fn new() -> World {
        let gitflic = oauth_gitflic_for(CLIENT_ID, CLIENT_SECRET, &["failed-job-trace"]);
        let slack = slack_fake();
        let dir = tempfile::tempdir().unwrap();
        let slack_url = format!("{}{SLACK_PATH}", slack.base);
        write_secrets(
            dir.path(),
            &[
                ("webhook-secret", WEBHOOK_SECRET),
                ("client-secret", CLIENT_SECRET),
                ("slack-url", &slack_url),
            ],
        );
        World {
            dir,
            gitflic,
            slack,
        }
    }

    /// Writes the config (`extra` joins the `cloud` connection's table, `tail` comes after the
    /// routes, e.g. a second connection) and returns its path.
    pub fn config(&self, extra: &str, tail: &str) -> PathBuf {
        let d = self.dir.path();
        let text = head(d, "", &Worker::default(), &key_and_cache())
            + &oauth_cloud(d, &self.gitflic.base, CLIENT_ID, extra)
            + &cloud_to_slack(d)
            + tail;
        write_config(d, &text)
    }
}
