//! `verify-webhook`: the secret check, then the Pipeline Hook.
//!
//! Order, and why: the secret is checked before the body is parsed at all, so a sender without
//! the secret learns nothing about what we accept: every delivery without the right secret gets
//! one of two answers (missing / mismatch) whatever its body. Rejections name where a secret was
//! found, never its value.
//!
//! Where the secret comes from: GitLab sends the hook's secret token verbatim in
//! `X-Gitlab-Token` (ref §1; no HMAC). The host also registers the hook URL with a `?secret=`
//! query, so a delivery may carry it there too. Both are read; at least one must be present and
//! every one present must match (constant time, the kit's `secret::matches`).
//!
//! What starts an analysis: `X-Gitlab-Event: Pipeline Hook` with `object_kind: "pipeline"` and
//! `object_attributes.status == "failed"` (ref §2). Other events and statuses are ignored with a
//! reason and a 2xx, as GitLab asks of receivers (ref §1: 4xx only for misconfiguration, or
//! GitLab disables the hook).
//!
//! A test delivery (Settings > Webhooks > Test, or the test API) is the real payload of the
//! project's newest pipeline with the normal headers (ref §3), so nothing marks it but its
//! timestamps: real deliveries write `2016-08-12 15:23:28 UTC`, test deliveries ISO-8601
//! (`2025-05-21T16:06:02.869Z`, ref §2, GitLab issues 545108 and 267551). A pipeline delivery
//! with an ISO `created_at` is therefore a ping: pressing Test must not start an analysis of an
//! old failure. Should GitLab unify the formats, a test of a failed pipeline becomes one more
//! analysis of it, which the host deduplicates.

use serde_json::{Map, Value};

use exlogare_kit::json::{value_string, value_u64};
// Values shown in rejection messages are read the kit's way (plugin/kit/src/json.rs).
use exlogare_kit::json::{kind, shown};

use crate::{
    Connection, FailureEvent, PipelineRef, ProjectRef, WebhookDelivery, WebhookOutcome,
    WebhookRejection,
};

pub const TOKEN_HEADER: &str = "x-gitlab-token";
pub const EVENT_HEADER: &str = "x-gitlab-event";
pub const SECRET_QUERY: &str = "secret";
pub const PIPELINE_HOOK: &str = "Pipeline Hook";

fn check_secret(delivery: &WebhookDelivery, expected: &str) -> Result<(), WebhookRejection> {
    let header = delivery
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(TOKEN_HEADER))
        .map(|(_, v)| {
            (
                "header X-Gitlab-Token",
                "set the hook's Secret token in GitLab to it",
                v,
            )
        });
    let query = delivery
        .query
        .iter()
        .filter(|(k, _)| k == SECRET_QUERY)
        .map(|(_, v)| {
            (
                "query parameter `secret`",
                "watch the project again so its hook URL carries the current one",
                v,
            )
        });
    let mut seen = false;
    for (place, fix, value) in header.chain(query) {
        seen = true;
        if !exlogare_kit::secret::matches(value.as_bytes(), expected.as_bytes()) {
            let why = if expected.is_empty() {
                "no webhook secret is configured for this connection, so no delivery can match"
            } else {
                "does not match this connection's webhook secret"
            };
            return Err(WebhookRejection::SecretMismatch(if expected.is_empty() {
                format!("the {place} {why}")
            } else {
                format!("the {place} {why}; {fix}")
            }));
        }
    }
    if seen {
        Ok(())
    } else {
        Err(WebhookRejection::SecretMissing(
            "no secret in the header X-Gitlab-Token or the query parameter `secret`: the hook has no Secret token set in GitLab".into(),
        ))
    }
}

fn malformed(msg: impl Into<String>) -> WebhookRejection {
    WebhookRejection::Malformed(msg.into())
}

pub fn verify(
    _conn: &Connection,
    delivery: &WebhookDelivery,
    expected_secret: &str,
) -> Result<WebhookOutcome, WebhookRejection> {
    check_secret(delivery, expected_secret)?;

    let event_header = delivery
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(EVENT_HEADER))
        .map(|(_, v)| v.trim());
    if let Some(event) = event_header
        && !event.eq_ignore_ascii_case(PIPELINE_HOOK)
    {
        return Ok(WebhookOutcome::Ignored(format!(
            "GitLab event `{}` does not start an analysis (only Pipeline Hook deliveries of failed pipelines do)",
            shown(event)
        )));
    }

    let body: Value = serde_json::from_slice(&delivery.body).map_err(|e| {
        if delivery.body.iter().all(u8::is_ascii_whitespace) {
            malformed("the body is empty, not a GitLab Pipeline Hook")
        } else {
            malformed(format!("the body is not JSON: {}", shown(&e.to_string())))
        }
    })?;
    let Value::Object(env) = body else {
        return Err(malformed(format!(
            "the body is a JSON {}, not an object",
            kind(&body)
        )));
    };
    let object_kind = match env.get("object_kind") {
        Some(Value::String(k)) => k.trim().to_ascii_lowercase(),
        Some(other) => {
            return Err(malformed(format!(
                "`object_kind` is a JSON {}, not a string",
                kind(other)
            )));
        }
        None => {
            return Err(malformed("no `object_kind`: not a GitLab webhook body"));
        }
    };
    if object_kind != "pipeline" {
        // Without the event header the body is all there is; with it, a mismatch is suspicious
        // but harmless: nothing that is not a pipeline starts an analysis.
        return Ok(WebhookOutcome::Ignored(format!(
            "GitLab object_kind `{}` does not start an analysis (only failed pipelines do)",
            shown(&object_kind)
        )));
    }
    let attrs = env
        .get("object_attributes")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("a pipeline delivery without an `object_attributes` object"))?;
    let status = attrs
        .get("status")
        .and_then(value_string)
        .ok_or_else(|| malformed("a pipeline delivery without `object_attributes.status`"))?;
    let event = failure_event(&env, attrs)?;
    let what = format!(
        "pipeline {} of {}/{}",
        event
            .pipeline
            .number
            .map(|n| format!("#{n}"))
            .or_else(|| event.pipeline.id.as_ref().map(|id| format!("id {id}")))
            .unwrap_or_default(),
        event.project.owner,
        event.project.name
    );
    if is_test_delivery(attrs) {
        return Ok(WebhookOutcome::Ping(format!(
            "GitLab test delivery (Pipeline Hook) of {what}, status {}",
            shown(&status)
        )));
    }
    if !status.eq_ignore_ascii_case("failed") {
        return Ok(WebhookOutcome::Ignored(format!(
            "{what} is {}: only failed pipelines start an analysis",
            shown(&status)
        )));
    }
    Ok(WebhookOutcome::PipelineFailed(event))
}

/// ISO-8601 `created_at` (a `T` between date and time): a test delivery (module docs).
fn is_test_delivery(attrs: &Map<String, Value>) -> bool {
    attrs
        .get("created_at")
        .and_then(Value::as_str)
        .is_some_and(|t| t.trim().as_bytes().get(10) == Some(&b'T'))
}

/// The project (`project.path_with_namespace`, `project.id`) and pipeline
/// (`object_attributes.id`/`iid`/`ref`/`sha`) a pipeline delivery names.
fn failure_event(
    env: &Map<String, Value>,
    attrs: &Map<String, Value>,
) -> Result<FailureEvent, WebhookRejection> {
    let project = env
        .get("project")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("a pipeline delivery without a `project` object"))?;
    let path = project
        .get("path_with_namespace")
        .and_then(value_string)
        .ok_or_else(|| malformed("a pipeline delivery without `project.path_with_namespace`"))?;
    let (owner, name) = crate::api::split_path(&path).ok_or_else(|| {
        malformed(format!(
            "`project.path_with_namespace` is `{}`, not `namespace/project`",
            shown(&path)
        ))
    })?;
    let number = |key: &str| -> Result<Option<u64>, WebhookRejection> {
        match attrs.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => value_u64(v).map(Some).ok_or_else(|| {
                malformed(format!(
                    "`object_attributes.{key}` is {}, not a non-negative integer",
                    shown(&v.to_string())
                ))
            }),
        }
    };
    let id = number("id")?;
    let iid = number("iid")?;
    if id.is_none() && iid.is_none() {
        return Err(malformed(
            "a pipeline delivery without `object_attributes.id` or `iid`",
        ));
    }
    Ok(FailureEvent {
        project: ProjectRef {
            owner,
            name,
            id: project.get("id").and_then(value_string),
        },
        pipeline: PipelineRef {
            id: id.map(|n| n.to_string()),
            number: iid,
        },
        event: PIPELINE_HOOK.into(),
        git_ref: attrs.get("ref").and_then(value_string),
        commit_sha: attrs.get("sha").and_then(value_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::conn;
    use serde_json::json;

    const SECRET: &str = "glwh-7Qv2xN5kLs9";

    fn delivery(token: Option<&str>, event: Option<&str>, body: &str) -> WebhookDelivery {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(t) = token {
            headers.push((TOKEN_HEADER.into(), t.into()));
        }
        if let Some(e) = event {
            headers.push((EVENT_HEADER.into(), e.into()));
        }
        WebhookDelivery {
            query: Vec::new(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    /// The Pipeline Hook sample of GitLab's docs (ref §2), trimmed.
    fn body(status: &str, created_at: &str) -> String {
        json!({
            "object_kind": "pipeline",
            "object_attributes": {"id": 31, "iid": 3, "ref": "master", "tag": false,
                "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2", "source": "push",
                "status": status, "created_at": created_at},
            "project": {"id": 1, "web_url": "http://192.168.64.1:3005/gitlab-org/gitlab-test",
                "path_with_namespace": "gitlab-org/gitlab-test"},
            "builds": []
        })
        .to_string()
    }

    fn v(
        token: Option<&str>,
        event: Option<&str>,
        body: &str,
    ) -> Result<WebhookOutcome, WebhookRejection> {
        verify(&conn(), &delivery(token, event, body), SECRET)
    }

    #[test]
    fn a_failed_pipeline_starts_an_analysis() {
        let got = v(
            Some(SECRET),
            Some(PIPELINE_HOOK),
            &body("failed", "2016-08-12 15:23:28 UTC"),
        )
        .unwrap();
        assert_eq!(
            got,
            WebhookOutcome::PipelineFailed(FailureEvent {
                project: ProjectRef {
                    owner: "gitlab-org".into(),
                    name: "gitlab-test".into(),
                    id: Some("1".into())
                },
                pipeline: PipelineRef {
                    id: Some("31".into()),
                    number: Some(3)
                },
                event: "Pipeline Hook".into(),
                git_ref: Some("master".into()),
                commit_sha: Some("bcbb5ec396a2c0f828686f14fac9b80b780504f2".into()),
            })
        );
    }

    #[test]
    fn secrets_are_checked_first_and_never_echoed() {
        for b in ["", "not json", &body("failed", "2016-08-12 15:23:28 UTC")] {
            let got = v(Some("glwh-guess"), Some(PIPELINE_HOOK), b).unwrap_err();
            match got {
                WebhookRejection::SecretMismatch(m) => {
                    assert!(
                        m.contains("X-Gitlab-Token")
                            && !m.contains(SECRET)
                            && !m.contains("glwh-guess"),
                        "{m}"
                    )
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                v(None, Some(PIPELINE_HOOK), b),
                Err(WebhookRejection::SecretMissing(_))
            ));
        }
        for wrong in [
            "",
            "glwh-7Qv2xN5kLs",
            "glwh-7Qv2xN5kLs99",
            "GLWH-7QV2XN5KLS9",
        ] {
            assert!(
                matches!(
                    v(Some(wrong), None, &body("failed", "x")),
                    Err(WebhookRejection::SecretMismatch(_))
                ),
                "{wrong:?}"
            );
        }
        // Header names in any case; the query secret must match too when present.
        let mut d = delivery(None, None, &body("failed", "2016-08-12 15:23:28 UTC"));
        d.headers.push(("X-Gitlab-Token".into(), SECRET.into()));
        assert!(matches!(
            verify(&conn(), &d, SECRET),
            Ok(WebhookOutcome::PipelineFailed(_))
        ));
        d.query.push(("secret".into(), "other".into()));
        assert!(
            matches!(verify(&conn(), &d, SECRET), Err(WebhookRejection::SecretMismatch(m)) if m.contains("query"))
        );
        let mut q = delivery(None, None, &body("failed", "2016-08-12 15:23:28 UTC"));
        q.query.push(("secret".into(), SECRET.into()));
        assert!(matches!(
            verify(&conn(), &q, SECRET),
            Ok(WebhookOutcome::PipelineFailed(_))
        ));
        assert!(
            matches!(verify(&conn(), &delivery(Some(""), None, "{}"), ""), Err(WebhookRejection::SecretMismatch(m)) if m.contains("no webhook secret"))
        );
    }

    #[test]
    fn other_statuses_and_events_are_ignored_with_a_reason() {
        for status in ["success", "running", "canceled", "pending"] {
            match v(
                Some(SECRET),
                Some(PIPELINE_HOOK),
                &body(status, "2016-08-12 15:23:28 UTC"),
            )
            .unwrap()
            {
                WebhookOutcome::Ignored(m) => assert!(
                    m.contains(status) && m.contains("#3 of gitlab-org/gitlab-test"),
                    "{m}"
                ),
                other => panic!("{other:?}"),
            }
        }
        match v(Some(SECRET), Some("Push Hook"), r#"{"object_kind":"push"}"#).unwrap() {
            WebhookOutcome::Ignored(m) => assert!(m.contains("Push Hook")),
            other => panic!("{other:?}"),
        }
        match v(Some(SECRET), None, r#"{"object_kind":"build"}"#).unwrap() {
            WebhookOutcome::Ignored(m) => assert!(m.contains("build")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_test_delivery_is_a_ping() {
        match v(
            Some(SECRET),
            Some(PIPELINE_HOOK),
            &body("failed", "2025-05-21T16:06:02.869Z"),
        )
        .unwrap()
        {
            WebhookOutcome::Ping(m) => {
                assert!(m.contains("test delivery") && m.contains("failed"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong_in_bounded_words() {
        let m = |b: &str| match v(Some(SECRET), Some(PIPELINE_HOOK), b) {
            Err(WebhookRejection::Malformed(m)) => m,
            other => panic!("{b}: {other:?}"),
        };
        assert!(m("").contains("empty"));
        assert!(m("<html>").contains("not JSON"));
        assert!(m("[1]").contains("array"));
        assert!(m("{}").contains("object_kind"));
        assert!(m(r#"{"object_kind":7}"#).contains("number"));
        assert!(m(r#"{"object_kind":"pipeline"}"#).contains("object_attributes"));
        assert!(m(r#"{"object_kind":"pipeline","object_attributes":{}}"#).contains("status"));
        assert!(
            m(r#"{"object_kind":"pipeline","object_attributes":{"status":"failed","id":1}}"#)
                .contains("`project`")
        );
        assert!(m(r#"{"object_kind":"pipeline","object_attributes":{"status":"failed","id":1},"project":{"path_with_namespace":"solo"}}"#).contains("namespace/project"));
        assert!(m(r#"{"object_kind":"pipeline","object_attributes":{"status":"failed","id":"x"},"project":{"path_with_namespace":"a/b"}}"#).contains("object_attributes.id"));
        assert!(m(r#"{"object_kind":"pipeline","object_attributes":{"status":"failed"},"project":{"path_with_namespace":"a/b"}}"#).contains("`iid`"));
        let long = format!(
            r#"{{"object_kind":"pipeline","object_attributes":{{"status":"failed","id":1}},"project":{{"path_with_namespace":"{}"}}}}"#,
            "x".repeat(5000)
        );
        assert!(m(&long).chars().count() < 200);
        let bad_json = format!("{{\"a\": \"{}", "y".repeat(5000));
        assert!(m(&bad_json).chars().count() < 200);
    }
}
