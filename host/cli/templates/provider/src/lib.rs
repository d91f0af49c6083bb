//! The Exlogare provider for __DISPLAY__, written on the guest kit (`exlogare-kit`).
//!
//! __DISPLAY__ is the template's fictional JSON CI API; replace what this crate knows about it
//! (URL shapes in the modules below, field names in [`model`], the webhook envelope and its
//! secret header in [`webhook`]) with what your CI system does. The provider is an ordinary
//! library generic over [`Host`], so it runs natively (unit tests on the kit's fake host) and,
//! through `component.rs`, as a WASI component of the world `exlogare:ci/ci-provider-full`:
//! `provider`, `endpoints` ([`endpoints::defaults`]) and `green-runs`
//! ([`green_runs::last_green_job`]).
//!
//! The API, as this template imagines it (REST root `{web}/api/v1`, OAuth root `{web}/oauth`):
//! - `GET /projects/{owner}/{name}/pipelines/{number}`: a pipeline with its `jobs`;
//! - `GET /projects/{owner}/{name}/pipelines?ref=&status=&per_page=`: `{"pipelines": [...]}`,
//!   newest first;
//! - `GET /projects/{owner}/{name}/jobs/{id}/log`: the raw log, `text/plain`;
//! - `GET /projects/{owner}/{name}`, `GET /projects?search=&page=`, `GET /user`;
//! - `GET|POST /projects/{owner}/{name}/hooks`, `PUT|DELETE …/hooks/{id}`;
//! - `{oauth}/authorize` and `POST {oauth}/token` (OAuth 2, the client in HTTP Basic).
//!
//! Credentials: every REST call asks the host for `access-token("Bearer")`; the host adds the
//! token for the API's origin only, and the plugin never sees it.

pub use exlogare_kit::{
    Connection, Credential, FailureDetails, FailureEvent, Host, Job, LogSource, Method,
    OauthClient, Pipeline, PipelineRef, PipelineSummary, Project, ProjectPage, ProjectRef,
    ProviderError, ProviderInfo, Registration, Request, RunStatus, TokenSet, User, Webhook,
    WebhookDelivery, WebhookOutcome, WebhookRejection, WebhookSpec,
};

pub mod account;
pub mod endpoints;
pub mod failure;
pub mod green_runs;
pub mod model;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod component;

/// The provider's id: the `provider` of a connection in the host's configuration.
pub const ID: &str = "__NAME__";

pub fn describe() -> ProviderInfo {
    ProviderInfo {
        id: ID.into(),
        display_name: "__DISPLAY__".into(),
        contract_version: exlogare_kit::CONTRACT_VERSION.into(),
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

/// The credential of every REST call: `Authorization: Bearer <token>`, added by the host.
pub fn bearer() -> Option<Credential> {
    Some(Credential::AccessToken("Bearer".into()))
}

/// A project's owner and name, as the REST paths take them.
pub fn project_path(p: &ProjectRef) -> Result<(&str, &str), ProviderError> {
    let (owner, name) = (p.owner.trim(), p.name.trim());
    if owner.is_empty() || name.is_empty() {
        return Err(exlogare_kit::invalid_input(
            "project",
            "a __DISPLAY__ project needs its owner and name",
        ));
    }
    Ok((owner, name))
}
