//! Config text for the end-to-end tests, a section or table at a time, so that each test file
//! writes out only what is its own (its connections, notifiers, routes, limits) and the rest
//! reads the same everywhere. Secrets are files beside the config, as an operator keeps them.
//!
//! Include after `fakes.rs` (the notifier tables aim at its chat fakes):
//! `#[path = "support/config_text.rs"] mod config_text;`.

#![allow(dead_code)]

use crate::fakes::{MX_ROOM, TG_CHAT};
use exlogare_conformance_tests::gitflic_component;
use exlogare_service::config::Config;
use exlogare_service::service::Service;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Writes each `(name, value)` as the file `dir/name`, newline-terminated as an editor leaves it.
pub fn write_secrets(dir: &Path, secrets: &[(&str, &str)]) {
    for (name, value) in secrets {
        std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
    }
}

/// Writes `text` as `dir/exlogare.toml` (again: the next start reads the new one); returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("exlogare.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One compile cache per test binary, filled once before any test builds a service (so
/// concurrent builds only read it, and each service loads the GitFlic component from the
/// host-signed artifact instead of compiling it). The accounts tests set their token key first
/// (`accounts_world::key_and_cache`).
pub fn compile_cache() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let text =
            storage(dir.path()) + &plugins(&[gitflic_component()], Some(&dir.path().join("cache")));
        Service::build(toml::from_str::<Config>(&text).unwrap())
            .unwrap_or_else(|e| panic!("warming the compile cache: {e:#}"));
        dir
    });
    dir.path().join("cache")
}

/// `[server]` on 127.0.0.1:0, with `fields` (whole lines, e.g. [`admin`]'s).
pub fn server(fields: &str) -> String {
    format!("\n[server]\nlisten = \"127.0.0.1:0\"\n{fields}\n")
}

/// The `[server]` fields of a host with admin endpoints: the public URL its answers and alerts
/// link to, and the admin token from `dir/admin-token`.
pub fn admin(dir: &Path) -> String {
    format!(
        "public_url = \"https://exlogare.example/\"\nadmin_token_file = {:?}",
        dir.join("admin-token")
    )
}

/// `[storage]`: the database `exlogare.db` in `dir` (a second service on it is a restart or a CLI).
/// With `EXLOGARE_TEST_SERVICE_ON=postgres` (`./x test` runs the service suites so a second
/// time), a fresh PostgreSQL database instead, the same one for every service on `dir`.
pub fn storage(dir: &Path) -> String {
    if std::env::var("EXLOGARE_TEST_SERVICE_ON").as_deref() != Ok("postgres") {
        return format!("\n[storage]\npath = {:?}\n", dir.join("exlogare.db"));
    }
    let marker = dir.join("postgres-database");
    let url = std::fs::read_to_string(&marker).unwrap_or_else(|_| {
        let at = exlogare_storage::testing::fresh_postgres("a service test on PostgreSQL")
            .expect("EXLOGARE_TEST_SERVICE_ON=postgres needs EXLOGARE_TEST_POSTGRES");
        let exlogare_storage::Location::Postgres { url, .. } = at else {
            unreachable!("fresh_postgres gives a PostgreSQL location")
        };
        std::fs::write(&marker, &url).unwrap();
        url
    });
    // Short leases: a test that restarts a host waits for its old leases to run out.
    format!("\n[storage]\nurl = {url:?}\nlease_ms = 2000\n")
}

/// `[plugins]`: `files`, compiled into `cache` when one is given.
pub fn plugins(files: &[PathBuf], cache: Option<&Path>) -> String {
    let cache = cache
        .map(|c| format!("cache_dir = {c:?}\n"))
        .unwrap_or_default();
    format!("\n[plugins]\nfiles = {files:?}\n{cache}")
}

/// `[worker]` at test speed: backoffs of milliseconds, an idle worker looking again every 20 ms.
#[derive(Clone)]
pub struct Worker {
    pub threads: usize,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            threads: 2,
            max_attempts: 3,
            backoff_base_ms: 50,
            backoff_max_ms: 200,
        }
    }
}

impl Worker {
    pub fn section(&self) -> String {
        let Worker {
            threads,
            max_attempts,
            backoff_base_ms,
            backoff_max_ms,
        } = self;
        format!(
            "\n[worker]\nthreads = {threads}\nmax_attempts = {max_attempts}\nbackoff_base_ms = {backoff_base_ms}\nbackoff_max_ms = {backoff_max_ms}\npoll_interval_ms = 20\n"
        )
    }
}

/// What a served config has before its connections: `[server]` with `server_fields`, the
/// database in `dir`, `worker`, and the GitFlic plugin compiled into `cache`.
pub fn head(dir: &Path, server_fields: &str, worker: &Worker, cache: &Path) -> String {
    server(server_fields)
        + &storage(dir)
        + &worker.section()
        + &plugins(&[gitflic_component()], Some(cache))
}

/// A GitFlic `[[connections]]` table whose API and OAuth server are a fake at `api` (on
/// 127.0.0.1, so private addresses are allowed) and whose links point at gitflic.ru; `fields`
/// (credentials, options; whole lines) complete it. The comparison with green runs is off
/// unless `fields` sets it: these worlds serve a failure's recorded traffic alone, and the
/// comparison's own requests are tested in `green_run.rs`.
pub fn gitflic_connection(id: &str, api: &str, fields: &str) -> String {
    let compare = if fields.contains("compare_green_runs") {
        ""
    } else {
        "compare_green_runs = false"
    };
    format!(
        r#"
[[connections]]
id = "{id}"
provider = "gitflic"
web_base = "https://gitflic.ru"
api_base = "{api}"
oauth_base = "{api}"
allow_private = true
{compare}
{fields}
"#
    )
}

/// The `team-slack` notifier; its webhook URL (the Slack fake's) in `dir/slack-url`.
pub fn slack_notifier(dir: &Path) -> String {
    format!(
        "\n[[notifiers]]\nname = \"team-slack\"\nkind = \"slack\"\nwebhook_url_file = {:?}\ntimeout_ms = 5000\n",
        dir.join("slack-url")
    )
}

/// The `ops-telegram` notifier on the Telegram fake at `api`; its bot token in `dir/telegram-token`.
pub fn telegram_notifier(dir: &Path, api: &str) -> String {
    format!(
        "\n[[notifiers]]\nname = \"ops-telegram\"\nkind = \"telegram\"\napi_base = \"{api}\"\nchat_id = {TG_CHAT}\nbot_token_file = {:?}\ntimeout_ms = 5000\n",
        dir.join("telegram-token")
    )
}

/// The `ci-room` notifier on the Matrix fake at `homeserver`; its access token in `dir/matrix-token`.
pub fn matrix_notifier(dir: &Path, homeserver: &str) -> String {
    format!(
        "\n[[notifiers]]\nname = \"ci-room\"\nkind = \"matrix\"\nhomeserver = \"{homeserver}\"\nroom_id = \"{MX_ROOM}\"\naccess_token_file = {:?}\ntimeout_ms = 5000\n",
        dir.join("matrix-token")
    )
}
