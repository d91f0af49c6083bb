//! The __DISPLAY__ API's objects, read with the kit's lenient readers: an id sent as a number
//! or a string, a flag as `true` or `"true"`, one odd field never costs the whole answer.

use serde::Deserialize;
use serde_json::Value;

use exlogare_kit::json::{lenient_bool, lenient_string, lenient_u64, timestamp};

use crate::{Job, PipelineRef, ProviderError, RunStatus};

#[derive(Debug, Deserialize)]
pub struct ApiPipeline {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub number: Option<u64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default, rename = "ref", deserialize_with = "lenient_string")]
    pub git_ref: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub sha: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub source: Option<String>,
    #[serde(default)]
    pub created_at: Value,
    #[serde(default)]
    pub finished_at: Value,
    #[serde(default)]
    pub jobs: Vec<ApiJob>,
}

#[derive(Debug, Deserialize)]
pub struct ApiJob {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub stage: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub allow_failure: Option<bool>,
    #[serde(default)]
    pub started_at: Value,
    #[serde(default)]
    pub finished_at: Value,
    #[serde(default, deserialize_with = "lenient_string")]
    pub web_url: Option<String>,
}

/// The API's status words, normalized. Timestamps without a zone are read as UTC.
pub fn run_status(status: Option<&str>) -> RunStatus {
    match status.map(str::to_ascii_lowercase).as_deref() {
        Some("created") => RunStatus::Created,
        Some("pending" | "queued") => RunStatus::Pending,
        Some("running") => RunStatus::Running,
        Some("success" | "passed") => RunStatus::Success,
        Some("failed") => RunStatus::Failed,
        Some("canceled" | "cancelled") => RunStatus::Canceled,
        Some("skipped") => RunStatus::Skipped,
        Some("manual") => RunStatus::Manual,
        Some("warning") => RunStatus::Warning,
        _ => RunStatus::Unknown,
    }
}

impl ApiPipeline {
    pub fn status(&self) -> RunStatus {
        run_status(self.status.as_deref())
    }

    pub fn reference(&self) -> PipelineRef {
        PipelineRef {
            id: self.id.clone(),
            number: self.number,
        }
    }

    /// Its jobs as the contract's; a job without an id cannot be fetched and is left out.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.iter().filter_map(ApiJob::to_job).collect()
    }
}

impl ApiJob {
    pub fn to_job(&self) -> Option<Job> {
        Some(Job {
            id: self.id.clone()?,
            name: self.name.clone().unwrap_or_default(),
            stage: self.stage.clone(),
            status: run_status(self.status.as_deref()),
            allow_failure: self.allow_failure.unwrap_or(false),
            started_at: timestamp(&self.started_at, 0),
            finished_at: timestamp(&self.finished_at, 0),
            web_url: self.web_url.clone(),
        })
    }
}

/// `value` read as a `T`, or `invalid-input` on `response` naming what was read.
pub fn read<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, ProviderError> {
    serde_json::from_value(value).map_err(|e| {
        exlogare_kit::invalid_input(
            "response",
            format!("{what} is not a __DISPLAY__ object of the expected shape: {e}"),
        )
    })
}

/// The `{"pipelines": [...]}` of a list endpoint.
pub fn pipelines(value: Value, what: &str) -> Result<Vec<ApiPipeline>, ProviderError> {
    #[derive(Deserialize)]
    struct List {
        pipelines: Vec<ApiPipeline>,
    }
    Ok(read::<List>(value, what)?.pipelines)
}
