//! The service's configuration: one TOML file, environment overrides, secrets from the
//! environment or files (never from the file itself, never logged).
//!
//! `exlogare.example.toml` at the repository root documents every field. Sections:
//! `[server]`, `[storage]`, `[worker]`, `[plugins]`, `[sandbox]`, `[analysis]`,
//! `[[connections]]`, `[[notifiers]]`, `[[routes]]`.

use exlogare_runtime::connection::ConnectionSpec;
use exlogare_runtime::http::Secret;
use exlogare_runtime::limits::SandboxLimits;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub sandbox: SandboxLimits,
    #[serde(default)]
    pub analysis: AnalysisConfig,
    #[serde(default)]
    pub connections: Vec<ConnectionConfig>,
    #[serde(default)]
    pub notifiers: Vec<exlogare_notify::NotifierConfig>,
    #[serde(default)]
    pub routes: Vec<exlogare_notify::RouteConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    /// Webhook bodies above this are refused with 413 before any plugin sees them.
    pub max_body_bytes: usize,
    /// Deliveries queued or running above this are refused with 503 (the sender retries).
    pub max_queued: u64,
    /// The token that opens the admin endpoints (OAuth start, `/api/connections`), as
    /// `Authorization: Bearer …` or, for a browser link to OAuth start, `?admin_token=…`.
    /// Without one those endpoints are open, and `serve` warns at start-up.
    pub admin_token_env: Option<String>,
    pub admin_token_file: Option<PathBuf>,
    /// How GitFlic (and browsers) reach this host, e.g. `https://exlogare.example.com`: the root
    /// of registered webhook URLs and of the default OAuth redirect. Default `http://{listen}`.
    pub public_url: Option<String>,
    /// Webhook deliveries checked by a plugin at once, over all providers; the excess gets 503
    /// with `Retry-After` without running any plugin. Below the engine's instance pool, so a
    /// flood of deliveries cannot take every instance (nor count against a plugin).
    pub max_concurrent_verifications: u32,
    /// How long a webhook sender may take to send its body once its headers are in; a slower
    /// one gets 408, so trickling senders cannot hold connections.
    pub body_read_timeout_ms: u64,
    /// Connections open at once (`server::edge`); the next waits in the kernel's backlog.
    pub max_connections: u32,
    /// A request's head (request line and headers) must arrive whole within this of its
    /// first byte, else the connection is closed: a client that trickles headers holds it
    /// no longer.
    pub header_read_timeout_ms: u64,
    /// A connection that sends nothing for this long is closed (keep-alive included).
    pub idle_timeout_ms: u64,
}

/// The most [`ServerConfig::max_concurrent_verifications`] may be: half the engine's
/// instance pool, leaving the rest to the workers, the poller and the admin API.
pub const MAX_CONCURRENT_VERIFICATIONS: u32 = 32;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1 << 20,
            max_queued: 10_000,
            admin_token_env: None,
            admin_token_file: None,
            public_url: None,
            max_concurrent_verifications: 16,
            body_read_timeout_ms: 10_000,
            max_connections: 512,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The SQLite file (the default backend: one host).
    pub path: PathBuf,
    /// A PostgreSQL database shared by several replicas (`postgres://user@host:5432/db`);
    /// when set, `path` is not used. Its password, if not in the URL, from `password_env` or
    /// `password_file`, like every other secret.
    pub url: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// How long a claimed delivery stays this process's without a renewal (renewed every
    /// quarter of it): how soon another replica takes over the work of one that died.
    pub lease_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("exlogare.db"),
            url: None,
            password_env: None,
            password_file: None,
            lease_ms: crate::storage::DEFAULT_LEASE_MS as u64,
        }
    }
}

impl StorageConfig {
    /// Where the database is, its password resolved.
    pub fn location(&self) -> anyhow::Result<exlogare_storage::Location> {
        let password = resolve_secret(
            "PostgreSQL password ([storage] password_*)",
            &self.password_env,
            &self.password_file,
        )?;
        match self.url.as_deref().map(str::trim) {
            Some(url) if url.starts_with("sqlite:") || url.ends_with(".db") => anyhow::bail!(
                "[storage] url = {url:?}: only PostgreSQL goes here (postgres://user@host:5432/database, or libpq's key=value form); for a SQLite file set `path`"
            ),
            // A URL or libpq's `host=… dbname=…`: the driver reads both and says what is wrong.
            Some(url) => Ok(exlogare_storage::Location::Postgres {
                url: url.to_string(),
                password: password.map(|p| p.expose().to_string()),
            }),
            None if password.is_some() => anyhow::bail!(
                "[storage] has a password but no url; the password is for a PostgreSQL url"
            ),
            None => Ok(exlogare_storage::Location::SqliteFile(self.path.clone())),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    pub threads: usize,
    /// Attempts before a delivery is parked with its reason.
    pub max_attempts: u32,
    /// Backoff after the n-th failure: base * 2^(n-1), capped.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// How often an idle worker looks for due work.
    pub poll_interval_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            threads: 2,
            max_attempts: 6,
            backoff_base_ms: 5_000,
            backoff_max_ms: 15 * 60_000,
            poll_interval_ms: 250,
        }
    }
}

impl WorkerConfig {
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let exp = attempt.saturating_sub(1).min(20);
        self.backoff_base_ms
            .saturating_mul(1 << exp)
            .min(self.backoff_max_ms)
    }
}

/// `[analysis]`: the optional model step (analysis/src/model.rs). Off without `model_url`.
///
/// The service reads it only from here: the `EXLOGARE_MODEL_*` variables the `analyze` command
/// uses do not override it, so where report excerpts are sent is decided in this file alone.
/// The URL is host egress, used by the host's own client; plugins never get it (their requests
/// are held to their connection's origins).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// OpenAI-compatible base URL, e.g. `https://api.openai.com/v1` (`/chat/completions` is
    /// appended); http or https.
    pub model_url: Option<String>,
    /// Default `gpt-4o-mini`.
    pub model: Option<String>,
    /// The API key (sent as a bearer token); none for an endpoint that needs none.
    pub model_key_env: Option<String>,
    pub model_key_file: Option<PathBuf>,
    /// Whole-request bound, 1..=120 seconds; default 20. A slower answer is abandoned and the
    /// deterministic report is posted.
    pub timeout_secs: Option<u64>,
}

impl AnalysisConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(t) = self.timeout_secs
            && !exlogare_analysis::model::TIMEOUT_SECS.contains(&t)
        {
            let r = exlogare_analysis::model::TIMEOUT_SECS;
            anyhow::bail!(
                "[analysis] timeout_secs = {t}: must be {} to {} seconds",
                r.start(),
                r.end()
            );
        }
        if self.model_key_env.is_some() && self.model_key_file.is_some() {
            anyhow::bail!(
                "[analysis] model key: give either model_key_env or model_key_file, not both"
            );
        }
        match &self.model_url {
            Some(url) => exlogare_analysis::model::check_url(url)
                .map_err(|e| anyhow::anyhow!("[analysis] model_url: {e}"))?,
            None if self.model.is_some()
                || self.model_key_env.is_some()
                || self.model_key_file.is_some() =>
            {
                anyhow::bail!(
                    "[analysis] names a model or its key but no model_url; set model_url (or remove them) — the model step is off without it"
                )
            }
            None => {}
        }
        Ok(())
    }

    /// The model step's settings with its key resolved (at start-up): `None` when it is off.
    pub fn model_config(&self) -> anyhow::Result<Option<exlogare_analysis::model::ModelConfig>> {
        let Some(url) = &self.model_url else {
            return Ok(None);
        };
        let key = resolve_secret(
            "model key ([analysis] model_key_*)",
            &self.model_key_env,
            &self.model_key_file,
        )?;
        Ok(Some(exlogare_analysis::model::ModelConfig {
            url: url.trim().to_owned(),
            model: self
                .model
                .clone()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| exlogare_analysis::model::DEFAULT_MODEL.to_owned()),
            api_key: key.map(|k| k.expose().to_owned()),
            timeout: std::time::Duration::from_secs(
                self.timeout_secs
                    .unwrap_or(exlogare_analysis::model::DEFAULT_TIMEOUT_SECS),
            ),
        }))
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Every `*.wasm` here is loaded.
    pub dir: Option<PathBuf>,
    /// More plugin files.
    pub files: Vec<PathBuf>,
    /// Host-signed compile cache.
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Used in the webhook URL: `/api/integrations/{provider}/webhook/{id}`.
    pub id: String,
    pub provider: String,
    /// Web UI root; empty or absent: the provider's public service (GitFlic: https://gitflic.ru).
    #[serde(default)]
    pub web_base: String,
    /// REST root; absent: derived by the provider plugin from `web_base`.
    #[serde(default)]
    pub api_base: String,
    /// OAuth root; absent: derived by the provider plugin from `web_base`.
    #[serde(default)]
    pub oauth_base: String,
    /// Provider-specific switches, passed to the plugin as they are.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    /// Loopback and private addresses, for a self-hosted instance on the operator's network.
    #[serde(default)]
    pub allow_private: bool,
    /// Origins besides the API and OAuth ones the plugin may reach (no credentials go there).
    #[serde(default)]
    pub extra_origins: Vec<String>,
    /// PEM file with an extra CA for a self-hosted instance.
    pub ca_file: Option<PathBuf>,
    /// The same CA as PEM text (a connection added through the API keeps it in its stored row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    pub webhook_secret_env: Option<String>,
    pub webhook_secret_file: Option<PathBuf>,
    pub access_token_env: Option<String>,
    pub access_token_file: Option<PathBuf>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// OAuth: when present, the access token comes from the encrypted token store
    /// (connect via `/api/integrations/{provider}/oauth/start/{id}`) instead of `access_token_*`.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// Provider requests per hour this connection may make (all paths together); default 250,
    /// half of the GitFlic cloud's 500/hour. A request past it is refused before it is sent.
    pub calls_per_hour: Option<u32>,
    /// Compare each failing log with the same job's last green run, where the provider plugin
    /// can find one (`green-runs`, green_run.rs): a few more requests on a job's first failure,
    /// none on a repeated one. Default on; `false` reads failing logs alone.
    #[serde(default = "default_true")]
    pub compare_green_runs: bool,
}

fn default_true() -> bool {
    true
}

/// A connection's OAuth client settings; the client id and secret are `client_id` / `client_secret_*`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Where the provider sends the user back; default `http://{server.listen}/api/integrations/{provider}/oauth/callback`.
    pub redirect_url: Option<String>,
    /// The scopes to ask for; empty asks for the provider plugin's own default (GitFlic:
    /// `PROJECT_READ PROJECT_WRITE USER_READ PROJECT_EDIT`; GitLab: `api`): which scopes a
    /// provider has is its plugin's knowledge, not the host's.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl ServerConfig {
    /// `serve` refuses to listen beyond loopback with the admin API open: anyone reaching the
    /// port could add connections aimed at internal addresses, point hooks elsewhere and read
    /// their secrets. Loopback without a token stays allowed for development.
    pub fn check_admin_exposure(&self) -> anyhow::Result<()> {
        if self.admin_token_env.is_some() || self.admin_token_file.is_some() {
            return Ok(());
        }
        let host = self
            .listen
            .rsplit_once(':')
            .map_or(self.listen.as_str(), |(h, _)| h)
            .trim_matches(['[', ']']);
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            anyhow::bail!(
                "[server] listen = {} is reachable beyond this machine, but no admin token is set: set [server] admin_token_env or admin_token_file (the admin API manages connections and webhooks)",
                self.listen
            );
        }
        Ok(())
    }

    /// The root other systems reach this host at (no trailing slash).
    pub fn public_root(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// Connection ids are part of URLs: letters, digits, `-` and `_`, at most 64.
pub fn check_connection_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        anyhow::bail!(
            "connection id `{id}` must be 1-64 letters, digits, `-` or `_` (it is part of a URL)"
        );
    }
    Ok(())
}

impl ConnectionConfig {
    pub fn endpoint(&self) -> ConnectionSpec {
        ConnectionSpec {
            web_base: self.web_base.clone(),
            api_base: self.api_base.clone(),
            oauth_base: self.oauth_base.clone(),
            options: self.options.clone(),
            allow_private: self.allow_private,
            extra_origins: self.extra_origins.clone(),
        }
    }
}

/// Reads a secret named by an environment variable or a file; `what` names it in errors.
pub fn resolve_secret(
    what: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<Secret>> {
    match (env, file) {
        (Some(_), Some(_)) => {
            anyhow::bail!("{what}: give either an environment variable or a file, not both")
        }
        (Some(var), None) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim().to_string()))),
            _ => anyhow::bail!("{what}: environment variable {var} is not set (or empty)"),
        },
        (None, Some(path)) => {
            let v = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{what}: cannot read {}: {e}", path.display()))?;
            if v.trim().is_empty() {
                anyhow::bail!("{what}: {} is empty", path.display());
            }
            Ok(Some(Secret::new(v.trim().to_string())))
        }
        (None, None) => Ok(None),
    }
}

impl Config {
    /// Reads the file, applies `EXLOGARE_*` environment overrides and checks cross-references.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Environment overrides for what differs per deployment.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("EXLOGARE_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = get("EXLOGARE_DB") {
            // A PostgreSQL URL or a SQLite file: the deployment picks the backend.
            if v.starts_with("postgres://") || v.starts_with("postgresql://") {
                self.storage.url = Some(v);
            } else {
                self.storage.path = v.into();
            }
        }
        if let Some(v) = get("EXLOGARE_PLUGINS_DIR") {
            self.plugins.dir = Some(v.into());
        }
        if let Some(v) = get("EXLOGARE_WORKER_THREADS") {
            self.worker.threads = v
                .parse()
                .map_err(|_| anyhow::anyhow!("EXLOGARE_WORKER_THREADS={v} is not a number"))?;
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1_000..=3_600_000).contains(&self.storage.lease_ms) {
            anyhow::bail!(
                "[storage] lease_ms = {}: must be 1000 to 3600000 (a second to an hour)",
                self.storage.lease_ms
            );
        }
        self.sandbox.validate().map_err(anyhow::Error::msg)?;
        self.analysis.validate()?;
        if self.worker.threads == 0 || self.worker.max_attempts == 0 {
            anyhow::bail!("worker.threads and worker.max_attempts must be at least 1");
        }
        let v = self.server.max_concurrent_verifications;
        if !(1..=MAX_CONCURRENT_VERIFICATIONS).contains(&v) {
            anyhow::bail!(
                "[server] max_concurrent_verifications = {v}: must be 1 to {MAX_CONCURRENT_VERIFICATIONS} (half the plugin instance pool, so deliveries cannot take it all)"
            );
        }
        if !(1..=120_000).contains(&self.server.body_read_timeout_ms) {
            anyhow::bail!(
                "[server] body_read_timeout_ms = {}: must be 1 to 120000 (a webhook body is small; a slow sender should not hold a connection longer)",
                self.server.body_read_timeout_ms
            );
        }
        if self.server.max_connections == 0
            || self.server.header_read_timeout_ms == 0
            || self.server.idle_timeout_ms == 0
        {
            anyhow::bail!(
                "[server] max_connections, header_read_timeout_ms and idle_timeout_ms must be at least 1: each bounds what slow or many clients can hold"
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        for c in &self.connections {
            check_connection_id(&c.id)?;
            if c.ca_file.is_some() && c.ca_pem.is_some() {
                anyhow::bail!("connection `{}`: give ca_file or ca_pem, not both", c.id);
            }
            if !ids.insert(&c.id) {
                anyhow::bail!("connection id `{}` is used twice", c.id);
            }
            // Roots left out are derived by the plugin when the service starts, and checked then.
            if !c.api_base.is_empty() && !c.oauth_base.is_empty() {
                c.endpoint()
                    .policy()
                    .map_err(|e| anyhow::anyhow!("connection `{}`: {e}", c.id))?;
            }
        }
        for r in &self.routes {
            if let Some(c) = &r.connection
                && !ids.contains(c)
            {
                anyhow::bail!("a route names connection `{c}`, which is not configured");
            }
        }
        exlogare_notify::check_routes(&self.routes, &self.notifiers)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let w = WorkerConfig {
            backoff_base_ms: 1000,
            backoff_max_ms: 5000,
            ..Default::default()
        };
        assert_eq!(
            [
                w.backoff_ms(1),
                w.backoff_ms(2),
                w.backoff_ms(3),
                w.backoff_ms(4)
            ],
            [1000, 2000, 4000, 5000]
        );
    }

    #[test]
    fn secrets_come_from_env_or_file_and_missing_ones_are_named() {
        let err = resolve_secret(
            "webhook secret of `cloud`",
            &Some("EXLOGARE_TEST_SURELY_UNSET".into()),
            &None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("EXLOGARE_TEST_SURELY_UNSET"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "abc\n").unwrap();
        assert_eq!(
            resolve_secret("x", &None, &Some(f))
                .unwrap()
                .unwrap()
                .expose(),
            "abc"
        );
        assert!(resolve_secret("x", &None, &None).unwrap().is_none());
    }

    #[test]
    fn env_overrides_apply() {
        let mut c: Config = toml::from_str("").unwrap();
        c.apply_env(|k| (k == "EXLOGARE_LISTEN").then(|| "0.0.0.0:9".to_string()))
            .unwrap();
        assert_eq!(c.server.listen, "0.0.0.0:9");
        assert!(
            c.apply_env(|k| (k == "EXLOGARE_WORKER_THREADS").then(|| "two".to_string()))
                .is_err()
        );
    }
}

#[cfg(test)]
mod analysis_section {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Config> {
        let c: Config = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn absent_means_off() {
        let c = parse("").unwrap();
        assert!(c.analysis.model_url.is_none());
        assert!(c.analysis.model_config().unwrap().is_none());
    }

    #[test]
    fn a_full_section_parses_with_its_key_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("model-key");
        std::fs::write(&key, "sk-from-file\n").unwrap();
        let c = parse(&format!(
            "[analysis]\nmodel_url = \"https://llm.example/v1\"\nmodel = \"m-1\"\nmodel_key_file = {key:?}\ntimeout_secs = 7\n"
        ))
        .unwrap();
        let m = c.analysis.model_config().unwrap().unwrap();
        assert_eq!(
            (m.url.as_str(), m.model.as_str(), m.api_key.as_deref()),
            ("https://llm.example/v1", "m-1", Some("sk-from-file"))
        );
        assert_eq!(m.timeout, std::time::Duration::from_secs(7));
        assert!(
            !format!("{c:?}{m:?}").contains("sk-from-file"),
            "the key is never in Debug output"
        );
    }

    #[test]
    fn defaults_and_no_key() {
        let c = parse("[analysis]\nmodel_url = \"http://127.0.0.1:11434/v1\"\n").unwrap();
        let m = c.analysis.model_config().unwrap().unwrap();
        assert_eq!(m.model, exlogare_analysis::model::DEFAULT_MODEL);
        assert_eq!(
            m.timeout,
            std::time::Duration::from_secs(exlogare_analysis::model::DEFAULT_TIMEOUT_SECS)
        );
        assert!(m.api_key.is_none());
    }

    #[test]
    fn bad_urls_are_refused_naming_the_field() {
        for url in [
            "llm.example/v1",
            "ftp://llm.example/v1",
            "file:///tmp/x",
            "https://me:sk-inline@llm.example/v1",
        ] {
            let err = parse(&format!("[analysis]\nmodel_url = \"{url}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("[analysis] model_url"), "{url}: {err}");
            assert!(!err.contains("sk-inline"), "{err}");
        }
    }

    #[test]
    fn the_timeout_is_bounded() {
        for t in [0, 121, 3600] {
            let err = parse(&format!(
                "[analysis]\nmodel_url = \"https://llm.example/v1\"\ntimeout_secs = {t}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains("timeout_secs"), "{t}: {err}");
        }
        for t in [1, 120] {
            parse(&format!(
                "[analysis]\nmodel_url = \"https://llm.example/v1\"\ntimeout_secs = {t}\n"
            ))
            .unwrap();
        }
    }

    #[test]
    fn the_key_comes_from_env_or_file_not_both_and_never_inline() {
        let err = parse("[analysis]\nmodel_url = \"https://llm.example/v1\"\nmodel_key_env = \"K\"\nmodel_key_file = \"/k\"\n").unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        // An inline key is not a field.
        assert!(
            parse(
                "[analysis]\nmodel_url = \"https://llm.example/v1\"\nmodel_key = \"sk-inline\"\n"
            )
            .is_err()
        );
        // A key (or model) without a URL is a mistake, not silently nothing.
        let err = parse("[analysis]\nmodel_key_env = \"K\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("model_url"), "{err}");
    }

    #[test]
    fn a_missing_key_variable_or_file_fails_at_start_up_naming_it() {
        let c = parse("[analysis]\nmodel_url = \"https://llm.example/v1\"\nmodel_key_env = \"EXLOGARE_TEST_MODEL_KEY_SURELY_UNSET\"\n").unwrap();
        let err = c.analysis.model_config().unwrap_err().to_string();
        assert!(
            err.contains("EXLOGARE_TEST_MODEL_KEY_SURELY_UNSET") && err.contains("[analysis]"),
            "{err}"
        );
        let c = parse("[analysis]\nmodel_url = \"https://llm.example/v1\"\nmodel_key_file = \"/nonexistent/exlogare/model-key\"\n").unwrap();
        let err = c.analysis.model_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/exlogare/model-key"), "{err}");
    }

    /// The commented `[analysis]` example in exlogare.example.toml is valid once uncommented.
    #[test]
    fn the_commented_example_is_valid() {
        let text = include_str!("../../../exlogare.example.toml");
        let section: String = text
            .lines()
            .skip_while(|l| *l != "# [analysis]")
            .take_while(|l| l.starts_with("# "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        assert!(
            section.contains("model_url"),
            "no commented [analysis] example: {section}"
        );
        let c = parse(&section).unwrap();
        let a = c.analysis;
        assert_eq!(
            (a.model_url.as_deref(), a.timeout_secs),
            (Some("https://api.openai.com/v1"), Some(20))
        );
        assert!(a.model_key_env.is_some());
    }

    #[test]
    fn model_environment_variables_do_not_override_the_file() {
        let mut c = parse("").unwrap();
        c.apply_env(|k| {
            k.starts_with("EXLOGARE_MODEL")
                .then(|| "http://elsewhere.example/v1".to_string())
        })
        .unwrap();
        assert!(c.analysis.model_url.is_none());
    }
}

#[cfg(test)]
mod example {
    /// The example in the repository is a valid config (secrets are resolved only at start-up).
    #[test]
    fn the_example_config_parses_and_validates() {
        let text = include_str!("../../../exlogare.example.toml");
        let config: super::Config = toml::from_str(text).expect("exlogare.example.toml parses");
        config.validate().expect("exlogare.example.toml validates");
        assert_eq!(config.connections.len(), 2);
        assert!(config.connections[1].allow_private);
    }

    #[test]
    fn serving_beyond_loopback_needs_an_admin_token() {
        let server = |listen: &str, token: bool| super::ServerConfig {
            listen: listen.into(),
            admin_token_env: token.then(|| "EXLOGARE_ADMIN_TOKEN".to_string()),
            ..super::ServerConfig::default()
        };
        for open in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.1.2.3:80",
            "exlogare.example:8080",
        ] {
            let err = server(open, false)
                .check_admin_exposure()
                .unwrap_err()
                .to_string();
            assert!(err.contains("admin_token_env"), "{open}: {err}");
            assert!(server(open, true).check_admin_exposure().is_ok(), "{open}");
        }
        for local in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "127.0.0.1:0",
        ] {
            assert!(
                server(local, false).check_admin_exposure().is_ok(),
                "{local}"
            );
        }
    }
    #[test]
    fn verifications_stay_below_the_instance_pool() {
        let base = "[storage]\npath = \"x.db\"\n";
        let parse = |server: &str| {
            toml::from_str::<super::Config>(&format!("{base}[server]\n{server}\n")).unwrap()
        };
        assert_eq!(parse("").server.max_concurrent_verifications, 16);
        assert!(
            parse("max_concurrent_verifications = 32")
                .validate()
                .is_ok()
        );
        for bad in [
            "max_concurrent_verifications = 0",
            "max_concurrent_verifications = 64",
        ] {
            let err = parse(bad).validate().unwrap_err().to_string();
            assert!(err.contains("max_concurrent_verifications"), "{bad}: {err}");
        }
    }
}
