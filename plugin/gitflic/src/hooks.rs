//! Webhook management: list (`GET …/setting/webhook`, `webhookList`), create (`POST` the same
//! path with `{"url","secret","events":{"PIPELINE_FAIL":true}}`), delete (`POST
//! …/setting/webhook/{id}/delete`, not DELETE). All PRACTICE; the events object shape is DOC.

use serde_json::{Map, Value, json};

use crate::api::{Api, EmbeddedPages, Page, token};
use crate::model::RestWebhook;
use crate::{
    Connection, Host, InvalidInput, Level, ProjectRef, ProviderError, Registration, Webhook,
    WebhookSpec,
};

const PAGE_SIZE: u32 = 50;
/// Hooks per project are few; this only stops a server that pages forever.
const MAX_PAGES: u32 = 10;
pub const DEFAULT_EVENTS: [&str; 1] = ["PIPELINE_FAIL"];

fn invalid(field: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::InvalidInput(InvalidInput {
        field: field.into(),
        message: message.into(),
    })
}

fn check_project(p: &ProjectRef) -> Result<(), ProviderError> {
    if p.owner.trim().is_empty() || p.name.trim().is_empty() {
        return Err(invalid("project", "owner and name are both required"));
    }
    Ok(())
}

fn to_webhook(h: &RestWebhook) -> Option<Webhook> {
    Some(Webhook {
        id: h.id.clone()?,
        url: h.url.clone()?,
        events: h.event_names(),
        active: h.active.unwrap_or(true),
    })
}

fn list_raw<H: Host>(api: &Api<H>, p: &ProjectRef) -> Result<Vec<RestWebhook>, ProviderError> {
    let mut all = Vec::new();
    for page in 0..MAX_PAGES {
        let got: Page<RestWebhook> = api.get_page(
            &["project", &p.owner, &p.name, "setting", "webhook"],
            &[],
            "webhookList",
            page,
            PAGE_SIZE,
            "project",
        )?;
        all.extend(got.items);
        if got.last {
            return Ok(all);
        }
    }
    api.host.log(
        Level::Warn,
        &format!(
            "webhook list of {}/{} stopped after {MAX_PAGES} pages",
            p.owner, p.name
        ),
    );
    Ok(all)
}

pub fn list_webhooks<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
) -> Result<Vec<Webhook>, ProviderError> {
    check_project(p)?;
    Ok(list_raw(&Api::new(host, conn), p)?
        .iter()
        .filter_map(to_webhook)
        .collect())
}

pub fn remove_webhook<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
    id: &str,
) -> Result<(), ProviderError> {
    check_project(p)?;
    if id.trim().is_empty() {
        return Err(invalid("webhook-id", "the webhook id is empty"));
    }
    let api = Api::new(host, conn);
    api.post_json(
        api.url(
            &[
                "project", &p.owner, &p.name, "setting", "webhook", id, "delete",
            ],
            &[],
        ),
        None,
        token(),
        "webhook-id",
    )?;
    Ok(())
}

/// `scheme://host[:port]/path` of a URL, lower-casing what is case-insensitive; the query and
/// fragment are dropped. Two hooks with the same endpoint deliver to the same handler.
fn endpoint(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    Some(format!(
        "{}://{}{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase(),
        path
    ))
}

/// Whether a listed secret can be compared: GitFlic may mask it (`*****`) or leave it out.
fn visible_secret(h: &RestWebhook) -> Option<&str> {
    h.secret.as_deref().filter(|s| !s.chars().all(|c| c == '*'))
}

/// Idempotent registration. Hooks whose URL has our endpoint (scheme, host, path) are ours: one
/// that already matches exactly (URL including its query, e.g. `?secret=`, the events, active,
/// and the secret when GitFlic shows it) is reused and any other copies are deleted; otherwise
/// all of ours are deleted and one is created (repaired). Never a second hook to the endpoint.
///
/// The URL is registered as the host gives it (the contract: the plugin adds nothing), so the
/// `?secret=` query the announcement's integration checks is the host's to put there; the
/// `secret` field always carries it for the documented header.
pub fn register_webhook<H: Host>(
    host: &H,
    conn: &Connection,
    p: &ProjectRef,
    spec: &WebhookSpec,
) -> Result<Registration, ProviderError> {
    check_project(p)?;
    let ours_at = endpoint(&spec.url)
        .filter(|_| spec.url.starts_with("https://") || spec.url.starts_with("http://"))
        .ok_or_else(|| {
            invalid(
                "spec.url",
                format!("`{}` is not an absolute http(s) URL", spec.url),
            )
        })?;
    if spec.secret.is_empty() {
        return Err(invalid(
            "spec.secret",
            "a webhook without a secret would accept anyone's deliveries",
        ));
    }
    let mut events: Vec<String> = if spec.events.is_empty() {
        DEFAULT_EVENTS.map(String::from).to_vec()
    } else {
        spec.events
            .iter()
            .map(|e| e.trim().to_ascii_uppercase())
            .collect()
    };
    events.sort();
    events.dedup();
    if !spec.url.contains("secret=") {
        host.log(Level::Info, "the webhook URL carries no `secret` query; deliveries will be checked by the header alone");
    }

    let api = Api::new(host, conn);
    let ours: Vec<RestWebhook> = list_raw(&api, p)?
        .into_iter()
        .filter(|h| {
            h.url
                .as_deref()
                .and_then(endpoint)
                .is_some_and(|e| e == ours_at)
        })
        .collect();
    let exact = ours.iter().position(|h| {
        h.url.as_deref() == Some(spec.url.as_str())
            && h.event_names() == events
            && h.active.unwrap_or(true)
            && visible_secret(h).is_none_or(|s| s == spec.secret)
            && h.id.is_some()
    });
    let delete = |h: &RestWebhook| -> Result<(), ProviderError> {
        match &h.id {
            Some(id) => remove_webhook(host, conn, p, id),
            None => Err(invalid(
                "response",
                "a listed webhook to our endpoint has no id, so it cannot be replaced",
            )),
        }
    };
    if let Some(i) = exact {
        for (j, h) in ours.iter().enumerate() {
            if j != i {
                delete(h)?;
            }
        }
        return Ok(Registration::Reused(
            to_webhook(&ours[i]).expect("exact match has id and url"),
        ));
    }
    for h in &ours {
        delete(h)?;
    }
    let created = create(&api, p, spec, &events)?;
    Ok(if ours.is_empty() {
        Registration::Created(created)
    } else {
        Registration::Repaired(created)
    })
}

fn create<H: Host>(
    api: &Api<H>,
    p: &ProjectRef,
    spec: &WebhookSpec,
    events: &[String],
) -> Result<Webhook, ProviderError> {
    let flags: Map<String, Value> = events
        .iter()
        .map(|e| (e.clone(), Value::Bool(true)))
        .collect();
    let body = json!({ "url": spec.url, "secret": spec.secret, "events": flags });
    let resp = api.post_json(
        api.url(&["project", &p.owner, &p.name, "setting", "webhook"], &[]),
        Some(&body),
        token(),
        "spec",
    )?;
    if let Some(h) = serde_json::from_slice::<RestWebhook>(&resp.body)
        .ok()
        .as_ref()
        .and_then(to_webhook)
    {
        return Ok(h);
    }
    // The create answer's shape is not documented: when it does not name the new hook, the
    // list does.
    list_raw(api, p)?
        .iter()
        .filter(|h| h.url.as_deref() == Some(spec.url.as_str()))
        .find_map(to_webhook)
        .ok_or_else(|| {
            ProviderError::Transient(format!(
                "GitFlic accepted the webhook for {}/{} but does not list it",
                p.owner, p.name
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;
    use crate::fake::{FakeHost, conn};

    const LIST: &str = "https://api.gitflic.ru/project/acme/api/setting/webhook?page=0&size=50";
    const CREATE: &str = "https://api.gitflic.ru/project/acme/api/setting/webhook";
    const URL: &str =
        "https://exlogare.example/api/integrations/gitflic/webhook/c-17?secret=wh-3f9a1c";

    fn project() -> ProjectRef {
        ProjectRef {
            owner: "acme".into(),
            name: "api".into(),
            id: None,
        }
    }

    fn spec() -> WebhookSpec {
        WebhookSpec {
            url: URL.into(),
            secret: "wh-3f9a1c".into(),
            events: Vec::new(),
        }
    }

    fn hooks(items: serde_json::Value) -> serde_json::Value {
        json!({"_embedded": {"webhookList": items}, "page": {"size": 50, "totalElements": 1, "totalPages": 1, "number": 0}})
    }

    #[test]
    fn created_when_none_of_ours_exists() {
        let host = FakeHost::new();
        host.on_json(Method::Get, LIST, 200, hooks(json!([{"id": "h0", "url": "https://ci.other.example/hook", "events": {"PUSH": true}}])));
        host.on_json(
            Method::Post,
            CREATE,
            200,
            json!({"id": "h1", "url": URL, "events": {"PIPELINE_FAIL": true}}),
        );
        let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
        assert_eq!(
            r,
            Registration::Created(Webhook {
                id: "h1".into(),
                url: URL.into(),
                events: vec!["PIPELINE_FAIL".into()],
                active: true
            })
        );
        let body: Value =
            serde_json::from_slice(host.requests.borrow()[1].body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"url": URL, "secret": "wh-3f9a1c", "events": {"PIPELINE_FAIL": true}})
        );
    }

    #[test]
    fn reused_when_it_matches_and_duplicates_are_removed() {
        let host = FakeHost::new();
        host.on_json(Method::Get, LIST, 200, hooks(json!([
            {"id": "h1", "url": URL, "secret": "******", "events": {"PIPELINE_FAIL": true, "PUSH": false}},
            {"id": "h2", "url": "https://exlogare.example/api/integrations/gitflic/webhook/c-17?secret=old", "events": {"PIPELINE_FAIL": true}}])));
        host.on(
            Method::Post,
            "https://api.gitflic.ru/project/acme/api/setting/webhook/h2/delete",
            200,
            "",
        );
        let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
        assert!(matches!(r, Registration::Reused(w) if w.id == "h1"));
        assert_eq!(host.unused(), 0);
        assert_eq!(host.requests.borrow().len(), 2);
    }

    #[test]
    fn repaired_when_secret_events_or_state_differ() {
        let variants = [
            json!({"id": "h1", "url": "https://exlogare.example/api/integrations/gitflic/webhook/c-17?secret=old", "events": {"PIPELINE_FAIL": true}}),
            json!({"id": "h1", "url": URL, "events": {"PIPELINE_FAIL": true, "PIPELINE_SUCCESS": true}}),
            json!({"id": "h1", "url": URL, "events": {"PIPELINE_FAIL": true}, "active": false}),
            json!({"id": "h1", "url": URL, "secret": "stale", "events": {"PIPELINE_FAIL": true}}),
            json!({"id": "h1", "url": "HTTPS://EXLOGARE.EXAMPLE/api/integrations/gitflic/webhook/c-17", "events": ["PIPELINE_FAIL"]}),
        ];
        for existing in variants {
            let host = FakeHost::new();
            host.on_json(Method::Get, LIST, 200, hooks(json!([existing])));
            host.on(
                Method::Post,
                "https://api.gitflic.ru/project/acme/api/setting/webhook/h1/delete",
                200,
                "",
            );
            // The create answer names nothing: the plugin finds the new hook in the list.
            host.on(Method::Post, CREATE, 200, "");
            host.on_json(
                Method::Get,
                LIST,
                200,
                hooks(json!([{"id": "h9", "url": URL, "events": {"PIPELINE_FAIL": true}}])),
            );
            let r = register_webhook(&host, &conn(), &project(), &spec()).unwrap();
            assert!(
                matches!(r, Registration::Repaired(ref w) if w.id == "h9"),
                "{existing}: {r:?}"
            );
            assert_eq!(host.unused(), 0, "{existing}");
        }
    }

    #[test]
    fn a_different_path_is_not_ours() {
        let host = FakeHost::new();
        host.on_json(Method::Get, LIST, 200, hooks(json!([{"id": "h1", "url": "https://exlogare.example/api/integrations/gitflic/webhook/c-18?secret=x", "events": {"PIPELINE_FAIL": true}}])));
        host.on_json(
            Method::Post,
            CREATE,
            201,
            json!({"id": "h2", "url": URL, "events": {"PIPELINE_FAIL": true}}),
        );
        assert!(matches!(
            register_webhook(&host, &conn(), &project(), &spec()),
            Ok(Registration::Created(_))
        ));
    }

    #[test]
    fn spec_is_validated_before_any_request() {
        let host = FakeHost::new();
        let mut s = spec();
        s.url = "exlogare.example/hook".into();
        assert!(
            matches!(register_webhook(&host, &conn(), &project(), &s), Err(ProviderError::InvalidInput(i)) if i.field == "spec.url")
        );
        let mut s = spec();
        s.secret.clear();
        assert!(
            matches!(register_webhook(&host, &conn(), &project(), &s), Err(ProviderError::InvalidInput(i)) if i.field == "spec.secret")
        );
        let p = ProjectRef {
            owner: "".into(),
            name: "api".into(),
            id: None,
        };
        assert!(
            matches!(list_webhooks(&host, &conn(), &p), Err(ProviderError::InvalidInput(i)) if i.field == "project")
        );
        assert!(host.requests.borrow().is_empty());
    }

    #[test]
    fn list_and_remove() {
        let host = FakeHost::new();
        host.on_json(
            Method::Get,
            LIST,
            200,
            json!({"page": {"size": 50, "totalElements": 0, "totalPages": 0, "number": 0}}),
        );
        assert_eq!(list_webhooks(&host, &conn(), &project()).unwrap(), vec![]);
        host.on(
            Method::Post,
            "https://api.gitflic.ru/project/acme/api/setting/webhook/h1/delete",
            404,
            r#"{"message":"Webhook not found"}"#,
        );
        assert!(
            matches!(remove_webhook(&host, &conn(), &project(), "h1"), Err(ProviderError::NotFound(m)) if m.contains("Webhook not found"))
        );
        assert!(
            host.requests
                .borrow()
                .iter()
                .all(|r| r.credential == token())
        );
    }
}
