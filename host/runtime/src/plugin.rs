//! Loading provider plugins and running their calls, one fresh instance per call.
//!
//! A call gets a new `Store` built from a pre-linked `InstancePre`: no state survives from one
//! call to the next (so nothing crosses tenants), and an instance poisoned by a trap is simply
//! dropped. Guest faults become [`PluginFault`]s, never host panics; after
//! `max_consecutive_traps` within `trap_window_secs` the plugin is disabled until reloaded.
//!
//! Optional exports (0.1.1: `endpoints`) are probed once at load and kept on the plugin; a call
//! to one a plugin lacks answers `Ok(None)` without instantiating anything.

use crate::cache::{CacheOutcome, CompileCache};
use crate::call_state::{CallState, Clock, LogSink};
use crate::egress::EgressPolicy;
use crate::engine::HostEngine;
use crate::http::HttpBackend;
use crate::http::gate::{Credentials, ExchangeRecord, GateLimits, HttpGate, HttpPermits};
use crate::limits::SandboxLimits;
use crate::wit::v0_1::{
    CiProvider, CiProviderIndices, ENDPOINTS_EXPORT, endpoints, provider, types,
};
use crate::wit::{self, ContractLine};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Instance, InstancePre, Linker};
use wasmtime::{Store, Trap};

/// Why a plugin could not be loaded. The message names what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[error("cannot load plugin {path}: {message}")]
pub struct LoadError {
    pub path: PathBuf,
    pub message: String,
}

/// A call that did not produce a contract-level answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "fault", content = "detail")]
pub enum PluginFault {
    #[error("the plugin ran past its {0} ms deadline and was stopped")]
    Timeout(u64),
    #[error("the plugin tried to grow its memory past the {0}-byte cap and was stopped")]
    MemoryLimit(u64),
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin is disabled after repeated traps ({0}); fix it and reload the host")]
    Disabled(String),
    #[error("the input is {size} bytes, over the {limit}-byte cap for one call")]
    InputTooLarge { size: u64, limit: u64 },
    #[error("the host could not set up the call: {0}")]
    Host(String),
}

/// What a call needs from the host besides its arguments: where HTTP goes, what credentials
/// the host may add, the clock, and (for log extraction) the sink.
pub struct CallContext {
    pub policy: EgressPolicy,
    pub backend: Arc<dyn HttpBackend>,
    pub credentials: Credentials,
    pub clock: Clock,
    pub sink: Option<Box<dyn LogSink>>,
}

impl CallContext {
    /// A context for calls that make no request (`describe`, `endpoints.defaults`): any request
    /// the plugin tried anyway would be refused, and nothing could answer it.
    pub fn offline() -> CallContext {
        let nowhere = crate::egress::Origin {
            scheme: "https".into(),
            host: "invalid.invalid".into(),
            port: 443,
        };
        CallContext {
            policy: EgressPolicy {
                api: nowhere.clone(),
                oauth: nowhere,
                extra: vec![],
                allow_private: false,
            },
            backend: Arc::new(crate::http::replay::Unreachable),
            credentials: Credentials::default(),
            clock: Clock::System,
            sink: None,
        }
    }
}

/// A call's value with what the host observed while it ran.
pub struct CallOutput<R> {
    pub value: R,
    pub transcript: Vec<ExchangeRecord>,
    pub stdio: Vec<u8>,
    pub stdio_dropped: u64,
    pub sink: Option<Box<dyn LogSink>>,
    pub elapsed: Duration,
    /// The largest linear memory the guest reached during the call.
    pub peak_memory_bytes: u64,
    /// Fuel (roughly, wasm instructions) the call burned, instantiation included; `None` on an
    /// engine without fuel (production). Deterministic for one component and one input.
    pub fuel_consumed: Option<u64>,
}

/// The engine, linker and compile cache that every plugin shares.
pub struct PluginRuntime {
    engine: Arc<HostEngine>,
    linker: Linker<CallState>,
    cache: Option<CompileCache>,
}

impl PluginRuntime {
    pub fn new(engine: Arc<HostEngine>, cache: Option<CompileCache>) -> anyhow::Result<Self> {
        let mut linker = Linker::new(&engine.engine);
        wit::add_wasi(&mut linker).map_err(anyhow::Error::from)?;
        wit::v0_1::add_to_linker(&mut linker).map_err(anyhow::Error::from)?;
        Ok(Self {
            engine,
            linker,
            cache,
        })
    }

    pub fn engine(&self) -> &HostEngine {
        &self.engine
    }

    /// Loads one component file, checks its contract surface and asks it to describe itself.
    pub fn load(&self, path: &Path, limits: SandboxLimits) -> Result<LoadedPlugin, LoadError> {
        let fail = |message: String| LoadError {
            path: path.to_path_buf(),
            message,
        };
        limits.validate().map_err(fail)?;
        let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        if meta.len() > limits.component_bytes {
            return Err(fail(format!(
                "it is {} bytes, over the {}-byte cap for a component",
                meta.len(),
                limits.component_bytes
            )));
        }
        let wasm = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(fail("it is not a WebAssembly file".into()));
        }
        if wasm[4..8] == [1, 0, 0, 0] {
            return Err(fail(
                "it is a core wasm module, not a component; build for wasm32-wasip2 (or run `wasm-tools component new`)".into(),
            ));
        }
        let engine = &self.engine.engine;
        let (component, cache) = match &self.cache {
            Some(cache) => cache
                .load_or_compile(engine, &wasm)
                .map_err(|e| fail(format!("it does not compile: {e:#}")))?,
            None => (
                Component::new(engine, &wasm)
                    .map_err(|e| fail(format!("it does not compile: {e:#}")))?,
                CacheOutcome::Disabled,
            ),
        };
        let line = wit::check_surface(engine, &component).map_err(fail)?;
        let (imports, exports) = wit::surface(engine, &component);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("it does not link: {e:#}")))?;
        let indices = CiProviderIndices::new(&pre)
            .map_err(|e| fail(format!("its exports do not match the contract: {e:#}")))?;
        // Optional exports: absent is fine; present but malformed is refused (below, typed).
        let endpoints = match component.get_export_index(None, ENDPOINTS_EXPORT) {
            None => None,
            Some(_) => Some(endpoints::GuestIndices::new(&pre).map_err(|e| {
                fail(format!(
                    "its `{ENDPOINTS_EXPORT}` export does not match the contract: {e:#}"
                ))
            })?),
        };
        let mut plugin = LoadedPlugin {
            path: path.to_path_buf(),
            line,
            imports,
            exports,
            cache,
            info: types::ProviderInfo {
                id: String::new(),
                display_name: String::new(),
                contract_version: String::new(),
                capabilities: vec![],
            },
            pre,
            indices,
            endpoints,
            engine: self.engine.clone(),
            http_permits: HttpPermits::new(limits.http_concurrency),
            limits,
            traps: Mutex::new(TrapState::default()),
        };
        // `describe` in an instance that also type-checks every optional export found, so a
        // plugin whose `endpoints` has another shape is refused now, not on its first use.
        let (info, mismatch) = plugin
            .run(CallContext::offline(), |store, instance| {
                let mismatch = match &plugin.endpoints {
                    Some(endpoints) => endpoints
                        .load(&mut *store, instance)
                        .err()
                        .map(|e| format!("{e:#}")),
                    None => None,
                };
                let info = plugin
                    .indices
                    .load(&mut *store, instance)?
                    .exlogare_ci_provider()
                    .call_describe(store)?;
                Ok((info, mismatch))
            })
            .map(|o| o.value)
            .map_err(|e| fail(format!("`describe` failed: {e}")))?;
        if let Some(e) = mismatch {
            return Err(fail(format!(
                "its `{ENDPOINTS_EXPORT}` export does not match the contract: {e}"
            )));
        }
        validate_info(&info).map_err(fail)?;
        let advertised = info.capabilities.iter().any(|c| c == "endpoints");
        if advertised != plugin.endpoints.is_some() {
            tracing::warn!(
                plugin = %info.id,
                advertised,
                exported = plugin.endpoints.is_some(),
                "`describe().capabilities` and the exports disagree about `endpoints`; the exports decide"
            );
        }
        plugin.info = info;
        Ok(plugin)
    }
}

/// A tenth of the call budget, at most 2 s: time for a guest to react to an HTTP timeout.
fn http_grace(budget: Duration) -> Duration {
    (budget / 10).min(Duration::from_secs(2))
}

fn validate_info(info: &types::ProviderInfo) -> Result<(), String> {
    if info.id.is_empty()
        || !info
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "its id `{}` must be non-empty lowercase letters, digits and dashes (it is used in URLs)",
            info.id
        ));
    }
    if !info.contract_version.starts_with("0.1.") {
        return Err(format!(
            "it says it implements contract {}, but exports the 0.1 interface; rebuild it",
            info.contract_version
        ));
    }
    Ok(())
}

#[derive(Default)]
struct TrapState {
    recent: VecDeque<Instant>,
    /// Why and since when; after `trap_window_secs` one call is let through (half-open).
    disabled: Option<(String, Instant)>,
}

/// A loaded, linked plugin. Cheap to call concurrently: each call instantiates afresh.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub line: ContractLine,
    /// The component's import and export names, as checked at load.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub cache: CacheOutcome,
    pub info: types::ProviderInfo,
    pre: InstancePre<CallState>,
    indices: CiProviderIndices,
    /// The optional `endpoints` export, probed at load; `None` when the plugin lacks it.
    endpoints: Option<endpoints::GuestIndices>,
    engine: Arc<HostEngine>,
    limits: SandboxLimits,
    /// Slots for open HTTP requests (`http_concurrency`), shared by every call of this plugin
    /// on every thread: each call's gate draws from it.
    http_permits: HttpPermits,
    traps: Mutex<TrapState>,
}

type ProviderResult<T> = Result<T, types::ProviderError>;

impl LoadedPlugin {
    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// HTTP requests of this plugin open right now, across all its calls.
    pub fn http_requests_open(&self) -> u32 {
        self.http_permits.open()
    }

    /// The same compiled plugin under other limits (a scenario's or a tenant's override).
    ///
    /// The copy is a plugin of its own: its own circuit breaker and its own HTTP slots, sized
    /// by the new `http_concurrency`. Sharing the original's slots would make the copy's
    /// `http_concurrency` a fiction (the original's size would apply) and couple a scenario or
    /// a test to whatever else the original is doing. Calls that must count against one bound
    /// must use one `LoadedPlugin` (the service shares it behind an `Arc`).
    pub fn with_limits(&self, limits: SandboxLimits) -> LoadedPlugin {
        LoadedPlugin {
            path: self.path.clone(),
            line: self.line,
            imports: self.imports.clone(),
            exports: self.exports.clone(),
            cache: self.cache.clone(),
            info: self.info.clone(),
            pre: self.pre.clone(),
            indices: self.indices.clone(),
            endpoints: self.endpoints.clone(),
            engine: self.engine.clone(),
            http_permits: HttpPermits::new(limits.http_concurrency),
            limits,
            traps: Mutex::new(TrapState::default()),
        }
    }

    /// Whether the plugin exports the optional `endpoints` interface (probed at load).
    pub fn supports_endpoints(&self) -> bool {
        self.endpoints.is_some()
    }

    /// Runs `f` against a fresh instance under the sandbox limits.
    pub fn call<R>(
        &self,
        ctx: CallContext,
        f: impl FnOnce(&CiProvider, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<CallOutput<R>, PluginFault> {
        self.run(ctx, |store, instance| {
            let provider = self.indices.load(&mut *store, instance)?;
            f(&provider, store)
        })
    }

    /// Runs `f` against a fresh instance under the sandbox limits: the breaker, the deadline,
    /// the memory cap and the HTTP gate of every call, whichever exports `f` uses.
    fn run<R>(
        &self,
        ctx: CallContext,
        f: impl FnOnce(&mut Store<CallState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<CallOutput<R>, PluginFault> {
        {
            let mut traps = self.traps.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((reason, since)) = &traps.disabled {
                if since.elapsed() < Duration::from_secs(self.limits.trap_window_secs) {
                    return Err(PluginFault::Disabled(reason.clone()));
                }
                // Half-open: this call runs; one more fault disables the plugin again.
                traps.disabled = None;
                let now = Instant::now();
                traps.recent = std::iter::repeat_n(
                    now,
                    self.limits.max_consecutive_traps.saturating_sub(1) as usize,
                )
                .collect();
                tracing::warn!(
                    plugin = self.id(),
                    "re-enabling the plugin for a trial call after its cool-down"
                );
            }
        }
        let started = Instant::now();
        let budget = self.limits.call_timeout();
        let gate = HttpGate::new(
            ctx.policy,
            ctx.backend,
            ctx.credentials,
            GateLimits {
                requests: self.limits.requests_per_call,
                request_body_bytes: self.limits.request_body_bytes,
                response_body_bytes: self.limits.response_body_bytes,
                stream_body_bytes: self.limits.stream_body_bytes,
                stream_read_bytes: self.limits.stream_read_bytes,
            },
            // HTTP waits end a little before the epoch deadline, so a guest whose request
            // timed out still gets to return `http-error.timeout` as a typed error (§9.1 rule
            // c) instead of being interrupted on its way out.
            started + budget - http_grace(budget),
        )
        .with_permits(self.http_permits.clone(), self.limits.http_wait());
        let id = if self.info.id.is_empty() {
            "(loading)"
        } else {
            self.info.id.as_str()
        };
        let state = CallState::new(id, &self.limits, gate, ctx.sink, ctx.clock);
        let mut store = Store::new(&self.engine.engine, state);
        store.limiter(|s| &mut s.limits as &mut dyn wasmtime::ResourceLimiter);
        store.set_epoch_deadline(HostEngine::ticks_for(budget));
        store.epoch_deadline_trap();
        let fuel = self.engine.fuel_per_call();
        if let Some(fuel) = fuel {
            store
                .set_fuel(fuel)
                .map_err(|e| PluginFault::Host(format!("cannot set the call's fuel: {e}")))?;
        }
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&mut store, &instance));
        let elapsed = started.elapsed();
        let fuel_consumed = fuel.map(|start| start.saturating_sub(store.get_fuel().unwrap_or(0)));
        match outcome {
            Ok(value) => {
                self.traps
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .recent
                    .clear();
                let mut data = store.into_data();
                let (stdio, stdio_dropped) = data.stdout.contents();
                if stdio_dropped > 0 {
                    tracing::warn!(
                        plugin = self.id(),
                        stdio_dropped,
                        "plugin output over the cap was dropped"
                    );
                }
                Ok(CallOutput {
                    value,
                    transcript: data.http.take_transcript(),
                    stdio,
                    stdio_dropped,
                    sink: data.take_sink(),
                    elapsed,
                    peak_memory_bytes: data.limits.peak_memory_bytes(),
                    fuel_consumed,
                })
            }
            Err(err) => {
                let fault = self.classify(&err, elapsed);
                self.note_trap(&fault);
                Err(fault)
            }
        }
    }

    fn classify(&self, err: &wasmtime::Error, elapsed: Duration) -> PluginFault {
        if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginFault::Timeout(elapsed.as_millis() as u64);
        }
        if err.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
            let cap = self.engine.fuel_per_call().unwrap_or(0);
            return PluginFault::Trap(format!(
                "it used up the {cap} units of fuel a call gets on this fuel-metered engine"
            ));
        }
        let text = format!("{err:?}");
        if text.contains("forcing trap when growing memory") {
            return PluginFault::MemoryLimit(self.limits.memory_bytes);
        }
        let first = text.lines().next().unwrap_or("").to_string();
        PluginFault::Trap(first.chars().take(500).collect())
    }

    fn note_trap(&self, fault: &PluginFault) {
        let mut t = self.traps.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let window = Duration::from_secs(self.limits.trap_window_secs);
        t.recent.push_back(now);
        while t
            .recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > window)
        {
            t.recent.pop_front();
        }
        tracing::warn!(plugin = self.id(), %fault, "plugin call failed");
        if t.recent.len() as u32 >= self.limits.max_consecutive_traps {
            let reason = format!(
                "{} consecutive faults within {}s, the last: {fault}",
                t.recent.len(),
                window.as_secs()
            );
            tracing::error!(plugin = self.id(), %reason, "plugin disabled");
            t.disabled = Some((reason, now));
        }
    }

    fn check_input(&self, size: usize) -> Result<(), PluginFault> {
        if size as u64 > self.limits.input_bytes {
            return Err(PluginFault::InputTooLarge {
                size: size as u64,
                limit: self.limits.input_bytes,
            });
        }
        Ok(())
    }

    pub fn describe(&self) -> Result<types::ProviderInfo, PluginFault> {
        self.call(CallContext::offline(), |p, s| {
            p.exlogare_ci_provider().call_describe(s)
        })
        .map(|o| o.value)
    }

    /// The optional `endpoints.defaults` (contract 0.1.1): the connection a user means by the
    /// web address they typed, with its API and OAuth roots derived by the plugin (the host
    /// knows no provider's URL shapes). `Ok(None)` when the plugin does not export `endpoints`
    /// (a 0.1.0 plugin, say): ask the user for every base then. `Err(invalid-input)` with field
    /// `web-base` inside the output when the address is not one. The call makes no request;
    /// [`CallContext::offline`] is the context to pass.
    pub fn connection_defaults(
        &self,
        ctx: CallContext,
        web_base: &str,
    ) -> Result<Option<CallOutput<ProviderResult<types::Connection>>>, PluginFault> {
        let Some(endpoints) = &self.endpoints else {
            return Ok(None);
        };
        self.check_input(web_base.len())?;
        self.run(ctx, |store, instance| {
            endpoints
                .load(&mut *store, instance)?
                .call_defaults(store, web_base)
        })
        .map(Some)
    }

    pub fn verify_webhook(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        delivery: &provider::WebhookDelivery,
        expected_secret: &str,
    ) -> Result<CallOutput<Result<provider::WebhookOutcome, provider::WebhookRejection>>, PluginFault>
    {
        let size = delivery.body.len()
            + delivery
                .headers
                .iter()
                .chain(&delivery.query)
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        self.check_input(size)?;
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_verify_webhook(s, conn, delivery, expected_secret)
        })
    }

    pub fn authorize_url(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        client: &provider::OauthClient,
        state: &str,
    ) -> Result<CallOutput<ProviderResult<String>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_authorize_url(s, conn, client, state)
        })
    }

    pub fn exchange_code(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        client: &provider::OauthClient,
        code: &str,
    ) -> Result<CallOutput<ProviderResult<provider::TokenSet>>, PluginFault> {
        self.check_input(code.len())?;
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_exchange_code(s, conn, client, code)
        })
    }

    pub fn refresh_token(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        client: &provider::OauthClient,
        refresh_token: &str,
    ) -> Result<CallOutput<ProviderResult<provider::TokenSet>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_refresh_token(s, conn, client, refresh_token)
        })
    }

    pub fn current_user(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
    ) -> Result<CallOutput<ProviderResult<provider::User>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider().call_current_user(s, conn)
        })
    }

    pub fn list_projects(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        search: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<CallOutput<ProviderResult<provider::ProjectPage>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_list_projects(s, conn, search, cursor)
        })
    }

    pub fn list_webhooks(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        project: &types::ProjectRef,
    ) -> Result<CallOutput<ProviderResult<Vec<provider::Webhook>>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_list_webhooks(s, conn, project)
        })
    }

    pub fn register_webhook(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        project: &types::ProjectRef,
        spec: &provider::WebhookSpec,
    ) -> Result<CallOutput<ProviderResult<provider::Registration>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_register_webhook(s, conn, project, spec)
        })
    }

    pub fn remove_webhook(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        project: &types::ProjectRef,
        webhook_id: &str,
    ) -> Result<CallOutput<ProviderResult<()>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_remove_webhook(s, conn, project, webhook_id)
        })
    }

    pub fn list_pipelines(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        project: &types::ProjectRef,
        above: Option<u64>,
        limit: u32,
    ) -> Result<CallOutput<ProviderResult<Vec<provider::PipelineSummary>>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_list_pipelines(s, conn, project, above, limit)
        })
    }

    pub fn failure_details(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        event: &provider::FailureEvent,
    ) -> Result<CallOutput<ProviderResult<provider::FailureDetails>>, PluginFault> {
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_get_failure_details(s, conn, event)
        })
    }

    /// `ctx.sink` receives the log; it comes back in the output.
    pub fn extract_job_log(
        &self,
        ctx: CallContext,
        conn: &types::Connection,
        project: &types::ProjectRef,
        job: &types::Job,
    ) -> Result<CallOutput<ProviderResult<provider::LogSource>>, PluginFault> {
        if ctx.sink.is_none() {
            return Err(PluginFault::Host("extract-job-log needs a log sink".into()));
        }
        self.call(ctx, |p, s| {
            p.exlogare_ci_provider()
                .call_extract_job_log(s, conn, project, job)
        })
    }
}

/// Every plugin the host runs, by provider id.
#[derive(Default)]
pub struct PluginSet {
    pub plugins: std::collections::BTreeMap<String, Arc<LoadedPlugin>>,
}

impl PluginSet {
    /// Loads every `*.wasm` in `dir` (sorted, so the result does not depend on the directory's
    /// order) plus `extra` paths. A plugin that fails to load is reported and skipped; the
    /// others still load. Two plugins claiming one id is an error for the second.
    pub fn load(
        runtime: &PluginRuntime,
        dir: Option<&Path>,
        extra: &[PathBuf],
        limits: &SandboxLimits,
    ) -> (Self, Vec<LoadError>) {
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut errors = Vec::new();
        if let Some(dir) = dir {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                        .collect();
                    found.sort();
                    paths.extend(found);
                }
                Err(e) => errors.push(LoadError {
                    path: dir.to_path_buf(),
                    message: format!("cannot list the plugins directory: {e}"),
                }),
            }
        }
        paths.extend(extra.iter().cloned());
        let mut set = PluginSet::default();
        for path in paths {
            match runtime.load(&path, limits.clone()) {
                Ok(plugin) => {
                    let id = plugin.id().to_string();
                    if let Some(existing) = set.plugins.get(&id) {
                        errors.push(LoadError {
                            path,
                            message: format!(
                                "provider id `{id}` is already taken by {}",
                                existing.path.display()
                            ),
                        });
                    } else {
                        set.plugins.insert(id, Arc::new(plugin));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        (set, errors)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.get(id)
    }
}
