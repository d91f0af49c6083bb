//! Bindings for the `exlogare:ci@0.1.x` line, the host side of its imports, and the adapter
//! between its generated types and the host's [`contract`] types ([`Exports`]). Nothing
//! outside this file names a generated type.
//!
//! A later breaking line (`0.2`) gets a sibling file with its own `bindgen!` and its own
//! adapter into the same [`contract`] types, as Zed's `wasm_host/wit/since_vX.rs` do; the
//! service, the CLI and the conformance kit do not change. Patch releases (`0.1.y`) need
//! nothing for what they keep, since wasmtime's linker and export lookup match them
//! semver-compatibly (`provider@0.1.0` answers a lookup of `provider@0.1.1`).
//!
//! Optional exports a patch adds (0.1.1: `endpoints`, 0.1.2: `green-runs`) are bound separately,
//! from their own world, and only their per-interface indices are used: the host probes each at
//! load ([`ENDPOINTS_EXPORT`], [`GREEN_RUNS_EXPORT`]) and plugins without them load as before.

use crate::call_state::CallState;
use crate::contract;
use crate::http::gate::{GateError, GateRequest, RequestedCredential, StreamBody};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, InstancePre, Resource};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "ci-provider",
    with: { "exlogare:ci/http.body-stream": crate::http::gate::StreamBody },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exlogare::ci::http as http_types;
pub use exlogare::ci::log_sink as sink_types;
use exlogare::ci::types;
use exports::exlogare::ci::provider;
use optional::exports::exlogare::ci::{endpoints, green_runs};

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.2";

/// The optional `endpoints` export (since 0.1.1), as the host looks it up.
pub const ENDPOINTS_EXPORT: &str = "exlogare:ci/endpoints@0.1.1";

/// The optional `green-runs` export (since 0.1.2), as the host looks it up.
pub const GREEN_RUNS_EXPORT: &str = "exlogare:ci/green-runs@0.1.2";

/// Bindings of `ci-provider-full`, for its optional exports only (`endpoints`, `green-runs`).
/// Every import and shared type is the one above (`with`), so `endpoints.defaults` returns
/// [`types::Connection`]. The world-level `CiProviderFull` is not used: it would require the
/// optional exports.
mod optional {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "ci-provider-full",
        with: {
            "exlogare:ci/types": crate::wit::v0_1::exlogare::ci::types,
            "exlogare:ci/http": crate::wit::v0_1::exlogare::ci::http,
            "exlogare:ci/log": crate::wit::v0_1::exlogare::ci::log,
            "exlogare:ci/clock": crate::wit::v0_1::exlogare::ci::clock,
            "exlogare:ci/log-sink": crate::wit::v0_1::exlogare::ci::log_sink,
        },
    });
}

impl From<GateError> for http_types::HttpError {
    fn from(e: GateError) -> Self {
        use http_types::HttpError as H;
        match e {
            GateError::Denied(m) => H::Denied(m),
            GateError::Timeout => H::Timeout,
            GateError::TooLarge(n) => H::TooLarge(n),
            GateError::Transport(m) => H::Transport(m),
            GateError::InvalidRequest(m) => H::InvalidRequest(m),
        }
    }
}

fn gate_request(req: http_types::Request) -> GateRequest {
    use crate::http::Method as M;
    use http_types::Method as W;
    GateRequest {
        method: match req.method {
            W::Get => M::Get,
            W::Head => M::Head,
            W::Post => M::Post,
            W::Put => M::Put,
            W::Patch => M::Patch,
            W::Delete => M::Delete,
        },
        url: req.url,
        headers: req.headers,
        body: req.body,
        credential: req.credential.map(|c| match c {
            http_types::Credential::AccessToken(scheme) => {
                RequestedCredential::AccessToken { scheme }
            }
            http_types::Credential::ClientBasic => RequestedCredential::ClientBasic,
        }),
    }
}

impl http_types::Host for CallState {
    fn send(
        &mut self,
        req: http_types::Request,
    ) -> Result<http_types::Response, http_types::HttpError> {
        let (status, headers, body) = self.http.send(gate_request(req))?;
        Ok(http_types::Response {
            status,
            headers,
            body,
        })
    }

    fn send_streaming(
        &mut self,
        req: http_types::Request,
    ) -> Result<(http_types::ResponseHead, Resource<StreamBody>), http_types::HttpError> {
        let (status, headers, body) = self.http.send_streaming(gate_request(req))?;
        let handle = self
            .table
            .push(body)
            .map_err(|e| http_types::HttpError::Transport(format!("host resource table: {e}")))?;
        Ok((http_types::ResponseHead { status, headers }, handle))
    }
}

impl http_types::HostBodyStream for CallState {
    fn read(
        &mut self,
        stream: Resource<StreamBody>,
        max: u32,
    ) -> Result<Option<Vec<u8>>, http_types::HttpError> {
        let body = self
            .table
            .get_mut(&stream)
            .map_err(|e| http_types::HttpError::Transport(format!("unknown body stream: {e}")))?;
        Ok(body.read(max)?)
    }

    fn drop(&mut self, stream: Resource<StreamBody>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

impl exlogare::ci::log::Host for CallState {
    fn log(&mut self, level: exlogare::ci::log::Level, message: String) {
        use exlogare::ci::log::Level as L;
        let level = match level {
            L::Trace => tracing::Level::TRACE,
            L::Debug => tracing::Level::DEBUG,
            L::Info => tracing::Level::INFO,
            L::Warn => tracing::Level::WARN,
            L::Error => tracing::Level::ERROR,
        };
        self.plugin_log(level, &message);
    }
}

impl exlogare::ci::clock::Host for CallState {
    fn now(&mut self) -> i64 {
        self.clock.now_ms()
    }
}

impl sink_types::Host for CallState {
    fn emit(&mut self, chunk: sink_types::LogChunk) -> Result<(), String> {
        let chunk = host_chunk(chunk);
        self.sink_text.admit(chunk.text_bytes())?;
        match self.sink.as_mut() {
            Some(sink) => sink.emit(chunk),
            None => Err("this call has no log sink; extract-job-log must be called through the host's extract API".into()),
        }
    }
}

/// Moves a guest's chunk into the host's types (the strings are moved, not copied).
fn host_chunk(chunk: sink_types::LogChunk) -> crate::log_sink::LogChunk {
    use crate::log_sink as host;
    host::LogChunk {
        lines: chunk
            .lines
            .into_iter()
            .map(|l| host::LogLine {
                source_line: l.source_line,
                text: l.text,
            })
            .collect(),
        steps: chunk
            .steps
            .into_iter()
            .map(|s| host::StepBoundary {
                edge: match s.edge {
                    sink_types::StepEdge::Start => host::StepEdge::Start,
                    sink_types::StepEdge::End => host::StepEdge::End,
                },
                name: s.name,
                source_line: s.source_line,
            })
            .collect(),
    }
}

impl exlogare::ci::types::Host for CallState {}

/// Adds this line's imports to a linker.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<CallState>) -> wasmtime::Result<()> {
    CiProvider::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(linker, |s| s)
}

// ---- Between these bindings and the host's `contract` types ---------------------------------

/// A move from one side's type to the other's, field by field. Only this file names both sides,
/// so a later contract line writes its own impls and nothing above the runtime changes.
trait Adapt<T> {
    fn adapt(self) -> T;
}

macro_rules! adapt_as_is {
    ($($t:ty),*) => {$(
        impl Adapt<$t> for $t {
            fn adapt(self) -> $t {
                self
            }
        }
    )*};
}
adapt_as_is!(String, bool, u8, u32, u64, i64);

impl<A: Adapt<B>, B> Adapt<Option<B>> for Option<A> {
    fn adapt(self) -> Option<B> {
        self.map(Adapt::adapt)
    }
}

impl<A: Adapt<B>, B> Adapt<Vec<B>> for Vec<A> {
    fn adapt(self) -> Vec<B> {
        self.into_iter().map(Adapt::adapt).collect()
    }
}

impl Adapt<(String, String)> for (String, String) {
    fn adapt(self) -> (String, String) {
        self
    }
}

/// Records: the same fields on both sides.
macro_rules! adapt_record {
    ($wit:ident :: $wname:ident <=> $host:ident { $($field:ident),* $(,)? }) => {
        impl Adapt<contract::$host> for $wit::$wname {
            fn adapt(self) -> contract::$host {
                contract::$host { $($field: self.$field.adapt()),* }
            }
        }
        impl Adapt<$wit::$wname> for contract::$host {
            fn adapt(self) -> $wit::$wname {
                $wit::$wname { $($field: self.$field.adapt()),* }
            }
        }
    };
}

/// Variants whose cases each carry one value, and enums whose cases carry none.
macro_rules! adapt_cases {
    ($wit:ident :: $wname:ident <=> $host:ident { $($case:ident($_x:tt)),* $(,)? }) => {
        impl Adapt<contract::$host> for $wit::$wname {
            fn adapt(self) -> contract::$host {
                match self { $($wit::$wname::$case(v) => contract::$host::$case(v.adapt())),* }
            }
        }
        impl Adapt<$wit::$wname> for contract::$host {
            fn adapt(self) -> $wit::$wname {
                match self { $(contract::$host::$case(v) => $wit::$wname::$case(v.adapt())),* }
            }
        }
    };
    ($wit:ident :: $wname:ident <=> $host:ident { $($case:ident),* $(,)? }) => {
        impl Adapt<contract::$host> for $wit::$wname {
            fn adapt(self) -> contract::$host {
                match self { $($wit::$wname::$case => contract::$host::$case),* }
            }
        }
        impl Adapt<$wit::$wname> for contract::$host {
            fn adapt(self) -> $wit::$wname {
                match self { $(contract::$host::$case => $wit::$wname::$case),* }
            }
        }
    };
}

adapt_record!(types::Connection <=> Connection { web_base, api_base, oauth_base, options });
adapt_record!(types::ProviderInfo <=> ProviderInfo { id, display_name, contract_version, capabilities });
adapt_record!(types::InvalidInput <=> InvalidInput { field, message });
adapt_record!(types::RateLimit <=> RateLimit { retry_after_secs, message });
adapt_cases!(types::ProviderError <=> ProviderError {
    CredentialsRejected(_), NotFound(_), RateLimited(_), Transient(_), InvalidInput(_), Denied(_)
});
adapt_record!(types::ProjectRef <=> ProjectRef { owner, name, id });
adapt_record!(types::Project <=> Project { reference, title, web_url, private, default_branch });
adapt_cases!(types::RunStatus <=> RunStatus {
    Created, Pending, Running, Success, Failed, Canceled, Skipped, Manual, Warning, Unknown
});
adapt_record!(types::PipelineRef <=> PipelineRef { id, number });
adapt_record!(types::Pipeline <=> Pipeline {
    project, reference, status, git_ref, commit_sha, source, created_at, finished_at, web_url
});
adapt_record!(types::Job <=> Job {
    id, name, stage, status, allow_failure, started_at, finished_at, web_url
});
adapt_record!(provider::WebhookDelivery <=> WebhookDelivery { query, headers, body });
adapt_record!(provider::FailureEvent <=> FailureEvent { project, pipeline, event, git_ref, commit_sha });
adapt_cases!(provider::WebhookOutcome <=> WebhookOutcome { PipelineFailed(_), Ping(_), Ignored(_) });
adapt_cases!(provider::WebhookRejection <=> WebhookRejection {
    Malformed(_), SecretMissing(_), SecretMismatch(_)
});
adapt_record!(provider::OauthClient <=> OauthClient { client_id, redirect_url, scopes });
adapt_record!(provider::TokenSet <=> TokenSet { access_token, refresh_token, expires_at });
adapt_record!(provider::User <=> User { id, username, display_name });
adapt_record!(provider::ProjectPage <=> ProjectPage { projects, next_cursor });
adapt_record!(provider::WebhookSpec <=> WebhookSpec { url, secret, events });
adapt_record!(provider::Webhook <=> Webhook { id, url, events, active });
adapt_cases!(provider::Registration <=> Registration { Created(_), Reused(_), Repaired(_) });
adapt_record!(provider::PipelineSummary <=> PipelineSummary { reference, status, git_ref, created_at });
adapt_record!(provider::FailureDetails <=> FailureDetails { pipeline, failed_jobs, deep_link });
adapt_record!(provider::LogSource <=> LogSource { name, url, bytes, lines });
adapt_record!(green_runs::GreenJob <=> GreenJob { pipeline, job, git_ref });

/// A variant with a unit case beside valued ones, which `adapt_cases!` does not cover.
impl Adapt<contract::GreenRun> for green_runs::GreenRun {
    fn adapt(self) -> contract::GreenRun {
        match self {
            green_runs::GreenRun::Found(j) => contract::GreenRun::Found(j.adapt()),
            green_runs::GreenRun::Unchanged => contract::GreenRun::Unchanged,
            green_runs::GreenRun::None(why) => contract::GreenRun::None(why),
        }
    }
}

impl Adapt<green_runs::GreenRun> for contract::GreenRun {
    fn adapt(self) -> green_runs::GreenRun {
        match self {
            contract::GreenRun::Found(j) => green_runs::GreenRun::Found(j.adapt()),
            contract::GreenRun::Unchanged => green_runs::GreenRun::Unchanged,
            contract::GreenRun::None(why) => green_runs::GreenRun::None(why),
        }
    }
}

impl Adapt<()> for () {
    fn adapt(self) {}
}

impl<A: Adapt<B>, B, E: Adapt<F>, F> Adapt<Result<B, F>> for Result<A, E> {
    fn adapt(self) -> Result<B, F> {
        match self {
            Ok(v) => Ok(v.adapt()),
            Err(e) => Err(e.adapt()),
        }
    }
}

/// A host value as this line's bindings take it (the callers keep theirs).
fn to_wit<H: Clone + Adapt<W>, W>(value: &H) -> W {
    value.clone().adapt()
}

type Answer<T> = wasmtime::Result<Result<T, contract::ProviderError>>;

/// What a component of this line exports, found once at load: `provider`, and `endpoints` and
/// `green-runs` when present. Every call goes through here and speaks [`contract`] types, so
/// `plugin.rs` never names a binding.
#[derive(Clone)]
pub struct Exports {
    provider: CiProviderIndices,
    endpoints: Option<endpoints::GuestIndices>,
    green_runs: Option<green_runs::GuestIndices>,
}

impl Exports {
    /// Finds the exports in a linked component. `Err` names what does not match the contract;
    /// an absent optional export is fine, a present one of another shape is not.
    pub fn probe(component: &Component, pre: &InstancePre<CallState>) -> Result<Self, String> {
        let provider = CiProviderIndices::new(pre)
            .map_err(|e| format!("its exports do not match the contract: {e:#}"))?;
        let endpoints = match component.get_export_index(None, ENDPOINTS_EXPORT) {
            None => None,
            Some(_) => Some(endpoints::GuestIndices::new(pre).map_err(|e| {
                format!("its `{ENDPOINTS_EXPORT}` export does not match the contract: {e:#}")
            })?),
        };
        let green_runs = match component.get_export_index(None, GREEN_RUNS_EXPORT) {
            None => None,
            Some(_) => Some(green_runs::GuestIndices::new(pre).map_err(|e| {
                format!("its `{GREEN_RUNS_EXPORT}` export does not match the contract: {e:#}")
            })?),
        };
        Ok(Self {
            provider,
            endpoints,
            green_runs,
        })
    }

    pub fn has_endpoints(&self) -> bool {
        self.endpoints.is_some()
    }

    pub fn has_green_runs(&self) -> bool {
        self.green_runs.is_some()
    }

    /// Type-checks the optional exports found against this instance: the mismatch, if any,
    /// in words.
    pub fn check_optional(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
    ) -> Option<String> {
        if let Some(endpoints) = &self.endpoints
            && let Err(e) = endpoints.load(&mut *store, instance)
        {
            return Some(format!(
                "its `{ENDPOINTS_EXPORT}` export does not match the contract: {e:#}"
            ));
        }
        let green_runs = self.green_runs.as_ref()?;
        green_runs
            .load(store, instance)
            .err()
            .map(|e| format!("its `{GREEN_RUNS_EXPORT}` export does not match the contract: {e:#}"))
    }

    fn provider(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
    ) -> wasmtime::Result<CiProvider> {
        self.provider.load(store, instance)
    }

    pub fn describe(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
    ) -> wasmtime::Result<contract::ProviderInfo> {
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider().call_describe(store)?.adapt())
    }

    /// `endpoints.defaults`; ask [`Exports::has_endpoints`] first.
    pub fn defaults(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        web_base: &str,
    ) -> Answer<contract::Connection> {
        let Some(endpoints) = &self.endpoints else {
            wasmtime::bail!("the plugin does not export `{ENDPOINTS_EXPORT}`");
        };
        let guest = endpoints.load(&mut *store, instance)?;
        Ok(guest.call_defaults(store, web_base)?.adapt())
    }

    /// `green-runs.last-green-job`; ask [`Exports::has_green_runs`] first.
    #[allow(clippy::too_many_arguments)]
    pub fn last_green_job(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        project: &contract::ProjectRef,
        job_name: &str,
        git_ref: Option<&str>,
        before: Option<u64>,
        known: Option<u64>,
    ) -> Answer<contract::GreenRun> {
        let Some(green_runs) = &self.green_runs else {
            wasmtime::bail!("the plugin does not export `{GREEN_RUNS_EXPORT}`");
        };
        let (conn, project) = (to_wit(conn), to_wit(project));
        let guest = green_runs.load(&mut *store, instance)?;
        Ok(guest
            .call_last_green_job(store, &conn, &project, job_name, git_ref, before, known)?
            .adapt())
    }

    pub fn verify_webhook(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        delivery: &contract::WebhookDelivery,
        expected_secret: &str,
    ) -> wasmtime::Result<Result<contract::WebhookOutcome, contract::WebhookRejection>> {
        let (conn, delivery) = (to_wit(conn), to_wit(delivery));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_verify_webhook(store, &conn, &delivery, expected_secret)?
            .adapt())
    }

    pub fn authorize_url(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        client: &contract::OauthClient,
        state: &str,
    ) -> Answer<String> {
        let (conn, client) = (to_wit(conn), to_wit(client));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_authorize_url(store, &conn, &client, state)?
            .adapt())
    }

    pub fn exchange_code(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        client: &contract::OauthClient,
        code: &str,
    ) -> Answer<contract::TokenSet> {
        let (conn, client) = (to_wit(conn), to_wit(client));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_exchange_code(store, &conn, &client, code)?
            .adapt())
    }

    pub fn refresh_token(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        client: &contract::OauthClient,
        refresh_token: &str,
    ) -> Answer<contract::TokenSet> {
        let (conn, client) = (to_wit(conn), to_wit(client));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_refresh_token(store, &conn, &client, refresh_token)?
            .adapt())
    }

    pub fn current_user(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
    ) -> Answer<contract::User> {
        let conn = to_wit(conn);
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_current_user(store, &conn)?
            .adapt())
    }

    pub fn list_projects(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        search: Option<&str>,
        cursor: Option<&str>,
    ) -> Answer<contract::ProjectPage> {
        let conn = to_wit(conn);
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_list_projects(store, &conn, search, cursor)?
            .adapt())
    }

    pub fn list_webhooks(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        project: &contract::ProjectRef,
    ) -> Answer<Vec<contract::Webhook>> {
        let (conn, project) = (to_wit(conn), to_wit(project));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_list_webhooks(store, &conn, &project)?
            .adapt())
    }

    pub fn register_webhook(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        project: &contract::ProjectRef,
        spec: &contract::WebhookSpec,
    ) -> Answer<contract::Registration> {
        let (conn, project, spec) = (to_wit(conn), to_wit(project), to_wit(spec));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_register_webhook(store, &conn, &project, &spec)?
            .adapt())
    }

    pub fn remove_webhook(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        project: &contract::ProjectRef,
        webhook_id: &str,
    ) -> Answer<()> {
        let (conn, project) = (to_wit(conn), to_wit(project));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_remove_webhook(store, &conn, &project, webhook_id)?
            .adapt())
    }

    pub fn list_pipelines(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        project: &contract::ProjectRef,
        above: Option<u64>,
        limit: u32,
    ) -> Answer<Vec<contract::PipelineSummary>> {
        let (conn, project) = (to_wit(conn), to_wit(project));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_list_pipelines(store, &conn, &project, above, limit)?
            .adapt())
    }

    pub fn failure_details(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        event: &contract::FailureEvent,
    ) -> Answer<contract::FailureDetails> {
        let (conn, event) = (to_wit(conn), to_wit(event));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_get_failure_details(store, &conn, &event)?
            .adapt())
    }

    pub fn extract_job_log(
        &self,
        store: &mut Store<CallState>,
        instance: &Instance,
        conn: &contract::Connection,
        project: &contract::ProjectRef,
        job: &contract::Job,
    ) -> Answer<contract::LogSource> {
        let (conn, project, job) = (to_wit(conn), to_wit(project), to_wit(job));
        let p = self.provider(store, instance)?;
        Ok(p.exlogare_ci_provider()
            .call_extract_job_log(store, &conn, &project, &job)?
            .adapt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> contract::FailureEvent {
        contract::FailureEvent {
            project: contract::ProjectRef {
                owner: "acme".into(),
                name: "app".into(),
                id: Some("0f3c".into()),
            },
            pipeline: contract::PipelineRef {
                id: None,
                number: Some(42),
            },
            event: "PIPELINE_FAIL".into(),
            git_ref: Some("main".into()),
            commit_sha: None,
        }
    }

    fn details() -> contract::FailureDetails {
        let event = event();
        contract::FailureDetails {
            pipeline: contract::Pipeline {
                project: event.project,
                reference: event.pipeline,
                status: contract::RunStatus::Warning,
                git_ref: Some("main".into()),
                commit_sha: Some("abc".into()),
                source: Some("push".into()),
                created_at: Some(1_700_000_000_000),
                finished_at: None,
                web_url: "https://gitflic.ru/project/acme/app/cicd/pipeline/42".into(),
            },
            failed_jobs: vec![contract::Job {
                id: "7".into(),
                name: "тесты".into(),
                stage: None,
                status: contract::RunStatus::Failed,
                allow_failure: true,
                started_at: None,
                finished_at: Some(-1),
                web_url: None,
            }],
            deep_link: "https://gitflic.ru/project/acme/app".into(),
        }
    }

    /// Every field survives the trip through the bindings and back: a field the adapter
    /// forgot or swapped would change the value.
    #[test]
    fn host_values_survive_the_bindings_both_ways() {
        let wit: provider::FailureDetails = details().adapt();
        let back: contract::FailureDetails = wit.adapt();
        assert_eq!(back, details());

        let d = details();
        for run in [
            contract::GreenRun::Found(contract::GreenJob {
                pipeline: d.pipeline.reference.clone(),
                job: d.failed_jobs[0].clone(),
                git_ref: Some("main".into()),
            }),
            contract::GreenRun::Unchanged,
            contract::GreenRun::None("no passing run of `build` on `main`".into()),
        ] {
            let wit: green_runs::GreenRun = run.clone().adapt();
            let back: contract::GreenRun = wit.adapt();
            assert_eq!(back, run);
        }

        let errors = [
            contract::ProviderError::RateLimited(contract::RateLimit {
                retry_after_secs: Some(30),
                message: "slow down".into(),
            }),
            contract::ProviderError::InvalidInput(contract::InvalidInput {
                field: "web-base".into(),
                message: "not an address".into(),
            }),
            contract::ProviderError::Denied("egress".into()),
        ];
        for e in errors {
            let wit: types::ProviderError = e.clone().adapt();
            assert_eq!(Adapt::<contract::ProviderError>::adapt(wit), e);
        }
        let answer: Result<contract::WebhookOutcome, contract::WebhookRejection> =
            Ok(contract::WebhookOutcome::PipelineFailed(event()));
        let wit: Result<provider::WebhookOutcome, provider::WebhookRejection> =
            answer.clone().adapt();
        let back: Result<contract::WebhookOutcome, contract::WebhookRejection> = wit.adapt();
        assert_eq!(back, answer);
    }

    /// Stored deliveries and recorded scenarios hold these values as JSON written when the
    /// service used the 0.1 bindings directly: the host types read and write the same text.
    #[test]
    fn host_types_serialize_as_the_bindings_did() {
        let host = serde_json::to_value(details()).unwrap();
        let wit: provider::FailureDetails = details().adapt();
        assert_eq!(host, serde_json::to_value(&wit).unwrap());

        let stored = r#"{"project":{"owner":"acme","name":"app","id":null},"pipeline":{"id":null,"number":7},"event":"PIPELINE_FAIL","git_ref":null,"commit_sha":null}"#;
        let host: contract::FailureEvent = serde_json::from_str(stored).unwrap();
        let wit: provider::FailureEvent = serde_json::from_str(stored).unwrap();
        assert_eq!(host, wit.adapt());
        assert_eq!(serde_json::to_string(&host).unwrap(), stored);
    }
}
