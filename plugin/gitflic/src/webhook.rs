//! `verify-webhook`: the secret check, then the envelope.
//!
//! Order, and why: the secret is checked first, before the body is parsed at all, so that a
//! sender without the secret learns nothing about what we accept: every delivery without a
//! right secret gets the same two answers (missing / mismatch) whatever its body. Only a
//! delivery with a right secret is parsed, and only it can be told `malformed` with details.
//!
//! Where the secret comes from: GitFlic's documentation puts it in the `Gitflic-Webhook-Secret`
//! header (DOC); the announcement's integration registers the hook URL with `?secret=…` and
//! checks that (announcement). Both are read; at least one must be present, and every one
//! present must match.
//!
//! Newer GitFlic documentation says each delivery also carries the webhook's configured token
//! in `Authorization` (gitflic-api.md, 2026-12). Its form is not documented, so it is neither
//! required nor checked: it is tolerated, and never read into any rejection text (no header
//! value is: rejections name the place a secret came from, never its value), and this module
//! logs nothing.
//!
//! A `TEST_WEBHOOK` is a ping whatever else its body holds: the docs' example is
//! `{"action":"TEST_WEBHOOK","project_id":"..."}`, with no `project` object.

use serde_json::{Map, Value};

use crate::model::{value_string, value_u64};
// Values shown in rejection messages are read the kit's way (plugin/kit/src/json.rs).
use crate::{
    Connection, FailureEvent, PipelineRef, ProjectRef, WebhookDelivery, WebhookOutcome,
    WebhookRejection,
};
use exlogare_kit::json::{kind, shown};

pub const SECRET_HEADER: &str = "gitflic-webhook-secret";
pub const SECRET_QUERY: &str = "secret";

fn check_secret(delivery: &WebhookDelivery, expected: &str) -> Result<(), WebhookRejection> {
    let header = delivery
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(SECRET_HEADER))
        .map(|(_, v)| ("header Gitflic-Webhook-Secret", v));
    let query = delivery
        .query
        .iter()
        .filter(|(k, _)| k == SECRET_QUERY)
        .map(|(_, v)| ("query parameter `secret`", v));
    let mut seen = false;
    for (place, value) in header.chain(query) {
        seen = true;
        if !exlogare_kit::secret::matches(value.as_bytes(), expected.as_bytes()) {
            let why = if expected.is_empty() {
                "no webhook secret is configured for this connection, so no delivery can match"
            } else {
                "does not match this connection's webhook secret"
            };
            return Err(WebhookRejection::SecretMismatch(format!(
                "the {place} {why}"
            )));
        }
    }
    if seen {
        Ok(())
    } else {
        Err(WebhookRejection::SecretMissing(
            "no secret in the header Gitflic-Webhook-Secret or the query parameter `secret`".into(),
        ))
    }
}

fn malformed(msg: impl Into<String>) -> WebhookRejection {
    WebhookRejection::Malformed(msg.into())
}

/// Field name without case or separators: `local_id`, `localId`, `local-id` are one key.
fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn field<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, v)| !v.is_null() && names.contains(&norm(k).as_str()))
        .map(|(_, v)| v)
}

fn text(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    field(obj, names).and_then(value_string)
}

pub fn verify(
    conn: &Connection,
    delivery: &WebhookDelivery,
    expected_secret: &str,
) -> Result<WebhookOutcome, WebhookRejection> {
    check_secret(delivery, expected_secret)?;

    let body: Value = serde_json::from_slice(&delivery.body).map_err(|e| {
        if delivery.body.iter().all(u8::is_ascii_whitespace) {
            malformed("the body is empty, not a GitFlic JSON envelope")
        } else {
            malformed(format!("the body is not JSON: {e}"))
        }
    })?;
    let Value::Object(env) = body else {
        return Err(malformed(format!(
            "the body is a JSON {}, not an object",
            kind(&body)
        )));
    };
    let action = match env.get("action") {
        Some(Value::String(a)) if !a.trim().is_empty() => a.trim().to_ascii_uppercase(),
        Some(Value::String(_)) => return Err(malformed("`action` is empty")),
        Some(other) => {
            return Err(malformed(format!(
                "`action` is a JSON {}, not a string",
                kind(other)
            )));
        }
        None => {
            return Err(malformed(
                "no `action` field: not a GitFlic webhook envelope",
            ));
        }
    };
    let project = env.get("project").and_then(Value::as_object);

    match action.as_str() {
        "TEST_WEBHOOK" => {
            let name = project.and_then(|p| Some(format!("{}/{}", text(p, &["owneralias"])?, text(p, &["alias"])?)));
            // The docs' example names the project only by `project_id`, at the top level.
            let id = || {
                project
                    .and_then(|p| text(p, &["projectid", "id"]))
                    .or_else(|| text(&env, &["projectid"]))
                    .map(|id| shown(&id))
            };
            // Looked for only without a name: the common ping stays as cheap as before.
            Ok(WebhookOutcome::Ping(match name {
                Some(n) => format!("TEST_WEBHOOK for project {n}"),
                None => match id() {
                    Some(id) => format!("TEST_WEBHOOK for project id {id}"),
                    None => "TEST_WEBHOOK".into(),
                },
            }))
        }
        "PIPELINE_WARNING" if !crate::options::analyze_warnings(conn) => Ok(WebhookOutcome::Ignored(
            "PIPELINE_WARNING (finished with allowed failures) is ignored: the connection option analyze_warnings is not \"true\"".into(),
        )),
        "PIPELINE_FAIL" | "PIPELINE_WARNING" => failure_event(&env, project, action).map(WebhookOutcome::PipelineFailed),
        other => Ok(WebhookOutcome::Ignored(format!(
            "event {other} does not start an analysis (only PIPELINE_FAIL does, and PIPELINE_WARNING when analyze_warnings is \"true\")"
        ))),
    }
}

/// The envelope's project (snake_case, DOC) and whatever pipeline reference it carries. The
/// pipeline part of a failure body is UNKNOWN: one client reads `pipeline.{id, local_id, ref,
/// commit_id}`; any casing is accepted, and without one `failure-details` finds the newest
/// failed pipeline.
fn failure_event(
    env: &Map<String, Value>,
    project: Option<&Map<String, Value>>,
    event: String,
) -> Result<FailureEvent, WebhookRejection> {
    let project =
        project.ok_or_else(|| malformed(format!("{event} without a `project` object")))?;
    let owner = text(project, &["owneralias"])
        .or_else(|| {
            project
                .get("owner")
                .and_then(Value::as_object)
                .and_then(|o| text(o, &["alias"]))
        })
        .ok_or_else(|| malformed(format!("{event} without `project.owner_alias`")))?;
    let alias = text(project, &["alias"])
        .ok_or_else(|| malformed(format!("{event} without `project.alias`")))?;
    let project_id = text(project, &["projectid", "id"]).or_else(|| text(env, &["projectid"]));

    let pipeline = env.get("pipeline").and_then(Value::as_object);
    let number_value = pipeline
        .and_then(|p| field(p, &["localid", "pipelinelocalid"]))
        .or_else(|| field(env, &["pipelinelocalid"]));
    let number = match number_value {
        None => None,
        Some(v) => Some(value_u64(v).ok_or_else(|| {
            malformed(format!(
                "the pipeline's local id is {v}, not a non-negative integer"
            ))
        })?),
    };
    let id = pipeline
        .and_then(|p| text(p, &["id", "uuid"]))
        .or_else(|| text(env, &["pipelineid"]));
    let git_ref = pipeline
        .and_then(|p| text(p, &["ref"]))
        .or_else(|| text(env, &["ref"]));
    let commit_sha = pipeline
        .and_then(|p| text(p, &["commitid", "sha", "commitsha"]))
        .or_else(|| text(env, &["commitid"]));

    Ok(FailureEvent {
        project: ProjectRef {
            owner,
            name: alias,
            id: project_id,
        },
        pipeline: PipelineRef { id, number },
        event,
        git_ref,
        commit_sha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::conn;
    use serde_json::json;

    const SECRET: &str = "wh-3f9a1c";

    fn delivery(query: Option<&str>, header: Option<&str>, body: &str) -> WebhookDelivery {
        WebhookDelivery {
            query: query
                .map(|s| vec![("secret".to_string(), s.to_string())])
                .unwrap_or_default(),
            headers: header
                .map(|s| vec![("gitflic-webhook-secret".to_string(), s.to_string())])
                .unwrap_or_default()
                .into_iter()
                .chain([("content-type".to_string(), "application/json".to_string())])
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn fail_body() -> String {
        json!({
            "action": "PIPELINE_FAIL",
            "project_id": "0c6f3a7e-1b2d-4c5e-9f80-a1b2c3d4e5f6",
            "project": {"project_id": "0c6f3a7e-1b2d-4c5e-9f80-a1b2c3d4e5f6", "title": "API", "alias": "api",
                        "owner_alias": "acme", "owner_type": "COMPANY", "private": true},
            "pipeline": {"id": "9b1c2d3e-aaaa-bbbb-cccc-0123456789ab", "local_id": "42", "ref": "main", "commit_id": "d6cd1e2"}
        })
        .to_string()
    }

    #[test]
    fn secret_matrix() {
        let body = fail_body();
        let ok = |q, h| verify(&conn(), &delivery(q, h, &body), SECRET);
        assert!(matches!(
            ok(Some(SECRET), Some(SECRET)),
            Ok(WebhookOutcome::PipelineFailed(_))
        ));
        assert!(matches!(
            ok(Some(SECRET), None),
            Ok(WebhookOutcome::PipelineFailed(_))
        ));
        assert!(matches!(
            ok(None, Some(SECRET)),
            Ok(WebhookOutcome::PipelineFailed(_))
        ));
        assert!(matches!(
            ok(None, None),
            Err(WebhookRejection::SecretMissing(_))
        ));
        assert!(
            matches!(ok(Some("nope"), None), Err(WebhookRejection::SecretMismatch(m)) if m.contains("query"))
        );
        assert!(
            matches!(ok(None, Some("nope")), Err(WebhookRejection::SecretMismatch(m)) if m.contains("header"))
        );
        // Every secret present must match, not just one of them.
        assert!(
            matches!(ok(Some(SECRET), Some("nope")), Err(WebhookRejection::SecretMismatch(m)) if m.contains("header"))
        );
        assert!(
            matches!(ok(Some("nope"), Some(SECRET)), Err(WebhookRejection::SecretMismatch(m)) if m.contains("query"))
        );
        // Prefixes, extensions and the empty string are all different secrets.
        for wrong in [
            "",
            "wh-3f9a1",
            "wh-3f9a1cc",
            "WH-3F9A1C",
            "wh-3f9a1cwh-3f9a1c",
        ] {
            assert!(
                matches!(
                    ok(Some(wrong), None),
                    Err(WebhookRejection::SecretMismatch(_))
                ),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn header_name_is_case_insensitive_and_repeats_must_all_match() {
        let mut d = delivery(None, None, &fail_body());
        d.headers
            .push(("Gitflic-Webhook-Secret".into(), SECRET.into()));
        assert!(verify(&conn(), &d, SECRET).is_ok());
        d.query.push(("secret".into(), SECRET.into()));
        d.query.push(("secret".into(), "other".into()));
        assert!(matches!(
            verify(&conn(), &d, SECRET),
            Err(WebhookRejection::SecretMismatch(_))
        ));
    }

    #[test]
    fn no_configured_secret_accepts_nothing() {
        assert!(
            matches!(verify(&conn(), &delivery(Some(""), None, &fail_body()), ""), Err(WebhookRejection::SecretMismatch(m)) if m.contains("no webhook secret"))
        );
    }

    #[test]
    fn a_wrong_secret_never_reveals_parse_details() {
        for body in ["", "not json", "[]", r#"{"no":"action"}"#, &fail_body()] {
            let got = verify(&conn(), &delivery(Some("wrong"), None, body), SECRET);
            assert_eq!(
                got,
                Err(WebhookRejection::SecretMismatch(
                    "the query parameter `secret` does not match this connection's webhook secret"
                        .into()
                ))
            );
            let got = verify(&conn(), &delivery(None, None, body), SECRET);
            assert!(matches!(got, Err(WebhookRejection::SecretMissing(_))));
        }
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let m = |body: &str| match verify(&conn(), &delivery(Some(SECRET), None, body), SECRET) {
            Err(WebhookRejection::Malformed(m)) => m,
            other => panic!("{body}: {other:?}"),
        };
        assert!(m("").contains("empty"));
        assert!(m("<html>").contains("not JSON"));
        assert!(m("[1]").contains("array"));
        assert!(m(r#"{"project":{}}"#).contains("no `action`"));
        assert!(m(r#"{"action":7}"#).contains("number"));
        assert!(m(r#"{"action":" "}"#).contains("empty"));
        assert!(m(r#"{"action":"PIPELINE_FAIL"}"#).contains("`project`"));
        assert!(
            m(r#"{"action":"PIPELINE_FAIL","project":{"alias":"api"}}"#).contains("owner_alias")
        );
        assert!(
            m(r#"{"action":"PIPELINE_FAIL","project":{"owner_alias":"acme"}}"#)
                .contains("project.alias")
        );
        assert!(m(r#"{"action":"PIPELINE_FAIL","project":{"owner_alias":"acme","alias":"api"},"pipeline":{"local_id":"x1"}}"#).contains("local id"));
    }

    #[test]
    fn event_matrix() {
        let env = |action: &str| {
            json!({"action": action, "project": {"owner_alias": "acme", "alias": "api"}})
                .to_string()
        };
        let v = |c: &Connection, action: &str| {
            verify(c, &delivery(Some(SECRET), None, &env(action)), SECRET)
        };
        let plain = conn();
        let mut warn = conn();
        warn.options
            .push(("analyze_warnings".into(), "true".into()));

        assert_eq!(
            v(&plain, "TEST_WEBHOOK"),
            Ok(WebhookOutcome::Ping(
                "TEST_WEBHOOK for project acme/api".into()
            ))
        );
        assert!(
            matches!(v(&plain, "PIPELINE_FAIL"), Ok(WebhookOutcome::PipelineFailed(e)) if e.event == "PIPELINE_FAIL")
        );
        assert!(
            matches!(v(&plain, "PIPELINE_WARNING"), Ok(WebhookOutcome::Ignored(r)) if r.contains("analyze_warnings"))
        );
        assert!(
            matches!(v(&warn, "PIPELINE_WARNING"), Ok(WebhookOutcome::PipelineFailed(e)) if e.event == "PIPELINE_WARNING")
        );
        for other in [
            "PIPELINE_SUCCESS",
            "PIPELINE_NEW",
            "PUSH",
            "MERGE_REQUEST_CREATE",
            "SOMETHING_NEW",
        ] {
            assert!(
                matches!(v(&plain, other), Ok(WebhookOutcome::Ignored(r)) if r.contains(other)),
                "{other}"
            );
        }
        // An odd casing of a failure must not be lost.
        assert!(matches!(
            v(&plain, "pipeline_fail"),
            Ok(WebhookOutcome::PipelineFailed(_))
        ));
        // A ping needs no project.
        assert_eq!(
            verify(
                &plain,
                &delivery(Some(SECRET), None, r#"{"action":"TEST_WEBHOOK"}"#),
                SECRET
            ),
            Ok(WebhookOutcome::Ping("TEST_WEBHOOK".into()))
        );
    }

    #[test]
    fn test_webhook_without_a_project_object_is_a_ping() {
        let ping = |body: &str| verify(&conn(), &delivery(None, Some(SECRET), body), SECRET);
        // The example in GitFlic's documentation.
        assert_eq!(
            ping(
                r#"{"action":"TEST_WEBHOOK","project_id":"aa62e838-464f-5c6d-bbbc-9e2dff577e28"}"#
            ),
            Ok(WebhookOutcome::Ping(
                "TEST_WEBHOOK for project id aa62e838-464f-5c6d-bbbc-9e2dff577e28".into()
            ))
        );
        // Other casings, a `project` that is not an object, or one without aliases.
        for body in [
            r#"{"action":"test_webhook","projectId":"p1"}"#,
            r#"{"action":"TEST_WEBHOOK","project":"p1","project_id":"p1"}"#,
            r#"{"action":"TEST_WEBHOOK","project":{"id":"p1"}}"#,
            r#"{"action":"TEST_WEBHOOK","project":null,"project_id":"p1"}"#,
        ] {
            assert_eq!(
                ping(body),
                Ok(WebhookOutcome::Ping(
                    "TEST_WEBHOOK for project id p1".into()
                )),
                "{body}"
            );
        }
        assert_eq!(
            ping(r#"{"action":"TEST_WEBHOOK","project_id":7}"#),
            Ok(WebhookOutcome::Ping("TEST_WEBHOOK for project id 7".into()))
        );
        // A hostile id cannot make the ping text long or multi-line.
        let long = format!(
            r#"{{"action":"TEST_WEBHOOK","project_id":"a\nb{}"}}"#,
            "x".repeat(500)
        );
        let Ok(WebhookOutcome::Ping(text)) = ping(&long) else {
            panic!()
        };
        assert!(!text.contains('\n') && text.chars().count() < 120, "{text}");
        // Still checked for the secret first.
        assert!(matches!(
            verify(
                &conn(),
                &delivery(None, None, r#"{"action":"TEST_WEBHOOK","project_id":"p"}"#),
                SECRET
            ),
            Err(WebhookRejection::SecretMissing(_))
        ));
    }

    #[test]
    fn the_authorization_header_is_tolerated_and_never_echoed() {
        const TOKEN: &str = "gf-hook-token-Zq81x";
        let with_auth = |q: Option<&str>, h: Option<&str>, body: &str, auth: &str| {
            let mut d = delivery(q, h, body);
            d.headers.push(("Authorization".into(), auth.into()));
            verify(&conn(), &d, SECRET)
        };
        // Tolerated whatever its form, whether or not it equals the secret.
        for auth in [
            TOKEN.to_string(),
            format!("Bearer {TOKEN}"),
            format!("token {SECRET}"),
            String::new(),
        ] {
            assert!(
                matches!(
                    with_auth(None, Some(SECRET), &fail_body(), &auth),
                    Ok(WebhookOutcome::PipelineFailed(_))
                ),
                "{auth:?}"
            );
            assert!(matches!(
                with_auth(Some(SECRET), None, r#"{"action":"TEST_WEBHOOK"}"#, &auth),
                Ok(WebhookOutcome::Ping(_))
            ));
        }
        // It is no substitute for the secret, and no rejection repeats it.
        let auth = format!("Bearer {TOKEN}");
        let rejections = [
            with_auth(None, None, &fail_body(), &auth),
            with_auth(None, Some("nope"), &fail_body(), &auth),
            with_auth(Some("nope"), None, &fail_body(), &auth),
            with_auth(Some(SECRET), None, "not json", &auth),
            with_auth(Some(SECRET), None, r#"{"action":"PIPELINE_FAIL"}"#, &auth),
            with_auth(Some(SECRET), None, r#"{"project":{}}"#, &auth),
        ];
        for got in rejections {
            let text = match got {
                Err(
                    WebhookRejection::SecretMissing(m)
                    | WebhookRejection::SecretMismatch(m)
                    | WebhookRejection::Malformed(m),
                ) => m,
                other => panic!("{other:?}"),
            };
            assert!(!text.contains(TOKEN), "{text}");
            assert!(!text.to_ascii_lowercase().contains("bearer"), "{text}");
        }
    }

    #[test]
    fn failure_event_fields() {
        let Ok(WebhookOutcome::PipelineFailed(e)) =
            verify(&conn(), &delivery(None, Some(SECRET), &fail_body()), SECRET)
        else {
            panic!()
        };
        assert_eq!(
            e,
            FailureEvent {
                project: ProjectRef {
                    owner: "acme".into(),
                    name: "api".into(),
                    id: Some("0c6f3a7e-1b2d-4c5e-9f80-a1b2c3d4e5f6".into())
                },
                pipeline: PipelineRef {
                    id: Some("9b1c2d3e-aaaa-bbbb-cccc-0123456789ab".into()),
                    number: Some(42)
                },
                event: "PIPELINE_FAIL".into(),
                git_ref: Some("main".into()),
                commit_sha: Some("d6cd1e2".into()),
            }
        );
    }

    #[test]
    fn pipeline_reference_under_other_casings_or_absent() {
        let get = |pipeline: Value| {
            let body = json!({"action": "PIPELINE_FAIL", "project": {"owner_alias": "acme", "alias": "api"}, "pipeline": pipeline});
            match verify(
                &conn(),
                &delivery(Some(SECRET), None, &body.to_string()),
                SECRET,
            ) {
                Ok(WebhookOutcome::PipelineFailed(e)) => e.pipeline,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(get(json!({"localId": 7})).number, Some(7));
        assert_eq!(get(json!({"LOCAL_ID": "8"})).number, Some(8));
        assert_eq!(
            get(json!({"local-id": 9, "id": 123})),
            PipelineRef {
                id: Some("123".into()),
                number: Some(9)
            }
        );
        assert_eq!(
            get(json!(null)),
            PipelineRef {
                id: None,
                number: None
            }
        );
        assert_eq!(
            get(json!({"localId": null})),
            PipelineRef {
                id: None,
                number: None
            }
        );
    }
}
