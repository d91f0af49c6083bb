//! HTTP for accounts: the OAuth start and callback endpoints, mapped onto
//! [`Service::oauth_start`] / [`Service::oauth_callback`] (accounts/credentials.rs).
//!
//! - `GET /api/integrations/{provider}/oauth/start/{connection}` → 302 to the authorize URL.
//! - `POST /api/integrations/{provider}/oauth/callback` with JSON `{code, state}` (GitFlic's
//!   server-to-server form) and `GET ...?code=&state=` (a browser) → 200 `{status: connected}`;
//!   a wrong, reused or expired state → 400 with `{error}`.
//! - `GET /api/connections` → each connection's status, last error and calls used this hour.
//! - `POST /api/connections` (JSON [`NewConnection`]) → 201 with the connection and its connect URL;
//!   `GET /api/connections/{id}`; `DELETE /api/connections/{id}[?force=true]`.
//! - `GET /api/connections/{id}/projects[?search=]` → sync (all pages), each marked watched or not.
//! - `GET /api/connections/{id}/watches`; `PUT /api/connections/{id}/watches/{owner}/{name}`
//!   (optional JSON `{public_url, manual}`) → the hook's URL, secret and event;
//!   `DELETE /api/connections/{id}/watches/{owner}/{name}`.
//!
//! Every endpoint here but the OAuth callback needs the admin token when one is configured.

use super::stored_connections::NewConnection;
use super::tokens::TokenError;
use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route(
            "/api/integrations/{provider}/oauth/start/{connection}",
            get(start),
        )
        .route(
            "/api/integrations/{provider}/oauth/callback",
            get(callback_get).post(callback_post),
        )
        .route("/api/connections", get(connections).post(add_connection))
        .route(
            "/api/connections/{id}",
            get(show_connection).delete(remove_connection),
        )
        .route("/api/connections/{id}/projects", get(projects))
        .route("/api/connections/{id}/watches", get(watches))
        .route(
            "/api/connections/{id}/watches/{owner}/{name}",
            put(watch).delete(unwatch),
        )
}

/// Whether a request may use an admin endpoint: with an admin token configured, only when it
/// presents it (bearer header, or `admin_token` in the query for a browser link), compared in
/// constant time; without one, always.
pub fn admin_allowed(
    expected: Option<&exlogare_runtime::http::Secret>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> bool {
    use subtle::ConstantTimeEq;
    let Some(expected) = expected else {
        return true;
    };
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "admin_token")
            .map(|(_, v)| v.into_owned())
    });
    [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|presented| bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())))
}

fn admin_refusal() -> Response {
    error(401, "this admin endpoint needs the admin token: `Authorization: Bearer <token>` (see [server] admin_token_env)".into())
}

/// `GET /api/connections`: `{connections: [ConnectionView]}`.
async fn connections(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !admin_allowed(service.admin_token.as_ref(), &headers, query.as_deref()) {
        return admin_refusal();
    }
    match tokio::task::spawn_blocking(move || service.connection_views()).await {
        Ok(views) => Json(json!({ "connections": views })).into_response(),
        Err(e) => error(500, format!("internal error: {e}")),
    }
}

/// Runs `f` off the async threads once the admin token checked out.
pub(crate) async fn admin<F>(
    service: Arc<Service>,
    headers: &HeaderMap,
    query: Option<&str>,
    f: F,
) -> Response
where
    F: FnOnce(Arc<Service>) -> Response + Send + 'static,
{
    if !admin_allowed(service.admin_token.as_ref(), headers, query) {
        return admin_refusal();
    }
    tokio::task::spawn_blocking(move || f(service))
        .await
        .unwrap_or_else(|e| error(500, format!("internal error: {e}")))
}

/// An account operation's failure as an HTTP answer: a connection that must be reconnected is
/// 409 (the caller acts: OAuth start), a refresh that could not run now or a plugin fault 503
/// (retry later), anything the provider said 502 with its words.
fn account_error(e: anyhow::Error) -> Response {
    let status = match e.downcast_ref::<TokenError>() {
        Some(TokenError::NeedsReconnection { .. } | TokenError::NotConnected(_)) => 409,
        Some(_) => 503,
        None if e
            .downcast_ref::<exlogare_runtime::plugin::PluginFault>()
            .is_some() =>
        {
            503
        }
        None => 502,
    };
    error(status, format!("{e:#}"))
}

/// [`admin`] for an endpoint under `/api/connections/{id}/`: 404 when there is no such connection.
async fn admin_on_connection<F>(
    service: Arc<Service>,
    headers: &HeaderMap,
    query: Option<&str>,
    id: String,
    f: F,
) -> Response
where
    F: FnOnce(Arc<Service>) -> Response + Send + 'static,
{
    admin(service, headers, query, move |service| {
        if service.connection(&id).is_none() {
            no_connection(&id)
        } else {
            f(service)
        }
    })
    .await
}

fn no_connection(id: &str) -> Response {
    error(
        404,
        format!("no connection `{id}`; GET /api/connections lists them"),
    )
}

async fn add_connection(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    // The token first: a caller without it learns nothing, not even what the body lacks.
    if !admin_allowed(service.admin_token.as_ref(), &headers, query.as_deref()) {
        return admin_refusal();
    }
    let new: NewConnection = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return error(
                400,
                format!(
                    "the body must be a JSON connection (id, provider, web_base, client_id + client_secret or access_token, ...): {e}"
                ),
            );
        }
    };
    admin(
        service,
        &headers,
        query.as_deref(),
        move |service| match service.add_connection(&new) {
            Ok(view) => {
                let connect = (view.auth == "oauth").then(|| {
                    format!(
                        "{}/api/integrations/{}/oauth/start/{}",
                        service.config.server.public_root(),
                        view.provider,
                        view.id
                    )
                });
                (
                    StatusCode::CREATED,
                    Json(json!({ "connection": view, "connect_url": connect })),
                )
                    .into_response()
            }
            Err(r) => error(r.status, r.message),
        },
    )
    .await
}

async fn show_connection(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin(
        service,
        &headers,
        query.as_deref(),
        move |service| match service.connection_view(&id) {
            Some(v) => Json(json!({ "connection": v })).into_response(),
            None => no_connection(&id),
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct RemoveParams {
    #[serde(default)]
    force: bool,
}

async fn remove_connection(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(p): Query<RemoveParams>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin(
        service,
        &headers,
        query.as_deref(),
        move |service| match service.remove_connection(&id, p.force) {
            Ok(removed) => Json(json!({ "removed": removed })).into_response(),
            Err(r) => error(r.status, r.message),
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct ProjectParams {
    search: Option<String>,
}

async fn projects(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(p): Query<ProjectParams>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin_on_connection(service, &headers, query.as_deref(), id.clone(), move |service| {
        let search = p.search.filter(|s| !s.trim().is_empty());
        let watched = service.watched_projects(&id).unwrap_or_default();
        match service.sync_projects(&id, search.as_deref()) {
            Ok(list) => {
                let projects: Vec<_> = list
                    .into_iter()
                    .map(|p| {
                        let key = format!("{}/{}", p.reference.owner, p.reference.name);
                        let is_watched = watched.iter().any(|w| w.eq_ignore_ascii_case(&key));
                        json!({ "project": key, "title": p.title, "web_url": p.web_url, "private": p.private, "watched": is_watched })
                    })
                    .collect();
                Json(json!({ "connection": id, "projects": projects })).into_response()
            }
            Err(e) => account_error(e),
        }
    })
    .await
}

async fn watches(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin_on_connection(
        service,
        &headers,
        query.as_deref(),
        id.clone(),
        move |service| match service.watched_projects(&id) {
            Ok(list) => Json(json!({ "connection": id, "watched": list })).into_response(),
            Err(e) => error(503, format!("{e:#}")),
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchParams {
    /// How the provider reaches this host; default `[server] public_url`.
    public_url: Option<String>,
    /// Only store a secret and return what to set by hand.
    #[serde(default)]
    manual: bool,
}

async fn watch(
    State(service): State<Arc<Service>>,
    Path((id, owner, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if !admin_allowed(service.admin_token.as_ref(), &headers, query.as_deref()) {
        return admin_refusal();
    }
    let params: WatchParams = if body.iter().all(u8::is_ascii_whitespace) {
        WatchParams::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => {
                return error(
                    400,
                    format!(
                        "the body, when present, must be JSON {{\"public_url\": ..., \"manual\": false}}: {e}"
                    ),
                );
            }
        }
    };
    admin_on_connection(
        service,
        &headers,
        query.as_deref(),
        id.clone(),
        move |service| {
            let project = format!("{owner}/{name}");
            match service.watch(&id, &project, params.public_url.as_deref(), params.manual) {
                Ok(w) => Json(json!({
                    "connection": w.connection,
                    "project": w.project,
                    "registration": w.registration,
                    "webhook_id": w.webhook_id,
                    "url": w.url,
                    "secret": w.secret.expose(),
                    "event": w.event,
                }))
                .into_response(),
                Err(e) => account_error(e),
            }
        },
    )
    .await
}

async fn unwatch(
    State(service): State<Arc<Service>>,
    Path((id, owner, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    admin_on_connection(
        service,
        &headers,
        query.as_deref(),
        id.clone(),
        move |service| {
            let project = format!("{owner}/{name}");
            match service.unwatch(&id, &project) {
                Ok(true) => Json(json!({ "connection": id, "project": project, "watched": false }))
                    .into_response(),
                Ok(false) => error(404, format!("{project} is not watched on `{id}`")),
                Err(e) => account_error(e),
            }
        },
    )
    .await
}

pub(crate) fn error(status: u16, message: String) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(json!({ "error": message })),
    )
        .into_response()
}

async fn start(
    State(service): State<Arc<Service>>,
    Path((provider, connection)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // Whoever completes the OAuth flow decides whose tokens the connection uses: only an
    // operator may start it. The callback needs no token: it is bound to a state only start issues.
    if !admin_allowed(service.admin_token.as_ref(), &headers, query.as_deref()) {
        return admin_refusal();
    }
    match tokio::task::spawn_blocking(move || service.oauth_start(&provider, &connection)).await {
        Ok(Ok(url)) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Ok(Err(r)) => error(r.status, r.message),
        Err(e) => error(500, format!("internal error: {e}")),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CallbackParams {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

async fn callback(
    service: Arc<Service>,
    provider: String,
    p: CallbackParams,
    browser: bool,
) -> Response {
    let outcome = match tokio::task::spawn_blocking(move || {
        service.oauth_callback(&provider, &p.code, &p.state)
    })
    .await
    {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(r)) => Err((r.status, r.message)),
        Err(e) => Err((500, format!("internal error: {e}"))),
    };
    match (outcome, browser) {
        (Ok(body), false) => Json(body).into_response(),
        (Err((status, message)), false) => error(status, message),
        (Ok(body), true) => {
            let connection = body["connection"].as_str().unwrap_or("?");
            let said = format!(
                "Connection {connection} is connected as {}. Exlogare will now see its projects.",
                body["user"].as_str().unwrap_or("?")
            );
            page(
                StatusCode::OK,
                "Connected",
                &said,
                Some(&format!("/integrations/{connection}?connected=1")),
            )
        }
        (Err((status, message)), true) => page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            "Not connected",
            &message,
            None,
        ),
    }
}

/// A minimal page for a person who arrived in a browser (GitFlic redirects them here): the
/// same words as the JSON answer, escaped, and a way back to the Integrations page (host/web).
/// Success moves on to `next` by itself: a page of ours, not a redirect, because the page's
/// session cookie is `SameSite=Strict` and would not be sent on a redirect chain that started
/// at the provider's site.
fn page(status: StatusCode, title: &str, message: &str, next: Option<&str>) -> Response {
    let html = exlogare_notify::text_html(message);
    let next = next.map(exlogare_notify::text_html);
    let refresh = next
        .as_deref()
        .map(|n| format!("<meta http-equiv=\"refresh\" content=\"0;url={n}\">"))
        .unwrap_or_default();
    let back = next.as_deref().unwrap_or("/integrations");
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{refresh}<title>Exlogare: {title}</title></head><body><h1>{title}</h1><p>{html}</p><p><a href=\"{back}\">Integrations</a></p></body></html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Whether the caller is a browser (it asks for HTML) rather than a program reading JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

async fn callback_get(
    State(service): State<Arc<Service>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    callback(service, provider, p, wants_html(&headers)).await
}

/// The body is read as JSON whatever its content type says (the sender's header is not relied on).
async fn callback_post(
    State(service): State<Arc<Service>>,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    match serde_json::from_slice::<CallbackParams>(&body) {
        Ok(p) => callback(service, provider, p, false).await,
        Err(e) => error(
            400,
            format!("the OAuth callback body must be JSON {{\"code\": ..., \"state\": ...}}: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exlogare_runtime::http::Secret;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn admin_endpoints_need_the_token_when_one_is_configured() {
        let token = Secret::new("s3cret-admin");
        assert!(!admin_allowed(Some(&token), &headers(None), None));
        assert!(!admin_allowed(
            Some(&token),
            &headers(Some("Bearer wrong")),
            None
        ));
        assert!(
            !admin_allowed(Some(&token), &headers(Some("s3cret-admin")), None),
            "the scheme is required"
        );
        assert!(admin_allowed(
            Some(&token),
            &headers(Some("Bearer s3cret-admin")),
            None
        ));
        assert!(admin_allowed(
            Some(&token),
            &headers(None),
            Some("admin_token=s3cret-admin")
        ));
        assert!(!admin_allowed(
            Some(&token),
            &headers(None),
            Some("admin_token=s3cret-admi")
        ));
    }

    #[tokio::test]
    async fn a_browser_gets_the_callback_answer_as_an_escaped_page() {
        let r = page(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "state <script>alert(1)</script> was not issued",
            None,
        );
        assert_eq!(r.status(), 400);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains("&lt;script&gt;") && !text.contains("<script>"),
            "{text}"
        );
        let mut h = HeaderMap::new();
        assert!(!wants_html(&h));
        h.insert(
            header::ACCEPT,
            "text/html,application/xhtml+xml,*/*;q=0.8".parse().unwrap(),
        );
        assert!(wants_html(&h));
    }

    #[test]
    fn without_a_configured_token_the_endpoints_are_open() {
        assert!(admin_allowed(None, &headers(None), None));
    }
}
