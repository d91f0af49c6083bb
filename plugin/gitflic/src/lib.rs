//! The GitFlic CI provider for Exlogare.
//!
//! The GitFlic logic is an ordinary library on the provider kit (`exlogare-kit`), generic over
//! [`Host`] (HTTP, log, clock, log sink), so it runs natively (unit tests with the kit's fake
//! host, a benchmark) and, through `component.rs`, as a WASI component of the world
//! `exlogare:ci/ci-provider-full@0.1.2`: the required `provider` interface plus the optional
//! `endpoints` one ([`endpoints::defaults`]: a connection's REST and OAuth roots from its web
//! address) and `green-runs` ([`green_runs::last_green_job`]: the newest passing run of a job,
//! within a bound of 5 requests). What the code knows about GitFlic comes
//! from `shared/reference/gitflic-api.md`; where a rule rests on a single public client or on
//! the announcement rather than GitFlic's documentation, the code says so at that rule.
//!
//! Connection options (`connection.options`) this plugin reads:
//! - `analyze_warnings` (`"true"` / anything else): a `PIPELINE_WARNING` delivery starts an
//!   analysis. `analyze-warnings` is accepted as the same key.
//! - `naive_utc_offset` (default `Z`, UTC, as GitFlic documents its objects): the zone of GitFlic
//!   timestamps that carry none, e.g. `+03:00` for an instance that writes Moscow time.

// The contract's types come from the kit's bindings; re-exported so GitFlic's modules, the
// benchmark and the fuzz targets name them from this crate as before.
pub use exlogare_kit::{
    BodyReader, Connection, Credential, FailureDetails, FailureEvent, Host, HttpError,
    InvalidInput, Job, Level, LogChunk, LogLine, LogSource, Method, OauthClient, Pipeline,
    PipelineRef, PipelineSummary, Project, ProjectPage, ProjectRef, ProviderError, ProviderInfo,
    RateLimit, Registration, Request, Response, ResponseHead, RunStatus, StepBoundary, StepEdge,
    Timestamp, TokenSet, User, Webhook, WebhookDelivery, WebhookOutcome, WebhookRejection,
    WebhookSpec,
};

pub mod api;
pub mod endpoints;
pub mod failure;
pub mod green_runs;
pub mod hooks;
pub mod joblog;
pub mod links;
pub mod model;
pub mod oauth;
pub mod options;
pub mod pipeline_search;
pub mod pipelines;
pub mod projects;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod component;

/// The kit's scripted host, and the GitFlic cloud connection the unit tests run against.
#[cfg(test)]
mod fake {
    pub use exlogare_kit::testing::*;

    pub fn conn() -> crate::Connection {
        crate::Connection {
            web_base: "https://gitflic.ru".into(),
            api_base: "https://api.gitflic.ru".into(),
            oauth_base: "https://oauth.gitflic.ru".into(),
            options: Vec::new(),
        }
    }
}
#[cfg(test)]
mod fixture_replay;

// The joblog test measures the heap of a whole extraction.
#[cfg(test)]
#[global_allocator]
static ALLOC: exlogare_kit::testing::alloc::Counting = exlogare_kit::testing::alloc::Counting;

/// The contract version this plugin was built against: the kit's.
pub const CONTRACT_VERSION: &str = exlogare_kit::CONTRACT_VERSION;

pub fn describe() -> ProviderInfo {
    ProviderInfo {
        id: "gitflic".into(),
        display_name: "GitFlic".into(),
        contract_version: CONTRACT_VERSION.into(),
        capabilities: [
            "oauth",
            "webhook-registration",
            "polling",
            "job-log",
            "endpoints",
            "green-runs",
        ]
        .map(String::from)
        .to_vec(),
    }
}
