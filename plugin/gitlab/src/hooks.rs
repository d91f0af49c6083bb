//! Project hooks (ref §8): list (`GET /projects/:id/hooks`), create (`POST`), repair (`PUT
//! /projects/:id/hooks/:hook_id`), remove (`DELETE`). Writes need Maintainer and an `api`-scoped
//! token; GitLab's 403 comes back as `credentials-rejected` with its words.
//!
//! Every write sends the whole hook: `url`, `token` (GitLab never lists it, and a `PUT` with a
//! changed URL resets it), `pipeline_events`, and `push_events: false` (it defaults to true).

use serde_json::{Value, json};

use exlogare_kit::invalid_input as invalid;

use crate::api::{Api, bearer, get_list, project_id};
use crate::model::GlHook;
use crate::{
    Connection, Host, Level, Method, ProjectRef, ProviderError, Registration, Webhook, WebhookSpec,
};

/// Hooks per project are few (gitlab.com allows 100); this only stops a server that pages forever.
const MAX_PAGES: u32 = 5;

fn to_webhook(h: &GlHook) -> Option<Webhook> {
    Some(Webhook {
        id: h.id?.to_string(),
        url: h.url.clone()?,
        events: h.events(),
        active: h.active(),
    })
}

fn list_raw<H: Host>(api: &Api<H>, pid: &str) -> Result<Vec<GlHook>, ProviderError> {
    let mut all = Vec::new();
    let mut page = 1;
    for _ in 0..MAX_PAGES {
        let listed = get_list(api, &["projects", pid, "hooks"], &[], page, 100, "project")?;
        all.extend(listed.page.typed::<GlHook>(&api.conn.api_base)?.items);
        match listed.next {
            Some(next) => page = next,
            None => return Ok(all),
        }
    }
    Ok(all)
}

pub fn list_webhooks<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
) -> Result<Vec<Webhook>, ProviderError> {
    let pid = project_id(p)?;
    Ok(list_raw(&Api::new(host, conn), &pid)?
        .iter()
        .filter_map(to_webhook)
        .collect())
}

/// Removes a hook. Already gone (404) is done: removal is idempotent.
pub fn remove_webhook<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
    id: &str,
) -> Result<(), ProviderError> {
    let pid = project_id(p)?;
    let id = id.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "webhook-id",
            format!("`{id}` is not a GitLab hook id (a number)"),
        ));
    }
    let api = Api::new(host, conn);
    match api.send_json(
        Method::Delete,
        api.url(&["projects", &pid, "hooks", id], &[]),
        None,
        bearer(),
        "webhook-id",
    ) {
        Ok(_) => Ok(()),
        Err(ProviderError::NotFound(m)) => {
            host.log(Level::Info, &format!("hook {id} was already gone: {m}"));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// `scheme://host[:port]/path` of a URL, lower-casing what is case-insensitive, without query
/// and fragment: two hooks with the same endpoint deliver to the same handler.
fn endpoint(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    (!authority.is_empty()).then(|| {
        format!(
            "{}://{}{}",
            scheme.to_ascii_lowercase(),
            authority.to_ascii_lowercase(),
            path
        )
    })
}

/// The GitLab hook flags a spec's events mean. The host names the failure event in its own
/// words (`PIPELINE_FAIL`); GitLab's flag names and hook names are accepted too.
fn wanted_events(spec: &WebhookSpec) -> Result<Vec<String>, ProviderError> {
    if spec.events.is_empty() {
        return Ok(vec!["pipeline_events".into()]);
    }
    let mut out = Vec::new();
    for e in &spec.events {
        let norm = e.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        let flag = match norm.as_str() {
            "pipeline_fail" | "pipeline_warning" | "pipeline" | "pipeline_hook"
            | "pipeline_events" => "pipeline_events",
            "job" | "job_hook" | "job_events" | "build" => "job_events",
            _ => {
                return Err(invalid(
                    "spec.events",
                    format!(
                        "`{}` is not a GitLab hook event this plugin registers (pipeline_events, job_events)",
                        e.trim()
                    ),
                ));
            }
        };
        out.push(flag.to_string());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Idempotent registration. Hooks whose URL has our endpoint (scheme, host, path) are ours. One
/// that already matches (the same URL, query included, the same events, not disabled) is reused
/// and any other copies are removed; otherwise the first of ours is repaired in place (`PUT`,
/// the token sent again) and the rest removed; with none, one is created.
///
/// GitLab never shows a hook's token, so "matches" cannot look at it; the host's URL carries the
/// secret in its `?secret=` query, and a reused hook is one whose URL holds the current secret.
/// A spec URL without it is always repaired, so the token is set.
pub fn register_webhook<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
    spec: &WebhookSpec,
) -> Result<Registration, ProviderError> {
    let pid = project_id(p)?;
    let ours_at = endpoint(&spec.url)
        .filter(|_| exlogare_kit::http::is_absolute(&spec.url))
        .ok_or_else(|| {
            invalid(
                "spec.url",
                format!(
                    "`{}` is not an absolute http(s) URL",
                    exlogare_kit::http::redact_query(&spec.url)
                ),
            )
        })?;
    if spec.secret.is_empty() {
        return Err(invalid(
            "spec.secret",
            "a hook without a secret token would accept anyone's deliveries",
        ));
    }
    let events = wanted_events(spec)?;
    let api = Api::new(host, conn);
    let ours: Vec<GlHook> = list_raw(&api, &pid)?
        .into_iter()
        .filter(|h| {
            h.url
                .as_deref()
                .and_then(endpoint)
                .is_some_and(|e| e == ours_at)
                && h.id.is_some()
        })
        .collect();
    let url_proves_secret = spec.url.contains(&format!(
        "secret={}",
        exlogare_kit::http::encode(&spec.secret)
    )) || spec.url.contains(&format!("secret={}", spec.secret));
    let exact = ours.iter().position(|h| {
        url_proves_secret
            && h.url.as_deref() == Some(spec.url.as_str())
            && h.events() == events
            && h.active()
    });
    // Kept: the matching hook, else the first enabled one of ours, repaired in place. A hook
    // GitLab disabled after failed deliveries is replaced instead: only a test delivery answered
    // 2xx enables it again (ref §1), and a new hook starts enabled.
    let keep = exact.or_else(|| ours.iter().position(GlHook::active));
    for (i, h) in ours.iter().enumerate() {
        if Some(i) != keep {
            remove_webhook(host, conn, p, &h.id.expect("filtered above").to_string())?;
        }
    }
    if let Some(i) = exact {
        return Ok(Registration::Reused(
            to_webhook(&ours[i]).expect("has id and url"),
        ));
    }
    let body = hook_body(spec, &events);
    match keep.map(|i| &ours[i]) {
        Some(h) => {
            let id = h.id.expect("filtered above").to_string();
            let resp = api.send_json(
                Method::Put,
                api.url(&["projects", &pid, "hooks", &id], &[]),
                Some(&body),
                bearer(),
                "spec",
            )?;
            Ok(Registration::Repaired(answered(
                &resp.body, &id, spec, &events,
            )))
        }
        None => {
            let resp = api.send_json(
                Method::Post,
                api.url(&["projects", &pid, "hooks"], &[]),
                Some(&body),
                bearer(),
                "spec",
            )?;
            let hook: GlHook = serde_json::from_slice(&resp.body).unwrap_or_default();
            let id = hook.id.ok_or_else(|| {
                invalid(
                    "response",
                    format!(
                        "GitLab created the hook for {}/{} but its answer has no `id`: {}",
                        p.owner,
                        p.name,
                        exlogare_kit::http::snippet(&resp.body)
                    ),
                )
            })?;
            let hook = answered(&resp.body, &id.to_string(), spec, &events);
            Ok(if ours.is_empty() {
                Registration::Created(hook)
            } else {
                Registration::Repaired(hook)
            })
        }
    }
}

fn hook_body(spec: &WebhookSpec, events: &[String]) -> Value {
    let on = |flag: &str| events.iter().any(|e| e == flag);
    json!({
        "url": spec.url,
        "token": spec.secret,
        "push_events": false,
        "pipeline_events": on("pipeline_events"),
        "job_events": on("job_events"),
        "enable_ssl_verification": true,
    })
}

/// The hook GitLab answered with, else what was sent.
fn answered(body: &[u8], id: &str, spec: &WebhookSpec, events: &[String]) -> Webhook {
    serde_json::from_slice::<GlHook>(body)
        .ok()
        .as_ref()
        .and_then(to_webhook)
        .unwrap_or_else(|| Webhook {
            id: id.into(),
            url: spec.url.clone(),
            events: events.to_vec(),
            active: true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Body, Exchange, FakeHost, conn};

    const LIST: &str = "https://gitlab.com/api/v4/projects/1/hooks?page=1&per_page=100";
    const URL: &str =
        "https://exlogare.example/api/integrations/gitlab/webhook/c-9?secret=glwh-7Qv2xN5kLs9";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "gitlab-org".into(),
            name: "gitlab-test".into(),
            id: Some("1".into()),
        }
    }

    fn spec() -> WebhookSpec {
        WebhookSpec {
            url: URL.into(),
            secret: "glwh-7Qv2xN5kLs9".into(),
            events: vec!["PIPELINE_FAIL".into()],
        }
    }

    fn hook(id: u64, url: &str, pipeline: bool) -> Value {
        json!({"id": id, "url": url, "project_id": 1, "push_events": false, "pipeline_events": pipeline, "job_events": false, "enable_ssl_verification": true, "alert_status": "executable", "created_at": "2026-11-01T09:00:00.000Z"})
    }

    #[test]
    fn created_with_the_token_and_pipeline_events() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            LIST,
            200,
            json!([hook(3, "https://ci.other.example/hook", false)]),
        );
        host.push(Exchange {
            method: Method::Post,
            url: "https://gitlab.com/api/v4/projects/1/hooks".into(),
            status: 201,
            headers: vec![],
            body: Ok(Body::Bytes(hook(4, URL, true).to_string().into_bytes())),
            credential: Some(bearer()),
            body_json: Some(json!({"url": URL, "token": "glwh-7Qv2xN5kLs9", "push_events": false, "pipeline_events": true, "job_events": false, "enable_ssl_verification": true})),
        });
        let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
        assert_eq!(
            r,
            Registration::Created(Webhook {
                id: "4".into(),
                url: URL.into(),
                events: vec!["pipeline_events".into()],
                active: true
            })
        );
        assert_eq!(host.unused(), 0);
    }

    #[test]
    fn reused_when_it_matches_and_copies_removed() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            LIST,
            200,
            json!([hook(4, URL, true), hook(5, URL, true)]),
        );
        host.on(
            Method::Delete,
            "https://gitlab.com/api/v4/projects/1/hooks/5",
            204,
            "",
        );
        let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
        assert!(
            matches!(r, Registration::Reused(ref w) if w.id == "4"),
            "{r:?}"
        );
        assert_eq!(host.unused(), 0);
    }

    #[test]
    fn repaired_in_place_when_it_differs() {
        let host = FakeHost::new();
        let old = "https://exlogare.example/api/integrations/gitlab/webhook/c-9?secret=old";
        host.on_json(Method::Get, LIST, 200, json!([hook(4, old, false)]));
        host.on_json(
            Method::Put,
            "https://gitlab.com/api/v4/projects/1/hooks/4",
            200,
            hook(4, URL, true),
        );
        let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
        assert!(
            matches!(r, Registration::Repaired(ref w) if w.id == "4" && w.url == URL),
            "{r:?}"
        );
        let put = host.requests.borrow()[1].clone();
        let sent: Value = serde_json::from_slice(put.body.as_deref().unwrap()).unwrap();
        assert_eq!(sent["token"], "glwh-7Qv2xN5kLs9");
    }

    #[test]
    fn a_hook_gitlab_disabled_is_replaced() {
        let host = FakeHost::new();
        let mut off = hook(4, URL, true);
        off["alert_status"] = json!("disabled");
        host.on_json(Method::Get, LIST, 200, json!([off]));
        host.on(
            Method::Delete,
            "https://gitlab.com/api/v4/projects/1/hooks/4",
            204,
            "",
        );
        host.on_json(
            Method::Post,
            "https://gitlab.com/api/v4/projects/1/hooks",
            201,
            hook(5, URL, true),
        );
        let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
        assert!(
            matches!(r, Registration::Repaired(ref w) if w.id == "5" && w.active),
            "{r:?}"
        );
        assert_eq!(host.unused(), 0);
    }

    #[test]
    fn bad_specs_and_removal() {
        let host = FakeHost::new();
        let mut s = spec();
        s.events = vec!["PUSH".into()];
        assert!(
            matches!(register_webhook(&host, &conn(), &project(), &s), Err(ProviderError::InvalidInput(i)) if i.field == "spec.events")
        );
        s = spec();
        s.secret.clear();
        assert!(
            matches!(register_webhook(&host, &conn(), &project(), &s), Err(ProviderError::InvalidInput(i)) if i.field == "spec.secret")
        );
        host.on(
            Method::Delete,
            "https://gitlab.com/api/v4/projects/1/hooks/4",
            404,
            r#"{"message":"404 Not found"}"#,
        );
        assert!(remove_webhook(&host, &conn(), &project(), "4").is_ok());
        host.on(
            Method::Delete,
            "https://gitlab.com/api/v4/projects/1/hooks/4",
            403,
            r#"{"message":"403 Forbidden"}"#,
        );
        assert!(matches!(
            remove_webhook(&host, &conn(), &project(), "4"),
            Err(ProviderError::CredentialsRejected(_))
        ));
        assert!(
            host.requests.borrow().len() == 2,
            "bad specs are refused before any request"
        );
    }
}
