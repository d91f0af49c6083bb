//! GitFlic's REST objects, read tolerantly.
//!
//! GitFlic documents `localId` as a String but sends a number; timestamps come with or without a
//! zone; some fields exist under two names across versions (`owner.alias` / `ownerAlias`,
//! `private` / `isPrivate`). Every field here is optional and lenient, so that one odd field
//! never costs a whole page; the callers decide which missing facts matter.

use serde::Deserialize;
use serde_json::Value;

use exlogare_kit::json::{lenient_bool, lenient_string, lenient_u64};
// The tolerant readers live in the kit; GitFlic's callers keep reaching them here.
pub use exlogare_kit::json::{timestamp, value_bool, value_string, value_u64};

use crate::RunStatus;

pub fn run_status(s: Option<&str>) -> RunStatus {
    let Some(s) = s else {
        return RunStatus::Unknown;
    };
    match s.trim().to_ascii_uppercase().as_str() {
        "CREATED" => RunStatus::Created,
        "PENDING" | "WAITING_FOR_RESOURCE" | "PREPARING" | "SCHEDULED" => RunStatus::Pending,
        "RUNNING" => RunStatus::Running,
        "SUCCESS" => RunStatus::Success,
        "FAILED" => RunStatus::Failed,
        // GitFlic spells it with one L; the other spelling costs nothing to accept.
        "CANCELED" | "CANCELLED" => RunStatus::Canceled,
        "SKIPPED" => RunStatus::Skipped,
        "MANUAL" => RunStatus::Manual,
        "WARNING" => RunStatus::Warning,
        _ => RunStatus::Unknown,
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestPipeline {
    #[serde(deserialize_with = "lenient_string", alias = "uuid")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub local_id: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    #[serde(rename = "ref", deserialize_with = "lenient_string")]
    pub git_ref: Option<String>,
    #[serde(deserialize_with = "lenient_string", alias = "sha")]
    pub commit_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub project_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub source: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub failure_reason: Option<String>,
    pub created_at: Value,
    pub started_at: Value,
    pub finished_at: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestJob {
    #[serde(deserialize_with = "lenient_string", alias = "uuid")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_u64")]
    pub local_id: Option<u64>,
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_string", alias = "stage")]
    pub stage_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// Not in GitFlic's job documentation; GitFlic's CI has `allow_failure`, and a job JSON
    /// may carry it under either casing.
    #[serde(deserialize_with = "lenient_bool", alias = "allow_failure")]
    pub allow_failure: Option<bool>,
    pub started_at: Value,
    pub finished_at: Value,
    #[serde(deserialize_with = "lenient_u64")]
    pub pipeline_local_id: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestArtifact {
    #[serde(deserialize_with = "lenient_string", alias = "uuid")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string", alias = "name")]
    pub file_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub file_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub download_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RestOwner {
    #[serde(deserialize_with = "lenient_string")]
    pub alias: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestProject {
    #[serde(deserialize_with = "lenient_string", alias = "uuid")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub title: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub alias: Option<String>,
    /// Documented today as `owner: {alias, type}`; older documentation has `ownerAlias`.
    pub owner: Option<RestOwner>,
    #[serde(deserialize_with = "lenient_string")]
    pub owner_alias: Option<String>,
    #[serde(deserialize_with = "lenient_bool", alias = "isPrivate")]
    pub private: Option<bool>,
    #[serde(deserialize_with = "lenient_string")]
    pub default_branch: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub description: Option<String>,
}

impl RestProject {
    pub fn owner_alias(&self) -> Option<&str> {
        self.owner
            .as_ref()
            .and_then(|o| o.alias.as_deref())
            .or(self.owner_alias.as_deref())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestUser {
    #[serde(deserialize_with = "lenient_string", alias = "uuid")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string", alias = "alias")]
    pub username: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub full_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub surname: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RestWebhook {
    #[serde(deserialize_with = "lenient_string", alias = "uuid")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub secret: Option<String>,
    /// Documented as an object of flags (`{"PIPELINE_FAIL": true}`); a list of names is accepted too.
    pub events: Value,
    /// Not in the documented shape; absent means active.
    #[serde(
        deserialize_with = "lenient_bool",
        alias = "enabled",
        alias = "isActive"
    )]
    pub active: Option<bool>,
}

impl RestWebhook {
    /// The enabled event names, sorted.
    pub fn event_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match &self.events {
            Value::Object(flags) => flags
                .iter()
                .filter(|(_, on)| value_bool(on).unwrap_or(false))
                .map(|(k, _)| k.clone())
                .collect(),
            Value::Array(items) => items.iter().filter_map(value_string).collect(),
            _ => Vec::new(),
        };
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_id_as_number_or_string() {
        let a: RestPipeline = serde_json::from_value(json!({"localId": 42})).unwrap();
        let b: RestPipeline = serde_json::from_value(json!({"localId": "42"})).unwrap();
        let c: RestPipeline = serde_json::from_value(json!({"localId": "forty-two"})).unwrap();
        let d: RestPipeline = serde_json::from_value(json!({"localId": null, "uuid": 7})).unwrap();
        assert_eq!(
            (a.local_id, b.local_id, c.local_id),
            (Some(42), Some(42), None)
        );
        assert_eq!((d.local_id, d.id.as_deref()), (None, Some("7")));
    }

    #[test]
    fn statuses() {
        assert_eq!(run_status(Some("FAILED")), RunStatus::Failed);
        assert_eq!(run_status(Some("failed")), RunStatus::Failed);
        assert_eq!(run_status(Some("WAITING_FOR_RESOURCE")), RunStatus::Pending);
        assert_eq!(run_status(Some("CANCELED")), RunStatus::Canceled);
        assert_eq!(run_status(Some("WARNING")), RunStatus::Warning);
        assert_eq!(run_status(Some("EXPLODED")), RunStatus::Unknown);
        assert_eq!(run_status(None), RunStatus::Unknown);
    }

    #[test]
    fn project_owner_under_either_name() {
        let new: RestProject = serde_json::from_value(
            json!({"alias": "api", "owner": {"alias": "acme", "type": "COMPANY"}}),
        )
        .unwrap();
        let old: RestProject = serde_json::from_value(
            json!({"alias": "api", "ownerAlias": "acme", "isPrivate": "true"}),
        )
        .unwrap();
        assert_eq!(new.owner_alias(), Some("acme"));
        assert_eq!(old.owner_alias(), Some("acme"));
        assert_eq!(old.private, Some(true));
    }

    #[test]
    fn webhook_events_as_flags_or_list() {
        let flags: RestWebhook = serde_json::from_value(
            json!({"id": "h1", "events": {"PIPELINE_FAIL": true, "PUSH": false, "PIPELINE_WARNING": "true"}}),
        )
        .unwrap();
        assert_eq!(flags.event_names(), ["PIPELINE_FAIL", "PIPELINE_WARNING"]);
        let list: RestWebhook =
            serde_json::from_value(json!({"events": ["PUSH", "PIPELINE_FAIL", "PUSH"]})).unwrap();
        assert_eq!(list.event_names(), ["PIPELINE_FAIL", "PUSH"]);
    }
}
