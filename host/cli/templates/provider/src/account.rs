//! What the host asks outside a failure: OAuth, the user, projects, hooks and pipeline lists.
//! Each is one or two plain calls against the __DISPLAY__ API; errors come back typed from the
//! kit's `Api` (401/403 `credentials-rejected`, 404 `not-found`, 429 `rate-limited`, 5xx
//! `transient`).

use serde::Deserialize;
use serde_json::{Value, json};

use exlogare_kit::http::{
    Api, form_request, join_url, parse_json, redact_query, snippet, status_error, transport_error,
};
use exlogare_kit::invalid_input as invalid;
use exlogare_kit::json::{lenient_bool, lenient_string, value_string, value_u64};

use crate::model::{pipelines, read};
use crate::{
    Connection, Credential, Host, Method, OauthClient, PipelineSummary, Project, ProjectPage,
    ProjectRef, ProviderError, Registration, TokenSet, User, Webhook, WebhookSpec, bearer,
    project_path,
};

// ---- OAuth 2 (authorization code) ----------------------------------------------------------

pub fn authorize_url(conn: &Connection, client: &OauthClient, state: &str) -> String {
    let scopes = client.scopes.join(" ");
    join_url(
        &conn.oauth_base,
        &["authorize"],
        &[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", &client.redirect_url),
            ("scope", &scopes),
            ("state", state),
        ],
    )
}

pub fn exchange_code<H: Host>(
    host: &H,
    conn: &Connection,
    client: &OauthClient,
    code: &str,
) -> Result<TokenSet, ProviderError> {
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_url.as_str()),
    ];
    token(host, conn, &grant)
}

pub fn refresh_token<H: Host>(
    host: &H,
    conn: &Connection,
    _client: &OauthClient,
    refresh_token: &str,
) -> Result<TokenSet, ProviderError> {
    token(
        host,
        conn,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

/// `POST {oauth}/token`, the client in HTTP Basic (added by the host). A 400 is the grant
/// refused (RFC 6749 §5.2): the user connects again.
fn token<H: Host>(
    host: &H,
    conn: &Connection,
    grant: &[(&str, &str)],
) -> Result<TokenSet, ProviderError> {
    let url = join_url(&conn.oauth_base, &["token"], &[]);
    let req = form_request(url.clone(), grant, Some(Credential::ClientBasic));
    let resp = host
        .send(&req)
        .map_err(|e| transport_error(Method::Post, &url, e))?;
    match resp.status {
        200..=299 => {}
        400 => {
            return Err(ProviderError::CredentialsRejected(format!(
                "POST {} refused the grant: {}",
                redact_query(&url),
                snippet(&resp.body)
            )));
        }
        status => {
            let now = host.now();
            return Err(status_error(
                Method::Post,
                &url,
                status,
                &resp.headers,
                &resp.body,
                "client",
                now,
            ));
        }
    }
    let v = parse_json(&resp.body, Method::Post, &url)?;
    let access_token = v
        .get("access_token")
        .and_then(value_string)
        .ok_or_else(|| invalid("response", "the token answer has no `access_token`"))?;
    Ok(TokenSet {
        access_token,
        refresh_token: v.get("refresh_token").and_then(value_string),
        expires_at: v
            .get("expires_in")
            .and_then(value_u64)
            .map(|s| host.now() + s as i64 * 1000),
    })
}

pub fn current_user<H: Host>(host: &H, conn: &Connection) -> Result<User, ProviderError> {
    let api = Api::new(host, conn);
    let v = api.get_json(api.url(&["user"], &[]), bearer(), "connection")?;
    let field = |k: &str| v.get(k).and_then(value_string);
    Ok(User {
        id: field("id").ok_or_else(|| invalid("response", "the user has no `id`"))?,
        username: field("username")
            .ok_or_else(|| invalid("response", "the user has no `username`"))?,
        display_name: field("name"),
    })
}

// ---- Projects ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ApiProject {
    owner: String,
    name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    title: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    web_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    private: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    default_branch: Option<String>,
}

/// `GET /projects?search=&page=`: `{"projects": [...], "next_page": "2"}` (`null` on the last);
/// the cursor is the next page's number.
pub fn list_projects<H: Host>(
    host: &H,
    conn: &Connection,
    search: Option<&str>,
    cursor: Option<&str>,
) -> Result<ProjectPage, ProviderError> {
    #[derive(Deserialize)]
    struct Page {
        projects: Vec<ApiProject>,
        #[serde(default, deserialize_with = "lenient_string")]
        next_page: Option<String>,
    }
    let api = Api::new(host, conn);
    let mut query = vec![("page", cursor.unwrap_or("1"))];
    if let Some(s) = search.filter(|s| !s.trim().is_empty()) {
        query.push(("search", s));
    }
    let page: Page = read(
        api.get_json(api.url(&["projects"], &query), bearer(), "cursor")?,
        "a page of projects",
    )?;
    let projects = page
        .projects
        .into_iter()
        .map(|p| Project {
            web_url: p
                .web_url
                .unwrap_or_else(|| join_url(&conn.web_base, &[&p.owner, &p.name], &[])),
            title: p.title.unwrap_or_else(|| p.name.clone()),
            private: p.private.unwrap_or(true),
            default_branch: p.default_branch,
            reference: ProjectRef {
                owner: p.owner,
                name: p.name,
                id: p.id,
            },
        })
        .collect();
    Ok(ProjectPage {
        projects,
        next_cursor: page.next_page,
    })
}

// ---- Webhooks ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ApiHook {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    active: Option<bool>,
}

impl ApiHook {
    fn into_webhook(self) -> Result<Webhook, ProviderError> {
        Ok(Webhook {
            id: self
                .id
                .ok_or_else(|| invalid("response", "a hook has no `id`"))?,
            url: self.url,
            events: self.events,
            active: self.active.unwrap_or(true),
        })
    }
}

/// `GET /projects/{owner}/{name}/hooks`: `{"hooks": [...]}`.
pub fn list_webhooks<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
) -> Result<Vec<Webhook>, ProviderError> {
    #[derive(Deserialize)]
    struct Hooks {
        hooks: Vec<ApiHook>,
    }
    let (owner, name) = project_path(project)?;
    let api = Api::new(host, conn);
    let url = api.url(&["projects", owner, name, "hooks"], &[]);
    read::<Hooks>(api.get_json(url, bearer(), "project")?, "the list of hooks")?
        .hooks
        .into_iter()
        .map(ApiHook::into_webhook)
        .collect()
}

/// Idempotent: a hook to the same URL path is reused when it matches, else updated in place
/// (`PUT …/hooks/{id}`); otherwise one is created (`POST …/hooks`).
pub fn register_webhook<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    spec: &WebhookSpec,
) -> Result<Registration, ProviderError> {
    let (owner, name) = project_path(project)?;
    let events = if spec.events.is_empty() {
        vec![crate::webhook::FAILED.to_string()]
    } else {
        spec.events.clone()
    };
    let ours = list_webhooks(host, conn, project)?
        .into_iter()
        .find(|h| redact_query(&h.url) == redact_query(&spec.url));
    if let Some(h) = &ours
        && h.url == spec.url
        && h.events == events
        && h.active
    {
        return Ok(Registration::Reused(h.clone()));
    }
    let body = json!({"url": spec.url, "secret": spec.secret, "events": events, "active": true});
    let api = Api::new(host, conn);
    let (method, url) = match &ours {
        Some(h) => (
            Method::Put,
            api.url(&["projects", owner, name, "hooks", &h.id], &[]),
        ),
        None => (
            Method::Post,
            api.url(&["projects", owner, name, "hooks"], &[]),
        ),
    };
    let resp = api.send_json(method, url.clone(), Some(&body), bearer(), "spec")?;
    let hook: ApiHook = read(parse_json(&resp.body, method, &url)?, "the hook")?;
    let hook = hook.into_webhook()?;
    Ok(match ours {
        Some(_) => Registration::Repaired(hook),
        None => Registration::Created(hook),
    })
}

/// `DELETE …/hooks/{id}`; a hook already gone is removed.
pub fn remove_webhook<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    webhook_id: &str,
) -> Result<(), ProviderError> {
    let (owner, name) = project_path(project)?;
    let api = Api::new(host, conn);
    let url = api.url(&["projects", owner, name, "hooks", webhook_id.trim()], &[]);
    match api.send_json(Method::Delete, url, None, bearer(), "webhook-id") {
        Ok(_) | Err(ProviderError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---- Pipelines -----------------------------------------------------------------------------

/// `GET …/pipelines?per_page=`: the newest `limit`, newest first; those above `above` kept.
pub fn list_pipelines<H: Host>(
    host: &H,
    conn: &Connection,
    project: &ProjectRef,
    above: Option<u64>,
    limit: u32,
) -> Result<Vec<PipelineSummary>, ProviderError> {
    let (owner, name) = project_path(project)?;
    let api = Api::new(host, conn);
    let per_page = limit.clamp(1, 100).to_string();
    let url = api.url(
        &["projects", owner, name, "pipelines"],
        &[("per_page", &per_page)],
    );
    let list: Value = api.get_json(url, bearer(), "project")?;
    Ok(pipelines(list, "the list of pipelines")?
        .into_iter()
        .filter(|p| match (p.number, above) {
            (Some(n), Some(a)) => n > a,
            (n, _) => n.is_some(),
        })
        .take(limit as usize)
        .map(|p| PipelineSummary {
            reference: p.reference(),
            status: p.status(),
            git_ref: p.git_ref.clone(),
            created_at: exlogare_kit::json::timestamp(&p.created_at, 0),
        })
        .collect())
}
