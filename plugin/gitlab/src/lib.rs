//! The GitLab CI provider for Exlogare (gitlab.com and self-managed GitLab).
//!
//! Built the way a third party would build one: on the contract in `wit/`, the guest kit
//! (`exlogare-kit`) and the README's "Writing a provider", nothing else of this repository. The
//! GitLab logic is an ordinary library generic over [`Host`], so it runs natively (unit tests on
//! the kit's fake host) and, through `component.rs`, as a WASI component of the world
//! `exlogare:ci/ci-provider-full@0.1.2`: the required `provider` interface plus the optional
//! `endpoints` ([`endpoints::defaults`]) and `green-runs` ([`green_runs::last_green_job`]: the
//! newest passing run of a job, within a bound of 5 requests).
//!
//! What the code knows about GitLab comes from `shared/reference/gitlab-api.md` (GitLab's docs
//! and source, with client libraries where the docs are silent); the section is cited at each
//! rule as `ref §N`.
//!
//! Credentials: every REST call asks the host for `access-token("Bearer")`, which GitLab takes
//! for OAuth tokens and personal, project and group access tokens alike (ref §4), so one scheme
//! serves every kind of connection; token requests ask for `client-basic` (Doorkeeper reads the
//! client from HTTP Basic, ref §9). The plugin never sees a token.
//!
//! This plugin reads no connection options.

pub use exlogare_kit::{
    BodyReader, Connection, Credential, FailureDetails, FailureEvent, Host, HttpError, Job, Level,
    LogSource, Method, OauthClient, Pipeline, PipelineRef, PipelineSummary, Project, ProjectPage,
    ProjectRef, ProviderError, ProviderInfo, RateLimit, Registration, Request, Response, RunStatus,
    Timestamp, TokenSet, User, Webhook, WebhookDelivery, WebhookOutcome, WebhookRejection,
    WebhookSpec,
};

pub mod api;
pub mod endpoints;
pub mod failure;
pub mod green_runs;
pub mod hooks;
pub mod joblog;
pub mod model;
pub mod oauth;
pub mod pipelines;
pub mod projects;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod component;

/// The kit's scripted host, and the gitlab.com connection the unit tests run against.
#[cfg(test)]
mod fake {
    pub use exlogare_kit::testing::*;

    pub fn conn() -> crate::Connection {
        crate::endpoints::defaults("https://gitlab.com").expect("gitlab.com")
    }
}

// The joblog test measures the heap of a whole extraction.
#[cfg(test)]
mod fixture_replay;

#[cfg(test)]
#[global_allocator]
static ALLOC: exlogare_kit::testing::alloc::Counting = exlogare_kit::testing::alloc::Counting;

/// The contract version this plugin was built against: the kit's.
pub const CONTRACT_VERSION: &str = exlogare_kit::CONTRACT_VERSION;

pub fn describe() -> ProviderInfo {
    ProviderInfo {
        id: "gitlab".into(),
        display_name: "GitLab".into(),
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
