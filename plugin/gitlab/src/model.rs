//! GitLab's objects as the REST API and the Pipeline Hook send them, read tolerantly (every
//! field optional: ref §2 lists fields that older versions lack), and GitLab's statuses in the
//! contract's terms.

use serde::Deserialize;
use serde_json::Value;

use exlogare_kit::json::{lenient_bool, lenient_string, lenient_u64};

use crate::{RunStatus, Timestamp};

/// A pipeline (`GET /projects/:id/pipelines[/:id]`, ref §6).
#[derive(Deserialize, Default, Debug)]
pub struct GlPipeline {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub iid: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub project_id: Option<u64>,
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
    pub detailed_status: Value,
}

/// A job of a pipeline (`GET /projects/:id/pipelines/:id/jobs`, ref §6).
#[derive(Deserialize, Default, Debug)]
pub struct GlJob {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
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

/// A trigger job (`GET /projects/:id/pipelines/:id/bridges`, ref §6): the job that started a
/// downstream (child or multi-project) pipeline, and that pipeline.
#[derive(Deserialize, Default, Debug)]
pub struct GlBridge {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub allow_failure: Option<bool>,
    #[serde(default)]
    pub downstream_pipeline: Option<GlDownstream>,
}

#[derive(Deserialize, Default, Debug)]
pub struct GlDownstream {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub project_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub web_url: Option<String>,
}

/// A project (`GET /projects`, ref §6).
#[derive(Deserialize, Default, Debug)]
pub struct GlProject {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub name_with_namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub path_with_namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub web_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub visibility: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub default_branch: Option<String>,
}

/// A project hook (`GET /projects/:id/hooks`, ref §8). GitLab never lists its `token`.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct GlHook {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub pipeline_events: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub push_events: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub alert_status: Option<String>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl GlHook {
    /// The `*_events` flags that are on, sorted: the hook's events in GitLab's own words.
    pub fn events(&self) -> Vec<String> {
        let mut on: Vec<String> = self
            .rest
            .iter()
            .filter(|(k, v)| {
                k.ends_with("_events") && exlogare_kit::json::value_bool(v) == Some(true)
            })
            .map(|(k, _)| k.clone())
            .collect();
        if self.pipeline_events == Some(true) {
            on.push("pipeline_events".into());
        }
        if self.push_events == Some(true) {
            on.push("push_events".into());
        }
        on.sort();
        on
    }

    /// Active unless GitLab disabled it after failed deliveries (`alert_status`
    /// `disabled`/`temporarily_disabled`, ref §1 auto-disable).
    pub fn active(&self) -> bool {
        !matches!(
            self.alert_status.as_deref(),
            Some("disabled" | "temporarily_disabled")
        )
    }
}

/// The user (`GET /user`).
#[derive(Deserialize, Default, Debug)]
pub struct GlUser {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
}

/// A GitLab status in the contract's terms (ref §2: the status set, newer statuses treated as
/// not finished). `success` with a `detailed_status` of "passed with warnings" (allowed
/// failures only) is `warning`.
pub fn run_status(status: Option<&str>, detailed: &Value) -> RunStatus {
    match status.map(str::to_ascii_lowercase).as_deref() {
        Some("success") => {
            let label = detailed.get("label").and_then(Value::as_str).unwrap_or("");
            let group = detailed.get("group").and_then(Value::as_str).unwrap_or("");
            if label.contains("warning") || group.contains("warning") {
                RunStatus::Warning
            } else {
                RunStatus::Success
            }
        }
        Some("failed") => RunStatus::Failed,
        Some("canceled") => RunStatus::Canceled,
        Some("skipped") => RunStatus::Skipped,
        Some("manual") => RunStatus::Manual,
        Some("running" | "canceling") => RunStatus::Running,
        Some("pending" | "waiting_for_resource" | "preparing" | "waiting_for_callback") => {
            RunStatus::Pending
        }
        Some("created" | "scheduled") => RunStatus::Created,
        _ => RunStatus::Unknown,
    }
}

/// A GitLab timestamp: REST's ISO-8601 (`2016-08-11T11:28:34.085Z`) or the Pipeline Hook's
/// `2016-08-12 15:23:28 UTC` (ref §2: the two paths differ).
pub fn timestamp(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            let s = s
                .strip_suffix(" UTC")
                .map_or(s.to_string(), |t| format!("{t}Z"));
            exlogare_kit::time::parse_datetime(&s, 0)
        }
        other => exlogare_kit::json::timestamp(other, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses() {
        let none = Value::Null;
        assert_eq!(run_status(Some("failed"), &none), RunStatus::Failed);
        assert_eq!(run_status(Some("success"), &none), RunStatus::Success);
        assert_eq!(
            run_status(
                Some("success"),
                &json!({"label": "passed with warnings", "group": "success-with-warnings"})
            ),
            RunStatus::Warning
        );
        assert_eq!(
            run_status(Some("waiting_for_resource"), &none),
            RunStatus::Pending
        );
        assert_eq!(run_status(Some("canceling"), &none), RunStatus::Running);
        assert_eq!(run_status(Some("brand_new"), &none), RunStatus::Unknown);
        assert_eq!(run_status(None, &none), RunStatus::Unknown);
    }

    #[test]
    fn both_timestamp_shapes() {
        let iso = timestamp(&json!("2016-08-12T15:23:28.000Z")).unwrap();
        assert_eq!(timestamp(&json!("2016-08-12 15:23:28 UTC")), Some(iso));
        assert_eq!(timestamp(&json!(null)), None);
        assert_eq!(timestamp(&json!("yesterday")), None);
    }

    #[test]
    fn hook_events_are_the_flags_that_are_on() {
        let h: GlHook = serde_json::from_value(json!({"id": 1, "url": "https://x", "push_events": false, "pipeline_events": true, "job_events": true, "alert_status": "executable"})).unwrap();
        assert_eq!(h.events(), ["job_events", "pipeline_events"]);
        assert!(h.active());
        let off: GlHook = serde_json::from_value(json!({"alert_status": "disabled"})).unwrap();
        assert!(!off.active());
    }
}
