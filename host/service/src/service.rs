//! The service's core, independent of HTTP framing: what a webhook delivery gets, and what a
//! worker does with a stored one. `server.rs` only maps HTTP onto [`Service::webhook`];
//! `worker.rs` only loops over [`Service::process_next`].
//!
//! The order of a delivery's life is fixed so nothing is lost or sent twice: verify (plugin) →
//! store (committed before the answer) → analyse (plugin + analysis) → store the report → post
//! to each routed notifier, recording each success before the next; a retry redoes only what
//! has no record.

use crate::config::{Config, ConnectionConfig, resolve_secret};
use crate::metrics::Metrics;
use crate::outcome::Outcome;
use crate::pipeline::{FailureAnalysis, LogProblem, LogWords, PipelineError, analyze_failure};
pub use crate::provider_words::panic_text;
use crate::storage::{Delivery, Enqueued, NewDelivery, Store, idem_key, now_ms};
use exlogare_notify::{self as notify, AlertProblem, FailureMessage, Notifier};
use exlogare_runtime::call_state::Clock;
use exlogare_runtime::contract;
use exlogare_runtime::egress::EgressPolicy;
use exlogare_runtime::engine::{EngineOptions, HostEngine};
use exlogare_runtime::http::gate::Credentials;
use exlogare_runtime::http::live::{LiveBackend, LiveOptions};
use exlogare_runtime::http::{HttpBackend, Secret};
use exlogare_runtime::live_plugins::LivePlugins;
use exlogare_runtime::log_sink::LogSink;
use exlogare_runtime::plugin::{CallContext, LoadedPlugin, PluginFault, PluginRuntime};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// What one configured connection needs at run time.
pub struct ConnectionRuntime {
    pub config: ConnectionConfig,
    pub conn: contract::Connection,
    pub policy: EgressPolicy,
    pub backend: Arc<dyn HttpBackend>,
    pub credentials: Credentials,
    pub webhook_secret: Option<Secret>,
    /// Set when the provider rejected the credentials: the user must reconnect.
    pub needs_reconnection: Arc<Mutex<Option<String>>>,
    /// Provider requests in the last hour (every path); see accounts/budget.rs `BudgetedBackend`.
    pub budget: Arc<Mutex<crate::accounts::budget::RequestBudget>>,
    /// For a connection added at run time, the `updated_at` of its stored row (a change
    /// rebuilds the runtime); `None` for one from the config file.
    pub stored_version: Option<i64>,
    /// What its requests met lately (reachability.rs): an unreachable provider or a refusing
    /// egress policy is one chat alert, not a silent run of parked deliveries.
    pub reach: Arc<crate::reachability::Reachability>,
    /// The metered backend under the budget, for [`ConnectionRuntime::for_polling`].
    metered: Arc<dyn HttpBackend>,
}

impl ConnectionRuntime {
    /// The same connection for a polling round: its calls spend the budget as polling
    /// (accounts/budget.rs plans the poll interval from what the webhook path leaves) and are
    /// counted in `spent`. Everything else (the flag, the budget, reachability) is shared.
    pub fn for_polling(&self, spent: Arc<std::sync::atomic::AtomicU32>) -> ConnectionRuntime {
        ConnectionRuntime {
            config: self.config.clone(),
            conn: self.conn.clone(),
            policy: self.policy.clone(),
            backend: crate::accounts::budget::BudgetedBackend::wrap_for(
                self.metered.clone(),
                &self.config.id,
                self.budget.clone(),
                crate::accounts::budget::Purpose::Poll,
                Some(spent),
            ),
            credentials: self.credentials.clone(),
            webhook_secret: self.webhook_secret.clone(),
            needs_reconnection: self.needs_reconnection.clone(),
            budget: self.budget.clone(),
            stored_version: self.stored_version,
            reach: self.reach.clone(),
            metered: self.metered.clone(),
        }
    }

    /// The secrets this host holds for the connection (scrub.rs keeps them out of plugin text).
    pub fn secrets(&self) -> Vec<&str> {
        [
            self.credentials.access_token.as_ref(),
            self.credentials.client_secret.as_ref(),
            self.webhook_secret.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(Secret::expose)
        .collect()
    }
}

pub struct Service {
    pub config: Config,
    pub store: Store,
    /// The served plugins; `reload_plugins` swaps in what changed in the plugins folder.
    pub plugins: LivePlugins,
    /// Wakes idle workers when a delivery is stored (wakeup.rs).
    pub wakeup: crate::wakeup::Wakeup,
    /// What the workers are processing: the leases the lease keeper renews (in_flight.rs).
    pub in_flight: crate::in_flight::InFlight,
    /// Config-file connections plus those added at run time (accounts/connections.rs); read
    /// through [`Service::connection`], which notices additions and removals made by another
    /// process on the same database.
    pub(crate) connections: RwLock<BTreeMap<String, Arc<ConnectionRuntime>>>,
    /// Stored connections whose row exists but cannot be used now (the token key changed, the
    /// plugin is gone), with why: their webhooks answer 503 and their deliveries wait.
    pub(crate) unusable: RwLock<BTreeMap<String, String>>,
    pub notifiers: BTreeMap<String, Box<dyn Notifier>>,
    pub metrics: Arc<Metrics>,
    /// OAuth-managed connections' tokens; `None` when no connection uses OAuth.
    pub accounts: Option<crate::accounts::tokens::Accounts>,
    /// Opens the admin endpoints; `None` leaves them open (dev setups).
    pub admin_token: Option<Secret>,
    /// The optional model step (`[analysis] model_url`), built once at start-up with its key
    /// resolved. Host code with its own HTTP client: no plugin call can reach its URL.
    pub model: Option<Arc<exlogare_analysis::model::ModelClient>>,
}

/// The HTTP answer to a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookReply {
    pub status: u16,
    pub body: Value,
    pub retry_after_secs: Option<u64>,
}

impl WebhookReply {
    fn new(status: u16, body: Value) -> Self {
        Self {
            status,
            body,
            retry_after_secs: None,
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, json!({ "error": message.into() }))
    }
}

impl Service {
    /// Loads plugins, opens storage, resolves every secret: a misconfiguration fails here,
    /// at start-up, with a message naming it, not at the first delivery.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        let service = Self::build_without_resuming(config)?;
        let resumed = service.store.requeue_in_flight()?;
        if resumed > 0 {
            tracing::info!(
                resumed,
                "deliveries that were in flight at the last stop are queued again"
            );
        }
        Ok(service)
    }

    /// [`Service::build`] without requeueing deliveries left `running`: for admin commands
    /// (`watch`) that may run next to a serving host on the same database.
    pub fn build_without_resuming(config: Config) -> anyhow::Result<Self> {
        Self::build_with(
            config,
            crate::accounts::crypto::TokenCipher::from_environment,
        )
    }

    /// [`Service::build_without_resuming`] with the token key given instead of read from the
    /// environment (`None`: no key).
    pub fn build_with_cipher(
        config: Config,
        cipher: Option<crate::accounts::crypto::TokenCipher>,
    ) -> anyhow::Result<Self> {
        Self::build_with(config, move || {
            cipher.ok_or(crate::accounts::crypto::CryptoError::KeyMissing)
        })
    }

    fn build_with(
        config: Config,
        key: impl FnOnce() -> Result<
            crate::accounts::crypto::TokenCipher,
            crate::accounts::crypto::CryptoError,
        >,
    ) -> anyhow::Result<Self> {
        let engine = Arc::new(HostEngine::new(&EngineOptions::default())?);
        let cache = match &config.plugins.cache_dir {
            Some(dir) => Some(exlogare_runtime::cache::CompileCache::open(dir)?),
            None => None,
        };
        let runtime = PluginRuntime::new(engine, cache)?;
        let (plugins, errors) = LivePlugins::load(
            runtime,
            config.plugins.dir.as_deref(),
            &config.plugins.files,
            &config.sandbox,
        );
        for e in &errors {
            tracing::error!("{e}");
        }
        if plugins.is_empty() {
            anyhow::bail!(
                "no provider plugin loaded ({} refused); set [plugins] dir or files",
                errors.len()
            );
        }
        let metrics = Arc::new(Metrics::new());
        let mut connections = BTreeMap::new();
        let mut config = config;
        for c in &mut config.connections {
            if plugins.get(&c.provider).is_none() {
                anyhow::bail!(
                    "connection `{}` uses provider `{}`, but no such plugin is loaded",
                    c.id,
                    c.provider
                );
            }
            crate::accounts::stored_connections::complete_config_roots(&plugins.snapshot(), c)?;
        }
        let store =
            Store::open_at(&config.storage.location()?)?.with_lease_ms(config.storage.lease_ms);
        for c in &config.connections {
            connections.insert(
                c.id.clone(),
                Arc::new(Self::connection_runtime(c, &metrics, &store)?),
            );
        }
        let mut notifiers = BTreeMap::new();
        for n in &config.notifiers {
            let built = n.build().map_err(|e| anyhow::anyhow!("{e}"))?;
            notifiers.insert(n.name.clone(), built);
        }
        let accounts = crate::accounts::tokens::Accounts::for_config_with(&config, key)?;
        let admin_token = resolve_secret(
            "admin token ([server] admin_token_*)",
            &config.server.admin_token_env,
            &config.server.admin_token_file,
        )?;
        let model = Self::model_client(&config)?;
        let service = Self {
            config,
            store,
            plugins,
            wakeup: Default::default(),
            in_flight: Default::default(),
            connections: RwLock::new(connections),
            unusable: RwLock::default(),
            notifiers,
            metrics,
            accounts,
            admin_token,
            model,
        };
        service.load_stored_connections()?;
        Ok(service)
    }

    /// The model step from `[analysis]`, or `None` when it is off. The `EXLOGARE_MODEL_*`
    /// variables belong to the `analyze` command; the service says so when one is set.
    fn model_client(
        config: &Config,
    ) -> anyhow::Result<Option<Arc<exlogare_analysis::model::ModelClient>>> {
        if std::env::var_os("EXLOGARE_MODEL_URL").is_some() {
            tracing::warn!(
                "EXLOGARE_MODEL_URL is set but the service ignores it: the model step is configured by [analysis] model_url"
            );
        }
        let Some(cfg) = config.analysis.model_config()? else {
            return Ok(None);
        };
        if cfg.api_key.is_some() && cfg.url.starts_with("http://") {
            tracing::warn!(url = %cfg.url, "[analysis] the model key is sent over plain http");
        }
        let client = exlogare_analysis::model::ModelClient::new(cfg)
            .map_err(|e| anyhow::anyhow!("[analysis] model step: {e:#}"))?;
        tracing::info!(url = %client.config().url, model = %client.config().model, "model step on");
        Ok(Some(Arc::new(client)))
    }

    fn connection_runtime(
        c: &ConnectionConfig,
        metrics: &Arc<Metrics>,
        budget_store: &Store,
    ) -> anyhow::Result<ConnectionRuntime> {
        let webhook_secret = resolve_secret(
            &format!("webhook secret of connection `{}`", c.id),
            &c.webhook_secret_env,
            &c.webhook_secret_file,
        )?;
        let credentials = Credentials {
            access_token: resolve_secret(
                &format!("access token of connection `{}`", c.id),
                &c.access_token_env,
                &c.access_token_file,
            )?,
            client_id: c.client_id.clone(),
            client_secret: resolve_secret(
                &format!("client secret of connection `{}`", c.id),
                &c.client_secret_env,
                &c.client_secret_file,
            )?,
        };
        Self::runtime_from(
            c,
            metrics,
            credentials,
            webhook_secret,
            None,
            Some(budget_store),
        )
    }

    /// A connection's runtime from settings and already resolved secrets (from the config's
    /// `*_env`/`*_file`, or decrypted from a stored connection's row).
    pub(crate) fn runtime_from(
        c: &ConnectionConfig,
        metrics: &Arc<Metrics>,
        credentials: Credentials,
        webhook_secret: Option<Secret>,
        stored_version: Option<i64>,
        budget_store: Option<&Store>,
    ) -> anyhow::Result<ConnectionRuntime> {
        let spec = c.endpoint();
        let policy = spec
            .policy()
            .map_err(|e| anyhow::anyhow!("connection `{}`: {e}", c.id))?;
        let extra_ca_pem = match (&c.ca_file, &c.ca_pem) {
            (Some(path), _) => Some(std::fs::read(path).map_err(|e| {
                anyhow::anyhow!(
                    "connection `{}`: cannot read ca_file {}: {e}",
                    c.id,
                    path.display()
                )
            })?),
            (None, Some(pem)) => Some(pem.as_bytes().to_vec()),
            (None, None) => None,
        };
        let backend = LiveBackend::new(
            policy.clone(),
            LiveOptions {
                extra_ca_pem,
                ..Default::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("connection `{}`: {e}", c.id))?;
        // Durable: kept in the service's database, shared with every process on it (accounts/budget.rs).
        let calls_per_hour = c
            .calls_per_hour
            .unwrap_or(crate::accounts::budget::DEFAULT_CALLS_PER_HOUR);
        let budget = Arc::new(Mutex::new(match budget_store {
            Some(store) => {
                crate::accounts::budget::RequestBudget::durable(store, &c.id, calls_per_hour)
            }
            None => crate::accounts::budget::RequestBudget::new(calls_per_hour),
        }));
        // The budget outside the meter: a request the budget refuses never reaches the
        // network, so it is neither counted as a provider request nor taken as an outage.
        let reach = Arc::new(crate::reachability::Reachability::default());
        let metered: Arc<dyn HttpBackend> = Arc::new(MeteredBackend {
            inner: Arc::new(backend),
            provider: c.provider.clone(),
            metrics: metrics.clone(),
            reach: reach.clone(),
        });
        let backend =
            crate::accounts::budget::BudgetedBackend::wrap(metered.clone(), &c.id, budget.clone());
        Ok(ConnectionRuntime {
            config: c.clone(),
            conn: spec.connection(),
            policy,
            backend,
            reach,
            credentials,
            webhook_secret,
            needs_reconnection: Arc::new(Mutex::new(None)),
            budget,
            stored_version,
            metered,
        })
    }

    pub fn ctx(&self, c: &ConnectionRuntime, sink: Option<Box<dyn LogSink>>) -> CallContext {
        CallContext {
            policy: c.policy.clone(),
            backend: c.backend.clone(),
            credentials: c.credentials.clone(),
            clock: Clock::System,
            sink,
            redact: c.secrets().into_iter().map(Secret::new).collect(),
        }
    }

    fn observe_fault(&self, provider: &str, fault: &PluginFault) {
        let kind = serde_json::to_value(fault)
            .ok()
            .and_then(|v| v["fault"].as_str().map(String::from))
            .unwrap_or_default();
        self.metrics.plugin_fault(provider, &kind);
    }

    /// Handles one inbound delivery. Nothing is acknowledged (2xx) before it is stored.
    pub fn webhook(
        &self,
        provider_id: &str,
        connection_id: &str,
        raw_query: Option<&str>,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> WebhookReply {
        let reply = self.webhook_inner(provider_id, connection_id, raw_query, headers, body);
        let outcome = reply
            .body
            .get("status")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("http_{}", reply.status));
        self.metrics.delivery(provider_id, &outcome);
        reply
    }

    fn webhook_inner(
        &self,
        provider_id: &str,
        connection_id: &str,
        raw_query: Option<&str>,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> WebhookReply {
        let Some(plugin) = self.plugins.get(provider_id) else {
            return WebhookReply::error(
                404,
                format!("no provider `{provider_id}` is installed on this host"),
            );
        };
        let Some(c) = self
            .connection(connection_id)
            .filter(|c| c.config.provider == provider_id)
        else {
            if let Some(why) = self.unusable_reason(connection_id) {
                // Not a 404: the provider may stop sending to a URL it believes is wrong.
                let mut reply = WebhookReply::error(
                    503,
                    format!(
                        "connection `{connection_id}` cannot be used now ({why}); nothing was stored, retry later"
                    ),
                );
                reply.body["status"] = json!("connection_unusable");
                return reply;
            }
            return WebhookReply::error(
                404,
                format!("no {provider_id} connection `{connection_id}`; check the webhook URL"),
            );
        };
        let c = &*c;
        if body.len() > self.config.server.max_body_bytes {
            return WebhookReply::error(
                413,
                format!(
                    "the body is {} bytes; the limit is {}",
                    body.len(),
                    self.config.server.max_body_bytes
                ),
            );
        }
        // A watched project's own secret (accounts/watch.rs) first, else the connection's.
        let watched = self.watch_secret_for(connection_id, raw_query);
        let Some(secret) = watched
            .as_ref()
            .map(|(s, _)| s)
            .or(c.webhook_secret.as_ref())
        else {
            let why = self.refused_secret_reason(connection_id, raw_query).unwrap_or_else(|| {
                let given = raw_query.is_some_and(|q| {
                    url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "secret")
                });
                if given {
                    format!(
                        "the secret in this hook's URL matches no watched project of connection `{connection_id}`, and the connection has no webhook secret of its own to check it against; watch the project (`exlogare-host watch`) to get a hook with a secret this host knows"
                    )
                } else {
                    format!(
                        "this hook's URL carries no watch secret and connection `{connection_id}` has no webhook secret of its own, so the delivery cannot be verified; watch the project (`exlogare-host watch`) or set the connection's webhook_secret_env / webhook_secret_file"
                    )
                }
            });
            return WebhookReply::new(401, json!({ "status": "unauthorized", "error": why }));
        };
        // The plugin compares against a stand-in and never holds the secret itself
        // (host/runtime/src/secret_stand_in.rs).
        let stand_in = exlogare_runtime::secret_stand_in::fresh_stand_in();
        let masked = exlogare_runtime::secret_stand_in::mask(
            url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
            headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            secret.expose(),
            &stand_in,
        );
        let delivery = contract::WebhookDelivery {
            query: masked.query,
            headers: masked.headers,
            body: body.to_vec(),
        };
        let out = match plugin.verify_webhook(self.ctx(c, None), &c.conn, &delivery, &stand_in) {
            Ok(out) => out,
            Err(fault) => {
                // No room on the host is not the plugin's fault, and not shown as one.
                if !fault.is_host_capacity() {
                    self.observe_fault(provider_id, &fault);
                }
                let status = if matches!(fault, PluginFault::InputTooLarge { .. }) {
                    413
                } else {
                    503
                };
                let mut reply = WebhookReply::error(
                    status,
                    format!(
                        "the {provider_id} plugin could not check this delivery: {fault}; nothing was stored, retry later"
                    ),
                );
                reply.body["status"] = json!("plugin_fault");
                // server.rs answers the sender with the fixed phrase of this kind (and a
                // Retry-After when the host was busy); the full text stays in the log.
                reply.body["fault"] = json!(fault.kind());
                return reply;
            }
        };
        self.metrics
            .plugin_call(provider_id, "verify-webhook", out.elapsed);
        self.metrics.step("verify", out.elapsed);
        if out.value.is_ok() && !masked.presented {
            // An acceptance the secret does not back: the plugin did not compare, or lied.
            tracing::warn!(
                connection = connection_id,
                provider = provider_id,
                "the {provider_id} plugin accepted a delivery that presents no secret this host expects; refused"
            );
            let why = format!(
                "the delivery carries no secret this host expects in its headers or query; the hook at the provider must be given the secret of connection `{connection_id}` or of the watched project"
            );
            return WebhookReply::new(401, json!({ "status": "unauthorized", "error": why }));
        }
        // The plugin never held these, but a sender can put them in a body the plugin quotes.
        let known = [&c.secrets()[..], &[secret.expose()]].concat();
        match out.value {
            // server.rs answers the sender with a fixed phrase; these words are the operator's.
            Err(contract::WebhookRejection::Malformed(m)) => WebhookReply::new(400, json!({ "status": "malformed", "error": crate::scrub::scrub(&m, &known) })),
            Err(contract::WebhookRejection::SecretMissing(m)) => {
                // The plugin's words (where it looked) go to the log only: the sender has not
                // authenticated, and a hostile plugin could put anything in them.
                let m = crate::scrub::scrub(&m, &known);
                tracing::info!(connection = connection_id, provider = provider_id, "delivery refused, no secret: {}", crate::pipeline::bounded_line(&m, 200));
                let why = format!(
                    "the delivery carries no secret where the {} plugin looks for one; the hook at the provider must be given the secret this host expects",
                    plugin.info.display_name
                );
                WebhookReply::new(401, json!({ "status": "unauthorized", "error": why }))
            }
            Err(contract::WebhookRejection::SecretMismatch(m)) => {
                let m = crate::scrub::scrub(&m, &known);
                let why = self.secret_refusal(connection_id, raw_query, watched.as_ref().map(|(_, p)| p.as_str()));
                tracing::info!(connection = connection_id, provider = provider_id, "delivery refused: {why} (the plugin: {})", crate::pipeline::bounded_line(&m, 200));
                WebhookReply::new(401, json!({ "status": "unauthorized", "error": why }))
            }
            Ok(contract::WebhookOutcome::Ping(m)) => WebhookReply::new(200, json!({ "status": "ping", "message": crate::scrub::scrub(&m, &known) })),
            Ok(contract::WebhookOutcome::Ignored(m)) => WebhookReply::new(200, json!({ "status": "ignored", "reason": crate::scrub::scrub(&m, &known) })),
            Ok(contract::WebhookOutcome::PipelineFailed(event))
                // GitFlic aliases are case-insensitive; the watch was typed by a person.
                if watched.as_ref().is_some_and(|(_, p)| !p.eq_ignore_ascii_case(&format!("{}/{}", event.project.owner, event.project.name))) =>
            {
                WebhookReply::new(401, json!({ "status": "unauthorized", "error": "this secret belongs to another project's webhook" }))
            }
            Ok(contract::WebhookOutcome::PipelineFailed(event)) => self.enqueue_failure(provider_id, connection_id, &event, body, "webhook"),
        }
    }

    /// Why a delivery's secret was refused, in this host's own words (the sender has not
    /// authenticated: no plugin text): the watch bookkeeping says whose secret it was and what
    /// happened to it.
    fn secret_refusal(
        &self,
        connection_id: &str,
        raw_query: Option<&str>,
        watched_project: Option<&str>,
    ) -> String {
        if let Some(project) = watched_project {
            return format!(
                "the secret in this hook's URL is {project}'s watch secret, but the delivery's other secret does not match it; the hook at the provider has a different secret than its URL: watch {project} again to repair it"
            );
        }
        if let Some(why) = self.refused_secret_reason(connection_id, raw_query) {
            return why;
        }
        format!(
            "the delivery's secret does not match connection `{connection_id}`'s webhook secret nor any watched project's; check the secret configured on the hook, or watch the project again to get a fresh one"
        )
    }

    /// Stores a failure (from a webhook or the poller) under its idempotency key.
    pub fn enqueue_failure(
        &self,
        provider_id: &str,
        connection_id: &str,
        event: &contract::FailureEvent,
        body: &[u8],
        source: &'static str,
    ) -> WebhookReply {
        let project = format!("{}/{}", event.project.owner, event.project.name);
        let mut names = pipeline_names(&event.pipeline);
        let pipeline = if names.is_empty() {
            // Without a pipeline reference the key falls back to the delivery's content, so a
            // redelivery still dedupes; the worker re-keys once the pipeline is known.
            format!(
                "body:{}",
                hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(body)[..8])
            )
        } else {
            names.remove(0)
        };
        let new = NewDelivery {
            provider: provider_id.into(),
            connection: connection_id.into(),
            project: project.clone(),
            pipeline: pipeline.clone(),
            also_known_as: names,
            event_json: serde_json::to_string(event).expect("contract types serialize"),
            source,
        };
        let storing = std::time::Instant::now();
        let stored = self.store.enqueue(&new, self.config.server.max_queued);
        self.metrics.step("store", storing.elapsed());
        match stored {
            Ok(Enqueued::Stored(id)) => {
                self.wakeup.notify();
                tracing::info!(delivery = id, connection = connection_id, project = %project, pipeline = %pipeline, source, "queued");
                WebhookReply::new(
                    202,
                    json!({ "status": "queued", "delivery": id, "project": project, "pipeline": pipeline }),
                )
            }
            Ok(Enqueued::Resumed(id)) => {
                self.wakeup.notify();
                tracing::info!(delivery = id, connection = connection_id, project = %project, pipeline = %pipeline, source, "queued again (it was parked)");
                WebhookReply::new(
                    202,
                    json!({ "status": "queued", "delivery": id, "message": "this failure was parked; it is queued again" }),
                )
            }
            Ok(Enqueued::Duplicate(id)) => WebhookReply::new(
                202,
                json!({ "status": "duplicate", "delivery": id, "message": "this failure is already stored; it is analysed once" }),
            ),
            Ok(Enqueued::QueueFull(depth)) => {
                let mut r = WebhookReply::new(
                    503,
                    json!({ "status": "queue_full", "error": format!("{depth} deliveries are waiting; retry later") }),
                );
                r.retry_after_secs = Some(60);
                r
            }
            Err(e) => {
                tracing::error!("{e}");
                WebhookReply::new(
                    503,
                    json!({ "status": "storage_error", "error": "the delivery could not be stored; retry later" }),
                )
            }
        }
    }

    /// How many deliveries of one connection may run at once: with another connection
    /// configured, one worker is always left to the others, so a connection whose deliveries
    /// are slow (a looping plugin, a stalling provider) cannot hold back everyone's failures.
    fn running_cap_per_connection(&self) -> u32 {
        let connections = self.connections.read().map(|c| c.len()).unwrap_or(1);
        if connections > 1 {
            u32::try_from(self.config.worker.threads)
                .unwrap_or(u32::MAX)
                .saturating_sub(1)
                .max(1)
        } else {
            u32::MAX
        }
    }

    /// Claims and processes one due delivery; false when there was none.
    pub fn process_next(&self) -> anyhow::Result<bool> {
        let Some(d) = self
            .store
            .claim_due_fairly(now_ms(), self.running_cap_per_connection())?
        else {
            return Ok(false);
        };
        let _renewed = self.in_flight.hold(d.id);
        if d.attempts == 1 {
            // From the 202 to a worker taking it: the queue's share of the time to message.
            let waited = now_ms().saturating_sub(d.received_at).max(0) as u64;
            self.metrics
                .step("queue_wait", std::time::Duration::from_millis(waited));
        }
        // Each claim counts an attempt and a restart does not give it back, so a delivery that
        // took the whole process down (an abort, a stack overflow, an OOM kill) every time it
        // ran comes back here with more claims than attempts allowed: it stops here instead of
        // taking the next process down too.
        if d.attempts > self.config.worker.max_attempts {
            let reason = format!(
                "claimed {} times without finishing (the service stopped while processing it each time); \
                 retry it with `exlogare-host parked` once the cause is fixed",
                d.attempts
            );
            self.settle(&d, Outcome::park(reason))?;
            return Ok(true);
        }
        let processed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.process(&d)));
        let processed = match processed {
            Ok(r) => r,
            Err(payload) => {
                // A bug met on this delivery's input: it is parked with what went wrong, the
                // worker goes on with the next one. Retrying would only hit the same bug.
                let reason = format!(
                    "the service crashed while processing this delivery ({}); it is kept for a retry once the bug is fixed",
                    panic_text(payload.as_ref())
                );
                self.metrics.worker_panic();
                self.settle(&d, Outcome::park(reason))?;
                return Ok(true);
            }
        };
        if let Err(e) = processed {
            // Never leave it `running` until the next restart: back off (or park after the
            // last attempt) like any other failure. Receipts already recorded keep a retry
            // from posting twice.
            tracing::error!(delivery = d.id, "processing failed: {e:#}");
            if let Err(again) = self.settle(&d, Outcome::retry(format!("{e:#}"))) {
                tracing::error!(
                    delivery = d.id,
                    "could not reschedule; the next start requeues it: {again:#}"
                );
            }
        }
        Ok(true)
    }

    /// When the connection's request budget has no room, the delivery waits for it without
    /// spending an attempt (a budget is not a failure: parking it would lose the report; the
    /// poller will not bring it back, having already seen the pipeline).
    fn budget_deferral(&self, c: &ConnectionRuntime) -> Option<Outcome> {
        let wait = c
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .wait_for_room(now_ms())?;
        Some(Outcome::Defer {
            reason: format!(
                "waiting {} s for room in connection `{}`'s request budget",
                (wait + 999) / 1000,
                c.config.id
            ),
            until_ms: now_ms() + wait,
            metric: "deferred_budget",
        })
    }

    /// Writes the decision about `d` (outcome.rs); the message to post for a report.
    pub(crate) fn settle(
        &self,
        d: &Delivery,
        outcome: Outcome,
    ) -> anyhow::Result<Option<FailureMessage>> {
        Ok(crate::outcome::record(
            &self.store,
            &self.metrics,
            &self.config.worker,
            d,
            outcome,
        )?)
    }

    fn process(&self, d: &Delivery) -> anyhow::Result<()> {
        // A stored report means the analysis is done and only notifications are left.
        if let Some(json) = self.store.report(d.id)? {
            return self.notify(d, &serde_json::from_str::<FailureMessage>(&json)?);
        }
        let outcome = self.analysis_outcome(d)?;
        let settling = std::time::Instant::now();
        let message = self.settle(d, outcome)?;
        self.metrics.step("settle", settling.elapsed());
        if let Some(message) = message {
            self.notify(d, &message)?;
        }
        Ok(())
    }

    /// What the analysis of `d` comes to: its connection and plugin, the budget, then the
    /// provider's answers.
    fn analysis_outcome(&self, d: &Delivery) -> anyhow::Result<Outcome> {
        let Some(c) = self.connection(&d.connection) else {
            if let Some(why) = self.unusable_reason(&d.connection) {
                // Waits for the operator (restore the key, reinstall the plugin) without spending attempts.
                return Ok(Outcome::Defer {
                    reason: format!("connection `{}` cannot be used now: {why}", d.connection),
                    until_ms: now_ms() + 5 * 60_000,
                    metric: "deferred_connection",
                });
            }
            return Ok(Outcome::park(format!(
                "connection `{}` is no longer configured",
                d.connection
            )));
        };
        let Some(plugin) = self.plugins.get(&d.provider) else {
            return Ok(Outcome::park(format!(
                "provider plugin `{}` is not loaded",
                d.provider
            )));
        };
        if let Some(wait) = self.budget_deferral(&c) {
            return Ok(wait);
        }
        self.analyse(d, &c, &plugin)
    }

    /// Runs the analysis: the message to post, or why there is none yet.
    fn analyse(
        &self,
        d: &Delivery,
        c: &ConnectionRuntime,
        plugin: &LoadedPlugin,
    ) -> anyhow::Result<Outcome> {
        let event: contract::FailureEvent = match serde_json::from_str(&d.event_json) {
            Ok(e) => e,
            Err(e) => return Ok(Outcome::park(format!("stored event does not parse: {e}"))),
        };
        // An OAuth connection's token comes from the token store (accounts/tokens.rs, through accounts/credentials.rs).
        let token = match self.delivery_token(c)? {
            Ok(token) => token,
            Err(outcome) => return Ok(outcome),
        };
        let ctx = |sink| self.ctx_with_token(c, sink, token.as_ref());
        let started = std::time::Instant::now();
        // The budget is read (a database query) only for a connection that compares.
        let green = c.config.compare_green_runs.then(|| {
            let now = now_ms();
            crate::green_run::GreenLookup {
                store: &self.store,
                connection_id: &c.config.id,
                budget_left: Some(
                    c.budget
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remaining(now),
                ),
                now,
            }
        });
        // Every token the plugin was handed: none may come back in its words.
        let mut tokens: Vec<Secret> = token.iter().cloned().collect();
        let mut result = analyze_failure(plugin, &ctx, &c.conn, &event, green.as_ref())
            .and_then(rejected_log_is_rejected_call);
        if let (
            Some(rejected),
            Err(PipelineError::Provider(contract::ProviderError::CredentialsRejected(m))),
        ) = (&token, &result)
        {
            // One refresh, then one retry; a failed refresh parks the delivery.
            let fresh = match self.refresh_after_rejected_call(c, rejected, m)? {
                Ok(fresh) => fresh,
                Err(outcome) => return Ok(outcome),
            };
            let ctx = |sink| self.ctx_with_token(c, sink, Some(&fresh));
            result = analyze_failure(plugin, &ctx, &c.conn, &event, green.as_ref())
                .and_then(rejected_log_is_rejected_call);
            tokens.push(fresh);
        }
        self.metrics
            .plugin_call(&d.provider, "analyze-failure", started.elapsed());
        if let Ok(analysis) = &result {
            self.metrics.step("failure_details", analysis.details_time);
            for job in &analysis.jobs {
                // The analysis runs on its own thread beside the extraction: its time
                // overlaps the extraction's, which is the call's whole wall time.
                self.metrics.step("analysis", job.analysis_time);
                self.metrics.step("extraction", job.elapsed);
            }
            for job in &analysis.jobs {
                let Some(mode) = &job.comparison else {
                    continue;
                };
                let cost = job.green_cost;
                let source = if cost.requests > 0 {
                    "lookup"
                } else {
                    "stored"
                };
                self.metrics.green_run(mode.kind(), source);
                if cost.requests > 0 {
                    self.metrics
                        .plugin_call(&d.provider, "green-run", cost.elapsed);
                }
                self.metrics.step("green_run", cost.elapsed);
                tracing::info!(delivery = d.id, job = %job.job.name, outcome = mode.kind(), requests = cost.requests, elapsed_ms = cost.elapsed.as_millis() as u64, "green run");
            }
        }
        let mut secrets = c.secrets();
        secrets.extend(tokens.iter().map(Secret::expose));
        let scrub = |text: &str| crate::scrub::scrub(text, &secrets);
        // The plugin's words (its errors, the provider's it passes on, names in the message)
        // are scrubbed once, here, whatever branch they take.
        let outcome = (|| -> anyhow::Result<Outcome> {
            Ok(match result {
                Ok(mut analysis) => {
                    // The pipeline's names as the provider resolved them: another delivery that
                    // knew it by another name (its UUID, or nothing) makes this one a duplicate.
                    let keys: Vec<String> = pipeline_names(&analysis.details.pipeline.reference)
                        .iter()
                        .map(|name| idem_key(&d.provider, &d.connection, &d.project, name))
                        .collect();
                    if let Some(other) = self.store.rekey(d.id, &keys)? {
                        return Ok(Outcome::Done {
                            note: Some(format!("duplicate of delivery {other}")),
                        });
                    }
                    // A log the provider failed to serve is worth another attempt, like any other
                    // step; only the last attempt posts the message without it, saying for how long
                    // the provider kept failing.
                    let mut words = LogWords {
                        provider_name: plugin.info.display_name.clone(),
                        web_base: Some(c.conn.web_base.clone()),
                        ..LogWords::default()
                    };
                    if let Some(problem) = analysis.transient_log_problem() {
                        // A budget spent mid-analysis is not waited out: the same analysis would
                        // spend it again. The team hears now, with what was read.
                        let budget_spent = analysis.over_budget().is_some();
                        if !budget_spent && d.attempts < self.config.worker.max_attempts {
                            if let LogProblem::Fault(_) = problem {
                                self.metrics.plugin_fault(&d.provider, "log_extraction");
                            }
                            self.alert_if_unreachable(c);
                            return Ok(Outcome::Retry {
                                reason: format!("reading a job's log: {problem}"),
                                at_least_ms: problem.retry_after_ms(),
                            });
                        }
                        words.budget_spent = budget_spent;
                        if !budget_spent {
                            words.failing_for = Some(std::time::Duration::from_millis(
                                now_ms().saturating_sub(d.received_at).max(0) as u64,
                            ));
                        }
                        tracing::warn!(delivery = d.id, project = %d.project, pipeline = %d.pipeline, attempts = d.attempts, "posting without a job log after the last attempt: {problem}");
                    }
                    // The provider answered and the host let its requests through.
                    self.clear_connection_alert(&d.connection, AlertProblem::Unreachable);
                    self.clear_connection_alert(&d.connection, AlertProblem::EgressRefused);
                    if let Some(model) = &self.model {
                        crate::pipeline::explain_with_model(&mut analysis, model);
                    }
                    Outcome::Report(crate::pipeline::failure_message(
                        &d.provider,
                        &d.connection,
                        &analysis,
                        &words,
                    ))
                }
                // The call never ran (no room on the host) or the plugin's breaker is open: not
                // this delivery's doing, so it waits without spending an attempt, and a breaker
                // that stays open for a while cannot use up its attempts and park it.
                Err(PipelineError::Fault(fault))
                    if fault.is_host_capacity() || matches!(fault, PluginFault::Disabled(_)) =>
                {
                    // An open breaker says when it lets a trial call through: come back then.
                    let wait = match plugin.breaker() {
                        exlogare_runtime::plugin::BreakerState::Open {
                            reenables_in_secs, ..
                        } if !fault.is_host_capacity() => reenables_in_secs.max(1) * 1000,
                        _ => self.config.worker.backoff_base_ms.max(1000),
                    };
                    Outcome::Defer {
                        reason: fault.to_string(),
                        until_ms: now_ms() + wait as i64,
                        metric: "deferred_plugin",
                    }
                }
                Err(PipelineError::Fault(fault)) => {
                    self.observe_fault(&d.provider, &fault);
                    Outcome::retry(fault.to_string())
                }
                Err(e @ PipelineError::OverBudget { wait, spent }) => {
                    budget_outcome(&e, wait, spent, c)
                }
                Err(PipelineError::Provider(err)) => match err {
                    contract::ProviderError::CredentialsRejected(m) => {
                        let m = scrub(&m);
                        *c.needs_reconnection
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some(m.clone());
                        self.note_credentials_rejected(c, &m);
                        Outcome::park(format!(
                            "credentials rejected ({m}); reconnect connection `{}`",
                            d.connection
                        ))
                    }
                    contract::ProviderError::RateLimited(rl) => Outcome::Retry {
                        reason: format!("rate limited: {}", rl.message),
                        at_least_ms: rl.retry_after_secs.map(|s| s as u64 * 1000).unwrap_or(0),
                    },
                    contract::ProviderError::Transient(m) => {
                        self.alert_if_unreachable(c);
                        Outcome::retry(m)
                    }
                    contract::ProviderError::NotFound(m) => {
                        self.metrics.analysis("not_found");
                        Outcome::Report(not_found_message(
                            d,
                            c,
                            &event,
                            &m,
                            &plugin.info.display_name,
                        ))
                    }
                    contract::ProviderError::InvalidInput(i) => {
                        Outcome::park(format!("invalid {}: {}", i.field, i.message))
                    }
                    contract::ProviderError::Denied(m) => {
                        // The policy refusing the connection's own API (a private address without
                        // `allow_private`) stops every delivery of it: the team hears once.
                        let refused = c
                            .policy
                            .check_url(&c.conn.api_base)
                            .err()
                            .or_else(|| c.reach.refused());
                        if let Some(why) = refused {
                            self.alert_connection_problem(
                                &d.connection,
                                AlertProblem::EgressRefused,
                                &format!("{}: {why}", c.conn.api_base),
                            );
                        }
                        Outcome::park(format!("denied by the sandbox: {m}"))
                    }
                },
            })
        })()?;
        Ok(outcome.scrubbed(&scrub, &|line: &str| {
            crate::scrub::without_secrets(line, &secrets)
        }))
    }

    /// One chat alert when the connection's provider has stopped answering (reachability.rs).
    fn alert_if_unreachable(&self, c: &ConnectionRuntime) {
        if let Some(why) = c.reach.unreachable(now_ms()) {
            self.alert_connection_problem(
                &c.config.id,
                AlertProblem::Unreachable,
                &format!("{}: {why}", c.conn.api_base),
            );
        }
    }

    fn notify(&self, d: &Delivery, message: &FailureMessage) -> anyhow::Result<()> {
        // Each room in the language of the first route that names it (`notify::route`).
        let targets: Vec<(String, notify::Language)> =
            notify::route(&self.config.routes, &d.connection, &d.project)
                .into_iter()
                .map(|t| (t.notifier.to_owned(), t.language))
                .collect();
        let mut transient: Option<(String, u64)> = None;
        for (target, language) in &targets {
            if self.store.notification_done(d.id, target)? {
                continue;
            }
            if !self.store.still_holds(d.id)? {
                tracing::warn!(
                    delivery = d.id,
                    "another process took this delivery over (this one stalled past its lease): it sends the messages, not this one"
                );
                return Ok(());
            }
            let Some(notifier) = self.notifiers.get(target) else {
                continue;
            };
            // Stable across retries and re-keying, so Matrix's transaction id dedupes a repeated send.
            let key = format!("delivery-{}#{}", d.id, target);
            let sending = std::time::Instant::now();
            let sent = notifier.send_in(message, *language, &key);
            self.metrics.step("send", sending.elapsed());
            match sent {
                Ok(_) => {
                    self.store.record_notification(d.id, target, "sent", None)?;
                    self.metrics.notification(target, "sent");
                    tracing::info!(delivery = d.id, notifier = %target, project = %d.project, pipeline = %d.pipeline, "posted");
                }
                Err(e) if e.is_transient() => {
                    self.store.record_notification(
                        d.id,
                        target,
                        "pending",
                        Some(&e.to_string()),
                    )?;
                    self.metrics.notification(target, e.outcome());
                    let wait = e.retry_after().map(|w| w.as_millis() as u64).unwrap_or(0);
                    tracing::info!(delivery = d.id, notifier = %target, "notification failed for now: {e}");
                    transient = Some((e.to_string(), wait));
                }
                Err(e) => {
                    self.store
                        .record_notification(d.id, target, "failed", Some(&e.to_string()))?;
                    self.metrics.notification(target, e.outcome());
                    tracing::error!(delivery = d.id, notifier = %target, "notification refused: {e}");
                }
            }
        }
        let outcome = match transient {
            Some((error, wait)) => Outcome::Retry {
                reason: format!("notification: {error}"),
                at_least_ms: wait,
            },
            None => Outcome::Done { note: None },
        };
        self.settle(d, outcome)?;
        Ok(())
    }
}

/// Counts every provider request that reaches the network, by status, for `/metrics`, and
/// tells the connection's [`crate::reachability::Reachability`] what it met.
struct MeteredBackend {
    inner: Arc<dyn HttpBackend>,
    provider: String,
    metrics: Arc<Metrics>,
    reach: Arc<crate::reachability::Reachability>,
}

impl HttpBackend for MeteredBackend {
    fn send(
        &self,
        req: &exlogare_runtime::http::OutboundRequest,
        deadline: std::time::Instant,
    ) -> Result<exlogare_runtime::http::BackendResponse, exlogare_runtime::http::BackendError> {
        use crate::reachability::Seen;
        use exlogare_runtime::http::BackendError;
        let result = self.inner.send(req, deadline);
        let (status, seen) = match &result {
            Ok(r) => (r.status.to_string(), Seen::Answered),
            Err(BackendError::Timeout) => ("timeout".into(), Seen::NoAnswer("timed out")),
            Err(BackendError::Transport(m)) => ("transport".into(), Seen::NoAnswer(m)),
            Err(BackendError::Denied(m)) => ("denied".into(), Seen::Refused(m)),
            // Refused before the network (the budget wraps the meter): no request, no answer.
            Err(BackendError::OverBudget { .. }) => return result,
        };
        self.reach.record(seen, crate::storage::now_ms());
        self.metrics.provider_request(&self.provider, &status);
        result
    }
}

/// A job log refused for the credentials means the token went bad between two calls: handled
/// like a refused failure-details call (one refresh and retry, then reconnection), not posted.
fn rejected_log_is_rejected_call(a: FailureAnalysis) -> Result<FailureAnalysis, PipelineError> {
    let rejected = a.jobs.iter().find_map(|j| match &j.source {
        Err(LogProblem::Provider(contract::ProviderError::CredentialsRejected(m))) => {
            Some(m.clone())
        }
        _ => None,
    });
    match rejected {
        Some(m) => Err(PipelineError::Provider(
            contract::ProviderError::CredentialsRejected(m),
        )),
        None => Ok(a),
    }
}

/// The names of a failure's pipeline, the one it is stored under first: its number (what the
/// poller and the provider's list know), then its id (a UUID on GitFlic) when known too.
pub fn pipeline_names(p: &contract::PipelineRef) -> Vec<String> {
    p.number
        .map(|n| n.to_string())
        .into_iter()
        .chain(p.id.clone().filter(|id| !id.trim().is_empty()))
        .collect()
}

/// A message for a pipeline the provider no longer knows: the team still hears that it failed,
/// with no job made up for it (its jobs are what the provider could not tell).
fn not_found_message(
    d: &Delivery,
    c: &ConnectionRuntime,
    event: &contract::FailureEvent,
    why: &str,
    provider_name: &str,
) -> FailureMessage {
    FailureMessage {
        provider: d.provider.clone(),
        connection: d.connection.clone(),
        project: d.project.clone(),
        pipeline: crate::pipeline::pipeline_label(&event.pipeline),
        status: "failed".into(),
        git_ref: event.git_ref.clone(),
        commit_sha: event.commit_sha.clone(),
        deep_link: c.conn.web_base.clone(),
        jobs: vec![],
        note: Some(format!(
            "{provider_name} no longer has this pipeline or its jobs, so its logs could not be analysed ({})",
            crate::pipeline::provider_detail(why)
        )),
    }
}

/// What a budget refusal of the failure's details makes of the delivery. A budget is not a
/// failure: usually the delivery waits for room without spending an attempt (parking it would
/// lose the report). But a call that spent the whole hourly budget and still needed more will
/// never fit: it is parked with what to change. One that spent half of it spends an attempt
/// with the wait, so a pipeline too costly for the budget ends parked instead of coming back
/// every hour to spend it all again.
fn budget_outcome(
    e: &PipelineError,
    wait: std::time::Duration,
    spent: usize,
    c: &ConnectionRuntime,
) -> Outcome {
    let limit = c.budget.lock().unwrap_or_else(|p| p.into_inner()).limit() as usize;
    let id = &c.config.id;
    if spent >= limit {
        return Outcome::park(format!(
            "connection `{id}`: reading this pipeline took all {limit} provider requests its budget allows in an hour and needed more; raise `calls_per_hour`, then `exlogare-host parked --retry`"
        ));
    }
    if spent.saturating_mul(2) >= limit {
        return Outcome::Retry {
            reason: format!("connection `{id}`: {e} (this pipeline alone used {spent} of {limit})"),
            at_least_ms: wait.as_millis().max(1000) as u64,
        };
    }
    Outcome::Defer {
        reason: format!("connection `{id}`: {e}"),
        until_ms: now_ms() + wait.as_millis().max(1000) as i64,
        metric: "deferred_budget",
    }
}
