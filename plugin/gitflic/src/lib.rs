//! The GitFlic CI provider for Exlogare.
//!
//! The GitFlic logic is an ordinary library, generic over [`Host`] (HTTP, log, clock, log sink),
//! so it runs natively (unit tests with a fake host, a benchmark) and, through `component.rs`,
//! as a WASI component of the world `exlogare:ci/ci-provider-with-endpoints@0.1.1`: the required
//! `provider` interface plus the optional `endpoints` one ([`endpoints::defaults`]: a
//! connection's REST and OAuth roots from its web address). What the code knows about GitFlic comes
//! from `shared/reference/gitflic-api.md`; where a rule rests on a single public client or on
//! the announcement rather than GitFlic's documentation, the code says so at that rule.
//!
//! Connection options (`connection.options`) this plugin reads:
//! - `analyze_warnings` (`"true"` / anything else): a `PIPELINE_WARNING` delivery starts an
//!   analysis. `analyze-warnings` is accepted as the same key.
//! - `naive_utc_offset` (default `+03:00`): the zone of GitFlic timestamps that carry none.

pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "ci-provider-with-endpoints",
        additional_derives: [PartialEq],
    });
}

pub use bindings::exlogare::ci::http::{
    Credential, HttpError, Method, Request, Response, ResponseHead,
};
pub use bindings::exlogare::ci::log::Level;
pub use bindings::exlogare::ci::log_sink::{LogChunk, LogLine, StepBoundary, StepEdge};
pub use bindings::exlogare::ci::types::{
    Connection, InvalidInput, Job, Pipeline, PipelineRef, Project, ProjectRef, ProviderError,
    ProviderInfo, RateLimit, RunStatus, Timestamp,
};
pub use bindings::exports::exlogare::ci::provider::{
    FailureDetails, FailureEvent, LogSource, OauthClient, PipelineSummary, ProjectPage,
    Registration, TokenSet, User, Webhook, WebhookDelivery, WebhookOutcome, WebhookRejection,
    WebhookSpec,
};

pub mod api;
pub mod endpoints;
pub mod failure;
mod host;
pub mod hooks;
pub mod joblog;
pub mod links;
pub mod model;
pub mod oauth;
pub mod options;
pub mod pipelines;
pub mod projects;
mod time;
pub mod webhook;

pub use host::{BodyReader, Host};

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod testalloc;
#[cfg(test)]
mod fixture_replay;

/// The contract version this plugin was built against.
pub const CONTRACT_VERSION: &str = "0.1.1";

pub fn describe() -> ProviderInfo {
    ProviderInfo {
        id: "gitflic".into(),
        display_name: "GitFlic".into(),
        contract_version: CONTRACT_VERSION.into(),
        capabilities: ["oauth", "webhook-registration", "polling", "job-log", "endpoints"]
            .map(String::from)
            .to_vec(),
    }
}
