//! The guest-side kit for Exlogare CI-provider plugins: what every provider needs and none of
//! what one provider knows.
//!
//! A provider is an ordinary library generic over [`Host`] (HTTP, log, clock, log sink), so it
//! runs natively (unit tests on [`testing::FakeHost`], benchmarks) and, wrapped, as a WASI
//! component of the world `exlogare:ci/ci-provider-full@0.1.2`. The kit generates the
//! contract's bindings once and gives the provider:
//! - the contract's types, re-exported here, and [`export!`], which exports a provider's
//!   implementation of the `provider`, `endpoints` and `green-runs` interfaces from the
//!   provider's own crate;
//! - [`Imports`] (on `wasm32` only): the [`Host`] made of the component's real imports;
//! - [`http`]: absolute URLs, a client over the host's HTTP import that maps every failure to a
//!   typed `provider-error`, JSON bodies, error snippets, `Retry-After`, redirects;
//! - [`paging`]: one page of a list and when it is the last;
//! - [`json`]: tolerant readers for fields that arrive as strings, numbers or several shapes;
//! - [`secret`]: constant-time comparison of a webhook secret;
//! - [`logstream`]: a log body streamed through `exlogare-logtext` into the host's log sink in
//!   bounded chunks;
//! - [`time`]: ISO-8601 timestamps and HTTP dates to epoch milliseconds;
//! - [`webroot`]: the web address a user types, read strictly, for `endpoints.defaults`;
//! - [`green`]: what every `last-green-job` shares: the passing job of that name, refs compared
//!   without their `refs/heads/` prefix, and the words of a `none` answer;
//! - [`testing`] (feature `fake`): a scripted host for unit tests, and heap accounting.
//!
//! Provider knowledge (URL shapes, field names, webhook envelopes, OAuth endpoints, quirks)
//! belongs in the provider crate; `plugin/gitflic` is the first user.

pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "ci-provider-full",
        additional_derives: [PartialEq],
        // The bindings live here once for every provider; the export macro has to work from
        // the provider's crate, where the component is linked, so it is public and names its
        // types through this crate's path.
        pub_export_macro: true,
        default_bindings_module: "exlogare_kit::bindings",
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
/// Exports a type implementing [`ProviderGuest`], [`EndpointsGuest`] and [`GreenRunsGuest`] as
/// the component's `provider`, `endpoints` and `green-runs` interfaces:
/// `exlogare_kit::export!(Component);` in the provider crate, compiled for `wasm32-wasip2`.
pub use bindings::export;
pub use bindings::exports::exlogare::ci::endpoints::Guest as EndpointsGuest;
pub use bindings::exports::exlogare::ci::green_runs::Guest as GreenRunsGuest;
pub use bindings::exports::exlogare::ci::green_runs::{GreenJob, GreenRun};
pub use bindings::exports::exlogare::ci::provider::Guest as ProviderGuest;
pub use bindings::exports::exlogare::ci::provider::{
    FailureDetails, FailureEvent, LogSource, OauthClient, PipelineSummary, ProjectPage,
    Registration, TokenSet, User, Webhook, WebhookDelivery, WebhookOutcome, WebhookRejection,
    WebhookSpec,
};

pub mod green;
pub mod host;
pub mod http;
pub mod json;
pub mod logstream;
pub mod paging;
pub mod secret;
pub mod time;
pub mod webroot;

pub use host::{BodyReader, Host};

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
pub use component::Imports;

#[cfg(any(test, feature = "fake"))]
pub mod testing;

#[cfg(test)]
#[global_allocator]
static ALLOC: testing::alloc::Counting = testing::alloc::Counting;

/// The contract version these bindings were generated from (`wit/`); a provider's
/// `describe().contract-version`.
pub const CONTRACT_VERSION: &str = "0.1.2";

/// `invalid-input` on `field`: the caller's input, or the provider's answer (`"response"`), is
/// not what the call needs.
pub fn invalid_input(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput(InvalidInput {
        field: field.into(),
        message: message.into(),
    })
}
