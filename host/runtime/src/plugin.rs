//! Loading provider plugins and running their calls, one fresh instance per call.
//!
//! A call gets a new `Store` built from a pre-linked `InstancePre`: no state survives from one
//! call to the next (so nothing crosses tenants), and an instance poisoned by a trap is simply
//! dropped. Guest faults become [`PluginFault`]s, never host panics; after
//! `max_consecutive_traps` within `trap_window_secs` the plugin is disabled for a cool-down of
//! `trap_window_secs`, after which one trial call is let through.
//!
//! Host capacity is never the plugin's fault: a call that finds no free call slot, or that the
//! engine's instance pool cannot hold, is [`PluginFault::Busy`], which the circuit breaker does
//! not count. Each plugin has its own call slots (`concurrent_calls`, shared out of the pool
//! by [`PluginSet::load`]), so a plugin that loops fills only its own.
//!
//! Optional exports (0.1.1: `endpoints`, 0.1.2: `green-runs`) are probed once at load and kept on the plugin; a call
//! to one a plugin lacks answers `Ok(None)` without instantiating anything.

use crate::cache::{CacheOutcome, CompileCache};
use crate::call_state::{CallState, Clock};
use crate::contract::{
    Connection, FailureDetails, FailureEvent, GreenRun, Job, LogSource, OauthClient,
    PipelineSummary, ProjectPage, ProjectRef, ProviderError, ProviderInfo, Registration, TokenSet,
    User, Webhook, WebhookDelivery, WebhookOutcome, WebhookRejection, WebhookSpec,
};
use crate::egress::EgressPolicy;
use crate::engine::HostEngine;
use crate::http::gate::{Credentials, ExchangeRecord, GateLimits, HttpGate, HttpPermits};
use crate::http::{HttpBackend, Secret};
use crate::limits::SandboxLimits;
use crate::log_sink::LogSink;
use crate::wit::v0_1::Exports;
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
    /// The call's deadline (`call_timeout_ms`), not the time it ran.
    #[error("the plugin ran past its {0} ms deadline (sandbox `call_timeout_ms`) and was stopped")]
    Timeout(u64),
    #[error(
        "the plugin ran out of memory: it tried to grow its memory past the {0}-byte cap (sandbox `memory_bytes`) and was stopped"
    )]
    MemoryLimit(u64),
    /// What stopped the guest, in words: a panic with its message, stack exhaustion, the copy
    /// limit, or the trap wasmtime reported. Guest text: never for unauthenticated callers.
    #[error("the plugin failed: {0}")]
    Trap(String),
    /// The breaker is open; the text says why and when it lets a trial call through.
    #[error("the plugin is disabled after repeated faults: {0}")]
    Disabled(String),
    /// No room on the host for the call (no free call slot of this plugin, the instance pool
    /// full): the call was not run, and it does not count against the plugin.
    #[error("the host has no room for this call now ({0}); it was not run; retry later")]
    Busy(String),
    #[error("the input is {size} bytes, over the {limit}-byte cap for one call")]
    InputTooLarge { size: u64, limit: u64 },
    #[error("the host could not set up the call: {0}")]
    Host(String),
}

impl PluginFault {
    /// A short name of the kind of fault (`timeout`, `trap`, `busy`, ...), as serialized.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginFault::Timeout(_) => "timeout",
            PluginFault::MemoryLimit(_) => "memory-limit",
            PluginFault::Trap(_) => "trap",
            PluginFault::Disabled(_) => "disabled",
            PluginFault::Busy(_) => "busy",
            PluginFault::InputTooLarge { .. } => "input-too-large",
            PluginFault::Host(_) => "host",
        }
    }

    /// True when the host, not the plugin, lacked something (a slot, room in the pool): such
    /// a call never ran, so a caller should retry later without holding it against the plugin
    /// or spending an attempt.
    pub fn is_host_capacity(&self) -> bool {
        matches!(self, PluginFault::Busy(_))
    }

    /// A fixed phrase for a caller who has not authenticated (a webhook sender): it says what
    /// kind of trouble there was and carries no plugin or trap text, which is the plugin's to
    /// choose and may hold anything it was given.
    pub fn public_phrase(&self) -> &'static str {
        Self::public_phrase_of(self.kind())
    }

    /// [`PluginFault::public_phrase`] by kind (as [`PluginFault::kind`] names it), for a layer
    /// that has only the kind; an unknown kind gets a general phrase.
    pub fn public_phrase_of(kind: &str) -> &'static str {
        match kind {
            "timeout" => "it did not finish in time",
            "memory-limit" => "it ran out of memory",
            "trap" => "it failed",
            "disabled" => "it is disabled for a while after repeated faults",
            "busy" => "the host is busy",
            "input-too-large" => "the delivery is too large",
            _ => "the host could not run it",
        }
    }
}

/// What a call needs from the host besides its arguments: where HTTP goes, what credentials
/// the host may add, the clock, and (for log extraction) the sink.
pub struct CallContext {
    pub policy: EgressPolicy,
    pub backend: Arc<dyn HttpBackend>,
    pub credentials: Credentials,
    pub clock: Clock,
    pub sink: Option<Box<dyn LogSink>>,
    /// Secrets besides `credentials` that the plugin may be handed or may find (the
    /// connection's webhook secret, a refresh token, a watch's secret): replaced by `***` in
    /// what the plugin logs and in its stderr quoted in a fault, so they never reach the
    /// host's log through it.
    pub redact: Vec<Secret>,
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
            redact: vec![],
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
    /// The sink refused text over the call's cap (`log_text_bytes`): the log was read in part.
    pub log_text_cut: bool,
    /// A request of the call was refused by the connection's request budget, and how long
    /// until it has room: whatever the plugin answered after it, the cause is the budget.
    pub over_budget: Option<Duration>,
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
        // Optional exports: absent is fine; present but malformed is refused (here, or
        // typed in the `describe` instance below).
        let guest = Exports::probe(&component, &pre).map_err(fail)?;
        let mut plugin = LoadedPlugin {
            path: path.to_path_buf(),
            line,
            imports,
            exports,
            cache,
            info: ProviderInfo {
                id: String::new(),
                display_name: String::new(),
                contract_version: String::new(),
                capabilities: vec![],
            },
            pre,
            guest,
            engine: self.engine.clone(),
            http_permits: HttpPermits::new(limits.http_concurrency),
            call_slots: CallSlots::new(slot_count(&self.engine, limits.concurrent_calls, 1)),
            limits,
            traps: Mutex::new(TrapState::default()),
        };
        // `describe` in an instance that also type-checks every optional export found, so a
        // plugin whose `endpoints` has another shape is refused now, not on its first use.
        let (info, mismatch) = plugin
            .run(CallContext::offline(), |store, instance| {
                let mismatch = plugin.guest.check_optional(&mut *store, instance);
                let info = plugin.guest.describe(store, instance)?;
                Ok((info, mismatch))
            })
            .map(|o| o.value)
            .map_err(|e| fail(format!("`describe` failed: {e}")))?;
        if let Some(e) = mismatch {
            return Err(fail(e));
        }
        validate_info(&info).map_err(fail)?;
        for (name, exported) in [
            ("endpoints", plugin.guest.has_endpoints()),
            ("green-runs", plugin.guest.has_green_runs()),
        ] {
            let advertised = info.capabilities.iter().any(|c| c == name);
            if advertised != exported {
                tracing::warn!(
                    plugin = %info.id,
                    advertised,
                    exported,
                    "`describe().capabilities` and the exports disagree about `{name}`; the exports decide"
                );
            }
        }
        plugin.info = info;
        Ok(plugin)
    }
}

/// The calls of one plugin that may run at once: a counting semaphore over its instances.
/// A call holds a slot from before instantiation until its store is dropped.
#[derive(Clone)]
struct CallSlots(Arc<(Mutex<u32>, std::sync::Condvar, u32)>);

struct CallSlot(Arc<(Mutex<u32>, std::sync::Condvar, u32)>);

impl CallSlots {
    fn new(size: u32) -> Self {
        CallSlots(Arc::new((
            Mutex::new(size),
            std::sync::Condvar::new(),
            size,
        )))
    }

    fn size(&self) -> u32 {
        self.0.2
    }

    fn in_use(&self) -> u32 {
        let free = *self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        self.0.2 - free
    }

    /// A slot, waiting at most `wait`; `None` when none came free.
    fn acquire(&self, wait: Duration) -> Option<CallSlot> {
        let (free, freed, _) = &*self.0;
        let deadline = Instant::now() + wait;
        let mut n = free.lock().unwrap_or_else(|p| p.into_inner());
        while *n == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            n = freed
                .wait_timeout(n, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *n -= 1;
        Some(CallSlot(self.0.clone()))
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        let (free, freed, _) = &*self.0;
        *free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        freed.notify_one();
    }
}

/// The circuit breaker of one plugin, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum BreakerState {
    /// Calls run; `recent_faults` consecutive faults so far inside the window.
    Closed { recent_faults: u32 },
    /// Calls are refused until `reenables_in_secs` have passed; then one trial call runs.
    Open {
        reason: String,
        reenables_in_secs: u64,
    },
}

/// A tenth of the call budget, at most 2 s: time for a guest to react to an HTTP timeout.
fn http_grace(budget: Duration) -> Duration {
    (budget / 10).min(Duration::from_secs(2))
}

/// `text` on one line, control characters (terminal escapes included) and bidi overrides
/// removed, cut at `max` characters: guest text that ends up in a log line or a fault.
fn one_line(text: &str, max: usize) -> String {
    let line = text
        .split(|c: char| c.is_control() || is_bidi_control(c))
        .filter(|s| !s.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The characters that reorder text for display (U+202E shows `exe.txt` as `txt.exe`); the
/// CLI's `replay` drops them from what it prints too.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

enum Words {
    Panic(String),
    LastLine(String),
}

/// What the guest said on stderr before it stopped: the message of a Rust panic (the standard
/// hook prints `thread '…' panicked at FILE:LINE:COL:`, the message on the next lines, then a
/// `note:`), else the last line it wrote, if any.
fn stderr_words(stderr_tail: &[u8]) -> Option<Words> {
    let text = String::from_utf8_lossy(stderr_tail);
    if let Some(at) = text.rfind("panicked at ") {
        let after = &text[at..];
        let body = after.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
        let body = body.split("\nnote: ").next().unwrap_or(body);
        let message = one_line(body, 300);
        if !message.is_empty() {
            return Some(Words::Panic(message));
        }
        // The older format: `panicked at 'message', file:line`, all on one line.
        return Some(Words::Panic(one_line(
            after.trim_start_matches("panicked at "),
            300,
        )));
    }
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(Words::LastLine(one_line(last, 300)))
}

fn validate_info(info: &ProviderInfo) -> Result<(), String> {
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
    pub info: ProviderInfo,
    pre: InstancePre<CallState>,
    /// Its exports, found at load (the optional `endpoints` among them), called in host types.
    guest: Exports,
    engine: Arc<HostEngine>,
    limits: SandboxLimits,
    /// Slots for open HTTP requests (`http_concurrency`), shared by every call of this plugin
    /// on every thread: each call's gate draws from it.
    http_permits: HttpPermits,
    /// Slots for running calls (`concurrent_calls`, at most this plugin's share of the pool).
    call_slots: CallSlots,
    traps: Mutex<TrapState>,
}

/// Call slots for a plugin that shares the engine's pool with `plugins` others in all: its
/// `concurrent_calls`, but never more than its share, so the plugins together cannot fill
/// the pool and one cannot starve another.
fn slot_count(engine: &HostEngine, concurrent_calls: u32, plugins: usize) -> u32 {
    match engine.pool_instances() {
        Some(pool) => concurrent_calls.min(pool / (plugins.max(1) as u32)).max(1),
        None => concurrent_calls.max(1),
    }
}

type ProviderResult<T> = Result<T, ProviderError>;

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
            guest: self.guest.clone(),
            engine: self.engine.clone(),
            http_permits: HttpPermits::new(limits.http_concurrency),
            call_slots: CallSlots::new(slot_count(&self.engine, limits.concurrent_calls, 1)),
            limits,
            traps: Mutex::new(TrapState::default()),
        }
    }

    /// How many calls of this plugin may run at once, and how many run now.
    pub fn call_slots(&self) -> (u32, u32) {
        (self.call_slots.size(), self.call_slots.in_use())
    }

    /// Whether the circuit breaker lets calls through, for `/metrics`, the CLI and the API.
    pub fn breaker(&self) -> BreakerState {
        let t = self.traps.lock().unwrap_or_else(|p| p.into_inner());
        let window = Duration::from_secs(self.limits.trap_window_secs);
        match &t.disabled {
            Some((reason, since)) if since.elapsed() < window => BreakerState::Open {
                reason: reason.clone(),
                reenables_in_secs: (window - since.elapsed()).as_secs_f64().ceil() as u64,
            },
            _ => BreakerState::Closed {
                recent_faults: t.recent.len() as u32,
            },
        }
    }

    /// Closes the breaker and forgets recent faults: an operator's "I fixed it, try again".
    pub fn reset_breaker(&self) {
        let mut t = self.traps.lock().unwrap_or_else(|p| p.into_inner());
        t.disabled = None;
        t.recent.clear();
        tracing::info!(plugin = self.id(), "circuit breaker reset by the operator");
    }

    /// Whether the plugin exports the optional `endpoints` interface (probed at load).
    pub fn supports_endpoints(&self) -> bool {
        self.guest.has_endpoints()
    }

    /// Whether the plugin exports the optional `green-runs` interface (probed at load).
    pub fn supports_green_runs(&self) -> bool {
        self.guest.has_green_runs()
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
                let window = Duration::from_secs(self.limits.trap_window_secs);
                if since.elapsed() < window {
                    let left = (window - since.elapsed()).as_secs_f64().ceil() as u64;
                    return Err(PluginFault::Disabled(format!(
                        "{reason}; it re-enables itself for a trial call in {left} s (the cool-down is `trap_window_secs` = {} s)",
                        window.as_secs()
                    )));
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
        // Held until the store is dropped at the end of this function.
        let Some(_slot) = self.call_slots.acquire(self.limits.call_slot_wait()) else {
            let fault = PluginFault::Busy(format!(
                "all {} call slots of plugin `{}` stayed in use for {} ms (sandbox `concurrent_calls`, `call_slot_wait_ms`)",
                self.call_slots.size(),
                self.id_or_loading(),
                self.limits.call_slot_wait_ms
            ));
            tracing::warn!(plugin = self.id_or_loading(), %fault, "call refused");
            return Err(fault);
        };
        let started = Instant::now();
        let budget = self.limits.call_timeout();
        let redact = ctx
            .redact
            .iter()
            .chain(&ctx.credentials.access_token)
            .chain(&ctx.credentials.client_secret)
            .map(|s| s.expose().to_string())
            .collect::<Vec<String>>();
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
        let state = CallState::new(
            self.id_or_loading(),
            &self.limits,
            gate,
            ctx.sink,
            ctx.clock,
            redact,
        );
        let mut store = Store::new(&self.engine.engine, state);
        // wasmtime's per-call copy limit: what the guest may hand the host in one host call or
        // one export's result, however its strings and lists alias one buffer.
        store.set_hostcall_fuel(usize::try_from(self.limits.host_copy_bytes).unwrap_or(usize::MAX));
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
                    log_text_cut: data.sink_text.cut,
                    over_budget: data.http.over_budget(),
                    sink: data.take_sink(),
                    elapsed,
                    peak_memory_bytes: data.limits.peak_memory_bytes(),
                    fuel_consumed,
                })
            }
            Err(err) => {
                let stderr = store.data().stderr_tail_redacted();
                let fault = self.classify(&err, &stderr);
                if fault.is_host_capacity() {
                    tracing::warn!(plugin = self.id_or_loading(), %fault, "call refused");
                } else {
                    tracing::debug!(
                        plugin = self.id_or_loading(),
                        elapsed_ms = elapsed.as_millis() as u64,
                        "call failed after running"
                    );
                    self.note_trap(&fault);
                }
                Err(fault)
            }
        }
    }

    fn id_or_loading(&self) -> &str {
        if self.info.id.is_empty() {
            "(loading)"
        } else {
            self.info.id.as_str()
        }
    }

    /// Says what stopped the guest, in words: the limit it hit (with the limit's value and
    /// setting), the message of a panic it printed, or the trap wasmtime reported.
    fn classify(&self, err: &wasmtime::Error, stderr_tail: &[u8]) -> PluginFault {
        // The pool could not hold the instance: host capacity, not the plugin's doing.
        if let Some(full) = err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            return PluginFault::Busy(format!("the engine's shared instance pool is full: {full}"));
        }
        let trap = err.downcast_ref::<Trap>().copied();
        match trap {
            Some(Trap::Interrupt) => return PluginFault::Timeout(self.limits.call_timeout_ms),
            Some(Trap::OutOfFuel) => {
                let cap = self.engine.fuel_per_call().unwrap_or(0);
                return PluginFault::Trap(format!(
                    "it used up the {cap} units of fuel a call gets on this fuel-metered engine"
                ));
            }
            Some(Trap::StackOverflow) => {
                return PluginFault::Trap(
                    "it ran out of stack (the wasm stack is wasmtime's default 512 KiB): most likely a recursion that does not end".into(),
                );
            }
            _ => {}
        }
        let chain = format!("{err:#}");
        if chain.contains("forcing trap when growing memory") {
            return PluginFault::MemoryLimit(self.limits.memory_bytes);
        }
        if chain.contains("fuel allocated for hostcalls has been exhausted") {
            return PluginFault::Trap(format!(
                "it handed the host more than {} bytes in one host call or one result (sandbox `host_copy_bytes`); the call was stopped before the host copied more",
                self.limits.host_copy_bytes
            ));
        }
        let what = match trap {
            Some(t) => t.to_string(),
            // Not a wasm trap (a host import's error, a type mismatch): wasmtime's own words,
            // without the backtrace that follows them.
            None => err.to_string(),
        };
        let what = one_line(&what, 300);
        match stderr_words(stderr_tail) {
            Some(Words::Panic(message)) => PluginFault::Trap(format!("it panicked: {message}")),
            Some(Words::LastLine(line)) => PluginFault::Trap(format!(
                "it trapped: {what}; the last line it wrote to stderr: {line}"
            )),
            None => PluginFault::Trap(format!("it trapped: {what}")),
        }
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
                "{} consecutive faults within {} s, the last: {fault}",
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

    pub fn describe(&self) -> Result<ProviderInfo, PluginFault> {
        self.describe_in(CallContext::offline()).map(|o| o.value)
    }

    /// `describe` under a caller's context (the conformance kit records what the call did).
    pub fn describe_in(&self, ctx: CallContext) -> Result<CallOutput<ProviderInfo>, PluginFault> {
        self.run(ctx, |s, i| self.guest.describe(s, i))
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
    ) -> Result<Option<CallOutput<ProviderResult<Connection>>>, PluginFault> {
        if !self.guest.has_endpoints() {
            return Ok(None);
        }
        self.check_input(web_base.len())?;
        self.run(ctx, |s, i| self.guest.defaults(s, i, web_base))
            .map(Some)
    }

    /// The optional `green-runs.last-green-job` (contract 0.1.2): the newest passing run of the
    /// job named `job_name` on `git_ref` (else the default branch), in a pipeline numbered below
    /// `before`; `Unchanged` when it is still the run numbered `known`. `Ok(None)` when the
    /// plugin does not export `green-runs`: the analysis then reads the failing log alone.
    #[allow(clippy::too_many_arguments)]
    pub fn last_green_job(
        &self,
        ctx: CallContext,
        conn: &Connection,
        project: &ProjectRef,
        job_name: &str,
        git_ref: Option<&str>,
        before: Option<u64>,
        known: Option<u64>,
    ) -> Result<Option<CallOutput<ProviderResult<GreenRun>>>, PluginFault> {
        if !self.guest.has_green_runs() {
            return Ok(None);
        }
        self.check_input(job_name.len() + git_ref.map_or(0, str::len))?;
        self.run(ctx, |s, i| {
            self.guest
                .last_green_job(s, i, conn, project, job_name, git_ref, before, known)
        })
        .map(Some)
    }

    pub fn verify_webhook(
        &self,
        ctx: CallContext,
        conn: &Connection,
        delivery: &WebhookDelivery,
        expected_secret: &str,
    ) -> Result<CallOutput<Result<WebhookOutcome, WebhookRejection>>, PluginFault> {
        let size = delivery.body.len()
            + delivery
                .headers
                .iter()
                .chain(&delivery.query)
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        self.check_input(size)?;
        self.run(ctx, |s, i| {
            self.guest
                .verify_webhook(s, i, conn, delivery, expected_secret)
        })
    }

    pub fn authorize_url(
        &self,
        ctx: CallContext,
        conn: &Connection,
        client: &OauthClient,
        state: &str,
    ) -> Result<CallOutput<ProviderResult<String>>, PluginFault> {
        self.run(ctx, |s, i| {
            self.guest.authorize_url(s, i, conn, client, state)
        })
    }

    pub fn exchange_code(
        &self,
        ctx: CallContext,
        conn: &Connection,
        client: &OauthClient,
        code: &str,
    ) -> Result<CallOutput<ProviderResult<TokenSet>>, PluginFault> {
        self.check_input(code.len())?;
        self.run(ctx, |s, i| {
            self.guest.exchange_code(s, i, conn, client, code)
        })
    }

    pub fn refresh_token(
        &self,
        ctx: CallContext,
        conn: &Connection,
        client: &OauthClient,
        refresh_token: &str,
    ) -> Result<CallOutput<ProviderResult<TokenSet>>, PluginFault> {
        self.run(ctx, |s, i| {
            self.guest.refresh_token(s, i, conn, client, refresh_token)
        })
    }

    pub fn current_user(
        &self,
        ctx: CallContext,
        conn: &Connection,
    ) -> Result<CallOutput<ProviderResult<User>>, PluginFault> {
        self.run(ctx, |s, i| self.guest.current_user(s, i, conn))
    }

    pub fn list_projects(
        &self,
        ctx: CallContext,
        conn: &Connection,
        search: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<CallOutput<ProviderResult<ProjectPage>>, PluginFault> {
        self.run(ctx, |s, i| {
            self.guest.list_projects(s, i, conn, search, cursor)
        })
    }

    pub fn list_webhooks(
        &self,
        ctx: CallContext,
        conn: &Connection,
        project: &ProjectRef,
    ) -> Result<CallOutput<ProviderResult<Vec<Webhook>>>, PluginFault> {
        self.run(ctx, |s, i| self.guest.list_webhooks(s, i, conn, project))
    }

    pub fn register_webhook(
        &self,
        ctx: CallContext,
        conn: &Connection,
        project: &ProjectRef,
        spec: &WebhookSpec,
    ) -> Result<CallOutput<ProviderResult<Registration>>, PluginFault> {
        self.run(ctx, |s, i| {
            self.guest.register_webhook(s, i, conn, project, spec)
        })
    }

    pub fn remove_webhook(
        &self,
        ctx: CallContext,
        conn: &Connection,
        project: &ProjectRef,
        webhook_id: &str,
    ) -> Result<CallOutput<ProviderResult<()>>, PluginFault> {
        self.run(ctx, |s, i| {
            self.guest.remove_webhook(s, i, conn, project, webhook_id)
        })
    }

    pub fn list_pipelines(
        &self,
        ctx: CallContext,
        conn: &Connection,
        project: &ProjectRef,
        above: Option<u64>,
        limit: u32,
    ) -> Result<CallOutput<ProviderResult<Vec<PipelineSummary>>>, PluginFault> {
        self.run(ctx, |s, i| {
            self.guest.list_pipelines(s, i, conn, project, above, limit)
        })
    }

    pub fn failure_details(
        &self,
        ctx: CallContext,
        conn: &Connection,
        event: &FailureEvent,
    ) -> Result<CallOutput<ProviderResult<FailureDetails>>, PluginFault> {
        self.run(ctx, |s, i| self.guest.failure_details(s, i, conn, event))
    }

    /// `ctx.sink` receives the log; it comes back in the output.
    pub fn extract_job_log(
        &self,
        ctx: CallContext,
        conn: &Connection,
        project: &ProjectRef,
        job: &Job,
    ) -> Result<CallOutput<ProviderResult<LogSource>>, PluginFault> {
        if ctx.sink.is_none() {
            return Err(PluginFault::Host("extract-job-log needs a log sink".into()));
        }
        self.run(ctx, |s, i| {
            self.guest.extract_job_log(s, i, conn, project, job)
        })
    }
}

/// Every plugin the host runs, by provider id.
#[derive(Default, Clone)]
pub struct PluginSet {
    pub plugins: std::collections::BTreeMap<String, Arc<LoadedPlugin>>,
}

impl PluginSet {
    /// Loads every `*.wasm` in `dir` (sorted, so the result does not depend on the directory's
    /// order) plus `extra` paths. A plugin that fails to load is reported and skipped; the
    /// others still load.
    ///
    /// Two components claiming one id are both refused, each with an error naming every file
    /// that claims it: with first-come, a plugin that sorts earlier could pose as another
    /// (`gitflic`) and receive its deliveries and credentials. One file named twice (in `dir`
    /// and in `extra`) is loaded once.
    ///
    /// The engine's instance pool is shared out: each plugin gets at most `pool / plugins`
    /// call slots (and at most its `concurrent_calls`), so the plugins together never fill the
    /// pool and one that loops leaves the others theirs.
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
        let mut seen = std::collections::BTreeSet::new();
        paths.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        let mut by_id: std::collections::BTreeMap<String, Vec<LoadedPlugin>> = Default::default();
        for path in paths {
            match runtime.load(&path, limits.clone()) {
                Ok(plugin) => by_id
                    .entry(plugin.id().to_string())
                    .or_default()
                    .push(plugin),
                Err(e) => errors.push(e),
            }
        }
        let mut loaded = Vec::new();
        for (id, mut claimants) in by_id {
            if claimants.len() == 1 {
                loaded.extend(claimants.pop());
                continue;
            }
            let files = claimants
                .iter()
                .map(|p| p.path.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ");
            for p in &claimants {
                errors.push(LoadError {
                    path: p.path.clone(),
                    message: format!(
                        "provider id `{id}` is claimed by {files}; none of them is loaded, so none can pose as the other: remove all but the one you trust"
                    ),
                });
            }
        }
        let n = loaded.len();
        let mut set = PluginSet::default();
        for mut plugin in loaded {
            let slots = slot_count(&runtime.engine, plugin.limits.concurrent_calls, n);
            if slots < plugin.limits.concurrent_calls {
                tracing::info!(
                    plugin = plugin.id(),
                    slots,
                    concurrent_calls = plugin.limits.concurrent_calls,
                    "fewer call slots than `concurrent_calls`: {n} plugins share the engine's instance pool"
                );
            }
            plugin.call_slots = CallSlots::new(slots);
            set.plugins
                .insert(plugin.id().to_string(), Arc::new(plugin));
        }
        (set, errors)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_text_is_one_bounded_line_without_escapes_or_bidi_overrides() {
        let text = "first\n\u{1b}]8;;https://evil.example\u{7}link\u{202E}txt.exe\r\nlast";
        assert_eq!(
            one_line(text, 300),
            "first ]8;;https://evil.example link txt.exe last"
        );
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn a_rust_panic_message_is_found_in_the_stderr_tail() {
        let tail = b"noise\nthread '<unnamed>' panicked at src/lib.rs:10:5:\nmisbehave: asked to trap\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert!(
            matches!(stderr_words(tail), Some(Words::Panic(m)) if m == "misbehave: asked to trap")
        );
        let old = b"thread 'main' panicked at 'boom', src/main.rs:2:5";
        assert!(matches!(stderr_words(old), Some(Words::Panic(m)) if m.starts_with("'boom'")));
        assert!(
            matches!(stderr_words(b"started\nfailed here\n"), Some(Words::LastLine(l)) if l == "failed here")
        );
        assert!(stderr_words(b"").is_none());
    }
}
