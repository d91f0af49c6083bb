//! The provider contract as the host sees it: plain Rust types the service, the CLI and the
//! conformance kit speak, whatever contract line a plugin was built against.
//!
//! Each contract line's adapter (`wit/v0_1.rs` today) converts between these and its generated
//! bindings, so a `0.2` line adds an adapter file and leaves every caller of
//! [`crate::plugin::LoadedPlugin`] alone (Zed's `extension_host` keeps its callers on its own
//! types the same way). The shapes follow `wit/types.wit` and `wit/provider.wit` field for
//! field, and serialize as the 0.1 bindings did, so stored rows and recorded scenarios read
//! back unchanged.

use serde::{Deserialize, Serialize};

/// A timestamp in milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// Where one connection's provider lives: web UI, REST API and OAuth roots, and the plugin's
/// options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub web_base: String,
    pub api_base: String,
    pub oauth_base: String,
    pub options: Vec<(String, String)>,
}

/// What a plugin's `describe` says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    pub id: String,
    pub display_name: String,
    pub contract_version: String,
    pub capabilities: Vec<String>,
}

/// A field the plugin found wrong in its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

/// The provider asked us to slow down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub retry_after_secs: Option<u32>,
    pub message: String,
}

/// Why a provider call failed, typed so the host can act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderError {
    CredentialsRejected(String),
    NotFound(String),
    RateLimited(RateLimit),
    Transient(String),
    InvalidInput(InvalidInput),
    Denied(String),
}

/// A provider's project, as its API names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProjectRef {
    pub owner: String,
    pub name: String,
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub reference: ProjectRef,
    pub title: String,
    pub web_url: String,
    pub private: bool,
    pub default_branch: Option<String>,
}

/// Statuses normalized across providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    Created,
    Pending,
    Running,
    Success,
    Failed,
    Canceled,
    Skipped,
    Manual,
    Warning,
    Unknown,
}

/// Identifies a pipeline within a project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PipelineRef {
    pub id: Option<String>,
    pub number: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub project: ProjectRef,
    pub reference: PipelineRef,
    pub status: RunStatus,
    pub git_ref: Option<String>,
    pub commit_sha: Option<String>,
    pub source: Option<String>,
    pub created_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub web_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub name: String,
    pub stage: Option<String>,
    pub status: RunStatus,
    pub allow_failure: bool,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub web_url: Option<String>,
}

/// One webhook request as it reached the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A failed pipeline a webhook or the poller reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureEvent {
    pub project: ProjectRef,
    pub pipeline: PipelineRef,
    pub event: String,
    pub git_ref: Option<String>,
    pub commit_sha: Option<String>,
}

/// What an authentic webhook means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookOutcome {
    PipelineFailed(FailureEvent),
    Ping(String),
    Ignored(String),
}

/// Why a webhook is not authentic or not readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookRejection {
    Malformed(String),
    SecretMissing(String),
    SecretMismatch(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthClient {
    pub client_id: String,
    pub redirect_url: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPage {
    pub projects: Vec<Project>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSpec {
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
}

/// How `register-webhook` left the project's hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registration {
    Created(Webhook),
    Reused(Webhook),
    Repaired(Webhook),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSummary {
    pub reference: PipelineRef,
    pub status: RunStatus,
    pub git_ref: Option<String>,
    pub created_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetails {
    pub pipeline: Pipeline,
    pub failed_jobs: Vec<Job>,
    pub deep_link: String,
}

/// Where a job's log came from, as the plugin reports it after streaming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSource {
    pub name: String,
    pub url: String,
    pub bytes: u64,
    pub lines: u64,
}

/// The last passing run of a job (`green-runs`, since 0.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GreenJob {
    pub pipeline: PipelineRef,
    pub job: Job,
    pub git_ref: Option<String>,
}

/// What `last-green-job` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GreenRun {
    /// A passing run newer than the one the host named as known.
    Found(GreenJob),
    /// The run the host named as known is still the newest passing one.
    Unchanged,
    /// No passing run within the plugin's search bound; what was searched, in words.
    None(String),
}
