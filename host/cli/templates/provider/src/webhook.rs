//! `verify-webhook`: the secret first, then the envelope.
//!
//! The secret is checked before the body is parsed at all, so a sender without it learns
//! nothing about what we accept. __DISPLAY__ sends the hook's secret verbatim in the header
//! `X-__NAME__-Secret`; the host also registers the hook URL with a `?secret=` query. Both are
//! read; at least one must be present and every one present must match (constant time).
//!
//! The body: `{"event": "pipeline_failed", "project": {"owner", "name", "id"}, "pipeline":
//! {"number", "id", "ref", "sha"}}`. `pipeline_failed` starts an analysis, `ping` is the test
//! delivery, any other event is ignored with a reason.

use serde_json::{Map, Value};

use exlogare_kit::json::{kind, shown, value_string, value_u64};

use crate::{
    FailureEvent, PipelineRef, ProjectRef, WebhookDelivery, WebhookOutcome, WebhookRejection,
};

pub const SECRET_HEADER: &str = "x-__NAME__-secret";
pub const SECRET_QUERY: &str = "secret";
pub const FAILED: &str = "pipeline_failed";
pub const PING: &str = "ping";

pub fn verify(
    delivery: &WebhookDelivery,
    expected_secret: &str,
) -> Result<WebhookOutcome, WebhookRejection> {
    check_secret(delivery, expected_secret)?;
    let body: Value = serde_json::from_slice(&delivery.body)
        .map_err(|e| malformed(format!("the body is not JSON: {}", shown(&e.to_string()))))?;
    let Value::Object(env) = body else {
        return Err(malformed(format!(
            "the body is a JSON {}, not an object",
            kind(&body)
        )));
    };
    let event = env
        .get("event")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no `event` string: not a __DISPLAY__ delivery"))?;
    match event {
        FAILED => Ok(WebhookOutcome::PipelineFailed(failure_event(&env)?)),
        PING => Ok(WebhookOutcome::Ping(format!(
            "__DISPLAY__ test delivery ({})",
            project_of(&env).map_or_else(
                |_| "no project".into(),
                |p| format!("{}/{}", p.owner, p.name)
            )
        ))),
        other => Ok(WebhookOutcome::Ignored(format!(
            "event `{}` does not start an analysis (only `{FAILED}` does)",
            shown(other)
        ))),
    }
}

fn check_secret(delivery: &WebhookDelivery, expected: &str) -> Result<(), WebhookRejection> {
    let header = delivery
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(SECRET_HEADER))
        .map(|(_, v)| ("header X-__NAME__-Secret", v));
    let query = delivery
        .query
        .iter()
        .filter(|(k, _)| k == SECRET_QUERY)
        .map(|(_, v)| ("query parameter `secret`", v));
    let mut seen = false;
    for (place, value) in header.chain(query) {
        seen = true;
        if !exlogare_kit::secret::matches(value.as_bytes(), expected.as_bytes()) {
            return Err(WebhookRejection::SecretMismatch(format!(
                "the {place} does not match this connection's webhook secret"
            )));
        }
    }
    if seen {
        Ok(())
    } else {
        Err(WebhookRejection::SecretMissing(format!(
            "no secret in the header X-__NAME__-Secret or the query parameter `{SECRET_QUERY}`"
        )))
    }
}

fn malformed(msg: impl Into<String>) -> WebhookRejection {
    WebhookRejection::Malformed(msg.into())
}

fn object<'a>(
    env: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, WebhookRejection> {
    env.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| malformed(format!("a delivery without a `{key}` object")))
}

fn project_of(env: &Map<String, Value>) -> Result<ProjectRef, WebhookRejection> {
    let project = object(env, "project")?;
    let field = |k: &str| {
        project
            .get(k)
            .and_then(value_string)
            .ok_or_else(|| malformed(format!("`project.{k}` is missing")))
    };
    Ok(ProjectRef {
        owner: field("owner")?,
        name: field("name")?,
        id: project.get("id").and_then(value_string),
    })
}

fn failure_event(env: &Map<String, Value>) -> Result<FailureEvent, WebhookRejection> {
    let project = project_of(env)?;
    let pipeline = object(env, "pipeline")?;
    let number = pipeline
        .get("number")
        .and_then(value_u64)
        .ok_or_else(|| malformed("`pipeline.number` is missing or not a number"))?;
    Ok(FailureEvent {
        project,
        pipeline: PipelineRef {
            id: pipeline.get("id").and_then(value_string),
            number: Some(number),
        },
        event: FAILED.into(),
        git_ref: pipeline.get("ref").and_then(value_string),
        commit_sha: pipeline.get("sha").and_then(value_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wh-secret-1";
    const FAILED_BODY: &str = r#"{"event":"pipeline_failed","project":{"owner":"example","name":"widgets","id":7},"pipeline":{"number":42,"id":"p-42","ref":"main","sha":"abc123"}}"#;

    fn delivery(headers: &[(&str, &str)], query: &[(&str, &str)], body: &str) -> WebhookDelivery {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        WebhookDelivery {
            query: pairs(query),
            headers: pairs(headers),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_failed_pipeline_with_the_secret_starts_an_analysis() {
        let d = delivery(
            &[(SECRET_HEADER, SECRET)],
            &[("secret", SECRET)],
            FAILED_BODY,
        );
        let Ok(WebhookOutcome::PipelineFailed(e)) = verify(&d, SECRET) else {
            panic!("{:?}", verify(&d, SECRET));
        };
        assert_eq!(
            (e.project.owner.as_str(), e.project.name.as_str()),
            ("example", "widgets")
        );
        assert_eq!(e.project.id.as_deref(), Some("7"));
        assert_eq!(e.pipeline.number, Some(42));
        assert_eq!(e.git_ref.as_deref(), Some("main"));
    }

    #[test]
    fn the_secret_is_checked_before_the_body() {
        let missing = verify(&delivery(&[], &[], "not json"), SECRET);
        assert!(
            matches!(missing, Err(WebhookRejection::SecretMissing(_))),
            "{missing:?}"
        );
        let wrong = verify(
            &delivery(&[(SECRET_HEADER, "guess")], &[], FAILED_BODY),
            SECRET,
        );
        assert!(
            matches!(&wrong, Err(WebhookRejection::SecretMismatch(m)) if m.contains("header") && !m.contains("guess")),
            "{wrong:?}"
        );
        // One right place does not excuse a wrong one.
        let mixed = delivery(
            &[(SECRET_HEADER, SECRET)],
            &[("secret", "old")],
            FAILED_BODY,
        );
        assert!(matches!(
            verify(&mixed, SECRET),
            Err(WebhookRejection::SecretMismatch(_))
        ));
        // No configured secret matches nothing.
        let empty = delivery(&[(SECRET_HEADER, "")], &[], FAILED_BODY);
        assert!(matches!(
            verify(&empty, ""),
            Err(WebhookRejection::SecretMismatch(_))
        ));
    }

    #[test]
    fn pings_other_events_and_broken_bodies() {
        let ping = r#"{"event":"ping","project":{"owner":"example","name":"widgets"}}"#;
        let d = delivery(&[(SECRET_HEADER, SECRET)], &[], ping);
        assert!(
            matches!(verify(&d, SECRET), Ok(WebhookOutcome::Ping(t)) if t.contains("example/widgets"))
        );
        let d = delivery(
            &[(SECRET_HEADER, SECRET)],
            &[],
            r#"{"event":"pipeline_succeeded"}"#,
        );
        assert!(
            matches!(verify(&d, SECRET), Ok(WebhookOutcome::Ignored(r)) if r.contains("pipeline_succeeded"))
        );
        for body in [
            "",
            "[1]",
            r#"{"project":{}}"#,
            r#"{"event":"pipeline_failed","project":{"owner":"o","name":"n"}}"#,
        ] {
            let d = delivery(&[(SECRET_HEADER, SECRET)], &[], body);
            assert!(
                matches!(verify(&d, SECRET), Err(WebhookRejection::Malformed(_))),
                "{body}"
            );
        }
    }
}
